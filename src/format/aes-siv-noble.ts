// Reference AES-SIV backend on @noble/ciphers (pure JS, ~30 MB/s). Kept as the cross-check for
// the fast backend and as a fallback where node:crypto's AES is unavailable.
import { aessiv } from '@noble/ciphers/aes.js'
import type { AesSiv } from './aes-siv-backend.js'
import { isHoleBlock, writeBlockAd, writeBlockIv } from './blocks.js'
import { BLOCK_OVERHEAD, CIPHER_BLOCK, PLAIN_BLOCK } from './sizes.js'
import { CorruptError } from './errors.js'
import { plural } from '../plural.js'

const SIV_LEN = 16

function asBuffer(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.length)
}

export class NobleAesSiv implements AesSiv {
  readonly backend = 'noble' as const
  readonly #key: Uint8Array

  constructor(key: Uint8Array) {
    this.#key = Uint8Array.from(key)
  }

  // noble keeps the AD arrays by reference: every call builds a fresh instance and the caller's
  // arrays are not touched while it lives.
  seal(ad: readonly Uint8Array[], plaintext: Uint8Array): Buffer {
    return asBuffer(aessiv(this.#key, ...ad).encrypt(plaintext))
  }

  open(ad: readonly Uint8Array[], sealed: Uint8Array): Buffer {
    if (sealed.length < SIV_LEN) throw new CorruptError(`sealed data too short (${plural(sealed.length, 'byte')})`)
    try {
      return asBuffer(aessiv(this.#key, ...ad).decrypt(sealed))
    } catch {
      throw new CorruptError('AES-SIV authentication failed')
    }
  }

  sealBlocks(plain: Uint8Array, firstBlock: number, fileId: Uint8Array, iv0: Uint8Array): Buffer {
    const n = Math.ceil(plain.length / PLAIN_BLOCK)
    const out = Buffer.allocUnsafe(plain.length + BLOCK_OVERHEAD * n)
    for (let i = 0; i < n; i++) {
      const o = i * CIPHER_BLOCK
      const aData = new Uint8Array(24)
      const nonce = new Uint8Array(16)
      writeBlockAd(firstBlock + i, fileId, aData, 0)
      writeBlockIv(iv0, firstBlock + i, nonce, 0)
      out.set(nonce, o)
      out.set(this.seal([aData, nonce], plain.subarray(i * PLAIN_BLOCK, (i + 1) * PLAIN_BLOCK)), o + 16)
    }
    return out
  }

  openBlocks(cipher: Uint8Array, firstBlock: number, fileId: Uint8Array): Buffer {
    const n = Math.ceil(cipher.length / CIPHER_BLOCK)
    // A truncated last piece (rejected when its turn comes) must not make the size negative.
    const lastPlain = Math.max(0, cipher.length - (n - 1) * CIPHER_BLOCK - BLOCK_OVERHEAD)
    const out = Buffer.allocUnsafe(n === 0 ? 0 : (n - 1) * PLAIN_BLOCK + lastPlain)
    for (let i = 0; i < n; i++) {
      const blockNo = firstBlock + i
      const block = cipher.subarray(i * CIPHER_BLOCK, (i + 1) * CIPHER_BLOCK)
      if (isHoleBlock(block, blockNo)) {
        out.fill(0, i * PLAIN_BLOCK, (i + 1) * PLAIN_BLOCK)
        continue
      }
      const aData = new Uint8Array(24)
      writeBlockAd(blockNo, fileId, aData, 0)
      let plain: Buffer
      try {
        plain = this.open([aData, block.subarray(0, 16)], block.subarray(16))
      } catch {
        throw new CorruptError(`block ${blockNo} failed authentication`, blockNo)
      }
      out.set(plain, i * PLAIN_BLOCK)
    }
    return out
  }
}
