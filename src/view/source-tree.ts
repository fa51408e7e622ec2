// The plaintext tree reached the way openat(2) would reach it. Node has no openat, so every
// directory on the way is opened (O_PATH | O_DIRECTORY | O_NOFOLLOW) through the magic link
// /proc/self/fd/<parent>/<name>: the kernel resolves that link to the open directory itself,
// not to a path string, so renaming a directory or swapping one for a symlink between two steps
// cannot send the walk outside SOURCE or under another (excluded) name; a component that is a
// symlink fails with ENOTDIR. Path-based checks (lstat, then open) cannot give this, whatever
// they re-check: a swap and a swap back between two checks goes unseen. Linux only, like FUSE.
//
// Walking costs an open per component, so directory descriptors are cached. A cached
// descriptor is used only for the directory identity (dev, ino) the caller resolved just now;
// whatever the path holds meanwhile, the descriptor names a directory a walk found inside.
//
// Lookups and opens may carry a DirCheck: the caller's cached directory must still be at its
// path, checked (lstat) before the entry is touched, as the caller would have checked it just
// before. With SourceHops (the seal workers) the check, the entry's syscalls and the walk's
// descriptor path go to a worker as one message instead of one libuv hop per syscall.
import { closeSync, constants, close, open, openSync } from 'node:fs'
import { Stats, promises as fsp } from 'node:fs'
import { promisify } from 'node:util'
import type { FileStatus } from './consistency.js'
import { FsError } from './fs.js'
import { Lru } from './lru.js'
import { OPEN_FLAGS, isExpectedFile, joinPath, listDir, lstatIfExists, readLink, undefinedIfGone } from './source.js'
import { fstatFd, lstat as lstatPath, stat, type SourceStats } from './stat.js'

// Linux's O_PATH (Node does not export it): a handle for walking that needs no read permission.
const O_PATH = 0o10000000
const DIR_FLAGS = O_PATH | constants.O_DIRECTORY | constants.O_NOFOLLOW
const SLASH = 0x2f
/** Directory descriptors a SourceTree keeps open by default. */
export const DEFAULT_FDS = 64

// Plain descriptors, not FileHandles: the cache outlives any one call, and Node would close a
// FileHandle it garbage-collects behind our back.
const openFd = promisify(open)
const closeFd = promisify(close)

/** A directory the caller resolved earlier, to be found at `path` (absolute) still. */
export interface DirCheck {
  path: Uint8Array
  dev: number
  ino: number
  birth: number
}

/** The code of the error a failed DirCheck gives: the caller resolves the directory afresh. */
export const DIR_MOVED = 'EDIRMOVED'

export const isDirMoved = (e: unknown): boolean => (e as NodeJS.ErrnoException | undefined)?.code === DIR_MOVED

export function dirMoved(): Error {
  return Object.assign(new Error('directory moved since it was resolved'), { code: DIR_MOVED })
}

/** Whether `st` (an lstat, undefined if nothing is there) shows the directory `want`. */
export function isDirAt(st: SourceStats | undefined, want: Omit<DirId, 'rel'>): boolean {
  return st !== undefined && st.isDirectory() && sameDir({ dev: st.dev, ino: st.ino, birth: st.birthtimeMs }, want)
}

/** A file short enough to be read and sealed whole at open (plaintext bytes below `below`). */
export interface WholeRead {
  below: number
  fileId: Uint8Array
  iv0: Uint8Array
}

/**
 * An opened file: its descriptor, or, when it was read whole at open, its view bytes (header
 * and sealed blocks) with its fstat after that read, the descriptor closed already.
 */
export type Opened = { fd: number } | { data: Buffer; status: FileStatus }

/** An entry of a listing: its lstat when asked for, or why that failed (e.g. removed since). */
export interface ListedEntry {
  name: Buffer
  st?: SourceStats
  error?: NodeJS.ErrnoException
}

/** A listing of listEntries: the entries, and the stat of the directory listed. */
export interface Listing {
  entries: ListedEntry[]
  st: SourceStats
}

/** A directory a walk reached: its descriptor, its fstat, and its entry names when asked for. */
export interface WalkedDir {
  fd: number
  st: SourceStats
  names?: Buffer[]
}

/** Source syscalls for the directories of one device done on the calling thread (InlineHops). */
export interface InlineSource {
  dev: number
  hops: SourceHops
}

/** lstats of some entries of a directory, and that directory's own stat. */
export interface EntryStats {
  stats: (SourceStats | NodeJS.ErrnoException)[]
  dir: SourceStats
}

/** Source syscalls done elsewhere, several per hop; undefined when there is no room (SealPool). */
export interface SourceHops {
  lstat(check: DirCheck | undefined, path: Buffer): Promise<SourceStats> | undefined
  /** Entry names of the directory at `path` in getdents order. */
  list(path: Buffer): Promise<Buffer[]> | undefined
  /**
   * The directory a walk reaches by opening `first`, then each of `names` in turn: its descriptor,
   * which the caller owns from then on, its fstat, and with `list` its entry names.
   */
  walk(first: Buffer, names: Buffer[], list: boolean): Promise<WalkedDir> | undefined
  lstatEach(paths: Buffer[], dir: Buffer): Promise<EntryStats> | undefined
  open(check: DirCheck | undefined, path: Buffer, expected: SourceStats, whole?: WholeRead): Promise<Opened> | undefined
  /** fstat, then close. */
  closeFile(fd: number): Promise<FileStatus> | undefined
}

/** DIR_MOVED unless `check`'s directory is still at its path (through libuv). */
export async function checkDir(check: DirCheck | undefined): Promise<void> {
  if (check && !isDirAt(await lstatIfExists(Buffer.from(check.path)), check)) throw dirMoved()
}

/** fstat, then close, through libuv. */
async function statAndClose(fd: number): Promise<FileStatus> {
  try {
    return await fstatFd(fd)
  } finally {
    await closeFd(fd)
  }
}

/**
 * A directory as the view resolved it: path relative to SOURCE and identity. The birth time
 * tells a reused inode number apart (0 where the filesystem has none).
 */
export interface DirId {
  rel: Buffer
  dev: number
  ino: number
  birth: number
}

interface DirFd extends Omit<DirId, 'rel'> {
  fd: number
  users: number
  dropped: boolean
}

function split(rel: Buffer): Buffer[] {
  const parts: Buffer[] = []
  let start = 0
  for (let i = 0; i <= rel.length; i++) {
    if (i === rel.length || rel[i] === SLASH) {
      if (i > start) parts.push(rel.subarray(start, i))
      start = i + 1
    }
  }
  return parts
}

const PROC_FD = '/proc/self/fd'
const fdPath = (fd: number): Buffer => Buffer.from(`${PROC_FD}/${fd}`)

/** The last component of a path relative to SOURCE. */
const baseName = (rel: Buffer): Buffer => rel.subarray(rel.lastIndexOf(SLASH) + 1)

/** #walkFrom's steps done synchronously (source-sync.ts): the descriptor of the directory reached. */
export function walkSync(first: Buffer, names: Buffer[]): number {
  let fd = openSync(first, DIR_FLAGS)
  try {
    for (const name of names) {
      const next = openSync(joinPath(fdPath(fd), name), DIR_FLAGS)
      closeSync(fd)
      fd = next
    }
    return fd
  } catch (e) {
    closeSync(fd)
    throw e
  }
}

export function sameDir(a: Omit<DirId, 'rel'>, b: Omit<DirId, 'rel'>): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.birth === b.birth
}

/** A held directory descriptor, with the names its walk listed when it did. */
interface Walked {
  d: DirFd
  names?: Buffer[]
}

/** SourceHops.lstatEach through libuv. */
async function lstatEachPath(paths: Buffer[], dir: Buffer): Promise<EntryStats> {
  const stats = await Promise.all(paths.map((p) => lstatPath(p).catch((e: NodeJS.ErrnoException) => e)))
  return { stats, dir: await stat(dir) }
}

// A directory descriptor is O_PATH: closing one does no I/O (no flush), so it never blocks and
// needs no trip through libuv's thread pool.
function release(d: DirFd): void {
  if (d.dropped && d.users === 0) {
    try {
      closeSync(d.fd)
    } catch {} // as before with libuv: a failed close leaves nothing to undo
  }
}

export class SourceTree {
  readonly #root: Buffer
  readonly #fds: Lru<string, DirFd>
  readonly #hops: SourceHops | undefined
  readonly #inline: InlineSource | undefined

  /** Whether /proc/self/fd, which the walk goes through, is there. */
  static async usable(): Promise<boolean> {
    return fsp.access(PROC_FD).then(
      () => true,
      () => false,
    )
  }

  /**
   * `root`: SOURCE's absolute real path. Source syscalls go to `inline` for directories of its
   * device, else to `hops`, else through libuv.
   */
  constructor(root: Buffer, hops?: SourceHops, cacheSize = DEFAULT_FDS, inline?: InlineSource) {
    this.#root = root
    this.#hops = hops
    this.#inline = inline
    this.#fds = new Lru(cacheSize, (d) => {
      d.dropped = true
      release(d)
    })
  }

  /** Where the syscalls about entries of a directory on device `dev` go; undefined: libuv. */
  #hopsFor(dev: number): SourceHops | undefined {
    return this.#inline?.dev === dev ? this.#inline.hops : this.#hops
  }

  /**
   * Runs fn with a path naming the directory `dir` as a walk from SOURCE reaches it; ENOENT when
   * the walk finds another directory there by now. The path is valid until fn's promise settles.
   * With `check` (fn checks it), a walk that fails fails as the check would: DIR_MOVED.
   */
  async inDir<T>(dir: DirId, fn: (at: Buffer) => Promise<T>, check?: DirCheck): Promise<T> {
    const { d } = await this.#hold(dir, false, check)
    try {
      return await fn(fdPath(d.fd))
    } finally {
      d.users--
      release(d)
    }
  }

  /** As inDir, fn also given the names of `dir` in getdents order, listed in the walk's hop when there is a walk. */
  async #listed<T>(dir: DirId, fn: (at: Buffer, names: Buffer[]) => Promise<T>): Promise<T> {
    const { d, names } = await this.#hold(dir, true)
    try {
      const at = fdPath(d.fd)
      return await fn(at, names ?? (await (this.#hopsFor(dir.dev)?.list(at) ?? listDir(at))))
    } finally {
      d.users--
      release(d)
    }
  }

  /** The descriptor of `dir`, cached or walked to, with a user added for the caller. */
  async #hold(dir: DirId, list: boolean, check?: DirCheck): Promise<Walked> {
    const key = dir.rel.toString('latin1')
    let d = this.#fds.get(key)
    let names: Buffer[] | undefined
    if (!d || !sameDir(d, dir)) {
      try {
        ;({ d, names } = await this.#walk(dir, list))
      } catch (e) {
        throw check ? dirMoved() : e
      }
      this.#fds.set(key, d)
    }
    d.users++
    return { d, names }
  }

  /**
   * Walks from the deepest ancestor whose descriptor is cached, so a new directory costs one open
   * instead of one per component. That ancestor may have been renamed since it was walked; then
   * the identity check fails and the walk is repeated from SOURCE.
   */
  async #walk(dir: DirId, list: boolean): Promise<Walked> {
    for (let i = dir.rel.lastIndexOf(SLASH); i > 0; i = dir.rel.lastIndexOf(SLASH, i - 1)) {
      const from = this.#fds.get(dir.rel.subarray(0, i).toString('latin1'))
      if (from === undefined) continue
      from.users++
      try {
        return await this.#walkFrom(from.fd, split(dir.rel.subarray(i + 1)), dir, list)
      } catch {
        break
      } finally {
        from.users--
        release(from)
      }
    }
    return this.#walkFrom(undefined, split(dir.rel), dir, list)
  }

  /**
   * Opens `names` one by one from the directory descriptor `from` (SOURCE when undefined), in
   * one hop when one takes it; with `list`, that hop lists the directory reached too.
   */
  async #walkFrom(from: number | undefined, names: Buffer[], dir: DirId, list: boolean): Promise<Walked> {
    const first = from === undefined ? this.#root : joinPath(fdPath(from), names.shift()!)
    const hop = this.#hopsFor(dir.dev)?.walk(first, names, list)
    if (hop) {
      const walked = await hop
      return { d: await this.#identified(walked.fd, walked.st, dir), names: walked.names }
    }
    let fd = await openFd(first, DIR_FLAGS)
    let st: SourceStats
    try {
      for (const name of names) {
        const next = await openFd(joinPath(fdPath(fd), name), DIR_FLAGS)
        await closeFd(fd)
        fd = next
      }
      st = await fstatFd(fd)
    } catch (e) {
      await closeFd(fd)
      throw e
    }
    return { d: await this.#identified(fd, st, dir) }
  }

  /** The walked descriptor `fd` if its fstat `st` shows `dir`; otherwise it is closed: ENOENT. */
  async #identified(fd: number, st: SourceStats, dir: DirId): Promise<DirFd> {
    const found = { fd, dev: st.dev, ino: st.ino, birth: st.birthtimeMs, users: 0, dropped: false }
    if (sameDir(found, dir)) return found
    await closeFd(fd)
    throw new FsError('ENOENT')
  }

  /** Whether the directory `check` describes, on device `dev`, is still at its path. */
  async isDirStill(check: DirCheck, dev: number): Promise<boolean> {
    const path = Buffer.from(check.path.buffer, check.path.byteOffset, check.path.byteLength)
    const hop = this.#hopsFor(dev)?.lstat(undefined, path)
    const st = hop ? await hop.catch(undefinedIfGone) : await lstatIfExists(path)
    return isDirAt(st, check)
  }

  /** lstat of the entry `rel` of `dir`, after `check`. */
  lstat(dir: DirId, rel: Buffer, check?: DirCheck): Promise<SourceStats> {
    return this.inDir(dir, async (at) => {
      const path = joinPath(at, baseName(rel))
      const hop = this.#hopsFor(dir.dev)?.lstat(check, path)
      if (hop) return hop
      await checkDir(check)
      return lstatPath(path)
    }, check)
  }

  /**
   * After `check`, opens the regular file `rel` of `dir` if it is still the one `expected` (its
   * lstat) describes; ENOENT when another file is there. `whole` may read it at once (Opened).
   */
  openRegular(dir: DirId, rel: Buffer, expected: SourceStats, check?: DirCheck, whole?: WholeRead): Promise<Opened> {
    return this.inDir(dir, async (at) => {
      const path = joinPath(at, baseName(rel))
      const hop = this.#hopsFor(dir.dev)?.open(check, path, expected, whole)
      if (hop) return hop
      await checkDir(check)
      const fd = await openFd(path, OPEN_FLAGS)
      try {
        if (!isExpectedFile(await fstatFd(fd), expected)) throw new FsError('ENOENT')
        return { fd }
      } catch (e) {
        await closeFd(fd)
        throw e
      }
    }, check)
  }

  /** Closes a file openRegular opened in `dir`; its fstat just before, for ConsistencyWatch.atRelease. */
  release(fd: number, dir: DirId): Promise<FileStatus> {
    return this.#hopsFor(dir.dev)?.closeFile(fd) ?? statAndClose(fd)
  }

  readLink(dir: DirId, rel: Buffer): Promise<Buffer> {
    return this.inDir(dir, (at) => readLink(joinPath(at, baseName(rel))))
  }

  listDir(dir: DirId): Promise<Buffer[]> {
    return this.#listed(dir, async (_at, names) => names)
  }

  /**
   * The entries of `dir` in getdents order, with the lstat of those `wanted` says (called once
   * per name, in order), and the stat of `dir` itself; names and types come from the one
   * directory a walk reached. Two hops at most with SourceHops, the walk included.
   */
  listEntries(dir: DirId, wanted: (name: Buffer) => boolean): Promise<Listing> {
    return this.#listed(dir, async (at, names) => {
      const want = names.map(wanted)
      const paths = names.filter((_, i) => want[i]).map((name) => joinPath(at, name))
      const { stats, dir: st } = await (this.#hopsFor(dir.dev)?.lstatEach(paths, at) ?? lstatEachPath(paths, at))
      let next = 0
      const entries = names.map((name, i) => {
        if (!want[i]) return { name }
        const got = stats[next++]!
        return got instanceof Stats ? { name, st: got } : { name, error: got }
      })
      return { entries, st }
    })
  }
}
