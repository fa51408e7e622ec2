// EME (ECB-Mix-ECB), the tweakable wide-block mode of Halevi and Rogaway (2003) with AES-256,
// bit-compatible with github.com/rfjakob/eme. gocryptfs encrypts padded file names with it
// (spec 5.3). Both ECB passes run as one batched AES call each.
import { AesEcb } from './aes-ecb.js'

const BLOCK = 16
const MAX_BLOCKS = 128

/**
 * dst = 2·src in GF(2^128), little-endian convention (byte 0 least significant), unlike CMAC.
 * Walks from the top byte down so that dst may alias src.
 */
function mul2(src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number): void {
  const carry = src[srcOff + 15] >> 7
  for (let j = 15; j > 0; j--) {
    dst[dstOff + j] = (src[srcOff + j] << 1) | (src[srcOff + j - 1] >> 7)
  }
  dst[dstOff] = (src[srcOff] << 1) ^ (carry * 0x87)
}

export class Eme {
  readonly #aes: AesEcb
  /** L_1 .. L_128 back to back: L_j = 2^j · E(0), the same for every message under this key. */
  readonly #l = new Uint8Array(MAX_BLOCKS * BLOCK)

  constructor(key: Uint8Array) {
    this.#aes = new AesEcb(key)
    const l = this.#l
    // Step 1 uses AES encryption of the zero block in both directions.
    mul2(this.#aes.encrypt(new Uint8Array(BLOCK)), 0, l, 0)
    for (let off = BLOCK; off < l.length; off += BLOCK) mul2(l, off - BLOCK, l, off)
  }

  /** Enciphers 1..128 whole blocks under the 16-byte tweak; output has the input's length. */
  encrypt(tweak: Uint8Array, data: Uint8Array): Buffer {
    return this.#transform(tweak, data, true)
  }

  /** Inverse of encrypt. */
  decrypt(tweak: Uint8Array, data: Uint8Array): Buffer {
    return this.#transform(tweak, data, false)
  }

  #transform(tweak: Uint8Array, data: Uint8Array, forward: boolean): Buffer {
    const n = data.length
    if (tweak.length !== BLOCK) throw new RangeError('EME tweak must be 16 bytes')
    if (n === 0 || n % BLOCK !== 0 || n > MAX_BLOCKS * BLOCK) {
      throw new RangeError('EME data must be 1..128 whole 16-byte blocks')
    }
    const aes = this.#aes
    const l = this.#l

    // Step 2: PPP_j = E(P_j ^ L_j).
    const masked = Buffer.allocUnsafe(n)
    for (let i = 0; i < n; i++) masked[i] = data[i] ^ l[i]
    const ppp = forward ? aes.encrypt(masked) : aes.decrypt(masked)

    // Step 3: MP = T ^ PPP_1 ^ ... ^ PPP_m, MC = E(MP), M = MP ^ MC.
    const mp = Buffer.from(tweak)
    for (let i = 0; i < n; i++) mp[i & 15] ^= ppp[i]
    const mc = forward ? aes.encrypt(mp) : aes.decrypt(mp)
    const m = mp
    for (let k = 0; k < BLOCK; k++) m[k] ^= mc[k]

    // Steps 4 and 5, in place: CCC_j = PPP_j ^ 2^(j-1)·M for j >= 2, and
    // CCC_1 = MC ^ T ^ CCC_2 ^ ... ^ CCC_m (PPP_1 is no longer needed once MP is known).
    const ccc = ppp
    for (let k = 0; k < BLOCK; k++) ccc[k] = mc[k] ^ tweak[k]
    for (let off = BLOCK; off < n; off += BLOCK) {
      mul2(m, 0, m, 0)
      for (let k = 0; k < BLOCK; k++) {
        const v = ccc[off + k] ^ m[k]
        ccc[off + k] = v
        ccc[k] ^= v
      }
    }

    // Step 6: C_j = E(CCC_j) ^ L_j.
    const out = forward ? aes.encrypt(ccc) : aes.decrypt(ccc)
    for (let i = 0; i < n; i++) out[i] ^= l[i]
    return out
  }
}
