// The plaintext tree reached the way openat(2) reaches it: every directory on the way is opened
// (O_PATH | O_DIRECTORY | O_NOFOLLOW) relative to the descriptor of its parent, so renaming a
// directory or swapping one for a symlink between two steps cannot send the walk outside SOURCE
// or under another (excluded) name; a component that is a symlink fails with ENOTDIR. Path-based
// checks (lstat, then open) cannot give this, whatever they re-check: a swap and a swap back
// between two checks goes unseen. Every syscall runs on the native thread pool (source-io.ts).
//
// Walking costs an open per component, so directory descriptors are cached. A cached
// descriptor is used only for the directory identity (dev, ino) the caller resolved just now;
// whatever the path holds meanwhile, the descriptor names a directory a walk found inside.
//
// Lookups and opens may carry a DirCheck: the caller's cached directory must still be at its
// path, checked (lstat) before the entry is touched, in the same native call.
import { closeSync } from 'node:fs'
import { FsError } from './fs.js'
import { LISTING_CHUNK } from './listing.js'
import { Lru } from './lru.js'
import {
  AT_FDCWD,
  closeFile,
  listAt,
  lstatAt,
  lstatEachAt,
  nameCount,
  openAt,
  readlinkAt,
  unpackNames,
  walkFrom,
  type DirCheck,
  type ListedNames,
  type NameList,
  type OpenedFile,
  type Answered,
  type HeldOpen,
  type Sealing,
} from './source-io.js'
import type { FileStatus } from './consistency.js'
import type { SourceStats } from './stat.js'

export type { DirCheck, ListedNames, OpenedFile }

const SLASH = 0x2f
/** Directory descriptors a SourceTree keeps open by default. */
export const DEFAULT_FDS = 64

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

/** An entry of a listing: its lstat when asked for, or why that failed (e.g. removed since). */
export interface ListedEntry {
  name: Buffer
  st?: SourceStats
  error?: NodeJS.ErrnoException
}

/** DIR_MOVED unless `check`'s directory is still at its path. */
export async function checkDir(check: DirCheck | undefined): Promise<void> {
  if (!check) return
  const st = await lstatAt(AT_FDCWD, Buffer.from(check.path)).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return undefined
    throw e
  })
  if (!isDirAt(st, check)) throw dirMoved()
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

/** The last component of a path relative to SOURCE. */
export const baseName = (rel: Buffer): Buffer => rel.subarray(rel.lastIndexOf(SLASH) + 1)

export function sameDir(a: Omit<DirId, 'rel'>, b: Omit<DirId, 'rel'>): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.birth === b.birth
}

/** A held directory descriptor, with the names its walk listed when it did. */
interface Walked {
  d: DirFd
  listed?: ListedNames
}

// A directory descriptor is O_PATH: closing one does no I/O (no flush), so it never blocks.
function closeQuietly(fd: number): void {
  try {
    closeSync(fd)
  } catch {} // Linux frees the descriptor even when close fails: nothing is left to undo
}

function release(d: DirFd): void {
  if (d.dropped && d.users === 0) closeQuietly(d.fd)
}

export class SourceTree {
  readonly #root: Buffer
  readonly #fds: Lru<string, DirFd>

  /** `root`: SOURCE's absolute real path. */
  constructor(root: Buffer, cacheSize = DEFAULT_FDS) {
    this.#root = root
    this.#fds = new Lru(cacheSize, (d) => {
      d.dropped = true
      release(d)
    })
  }

  /**
   * Runs fn with the descriptor of the directory `dir` as a walk from SOURCE reaches it; ENOENT
   * when the walk finds another directory there by now. The descriptor is valid until fn's
   * promise settles. With `check` (fn checks it), a walk that fails fails as the check would.
   */
  async inDir<T>(dir: DirId, fn: (fd: number) => Promise<T>, check?: DirCheck): Promise<T> {
    const { d } = await this.#hold(dir, false, check)
    try {
      return await fn(d.fd)
    } finally {
      d.users--
      release(d)
    }
  }

  /** fn's result on the names of `dir` in getdents order (listed in the walk's call when there is a walk). */
  async #listed<T>(dir: DirId, fn: (fd: number, listed: ListedNames) => Promise<T>): Promise<T> {
    const { d, listed } = await this.#hold(dir, true)
    try {
      return await fn(d.fd, listed ?? (await listAt(d.fd)))
    } finally {
      d.users--
      release(d)
    }
  }

  /** The descriptor of `dir`, cached or walked to, with a user added for the caller. */
  async #hold(dir: DirId, list: boolean, check?: DirCheck): Promise<Walked> {
    const key = dir.rel.toString('latin1')
    let d = this.#fds.get(key)
    let listed: ListedNames | undefined
    if (!d || !sameDir(d, dir)) {
      try {
        ;({ d, listed } = await this.#walk(dir, list))
      } catch (e) {
        throw check ? dirMoved() : e
      }
      this.#fds.set(key, d)
    }
    d.users++
    return { d, listed }
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
        const names = split(dir.rel.subarray(i + 1))
        return await this.#identified(await walkFrom(from.fd, names[0]!, names.slice(1), list), dir)
      } catch {
        break
      } finally {
        from.users--
        release(from)
      }
    }
    return this.#identified(await walkFrom(AT_FDCWD, this.#root, split(dir.rel), list), dir)
  }

  /** The walked descriptor if its fstat shows `dir`; otherwise it is closed: ENOENT. */
  #identified(w: { fd: number; st: SourceStats; names?: NameList }, dir: DirId): Walked {
    const d = { fd: w.fd, dev: w.st.dev, ino: w.st.ino, birth: w.st.birthtimeMs, users: 0, dropped: false }
    if (sameDir(d, dir)) return { d, listed: w.names && { names: w.names, st: w.st } }
    closeQuietly(w.fd)
    throw new FsError('ENOENT')
  }

  /** Whether the directory `check` describes is still at its path. */
  async isDirStill(check: DirCheck): Promise<boolean> {
    return checkDir(check).then(
      () => true,
      (e: unknown) => {
        if (isDirMoved(e)) return false
        throw e
      },
    )
  }

  /** lstat of the entry `rel` of `dir`, after `check`. */
  lstat(dir: DirId, rel: Buffer, check?: DirCheck): Promise<SourceStats> {
    return this.inDir(dir, (fd) => lstatAt(fd, baseName(rel), check), check)
  }

  /**
   * After `check`, opens the regular file `rel` of `dir` if it is still the one `expected` (its
   * lstat) describes; ENOENT when another file is there. A short file may be read at once (openAt).
   */
  openRegular(
    dir: DirId,
    rel: Buffer,
    expected: SourceStats,
    wholeBelow: number,
    check?: DirCheck,
    seal?: Sealing,
    held?: HeldOpen,
  ): Promise<OpenedFile | Answered> {
    return this.inDir(dir, (fd) => openAt(fd, baseName(rel), expected, wholeBelow, check, seal, held), check)
  }

  /** Closes a file openRegular opened; its fstat just before, for ConsistencyWatch.atRelease. */
  release(fd: number): Promise<FileStatus> {
    return closeFile(fd)
  }

  readLink(dir: DirId, rel: Buffer): Promise<Buffer> {
    return this.inDir(dir, (fd) => readlinkAt(fd, baseName(rel)))
  }

  /** The names of `dir`, with its stat from before they were read. */
  listDir(dir: DirId): Promise<{ names: Buffer[]; st: SourceStats }> {
    return this.#listed(dir, async (_fd, listed) => ({ names: unpackNames(listed.names), st: listed.st }))
  }

  /**
   * The entries of `dir` in getdents order, handed to `each` a chunk of `chunk` at a time with
   * the lstat of those `wanted` says (called once per name, in order, chunk by chunk); resolves
   * to the stat of `dir` itself. Names and types come from the one directory a walk reached.
   * One native call per chunk, so the calls of other requests run between them, and what a
   * chunk costs in memory is garbage before the next one.
   */
  listEntries(
    dir: DirId,
    wanted: (name: Buffer) => boolean,
    each: (entries: ListedEntry[]) => void | Promise<void>,
    chunk = LISTING_CHUNK,
  ): Promise<SourceStats> {
    return this.#listed(dir, async (fd, { names }) => {
      let st!: SourceStats
      const count = nameCount(names)
      // An empty directory still takes one call, for its stat.
      for (let from = 0; from === 0 || from < count; from += chunk) {
        const part = unpackNames(names, from, Math.min(count, from + chunk))
        const want = part.map(wanted)
        const got = await lstatEachAt(
          fd,
          part.filter((_, i) => want[i]),
        )
        st = got.dir
        let next = 0
        await each(
          part.map((name, i): ListedEntry => {
            if (!want[i]) return { name }
            const r = got.stats[next++]!
            return r instanceof Error ? { name, error: r } : { name, st: r }
          }),
        )
      }
      return st
    })
  }
}
