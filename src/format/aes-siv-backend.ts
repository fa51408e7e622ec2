// What every AES-SIV backend (aes-siv-fast.ts, aes-siv-noble.ts) provides; aes-siv.ts picks one.
// A leaf module, so that the backends need not import the module that imports them.

export type AesSivBackend = 'fast' | 'noble'

export interface AesSiv {
  readonly backend: AesSivBackend
  /** S2V over [...ad, plaintext], then CTR; returns V(16) || C. */
  seal(ad: readonly Uint8Array[], plaintext: Uint8Array): Buffer
  /** Inverse of seal; throws CorruptError if `sealed` is shorter than 16 bytes or fails authentication. */
  open(ad: readonly Uint8Array[], sealed: Uint8Array): Buffer
  /**
   * Encrypts plaintext that starts at block `firstBlock` of a file into gocryptfs content
   * blocks nonce(16) || V(16) || C, nonce = blockIv(iv0, blockNo), S2V vector
   * [BE64(blockNo) || fileId, nonce, plaintext]. Every 4096-byte piece is one block; the last
   * may be shorter; empty input gives empty output.
   */
  sealBlocks(plain: Uint8Array, firstBlock: number, fileId: Uint8Array, iv0: Uint8Array): Buffer
  /**
   * Inverse of sealBlocks, nonces taken from the blocks. Throws CorruptError carrying the number
   * of the first bad block. All-zero full blocks are sparse holes and give zeros.
   */
  openBlocks(cipher: Uint8Array, firstBlock: number, fileId: Uint8Array): Buffer
}

/** Throws RangeError unless `key` has a length createAesSiv accepts. */
export function checkSivKey(key: Uint8Array): void {
  if (key.length !== 32 && key.length !== 48 && key.length !== 64) {
    throw new RangeError(`AES-SIV needs a 32, 48 or 64-byte key, got ${key.length}`)
  }
}
