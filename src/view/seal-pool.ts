// Seals whole reads on worker threads, which read the plaintext themselves. AES-SIV is most of the
// read path's CPU time, and the one JavaScript thread also serves FUSE, so streaming was bound by
// that thread; the worker's own pread spares it a libuv round trip too (docs/performance.md 5.6).
// When every worker already has `depth` jobs, plus one for each read the main thread is sealing
// already, the main thread seals the read itself: that puts it to work instead of queueing,
// keeps the worker fed while it does, and bounds the memory held by jobs in flight (at most
// twice `depth`). Hence one worker fewer than CPUs by default: the main thread is the last sealer.
// The workers also run the source syscalls of a lookup, a listing, an open or a release,
// several in one message (SourceHops): per small file, thread hand-offs and not JavaScript were
// the server's time, and each libuv call is one (docs/performance.md, "Fewer hops per small
// file"). A worker runs them synchronously, so a hung source filesystem blocks that worker
// only; once the workers are full, callers take the libuv path again. For SOURCE's own local
// filesystem the view makes them on its own thread instead (InlineHops in source-sync.ts).
import { Stats } from 'node:fs'
import os from 'node:os'
import { Worker } from 'node:worker_threads'
import { checkSivKey, type AesSivBackend } from '../format/aes-siv.js'
import type { FileStatus } from './consistency.js'
import type { SourceStats } from './stat.js'
import type { DirCheck, EntryStats, Opened, SourceHops, WalkedDir, WholeRead } from './source-tree.js'

/** Read `length` bytes of `fd` from block firstBlock, seal them with ids = fileId || iv0. */
export interface SealJob {
  kind: 'seal'
  fd: number
  firstBlock: number
  length: number
  ids: Uint8Array
}

/** lstat `path` (not following a final symlink), after `check`. */
export interface LstatJob {
  kind: 'lstat'
  check?: DirCheck
  path: Uint8Array
}

/** The entry names of the directory at `path`, in getdents order. */
export interface ListJob {
  kind: 'list'
  path: Uint8Array
}

/** SourceHops.walk. */
export interface WalkJob {
  kind: 'walk'
  first: Uint8Array
  names: Uint8Array[]
  list: boolean
}

/** lstat each of `paths` (a failure is that entry's SealReply), then stat `dir`. */
export interface LstatEachJob {
  kind: 'lstatEach'
  paths: Uint8Array[]
  dir: Uint8Array
}

/**
 * After `check`, open the regular file at `path` if it is the one `expected` describes; with
 * `whole`, a file shorter than whole.below is read, sealed and closed right away.
 */
export interface OpenJob {
  kind: 'open'
  check?: DirCheck
  path: Uint8Array
  expected: { dev: number; ino: number }
  whole?: { below: number; ids: Uint8Array }
}

/** fstat `fd`, then close it. */
export interface CloseJob {
  kind: 'close'
  fd: number
}

/** A message to a worker. */
export type Job = SealJob | LstatJob | ListJob | WalkJob | LstatEachJob | OpenJob | CloseJob

/** A worker's answer to a job that worked. */
export interface JobDone {
  done: unknown
}

/** The answer to a SealJob: the ciphertext and the file's fstat right after its pread. */
export interface SealedRead {
  cipher: Buffer
  status: FileStatus
}

/** A worker's answer when a job failed. */
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
  resolve: (out: unknown) => void
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
  /** In order of sending: a worker answers its jobs in order. */
  pending: Pending[]
}

const WORKER_URL = new URL('./seal-worker.js', import.meta.url)
// A worker's pread, fstat and seal in one hop cost less than an inline pread and fstat, two
// hops through libuv's pool, however small the read (docs/performance.md, "Fewer hops per
// small file").
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

// Structured cloning keeps a Stats' fields but not its class, and an error's fields but not its code.
const asStats = (st: SourceStats): SourceStats => Object.setPrototypeOf(st, Stats.prototype) as SourceStats
const asError = (r: SealReply): NodeJS.ErrnoException => Object.assign(new Error(r.message), { code: r.code, syscall: r.syscall })

export class SealPool implements SourceHops {
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
   * of file, empty past it), on a worker when the read is not below inlineBelow and one has
   * room; otherwise undefined, and the caller reads and seals inline. The worker preads `fd` itself, sparing
   * the main thread a libuv round trip and a buffer, so `fd` must stay open until the promise
   * settles: FUSE releases a file only after every read of it has been answered.
   */
  readonly readSealed: ReadSealFn = (fd, firstBlock, length, fileId, iv0, sealingHere = 0) => {
    if (length < this.#inlineBelow) return undefined
    const ids = idsOf(fileId, iv0)
    const depth = Math.min(this.#depth + sealingHere, 2 * this.#depth)
    return this.#send<SealedRead>({ kind: 'seal', fd, firstBlock, length, ids }, [ids.buffer as ArrayBuffer], depth)?.then((r) => ({
      cipher: asBuffer(r.cipher),
      status: r.status,
    }))
  }

  lstat(check: DirCheck | undefined, path: Buffer): Promise<SourceStats> | undefined {
    return this.#send<SourceStats>({ kind: 'lstat', check, path })?.then(asStats)
  }

  list(path: Buffer): Promise<Buffer[]> | undefined {
    return this.#send<Uint8Array[]>({ kind: 'list', path })?.then((names) => names.map(asBuffer))
  }

  walk(first: Buffer, names: Buffer[], list: boolean): Promise<WalkedDir> | undefined {
    return this.#send<WalkedDir>({ kind: 'walk', first, names, list })?.then((w) => ({
      fd: w.fd,
      st: asStats(w.st),
      names: w.names?.map(asBuffer),
    }))
  }

  lstatEach(paths: Buffer[], dir: Buffer): Promise<EntryStats> | undefined {
    return this.#send<{ stats: (SourceStats | SealReply)[]; dir: SourceStats }>({ kind: 'lstatEach', paths, dir })?.then((out) => ({
      stats: out.stats.map((r) => ('message' in r ? asError(r) : asStats(r))),
      dir: asStats(out.dir),
    }))
  }

  open(check: DirCheck | undefined, path: Buffer, expected: SourceStats, whole?: WholeRead): Promise<Opened> | undefined {
    const ids = whole && idsOf(whole.fileId, whole.iv0)
    const job: OpenJob = {
      kind: 'open',
      check,
      path,
      expected: { dev: expected.dev, ino: expected.ino },
      whole: whole && ids && { below: whole.below, ids },
    }
    return this.#send<Opened>(job, ids ? [ids.buffer as ArrayBuffer] : [])?.then((o) => ('data' in o ? { ...o, data: asBuffer(o.data) } : o))
  }

  closeFile(fd: number): Promise<FileStatus> | undefined {
    return this.#send<FileStatus>({ kind: 'close', fd })
  }

  /**
   * Posts `job` to the least busy worker with room; undefined when none has. The worker uses
   * the descriptors and paths of the job itself, so they must stay valid until it answers.
   * Source syscalls go to an idle worker only: queued behind a seal of a read they would wait
   * longer than the libuv path takes, which parallel readers keep to themselves as before.
   */
  #send<T>(job: Job, transfer: ArrayBuffer[] = [], depth = 1): Promise<T> | undefined {
    const slot = this.#freeSlot(depth)
    if (!slot) return undefined
    return new Promise<T>((resolve, reject) => {
      // An idle pool must not keep the process alive; a job in flight must.
      if (slot.pending.length === 0) slot.worker.ref()
      slot.pending.push({ resolve: resolve as (out: unknown) => void, reject })
      slot.worker.postMessage(job, transfer)
    })
  }

  /** Stops the workers; jobs still in flight fail. Later reads are sealed inline. */
  async close(): Promise<void> {
    this.#closed = true
    const slots = this.#slots.splice(0)
    for (const s of slots) for (const p of s.pending.splice(0)) p.reject(new Error('seal pool closed'))
    await Promise.all(slots.map((s) => s.worker.terminate()))
  }

  /** The worker with the fewest jobs, if it has fewer than `below`. */
  #freeSlot(below: number): Slot | undefined {
    let best: Slot | undefined
    for (const s of this.#slots) {
      if (s.pending.length < below && (!best || s.pending.length < best.pending.length)) best = s
    }
    return best
  }

  #spawn(key: Uint8Array, backend: AesSivBackend): void {
    const copy = Uint8Array.from(key)
    const worker = new Worker(WORKER_URL, {
      workerData: { key: copy, backend },
      transferList: [copy.buffer],
      resourceLimits: WORKER_LIMITS,
      // Descriptors a worker opens belong to the view, which may close them elsewhere: the
      // worker must neither track them nor close them when it exits.
      trackUnmanagedFds: false,
    })
    const slot: Slot = { worker, pending: [] }
    this.#slots.push(slot)
    worker.on('message', (out: JobDone | SealReply) => {
      const p = slot.pending.shift()
      if (slot.pending.length === 0) worker.unref()
      if ('done' in out) p?.resolve(out.done)
      else p?.reject(asError(out))
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
