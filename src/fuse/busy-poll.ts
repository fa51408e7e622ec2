// Keeps the JavaScript thread polling for a short while after each FUSE request, instead of
// sleeping in epoll until a libfuse thread wakes it: that wake-up cost about 30 us per request
// here, and a small file is one request (native-bench, measured when this was chosen; the commit says how). While requests keep
// coming (a backup pulling a tree) the next one is picked up at once; idle, the loop sleeps as
// before. Go's runtime likewise spins an idle thread briefly before it parks it.

/** A handler table, every entry a function of the request. */
type Handlers = Record<string, (...args: any[]) => void>

export class BusyPoll {
  readonly #windowMs: number
  #until = 0
  #polling = false

  /** `windowUs`: how long to keep polling after the last request; 0 never polls. */
  constructor(windowUs: number) {
    this.#windowMs = windowUs / 1000
  }

  /** Whether the event loop is kept polling now (for tests). */
  get polling(): boolean {
    return this.#polling
  }

  /** A request arrived: poll until windowUs after it. */
  #touch(): void {
    this.#until = performance.now() + this.#windowMs
    if (this.#polling) return
    this.#polling = true
    setImmediate(this.#poll)
  }

  // A pending (referenced) immediate makes libuv poll for I/O without blocking, then run it.
  readonly #poll = (): void => {
    if (performance.now() < this.#until) setImmediate(this.#poll)
    else this.#polling = false
  }

  /** The same handlers, each touching the poll before it runs. */
  wrap<T extends Handlers>(handlers: T): T {
    if (this.#windowMs <= 0) return handlers
    const wrapped: Handlers = {}
    for (const [name, handler] of Object.entries(handlers)) {
      wrapped[name] = (...args) => {
        this.#touch()
        handler(...args)
      }
    }
    return wrapped as T
  }
}
