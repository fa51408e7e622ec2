// Inode numbers of the view (spec 6.7). Like gocryptfs, every object is identified by
// (st_dev, tag, st_ino) and a namespace in the high bits keeps the pairs apart, so real entries
// on the source file system keep their plaintext inode numbers. Unlike gocryptfs, namespaces
// are not handed out in order of first use, which made numbers depend on access order:
//
//   ino' = ns * 2^44 + st_ino                     if st_ino < 2^44 and (dev, tag) has a namespace
//   ns   = tag                                    for the source file system (0, 1, 2)
//   ns   = 3 + 3 * slot(dev) + tag                for any other device, slot = hash(dev) mod 84
//   ino' = 2^52 + n (n = 0, 1, ... on first use)  otherwise ("spill")
//
// A slot taken by another device sends the later device to the spill range. All numbers stay
// below 2^53, exact in a JS number; the shift is 2^44 rather than Go's 2^48 for that reason.
export const InoTag = { Real: 0, DirIv: 1, LongName: 2 } as const
export type InoTag = (typeof InoTag)[keyof typeof InoTag]

const SHIFT = 2 ** 44
const SPILL_BASE = 2 ** 52
const FOREIGN_SLOTS = 84 // 3 + 3 * 84 = 255 namespaces, all below 2^8, so ns * 2^44 < 2^52

export class InoMap {
  readonly #sourceDev: number
  readonly #slotOwner = new Map<number, number>() // slot -> dev
  readonly #spill = new Map<string, number>()

  constructor(sourceDev: number) {
    this.#sourceDev = sourceDev
  }

  ino(dev: number, tag: InoTag, ino: number): number {
    if (ino < SHIFT) {
      const ns = this.#namespace(dev, tag)
      if (ns !== undefined) return ns * SHIFT + ino
    }
    const key = `${dev}:${tag}:${ino}`
    let n = this.#spill.get(key)
    if (n === undefined) {
      n = SPILL_BASE + this.#spill.size
      this.#spill.set(key, n)
    }
    return n
  }

  #namespace(dev: number, tag: InoTag): number | undefined {
    if (dev === this.#sourceDev) return tag
    // Fold both 32-bit halves of the device number into the slot (device numbers exceed 2^32).
    const mixed = Math.imul((dev % 2 ** 32) ^ Math.floor(dev / 2 ** 32), 0x9e3779b1) >>> 0
    const slot = mixed % FOREIGN_SLOTS
    const owner = this.#slotOwner.get(slot)
    if (owner === undefined) this.#slotOwner.set(slot, dev)
    else if (owner !== dev) return undefined
    return 3 + 3 * slot + tag
  }
}
