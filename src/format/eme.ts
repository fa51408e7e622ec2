// EME (ECB-Mix-ECB), the tweakable wide-block mode of Halevi and Rogaway (2003) with AES-256,
// bit-compatible with github.com/rfjakob/eme. gocryptfs encrypts padded file names with it
// (spec 5.3). Each of its three AES steps is one batched call, for one message or many.
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
    return this.#transform(tweak, [data], true)[0]!
  }

  /**
   * encrypt() of each message under one tweak, with three AES calls for all of them: a
   * directory's names share its IV, and an AES call costs more than a short name's blocks.
   */
  encryptEach(tweak: Uint8Array, data: readonly Uint8Array[]): Buffer[] {
    return this.#transform(tweak, data, true)
  }

  /** Inverse of encrypt. */
  decrypt(tweak: Uint8Array, data: Uint8Array): Buffer {
    return this.#transform(tweak, [data], false)[0]!
  }

  #transform(tweak: Uint8Array, messages: readonly Uint8Array[], forward: boolean): Buffer[] {
    if (tweak.length !== BLOCK) throw new RangeError('EME tweak must be 16 bytes')
    let total = 0
    for (const data of messages) {
      const n = data.length
      if (n === 0 || n % BLOCK !== 0 || n > MAX_BLOCKS * BLOCK) {
        throw new RangeError('EME data must be 1..128 whole 16-byte blocks')
      }
      total += n
    }
    const aes = this.#aes
    const l = this.#l
    const cipher = (b: Uint8Array): Buffer => (forward ? aes.encrypt(b) : aes.decrypt(b))

    // Step 2: PPP_j = E(P_j ^ L_j), every message's blocks back to back.
    const masked = Buffer.allocUnsafe(total)
    for (let at = 0, k = 0; k < messages.length; k++) {
      const data = messages[k]!
      for (let i = 0; i < data.length; i++) masked[at + i] = data[i]! ^ l[i]!
      at += data.length
    }
    const ppp = cipher(masked)

    // Step 3: MP = T ^ PPP_1 ^ ... ^ PPP_m, MC = E(MP), M = MP ^ MC; one block per message.
    const mps = Buffer.allocUnsafe(BLOCK * messages.length)
    for (let at = 0, k = 0; k < messages.length; k++) {
      const mp = BLOCK * k
      mps.set(tweak, mp)
      const end = at + messages[k]!.length
      for (; at < end; at++) mps[mp + (at & 15)] ^= ppp[at]!
    }
    const mcs = cipher(mps)

    // Steps 4 and 5, in place: CCC_j = PPP_j ^ 2^(j-1)·M for j >= 2, and
    // CCC_1 = MC ^ T ^ CCC_2 ^ ... ^ CCC_m (PPP_1 is no longer needed once MP is known).
    const ccc = ppp
    for (let at = 0, k = 0; k < messages.length; k++) {
      const m = BLOCK * k
      for (let j = 0; j < BLOCK; j++) {
        mps[m + j] ^= mcs[m + j]!
        ccc[at + j] = mcs[m + j]! ^ tweak[j]!
      }
      const end = at + messages[k]!.length
      for (let off = at + BLOCK; off < end; off += BLOCK) {
        mul2(mps, m, mps, m)
        for (let j = 0; j < BLOCK; j++) {
          const v = ccc[off + j]! ^ mps[m + j]!
          ccc[off + j] = v
          ccc[at + j] ^= v
        }
      }
      at = end
    }

    // Step 6: C_j = E(CCC_j) ^ L_j.
    const out = cipher(ccc)
    const results: Buffer[] = []
    for (let at = 0, k = 0; k < messages.length; k++) {
      const n = messages[k]!.length
      for (let i = 0; i < n; i++) out[at + i] ^= l[i]!
      results.push(out.subarray(at, at + n))
      at += n
    }
    return results
  }
}
