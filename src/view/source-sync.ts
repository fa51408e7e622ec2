// The source syscalls of a lookup, a listing, an open or a release, done synchronously and
// several per call: on a seal worker (seal-worker.ts), or on the JavaScript thread itself
// (InlineHops) for SOURCE's own filesystem when it is local. A hop to another thread costs more
// than the syscalls it carries: waking the other thread and then this one took ~80 us per hop
// against ~3 us per lstat (docs/performance.md section 10).
import { closeSync, opendirSync, openSync, readSync } from 'node:fs'
import type { AesSiv } from '../format/aes-siv.js'
import { fileHeader } from '../format/content.js'
import { PLAIN_BLOCK } from '../format/sizes.js'
import type { FileStatus } from './consistency.js'
import { FsError } from './fs.js'
import { asBuffer, type SealedRead } from './seal-pool.js'
import { OPEN_FLAGS, isExpectedFile } from './source.js'
import { fstatNow, lstatNow, lstatNowIfExists, statNow, type SourceStats } from './stat.js'
import {
  dirMoved,
  isDirAt,
  walkSync,
  type DirCheck,
  type EntryStats,
  type Opened,
  type SourceHops,
  type WalkedDir,
  type WholeRead,
} from './source-tree.js'

function fileStatus(fd: number): FileStatus {
  const { size, mtimeMs, mtimeNsPart, ctimeMs, ctimeNsPart } = fstatNow(fd)
  return { size, mtimeMs, mtimeNsPart, ctimeMs, ctimeNsPart }
}

const DOT = Buffer.from('.')

function workingDirectory(): string {
  try {
    return process.cwd()
  } catch {
    return '/' // removed since the daemon started
  }
}

function checkDir(check: DirCheck | undefined): void {
  if (check && !isDirAt(lstatNowIfExists(asBuffer(check.path)), check)) throw dirMoved()
}

function namesAt(path: Buffer): Buffer[] {
  // Node accepts encoding 'buffer' here and yields Buffer names; the type declarations lack it.
  const dir = opendirSync(path, { encoding: 'buffer' as BufferEncoding, bufferSize: 256 })
  try {
    const names: Buffer[] = []
    for (let e = dir.readSync(); e !== null; e = dir.readSync()) names.push(e.name as unknown as Buffer)
    return names
  } finally {
    dir.closeSync()
  }
}

/**
 * Runs `fn` with the process's working directory at `dir`, so that names relative to it resolve
 * one component instead of the five of /proc/self/fd/N/NAME (lstat 2.0 us instead of 4.2 us
 * here). chdir to /proc/self/fd/N is what fchdir would do; Node has no *at calls. Safe only
 * within one synchronous call on the JavaScript thread (workers cannot chdir): nothing else runs
 * on it meanwhile, and every other path the daemon or its workers use is absolute. Undefined
 * when the working directory cannot be changed; the caller then uses full paths.
 */
function inDirectory<T>(dir: Buffer, back: string, fn: () => T): T | undefined {
  try {
    process.chdir(dir.toString('latin1'))
  } catch {
    return undefined
  }
  try {
    return fn()
  } finally {
    try {
      process.chdir(back)
    } catch {
      process.chdir('/')
    }
  }
}

/** SourceHops' calls, synchronously; reads are sealed with `siv`. */
export class SourceCalls {
  readonly #siv: AesSiv
  // sealBlocks copies what it reads, so one buffer serves every FUSE read (up to 512 KiB).
  readonly #kept = Buffer.allocUnsafeSlow(128 * PLAIN_BLOCK)
  /** Where a listing's lstats return to (inDirectory); undefined: full paths only. */
  readonly #cwd: string | undefined

  /** `relative`: lstat a listing's entries by name from the directory (JavaScript thread only). */
  constructor(siv: AesSiv, relative = false) {
    this.#siv = siv
    this.#cwd = relative ? workingDirectory() : undefined
  }

  lstat(check: DirCheck | undefined, path: Buffer): SourceStats {
    checkDir(check)
    return lstatNow(path)
  }

  list(path: Buffer): Buffer[] {
    return namesAt(path)
  }

  walk(first: Buffer, names: Buffer[], list: boolean): WalkedDir {
    const fd = walkSync(first, names)
    try {
      return { fd, st: fstatNow(fd), names: list ? namesAt(Buffer.from(`/proc/self/fd/${fd}`)) : undefined }
    } catch (e) {
      closeSync(fd)
      throw e
    }
  }

  lstatEach(paths: Buffer[], dir: Buffer): EntryStats {
    // Every path is dir/NAME (SourceTree.listEntries).
    const all = (entry: (p: Buffer) => Buffer, self: Buffer): EntryStats => ({
      stats: paths.map((p) => {
        try {
          return lstatNow(entry(p))
        } catch (e) {
          return e as NodeJS.ErrnoException
        }
      }),
      dir: statNow(self),
    })
    const back = paths.length > 1 ? this.#cwd : undefined
    return (back !== undefined ? inDirectory(dir, back, () => all((p) => p.subarray(dir.length + 1), DOT)) : undefined) ?? all((p) => p, dir)
  }

  open(check: DirCheck | undefined, path: Buffer, expected: Pick<SourceStats, 'dev' | 'ino'>, whole?: WholeRead): Opened {
    checkDir(check)
    const fd = openSync(path, OPEN_FLAGS)
    let read: Opened | undefined
    try {
      if (!isExpectedFile(fstatNow(fd), expected)) throw new FsError('ENOENT')
      read = whole && this.#readWhole(fd, whole)
    } catch (e) {
      closeSync(fd)
      throw e
    }
    if (!read) return { fd }
    // Outside the try: Linux frees the descriptor even when close fails, so it is never closed twice.
    closeSync(fd)
    return read
  }

  /** fstat, then close. */
  closeFile(fd: number): FileStatus {
    try {
      return fileStatus(fd)
    } finally {
      closeSync(fd)
    }
  }

  /** Reads `length` plaintext bytes of `fd` from block firstBlock and seals them. */
  seal(fd: number, firstBlock: number, length: number, fileId: Uint8Array, iv0: Uint8Array): SealedRead {
    const plain = this.#readPlain(fd, firstBlock, length)
    const status = fileStatus(fd)
    return { cipher: this.#siv.sealBlocks(plain, firstBlock, fileId, iv0), status }
  }

  #readPlain(fd: number, firstBlock: number, length: number): Buffer {
    const plain = length <= this.#kept.length ? this.#kept : Buffer.allocUnsafeSlow(length)
    const position = firstBlock * PLAIN_BLOCK
    let got = 0
    while (got < length) {
      const n = readSync(fd, plain, got, length - got, position + got)
      if (n === 0) break
      got += n
    }
    return plain.subarray(0, got)
  }

  /** The whole view file (header and blocks) when the file ends before `below` bytes. */
  #readWhole(fd: number, whole: WholeRead): Opened | undefined {
    const plain = this.#readPlain(fd, 0, whole.below)
    if (plain.length >= whole.below) return undefined
    const status = fileStatus(fd)
    // An empty file has no header either (spec 6.11).
    const data =
      plain.length === 0 ? Buffer.alloc(0) : Buffer.concat([fileHeader(whole.fileId), this.#siv.sealBlocks(plain, 0, whole.fileId, whole.iv0)])
    return { data, status }
  }
}

/** A call's result as a settled promise, so callers treat it as any other hop's. */
function settled<T>(call: () => T): Promise<T> {
  try {
    return Promise.resolve(call())
  } catch (e) {
    return Promise.reject(e)
  }
}

/**
 * SourceHops done on the calling thread. Only for a local filesystem: a syscall that blocks
 * here blocks every request of the mount, where a worker would block only its own.
 */
export class InlineHops implements SourceHops {
  readonly #calls: SourceCalls

  constructor(siv: AesSiv) {
    this.#calls = new SourceCalls(siv, true)
  }

  lstat(check: DirCheck | undefined, path: Buffer): Promise<SourceStats> {
    return settled(() => this.#calls.lstat(check, path))
  }

  list(path: Buffer): Promise<Buffer[]> {
    return settled(() => this.#calls.list(path))
  }

  walk(first: Buffer, names: Buffer[], list: boolean): Promise<WalkedDir> {
    return settled(() => this.#calls.walk(first, names, list))
  }

  lstatEach(paths: Buffer[], dir: Buffer): Promise<EntryStats> {
    return settled(() => this.#calls.lstatEach(paths, dir))
  }

  open(check: DirCheck | undefined, path: Buffer, expected: SourceStats, whole?: WholeRead): Promise<Opened> {
    return settled(() => this.#calls.open(check, path, expected, whole))
  }

  closeFile(fd: number): Promise<FileStatus> {
    return settled(() => this.#calls.closeFile(fd))
  }
}
