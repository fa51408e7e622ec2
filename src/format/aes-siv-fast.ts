// AES-SIV composed from node:crypto AES primitives, shaped for whole reads:
// - every CMAC runs on one kept CBC object: XORing a message's first block with the previous
//   CBC output restarts the chain from zero without creating a cipher (~1.4 µs each);
// - the short CMACs of all blocks of a read (24-byte aData, 16-byte nonce) take two ECB calls;
// - the CTR keystream of all blocks is one ECB call over counter blocks built here, then XOR.
// Node does not expose OpenSSL's aes-siv, and a fresh CTR cipher per block costs more than this.
import { createCipheriv, type Cipher } from 'node:crypto'
import type { AesSiv } from './aes-siv-backend.js'
import { isHoleBlock, writeBlockAd, writeBlockIv } from './blocks.js'
import { CorruptError } from './errors.js'
import { BLOCK_OVERHEAD, CIPHER_BLOCK, PLAIN_BLOCK } from './sizes.js'
import { plural } from '../plural.js'

const ZERO_BLOCK = new Uint8Array(16)
/** Working buffers up to this size are kept between calls; larger ones are temporary. */
const KEEP_LIMIT = 1 << 20
/** RFC 5297 limit on associated-data components (the S2V vector holds these plus the plaintext). */
const MAX_AD = 126

function keptCipher(mode: 'ecb' | 'cbc', key: Uint8Array): Cipher {
  const name = `aes-${key.length * 8}-${mode}`
  return createCipheriv(name, key, mode === 'cbc' ? ZERO_BLOCK : null).setAutoPadding(false)
}

/** RFC 5297 dbl: doubling in GF(2^128), big-endian convention. src and dst may overlap exactly. */
function dbl(src: Uint8Array, sOff: number, dst: Uint8Array, dOff: number): void {
  const carry = src[sOff] >> 7
  for (let i = 0; i < 15; i++) dst[dOff + i] = (src[sOff + i] << 1) | (src[sOff + i + 1] >> 7)
  dst[dOff + 15] = (src[sOff + 15] << 1) ^ (carry * 0x87)
}

/**
 * b[start..start+len) as a plain Uint8Array: Buffer#subarray runs through Node's JavaScript
 * and cost ~4% of sealBlocks at ~160 calls per 128 KiB read; this constructor is inlined.
 */
function bytesOf(b: Uint8Array, start: number, len: number): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset + start, len)
}

function xor16(dst: Uint8Array, dOff: number, src: Uint8Array, sOff: number): void {
  for (let i = 0; i < 16; i++) dst[dOff + i] ^= src[sOff + i]
}

/** Constant-time comparison of two 16-byte tags. */
function equal16(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number): boolean {
  let diff = 0
  for (let i = 0; i < 16; i++) diff |= a[aOff + i] ^ b[bOff + i]
  return diff === 0
}

function xorBytes(dst: Uint8Array, dOff: number, src: Uint8Array, sOff: number, len: number): void {
  for (let i = 0; i < len; i++) dst[dOff + i] ^= src[sOff + i]
}

export class FastAesSiv implements AesSiv {
  readonly backend = 'fast' as const
  /** ECB under K1 (S2V key) for the short CMACs. */
  readonly #macEcb: Cipher
  /** ECB under K2 (CTR key) for keystreams. */
  readonly #ctrEcb: Cipher
  /** CBC under K1 with zero IV, never finalized; #chain holds its last output block. */
  readonly #cbc: Cipher
  readonly #chain = new Uint8Array(16)
  /** CMAC subkeys K1', K2' (RFC 4493). */
  readonly #sub1 = new Uint8Array(16)
  readonly #sub2 = new Uint8Array(16)
  /** D0 = CMAC(0^128) starts every S2V; the first associated-data step needs dbl(D0). */
  readonly #d0 = new Uint8Array(16)
  readonly #dblD0 = new Uint8Array(16)
  /** Tag recomputed while opening, compared with the stored one. */
  readonly #tag = new Uint8Array(16)
  #scratch = Buffer.allocUnsafeSlow(PLAIN_BLOCK + 16)
  #counters = new Counters(32 * PLAIN_BLOCK)

  constructor(key: Uint8Array) {
    const k1 = key.subarray(0, key.length / 2)
    this.#macEcb = keptCipher('ecb', k1)
    this.#ctrEcb = keptCipher('ecb', key.subarray(key.length / 2))
    this.#cbc = keptCipher('cbc', k1)
    dbl(this.#macEcb.update(ZERO_BLOCK), 0, this.#sub1, 0)
    dbl(this.#sub1, 0, this.#sub2, 0)
    this.#d0.set(this.#macEcb.update(this.#sub1))
    dbl(this.#d0, 0, this.#dblD0, 0)
  }

  seal(ad: readonly Uint8Array[], plaintext: Uint8Array): Buffer {
    const out = Buffer.allocUnsafe(16 + plaintext.length)
    this.#s2v(ad, plaintext, out)
    this.#ctr(1, plaintext.length, out, 0, 0, plaintext, 0, 0, out, 16, 0)
    return out
  }

  open(ad: readonly Uint8Array[], sealed: Uint8Array): Buffer {
    if (sealed.length < 16) throw new CorruptError(`sealed data too short (${plural(sealed.length, 'byte')})`)
    const out = Buffer.allocUnsafe(sealed.length - 16)
    this.#ctr(1, out.length, sealed, 0, 0, sealed, 16, 0, out, 0, 0)
    this.#s2v(ad, out, this.#tag)
    if (!equal16(this.#tag, 0, sealed, 0)) throw new CorruptError('AES-SIV authentication failed')
    return out
  }

  sealBlocks(plain: Uint8Array, firstBlock: number, fileId: Uint8Array, iv0: Uint8Array): Buffer {
    const n = Math.ceil(plain.length / PLAIN_BLOCK)
    const out = Buffer.allocUnsafe(plain.length + BLOCK_OVERHEAD * n)
    if (n === 0) return out
    for (let i = 0; i < n; i++) writeBlockIv(iv0, firstBlock + i, out, i * CIPHER_BLOCK)
    const seeds = this.#blockSeeds(out, CIPHER_BLOCK, n, firstBlock, fileId)
    const lastLen = plain.length - (n - 1) * PLAIN_BLOCK
    for (let i = 0; i < n; i++) {
      const len = i < n - 1 ? PLAIN_BLOCK : lastLen
      this.#s2vFinal(seeds, 16 * i, plain, i * PLAIN_BLOCK, len, out, i * CIPHER_BLOCK + 16)
    }
    this.#ctr(n, lastLen, out, 16, CIPHER_BLOCK, plain, 0, PLAIN_BLOCK, out, 32, CIPHER_BLOCK)
    return out
  }

  openBlocks(cipher: Uint8Array, firstBlock: number, fileId: Uint8Array): Buffer {
    const n = Math.ceil(cipher.length / CIPHER_BLOCK)
    const holes: number[] = []
    for (let i = 0; i < n; i++) {
      try {
        if (isHoleBlock(cipher.subarray(i * CIPHER_BLOCK, (i + 1) * CIPHER_BLOCK), firstBlock + i)) holes.push(i)
      } catch (e) {
        // Report the lowest bad block: an earlier one may fail authentication.
        if (i > 0) this.openBlocks(cipher.subarray(0, i * CIPHER_BLOCK), firstBlock, fileId)
        throw e
      }
    }
    const out = Buffer.allocUnsafe(cipher.length - BLOCK_OVERHEAD * n)
    if (n === 0) return out
    const lastLen = out.length - (n - 1) * PLAIN_BLOCK
    this.#ctr(n, lastLen, cipher, 16, CIPHER_BLOCK, cipher, 32, CIPHER_BLOCK, out, 0, PLAIN_BLOCK)
    const seeds = this.#blockSeeds(cipher, CIPHER_BLOCK, n, firstBlock, fileId)
    for (let i = 0, h = 0; i < n; i++) {
      if (holes[h] === i) {
        h++
        out.fill(0, i * PLAIN_BLOCK, (i + 1) * PLAIN_BLOCK)
        continue
      }
      const len = i < n - 1 ? PLAIN_BLOCK : lastLen
      this.#s2vFinal(seeds, 16 * i, out, i * PLAIN_BLOCK, len, this.#tag, 0)
      if (!equal16(this.#tag, 0, cipher, i * CIPHER_BLOCK + 16)) {
        throw new CorruptError(`block ${firstBlock + i} failed authentication`, firstBlock + i)
      }
    }
    return out
  }

  /** S2V over [...ad, plaintext] into dst[0..16]. */
  #s2v(ad: readonly Uint8Array[], plaintext: Uint8Array, dst: Uint8Array): void {
    if (ad.length > MAX_AD) throw new RangeError(`AES-SIV takes at most ${MAX_AD} associated data items`)
    const d = Uint8Array.from(this.#d0)
    const mac = new Uint8Array(16)
    for (const item of ad) {
      dbl(d, 0, d, 0)
      const s = this.#scratchFor(item.length)
      s.set(item)
      this.#cmac(s, item.length, mac, 0)
      xor16(d, 0, mac, 0)
    }
    this.#s2vFinal(d, 0, plaintext, 0, plaintext.length, dst, 0)
  }

  /**
   * The S2V state after the two associated-data items of n content blocks, 16 bytes per block:
   * dbl(dbl(D0) ^ CMAC(BE64(blockNo) || fileId)) ^ CMAC(nonce). Nonces are read from
   * nonces[i * stride]. Two ECB calls for all blocks: the first holds the first aData block and
   * the (single-block) nonce message of every block, the second the second aData block.
   */
  #blockSeeds(nonces: Uint8Array, stride: number, n: number, firstBlock: number, fileId: Uint8Array): Buffer {
    const round1 = Buffer.allocUnsafe(32 * n)
    for (let i = 0; i < n; i++) {
      // The aData bytes 16..24 written here are overwritten by the nonce message.
      writeBlockAd(firstBlock + i, fileId, round1, 32 * i)
      for (let j = 0; j < 16; j++) round1[32 * i + 16 + j] = nonces[i * stride + j] ^ this.#sub1[j]
    }
    const mac1 = this.#macEcb.update(round1)
    // Last aData block: fileId[8..16] || 0x80 || 0^7, padded, so it takes subkey K2'.
    const tail = new Uint8Array(16)
    tail.set(fileId.subarray(8, 16))
    tail[8] = 0x80
    xor16(tail, 0, this.#sub2, 0)
    const round2 = Buffer.allocUnsafe(16 * n)
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < 16; j++) round2[16 * i + j] = mac1[32 * i + j] ^ tail[j]
    }
    const seeds = this.#macEcb.update(round2)
    for (let i = 0; i < n; i++) {
      xor16(seeds, 16 * i, this.#dblD0, 0)
      dbl(seeds, 16 * i, seeds, 16 * i)
      xor16(seeds, 16 * i, mac1, 32 * i + 16)
    }
    return seeds
  }

  /** Last S2V step: V = CMAC(T) for the final component p[pOff..pOff+len] and state d; V goes to dst. */
  #s2vFinal(d: Uint8Array, dOff: number, p: Uint8Array, pOff: number, len: number, dst: Uint8Array, vOff: number): void {
    const s = this.#scratchFor(len)
    if (len >= 16) {
      s.set(bytesOf(p, pOff, len))
      xor16(s, len - 16, d, dOff)
      this.#cmac(s, len, dst, vOff)
    } else {
      // T = dbl(D) ^ (p || 0x80 || 0...), a complete block.
      dbl(d, dOff, s, 0)
      xorBytes(s, 0, p, pOff, len)
      s[len] ^= 0x80
      this.#cmac(s, 16, dst, vOff)
    }
  }

  /**
   * CMAC of s[0..len] on the kept CBC object, result to dst[dOff..dOff+16]. Pads and masks s in
   * place, so s needs 16 spare bytes.
   */
  #cmac(s: Buffer, len: number, dst: Uint8Array, dOff: number): void {
    let n = len
    if (len === 0 || len % 16 !== 0) {
      n = len - (len % 16) + 16
      s[len] = 0x80
      s.fill(0, len + 1, n)
      xor16(s, n - 16, this.#sub2, 0)
    } else {
      xor16(s, n - 16, this.#sub1, 0)
    }
    xor16(s, 0, this.#chain, 0)
    const out = this.#cbc.update(bytesOf(s, 0, n))
    this.#chain.set(bytesOf(out, n - 16, 16))
    dst.set(this.#chain, dOff)
  }

  /** A work buffer for a message of len bytes plus padding; kept unless unusually large. */
  #scratchFor(len: number): Buffer {
    if (this.#scratch.length >= len + 16) return this.#scratch
    const s = Buffer.allocUnsafeSlow(len + 16)
    if (s.length <= KEEP_LIMIT) this.#scratch = s
    return s
  }

  /**
   * AES-CTR under K2 for n pieces: piece i has length PLAIN_BLOCK (the last: lastLen), its SIV at
   * ivs[ivOff + i*ivStride], input at src[srcOff + i*srcStride], output at dst[dstOff + i*dstStride].
   */
  #ctr(
    n: number,
    lastLen: number,
    ivs: Uint8Array,
    ivOff: number,
    ivStride: number,
    src: Uint8Array,
    srcOff: number,
    srcStride: number,
    dst: Uint8Array,
    dstOff: number,
    dstStride: number,
  ): void {
    const ks = this.#keystream(n, lastLen, ivs, ivOff, ivStride)
    if (ks.length === 0) return
    // 32 bits at a time when every piece lands on a 4-byte boundary (the usual case).
    const aligned = ((dst.byteOffset | dstOff | dstStride | ks.byteOffset) & 3) === 0
    const d32 = aligned ? new Int32Array(dst.buffer, dst.byteOffset, dst.length >> 2) : undefined
    const k32 = aligned ? new Int32Array(ks.buffer, ks.byteOffset, ks.length >> 2) : undefined
    for (let i = 0; i < n; i++) {
      const len = i < n - 1 ? PLAIN_BLOCK : lastLen
      const d = dstOff + i * dstStride
      const s = srcOff + i * srcStride
      const k = i * PLAIN_BLOCK
      dst.set(bytesOf(src, s, len), d)
      if (d32 && k32) {
        const words = len >> 2
        xorWords(d32, d >> 2, k32, k >> 2, words)
        xorBytes(dst, d + 4 * words, ks, k + 4 * words, len & 3)
      } else {
        xorBytes(dst, d, ks, k, len)
      }
    }
  }

  /**
   * Keystream for #ctr, one ECB call over all counter blocks. A piece's counter starts at its SIV
   * with bits 63 and 31 cleared (RFC 5297), so the low 32-bit word starts below 2^31 and never
   * carries for pieces under 32 GiB: only that word changes from block to block.
   */
  #keystream(n: number, lastLen: number, ivs: Uint8Array, ivOff: number, ivStride: number): Buffer {
    const total = (n - 1) * PLAIN_BLOCK + Math.ceil(lastLen / 16) * 16
    let c = this.#counters
    if (total > c.length) {
      c = new Counters(total)
      if (total <= KEEP_LIMIT) this.#counters = c
    }
    const { bytes, words, view } = c
    for (let i = 0, k = 0; i < n; i++) {
      const blocks = i < n - 1 ? PLAIN_BLOCK / 16 : Math.ceil(lastLen / 16)
      const iv = ivOff + i * ivStride
      bytes.set(bytesOf(ivs, iv, 16), k)
      bytes[k + 8] &= 0x7f
      bytes[k + 12] &= 0x7f
      const w = k >> 2
      const w0 = words[w]
      const w1 = words[w + 1]
      const w2 = words[w + 2]
      const low = view.getUint32(k + 12)
      for (let j = 1; j < blocks; j++) {
        words[w + 4 * j] = w0
        words[w + 4 * j + 1] = w1
        words[w + 4 * j + 2] = w2
        view.setUint32(k + 16 * j + 12, low + j)
      }
      k += 16 * blocks
    }
    return this.#ctrEcb.update(bytesOf(bytes, 0, total))
  }
}

/** A counter-block buffer with its word and big-endian views, kept between calls. */
class Counters {
  readonly bytes: Buffer
  readonly words: Int32Array
  readonly view: DataView
  constructor(size: number) {
    this.bytes = Buffer.allocUnsafeSlow(size)
    this.words = new Int32Array(this.bytes.buffer, this.bytes.byteOffset, size >> 2)
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, size)
  }

  get length(): number {
    return this.bytes.length
  }
}

/** d[dw..dw+n) ^= k[kw..kw+n), unrolled: V8 runs this about twice as fast as the plain loop. */
function xorWords(d: Int32Array, dw: number, k: Int32Array, kw: number, n: number): void {
  let j = 0
  for (; j + 8 <= n; j += 8) {
    d[dw + j] ^= k[kw + j]
    d[dw + j + 1] ^= k[kw + j + 1]
    d[dw + j + 2] ^= k[kw + j + 2]
    d[dw + j + 3] ^= k[kw + j + 3]
    d[dw + j + 4] ^= k[kw + j + 4]
    d[dw + j + 5] ^= k[kw + j + 5]
    d[dw + j + 6] ^= k[kw + j + 6]
    d[dw + j + 7] ^= k[kw + j + 7]
  }
  for (; j < n; j++) d[dw + j] ^= k[kw + j]
}
