// Attributes a listing returned, kept for the kernel's attribute timeout. gocryptfs (go-fuse)
// answers READDIRPLUS: the kernel gets every entry's attributes with the listing and trusts them
// for attr_timeout. libfuse 2 has no READDIRPLUS, so after our listing the kernel sends a LOOKUP
// per entry; answering it from here instead of a second stat is what the kernel would have done
// with gocryptfs, with the same timeout. Bounded by what is listed within two timeouts, not by
// the size of the tree: entries live in two generations, the older dropped whole.
export class ListedAttrs<T> {
  #current = new Map<string, { at: number; value: T }>()
  #previous = new Map<string, { at: number; value: T }>()
  #since: number

  /** ttlMs 0 keeps nothing; `now` is the clock of `at` in add(). */
  constructor(
    readonly ttlMs: number,
    readonly now: () => number = () => performance.now(),
  ) {
    this.#since = now()
  }

  /** The entries `names` of directory `dir` (a view path), with their attributes as of `at`. */
  add(dir: string, names: readonly string[], values: readonly T[], at: number): void {
    if (this.ttlMs <= 0) return
    this.#rotate()
    const prefix = dir.endsWith('/') ? dir : dir + '/'
    for (let i = 0; i < names.length; i++) this.#current.set(prefix + names[i]!, { at, value: values[i]! })
  }

  /** The attributes listed for this path within the timeout, or undefined. */
  get(path: string): T | undefined {
    if (this.ttlMs <= 0) return undefined
    const now = this.#rotate()
    const e = this.#current.get(path) ?? this.#previous.get(path)
    return e !== undefined && now - e.at < this.ttlMs ? e.value : undefined
  }

  #rotate(): number {
    const now = this.now()
    if (now - this.#since >= this.ttlMs) {
      this.#previous = this.#current
      this.#current = new Map()
      this.#since = now
    }
    return now
  }
}
