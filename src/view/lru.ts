// A bounded map that forgets the least recently used entry: the view's caches must not grow
// with the size of the source tree.
export class Lru<K, V> {
  readonly #map = new Map<K, V>()
  #weight = 0

  /**
   * onDrop sees every value that leaves the map (evicted, replaced or deleted). With `weigh`,
   * capacity bounds the values' total weight instead of their number; the value set last stays
   * even when it alone weighs more.
   */
  constructor(
    readonly capacity: number,
    private readonly onDrop?: (value: V) => void,
    private readonly weigh: (value: V) => number = () => 1,
  ) {
    if (!(capacity >= 1)) throw new RangeError('LRU capacity must be at least 1')
  }

  get(key: K): V | undefined {
    const value = this.#map.get(key)
    if (value !== undefined) {
      // Map keeps insertion order: re-inserting marks the entry as most recently used.
      this.#map.delete(key)
      this.#map.set(key, value)
    }
    return value
  }

  set(key: K, value: V): void {
    const old = this.#map.get(key)
    if (old !== undefined) this.#weight -= this.weigh(old)
    this.#map.delete(key)
    this.#map.set(key, value)
    this.#weight += this.weigh(value)
    if (old !== undefined && old !== value) this.onDrop?.(old)
    while (this.#weight > this.capacity && this.#map.size > 1) this.delete(this.#map.keys().next().value as K)
  }

  delete(key: K): void {
    const old = this.#map.get(key)
    if (old === undefined || !this.#map.delete(key)) return
    this.#weight -= this.weigh(old)
    this.onDrop?.(old)
  }

  get size(): number {
    return this.#map.size
  }
}
