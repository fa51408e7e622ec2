// A view that notes whether it was used, for -idle: requests since the last look and files
// still open. A handle whose content was handed to the FUSE binding (takeData) counts as
// closed: the binding answers its reads and release without the view.
import type { Attr, DirListing, FsStats, ViewFs } from './fs.js'

export class ActivityView implements ViewFs {
  readonly #view: ViewFs
  #used = false
  #open = new Set<number>()
  readonly takeData?: (handle: number) => Buffer | undefined

  constructor(view: ViewFs) {
    this.#view = view
    const take = view.takeData?.bind(view)
    if (take) {
      this.takeData = (handle) => {
        const data = take(handle)
        if (data) this.#open.delete(handle)
        return data
      }
    }
  }

  /** Whether a request came since the last call, or a file is open; clears the request mark. */
  busySinceLastLook(): boolean {
    const busy = this.#used || this.#open.size > 0
    this.#used = false
    return busy
  }

  #touch(): void {
    this.#used = true
  }

  getattr(p: string): Promise<Attr> {
    this.#touch()
    return this.#view.getattr(p)
  }

  readdir(p: string): Promise<DirListing> {
    this.#touch()
    return this.#view.readdir(p)
  }

  readlink(p: string): Promise<string> {
    this.#touch()
    return this.#view.readlink(p)
  }

  async open(p: string): Promise<number> {
    this.#touch()
    const handle = await this.#view.open(p)
    this.#open.add(handle)
    return handle
  }

  /** A file answered by the binding is held there, as after takeData: not counted as open. */
  async openHeld(p: string, reply: object): Promise<number | undefined> {
    this.#touch()
    const handle = await (this.#view.openHeld?.(p, reply) ?? this.#view.open(p))
    if (handle !== undefined) this.#open.add(handle)
    return handle
  }

  read(handle: number, target: Buffer, length: number, position: number): Promise<number> {
    this.#touch()
    return this.#view.read(handle, target, length, position)
  }

  release(handle: number): Promise<void> {
    this.#touch()
    this.#open.delete(handle)
    return this.#view.release(handle)
  }

  statfs(p: string): Promise<FsStats> {
    this.#touch()
    return this.#view.statfs(p)
  }
}
