// Size and offset arithmetic of the gocryptfs content format (spec 3.3). Plain numbers, not
// BigInt: file sizes stay far below 2^53, and these run on every getattr and read.

/** File header: BE16(version 2) || fileID(16). */
export const HEADER_LEN = 18
export const PLAIN_BLOCK = 4096
/** nonce(16) || SIV tag(16) || ciphertext(4096). */
export const CIPHER_BLOCK = 4128
export const BLOCK_OVERHEAD = CIPHER_BLOCK - PLAIN_BLOCK

/** Size of the view file for a plaintext file of p bytes; an empty file stays empty (no header). */
export function plainToCipherSize(p: number): number {
  if (p === 0) return 0
  return HEADER_LEN + p + BLOCK_OVERHEAD * Math.ceil(p / PLAIN_BLOCK)
}

/**
 * Inverse of plainToCipherSize as gocryptfs computes it (CipherSizeToPlainSize): sizes up to the
 * header give 0, and a truncated last block of 1..32 bytes counts as holding one plaintext byte.
 */
export function cipherToPlainSize(c: number): number {
  if (c <= HEADER_LEN) return 0
  let body = c - HEADER_LEN
  const partial = body % CIPHER_BLOCK
  if (partial >= 1 && partial <= BLOCK_OVERHEAD) body += BLOCK_OVERHEAD + 1 - partial
  return body - BLOCK_OVERHEAD * Math.ceil(body / CIPHER_BLOCK)
}

/** Number of the block holding ciphertext offset `off` (off >= HEADER_LEN). */
export function cipherOffToBlockNo(off: number): number {
  return Math.floor((off - HEADER_LEN) / CIPHER_BLOCK)
}

/** Ciphertext offset at which block `blockNo` starts. */
export function blockNoToCipherOff(blockNo: number): number {
  return HEADER_LEN + blockNo * CIPHER_BLOCK
}
