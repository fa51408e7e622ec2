// Seals whole reads on worker threads, which read the plaintext themselves. AES-SIV is most of the
// read path's CPU time, and the one JavaScript thread also serves FUSE, so streaming was bound by
// that thread. A worker's pread goes to the native thread pool like every source syscall
// (source-io.ts), so a read that hangs holds neither the worker nor the reads behind it; a
// worker answers its jobs as they finish, by id.
// When every worker already has `depth` jobs, plus one for each read the main thread is sealing
// already, the main thread seals the read itself: that puts it to work instead of queueing,
// keeps the worker fed while it does, and bounds the memory held by jobs in flight (at most
// twice `depth`). Hence one worker fewer than CPUs by default: the main thread is the last sealer.
import os from 'node:os'
import { Worker } from 'node:worker_threads'
import { checkSivKey, type AesSivBackend } from '../format/aes-siv.js'
import type { FileStatus } from './consistency.js'

/** Read `length` bytes of `fd` from block firstBlock, seal them with ids = fileId || iv0. */
export interface SealJob {
  id: number
  fd: number
  firstBlock: number
  length: number
  ids: Uint8Array
}

/** A worker's answer to a job that worked. */
export interface JobDone {
  id: number
  done: SealedRead
}

/** The answer to a SealJob: the ciphertext and the file's fstat right after its pread. */
export interface SealedRead {
  cipher: Buffer
  status: FileStatus
}

/** A worker's answer when a job failed. */
export interface SealReply {
  id: number
  message: string
  code?: string
  syscall?: string
}

export interface SealPoolOptions {
  /** Worker threads; 0 seals everything inline. Default: one fewer than the CPUs. */
  threads?: number
  /** Cipher implementation of the workers (default: fast). */
  backend?: AesSivBackend
  /** Reads of fewer plaintext bytes are sealed inline (default 0: none). */
  inlineBelow?: number
  /**
   * Jobs a worker may have queued before reads are sealed inline instead, plus one for each read
   * being sealed inline (up to twice this), so that neither side runs dry.
   */
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
  /** Reads the caller is sealing itself right now: the worker may queue as many more. */
  sealingHere?: number,
) => Promise<SealedRead> | undefined

interface Slot {
  worker: Worker
  /** Jobs sent and not answered yet, by id. */
  pending: Map<number, Pending>
}

const WORKER_URL = new URL('./seal-worker.js', import.meta.url)
// Reads of every size go to a worker: sealing is the work, and the main thread answers FUSE.
const DEFAULT_INLINE_BELOW = 0
const DEFAULT_DEPTH = 3
// Each job leaves ~400 KB of dead buffers (plaintext, keystream, CMAC output) in the worker,
// freed only when its heap is collected; a small young generation collects often, which kept
// peak RSS ~15-20 MiB lower per worker at the same speed (docs/performance.md).
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 1 }

/** True when b is the only view of its memory, so that memory can be transferred. */
export function ownsBuffer(b: Uint8Array): boolean {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer
}

/** fileId || iv0, in memory of its own to transfer. */
function idsOf(fileId: Uint8Array, iv0: Uint8Array): Uint8Array {
  const ids = new Uint8Array(32)
  ids.set(fileId.subarray(0, 16))
  ids.set(iv0.subarray(0, 16), 16)
  return ids
}

/** A Buffer over the same memory (structured cloning delivers Buffers as plain Uint8Arrays). */
export const asBuffer = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength)

// Structured cloning keeps an error's fields but not its code.
const asError = (r: SealReply): NodeJS.ErrnoException => Object.assign(new Error(r.message), { code: r.code, syscall: r.syscall })

export class SealPool {
  readonly #slots: Slot[] = []
  readonly #inlineBelow: number
  readonly #depth: number
  readonly #log: (msg: string) => void
  #closed = false
  #nextId = 1

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
   * of file, empty past it), on a worker when the read is not below inlineBelow and one has
   * room; otherwise undefined, and the caller reads and seals inline. `fd` must stay open until
   * the promise settles: FUSE releases a file only after every read of it has been answered.
   */
  readonly readSealed: ReadSealFn = (fd, firstBlock, length, fileId, iv0, sealingHere = 0) => {
    if (length < this.#inlineBelow) return undefined
    const slot = this.#freeSlot(Math.min(this.#depth + sealingHere, 2 * this.#depth))
    if (!slot) return undefined
    const ids = idsOf(fileId, iv0)
    const id = this.#nextId++
    return new Promise<SealedRead>((resolve, reject) => {
      // An idle pool must not keep the process alive; a job in flight must.
      if (slot.pending.size === 0) slot.worker.ref()
      slot.pending.set(id, { resolve, reject })
      slot.worker.postMessage({ id, fd, firstBlock, length, ids } satisfies SealJob, [ids.buffer as ArrayBuffer])
    }).then((r) => ({ cipher: asBuffer(r.cipher), status: r.status }))
  }

  /** Stops the workers; jobs still in flight fail. Later reads are sealed inline. */
  async close(): Promise<void> {
    this.#closed = true
    const slots = this.#slots.splice(0)
    for (const s of slots) {
      for (const p of s.pending.values()) p.reject(new Error('seal pool closed'))
      s.pending.clear()
    }
    await Promise.all(slots.map((s) => s.worker.terminate()))
  }

  /** The worker with the fewest jobs, if it has fewer than `below`. */
  #freeSlot(below: number): Slot | undefined {
    let best: Slot | undefined
    for (const s of this.#slots) {
      if (s.pending.size < below && (!best || s.pending.size < best.pending.size)) best = s
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
    const slot: Slot = { worker, pending: new Map() }
    this.#slots.push(slot)
    worker.on('message', (out: JobDone | SealReply) => {
      const p = slot.pending.get(out.id)
      slot.pending.delete(out.id)
      if (slot.pending.size === 0) worker.unref()
      if ('done' in out) p?.resolve(out.done)
      else p?.reject(asError(out))
    })
    const fail = (err: Error): void => {
      const i = this.#slots.indexOf(slot)
      if (i < 0) return
      this.#slots.splice(i, 1)
      if (!this.#closed) this.#log(`seal worker failed: ${err.message} (${this.#slots.length} left)`)
      for (const p of slot.pending.values()) p.reject(err)
      slot.pending.clear()
    }
    worker.on('error', fail)
    worker.on('exit', (code) => fail(new Error(`seal worker exited with code ${code}`)))
    // Only now: adding a 'message' listener refs the worker again.
    worker.unref()
  }
}
