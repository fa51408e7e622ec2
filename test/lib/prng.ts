// Seeded pseudo-random numbers for fuzz-style tests, so every failure can be replayed: a suite
// prints its seed and takes it back from an environment variable.

/** mulberry32: tiny, fast, and good enough to spread test inputs (not for anything secret). */
export class Prng {
  #state: number

  constructor(readonly seed: number) {
    this.#state = seed | 0
  }

  /** Uniform 32-bit unsigned integer. */
  u32(): number {
    this.#state = (this.#state + 0x6d2b79f5) | 0
    let x = Math.imul(this.#state ^ (this.#state >>> 15), 1 | this.#state)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return (x ^ (x >>> 14)) >>> 0
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.u32() / 2 ** 32
  }

  /** Uniform integer in [0, n) for n up to 2^53. */
  int(n: number): number {
    return Math.floor(this.float() * n)
  }

  /** Uniform integer in [lo, hi], both included. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1)
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!
  }

  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n)
    let i = 0
    for (; i + 4 <= n; i += 4) out.writeUInt32LE(this.u32(), i)
    if (i < n) {
      const last = this.u32()
      for (let k = 0; i < n; i++, k++) out[i] = (last >>> (8 * k)) & 0xff
    }
    return out
  }
}

/** The seed named by the environment variable, else a fresh one (printed by the caller). */
export function seedFrom(envVar: string): number {
  const given = process.env[envVar]
  if (given !== undefined && given !== '') {
    const n = Number(given)
    if (!Number.isInteger(n)) throw new Error(`${envVar}=${given} is not an integer seed`)
    return n >>> 0
  }
  return (Math.random() * 2 ** 32) >>> 0
}
