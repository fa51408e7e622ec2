// Inode numbers of the view (spec 6.7), as gocryptfs 2.3 makes them (internal/inomap): every
// object is (st_dev, tag, st_ino); namespace 0 is the source file system's real entries, and
// every other (dev, tag) pair gets the next namespace when first seen (up to 32766):
//
//   ino' = ns << 48 | st_ino                      if st_ino < 2^48 and (dev, tag) has a namespace
//   ino' = 2^63 | n (n = 0, 1, ... on first use)  otherwise ("spill")
//
// So a single-device source shows the numbers gocryptfs shows, virtual files included (the
// first diriv seen gets namespace 1, the first .name file 2). Numbers stay fixed for the life
// of the mount. From 2^53 on (namespace 32 and up, spills) they are bigints: a JS number
// would round them.
export const InoTag = { Real: 0, DirIv: 1, LongName: 2 } as const
export type InoTag = (typeof InoTag)[keyof typeof InoTag]

/** An inode number: a number below 2^53, a bigint from there on. */
export type Ino = number | bigint

const SHIFT = 2 ** 48
const NAMESPACES = 2 ** 15 - 1
const EXACT_NAMESPACES = 2 ** 5 // ns * 2^48 + ino < 2^53
const SPILL_BIT = 1n << 63n

export class InoMap {
  readonly #namespaces = new Map<string, number>() // `${dev}:${tag}` -> namespace
  readonly #spill = new Map<string, bigint>()

  constructor(sourceDev: number) {
    this.#namespaces.set(`${sourceDev}:${InoTag.Real}`, 0)
  }

  ino(dev: number, tag: InoTag, ino: number): Ino {
    if (ino < SHIFT) {
      const key = `${dev}:${tag}`
      let ns = this.#namespaces.get(key)
      if (ns === undefined && this.#namespaces.size < NAMESPACES) {
        ns = this.#namespaces.size
        this.#namespaces.set(key, ns)
      }
      if (ns !== undefined) return ns < EXACT_NAMESPACES ? ns * SHIFT + ino : (BigInt(ns) << 48n) | BigInt(ino)
    }
    const key = `${dev}:${tag}:${ino}`
    let n = this.#spill.get(key)
    if (n === undefined) {
      n = SPILL_BIT | BigInt(this.#spill.size)
      this.#spill.set(key, n)
    }
    return n
  }
}
