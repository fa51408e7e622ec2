// Seals whole reads on worker threads, which read the plaintext themselves. AES-SIV is most of the
// read path's CPU time, and the one JavaScript thread also serves FUSE, so streaming was bound by
// that thread; the worker's own pread spares it a libuv round trip too (docs/performance.md 5.6).
// A round trip costs ~55 µs plus transfer (crypto-notes.md), so small reads stay inline, and
// when every worker already has `depth` jobs the main thread seals the read itself: that puts
// it to work instead of queueing, and bounds the memory held by jobs in flight. Hence one
// worker fewer than CPUs by default: the main thread is the last sealer.
import os from 'node:os'
import { Worker } from 'node:worker_threads'
import { checkSivKey, type AesSivBackend } from '../format/aes-siv.js'
import type { FileStatus } from './consistency.js'

/** A message to a worker: read `length` bytes of `fd` from block firstBlock, seal them with ids = fileId || iv0. */
export interface SealJob {
  fd: number
  firstBlock: number
  length: number
  ids: Uint8Array
}

/** A worker's answer: the ciphertext and the file's fstat right after its pread. */
export interface SealedRead {
  cipher: Buffer
  status: FileStatus
}

/** A worker's answer when reading or sealing failed. */
export interface SealReply {
  message: string
  code?: string
  syscall?: string
}

export interface SealPoolOptions {
  /** Worker threads; 0 seals everything inline. Default: one fewer than the CPUs. */
  threads?: number
  /** Cipher implementation of the workers (default: fast). */
  backend?: AesSivBackend
  /** Reads of fewer plaintext bytes are sealed inline. */
  inlineBelow?: number
  /** Jobs a worker may have queued before reads are sealed inline instead. */
  depth?: number
  /** Told when a worker fails; its reads fail, later ones go to the others or inline. */
  log?: (msg: string) => void
}

interface Pending {
  resolve: (out: SealedRead) => void
  reject: (err: Error) => void
}

/** The function ReverseView calls for a read; undefined means "read and seal it yourself". */
export type ReadSealFn = (
  fd: number,
  firstBlock: number,
  length: number,
  fileId: Uint8Array,
  iv0: Uint8Array,
) => Promise<SealedRead> | undefined

interface Slot {
  worker: Worker
  /** In order of sending: a worker answers its jobs in order. */
  pending: Pending[]
}

const WORKER_URL = new URL('./seal-worker.js', import.meta.url)
const DEFAULT_INLINE_BELOW = 16 * 1024
const DEFAULT_DEPTH = 3
// Each job leaves ~400 KB of dead buffers (plaintext, keystream, CMAC output) in the worker,
// freed only when its heap is collected; a small young generation collects often, which kept
// peak RSS ~15-20 MiB lower per worker at the same speed (docs/performance.md).
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 1 }

/** True when b is the only view of its memory, so that memory can be transferred. */
export function ownsBuffer(b: Uint8Array): boolean {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer
}

export class SealPool {
  readonly #slots: Slot[] = []
  readonly #inlineBelow: number
  readonly #depth: number
  readonly #log: (msg: string) => void
  #closed = false

  /** `key` is the 64-byte content key; each worker gets its own copy, which it zeroes. */
  constructor(key: Uint8Array, opts: SealPoolOptions = {}) {
    checkSivKey(key) // here, not asynchronously in every worker
    this.#inlineBelow = opts.inlineBelow ?? DEFAULT_INLINE_BELOW
    this.#depth = opts.depth ?? DEFAULT_DEPTH
    this.#log = opts.log ?? (() => {})
    const threads = opts.threads ?? os.availableParallelism() - 1
    for (let i = 0; i < threads; i++) this.#spawn(key, opts.backend ?? 'fast')
  }

  get threads(): number {
    return this.#slots.length
  }

  /**
   * Reads `length` plaintext bytes of `fd` from block firstBlock and seals them (short at end
   * of file, empty past it), on a worker when the read is large and one has room; otherwise
   * undefined, and the caller reads and seals inline. The worker preads `fd` itself, sparing
   * the main thread a libuv round trip and a buffer, so `fd` must stay open until the promise
   * settles: FUSE releases a file only after every read of it has been answered.
   */
  readonly readSealed: ReadSealFn = (fd, firstBlock, length, fileId, iv0) => {
    const slot = length >= this.#inlineBelow ? this.#freeSlot() : undefined
    if (!slot) return undefined
    const ids = new Uint8Array(32)
    ids.set(fileId.subarray(0, 16))
    ids.set(iv0.subarray(0, 16), 16)
    const job: SealJob = { fd, firstBlock, length, ids }
    return new Promise<SealedRead>((resolve, reject) => {
      // An idle pool must not keep the process alive; a job in flight must.
      if (slot.pending.length === 0) slot.worker.ref()
      slot.pending.push({ resolve, reject })
      slot.worker.postMessage(job, [ids.buffer])
    })
  }

  /** Stops the workers; jobs still in flight fail. Later reads are sealed inline. */
  async close(): Promise<void> {
    this.#closed = true
    const slots = this.#slots.splice(0)
    for (const s of slots) for (const p of s.pending.splice(0)) p.reject(new Error('seal pool closed'))
    await Promise.all(slots.map((s) => s.worker.terminate()))
  }

  #freeSlot(): Slot | undefined {
    let best: Slot | undefined
    for (const s of this.#slots) {
      if (s.pending.length < this.#depth && (!best || s.pending.length < best.pending.length)) best = s
    }
    return best
  }

  #spawn(key: Uint8Array, backend: AesSivBackend): void {
    const copy = Uint8Array.from(key)
    const worker = new Worker(WORKER_URL, {
      workerData: { key: copy, backend },
      transferList: [copy.buffer],
      resourceLimits: WORKER_LIMITS,
    })
    const slot: Slot = { worker, pending: [] }
    this.#slots.push(slot)
    worker.on('message', (out: SealedRead | SealReply) => {
      const p = slot.pending.shift()
      if (slot.pending.length === 0) worker.unref()
      if ('cipher' in out) {
        const c = out.cipher
        p?.resolve({ cipher: Buffer.from(c.buffer, c.byteOffset, c.byteLength), status: out.status })
      } else p?.reject(Object.assign(new Error(out.message), { code: out.code, syscall: out.syscall }))
    })
    const fail = (err: Error): void => {
      const i = this.#slots.indexOf(slot)
      if (i < 0) return
      this.#slots.splice(i, 1)
      if (!this.#closed) this.#log(`seal worker failed: ${err.message} (${this.#slots.length} left)`)
      for (const p of slot.pending.splice(0)) p.reject(err)
    }
    worker.on('error', fail)
    worker.on('exit', (code) => fail(new Error(`seal worker exited with code ${code}`)))
    // Only now: adding a 'message' listener refs the worker again.
    worker.unref()
  }
}
