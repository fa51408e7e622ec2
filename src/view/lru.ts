// A bounded map that forgets the least recently used entry: the view's caches must not grow
// with the size of the source tree.
export class Lru<K, V> {
  readonly #map = new Map<K, V>()

  /** onDrop sees every value that leaves the map (evicted, replaced or deleted). */
  constructor(
    readonly capacity: number,
    private readonly onDrop?: (value: V) => void,
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
    this.#map.delete(key)
    this.#map.set(key, value)
    if (old !== undefined && old !== value) this.onDrop?.(old)
    if (this.#map.size > this.capacity) this.delete(this.#map.keys().next().value as K)
  }

  delete(key: K): void {
    const old = this.#map.get(key)
    if (old !== undefined && this.#map.delete(key)) this.onDrop?.(old)
  }

  get size(): number {
    return this.#map.size
  }
}
