// The per-block pieces of the content format (spec 3.3, 4): a block's nonce and associated
// data, and the structural checks before a block is authenticated. A leaf module, so that the
// AES-SIV backends and content.ts can both use it.
import { CorruptError } from './errors.js'
import { BLOCK_OVERHEAD, CIPHER_BLOCK } from './sizes.js'
import { plural } from '../plural.js'

const TWO_32 = 0x1_0000_0000

/**
 * Writes the nonce of block n (iv0 with n added to its last 8 bytes, big-endian, mod 2^64) into
 * dst at off. Two 32-bit halves instead of BigInt: this runs once per block on the read path.
 */
export function writeBlockIv(iv0: Uint8Array, n: number, dst: Uint8Array, off: number): void {
  for (let i = 0; i < 8; i++) dst[off + i] = iv0[i]
  const lo = be32(iv0, 12) + (n % TWO_32)
  const hi = be32(iv0, 8) + Math.floor(n / TWO_32) + (lo >= TWO_32 ? 1 : 0)
  putBe32(dst, off + 8, hi % TWO_32)
  putBe32(dst, off + 12, lo % TWO_32)
}

function be32(b: Uint8Array, off: number): number {
  return b[off] * 0x100_0000 + ((b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3])
}

function putBe32(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 24
  b[off + 1] = v >>> 16
  b[off + 2] = v >>> 8
  b[off + 3] = v
}

/** Nonce of content block n (spec 4, BlockIV). */
export function blockIv(iv0: Uint8Array, n: number): Buffer {
  const iv = Buffer.allocUnsafe(16)
  writeBlockIv(iv0, n, iv, 0)
  return iv
}

/** Writes the 24-byte associated data of a content block, BE64(blockNo) || fileId, at off. */
export function writeBlockAd(blockNo: number, fileId: Uint8Array, dst: Uint8Array, off: number): void {
  putBe32(dst, off, Math.floor(blockNo / TWO_32))
  putBe32(dst, off + 4, blockNo % TWO_32)
  for (let i = 0; i < 16; i++) dst[off + 8 + i] = fileId[i]
}

/**
 * Structural checks gocryptfs applies to a content block before authenticating it (spec 3.3).
 * Returns true for a sparse hole: an all-zero full block, which decrypts to 4096 zero bytes.
 */
export function isHoleBlock(block: Uint8Array, blockNo: number): boolean {
  if (block.length <= BLOCK_OVERHEAD) {
    throw new CorruptError(`block ${blockNo} is truncated to ${plural(block.length, 'byte')}`, blockNo)
  }
  if (block.length === CIPHER_BLOCK && isZero(block, CIPHER_BLOCK)) return true
  if (isZero(block, 16)) throw new CorruptError(`block ${blockNo} has an all-zero nonce`, blockNo)
  return false
}

function isZero(b: Uint8Array, len: number): boolean {
  for (let i = 0; i < len; i++) if (b[i] !== 0) return false
  return true
}
