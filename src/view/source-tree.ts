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
import { constants, close, fstat, lstat as lstatCb, open } from 'node:fs'
import { promises as fsp, type Stats } from 'node:fs'
import { promisify } from 'node:util'
import { FsError } from './fs.js'
import { Lru } from './lru.js'
import { joinPath, listDir, openRegular, readLink } from './source.js'

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
const fstatFd = promisify(fstat)
const lstatPath = promisify(lstatCb)

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

export function sameDir(a: Omit<DirId, 'rel'>, b: Omit<DirId, 'rel'>): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.birth === b.birth
}

function release(d: DirFd): void {
  if (d.dropped && d.users === 0) void closeFd(d.fd).catch(() => {})
}

export class SourceTree {
  readonly #root: Buffer
  readonly #fds: Lru<string, DirFd>

  /** Whether /proc/self/fd, which the walk goes through, is there. */
  static async usable(): Promise<boolean> {
    return fsp.access(PROC_FD).then(
      () => true,
      () => false,
    )
  }

  /** `root`: SOURCE's absolute real path. */
  constructor(root: Buffer, cacheSize = DEFAULT_FDS) {
    this.#root = root
    this.#fds = new Lru(cacheSize, (d) => {
      d.dropped = true
      release(d)
    })
  }

  /**
   * Runs fn with a path naming the directory `dir` as a walk from SOURCE reaches it; ENOENT when
   * the walk finds another directory there by now. The path is valid until fn's promise settles.
   */
  async inDir<T>(dir: DirId, fn: (at: Buffer) => Promise<T>): Promise<T> {
    const key = dir.rel.toString('latin1')
    let d = this.#fds.get(key)
    if (!d || !sameDir(d, dir)) {
      d = await this.#walk(dir)
      this.#fds.set(key, d)
    }
    d.users++
    try {
      return await fn(fdPath(d.fd))
    } finally {
      d.users--
      release(d)
    }
  }

  /**
   * Walks from the deepest ancestor whose descriptor is cached, so a new directory costs one open
   * instead of one per component. That ancestor may have been renamed since it was walked; then
   * the identity check fails and the walk is repeated from SOURCE.
   */
  async #walk(dir: DirId): Promise<DirFd> {
    for (let i = dir.rel.lastIndexOf(SLASH); i > 0; i = dir.rel.lastIndexOf(SLASH, i - 1)) {
      const from = this.#fds.get(dir.rel.subarray(0, i).toString('latin1'))
      if (from === undefined) continue
      from.users++
      try {
        return await this.#walkFrom(from.fd, split(dir.rel.subarray(i + 1)), dir)
      } catch {
        break
      } finally {
        from.users--
        release(from)
      }
    }
    return this.#walkFrom(undefined, split(dir.rel), dir)
  }

  /** Opens `names` one by one from the directory descriptor `from` (SOURCE when undefined). */
  async #walkFrom(from: number | undefined, names: Buffer[], dir: DirId): Promise<DirFd> {
    let fd = await openFd(from === undefined ? this.#root : joinPath(fdPath(from), names.shift()!), DIR_FLAGS)
    try {
      for (const name of names) {
        const next = await openFd(joinPath(fdPath(fd), name), DIR_FLAGS)
        await closeFd(fd)
        fd = next
      }
      const st = await fstatFd(fd)
      const found = { fd, dev: st.dev, ino: st.ino, birth: st.birthtimeMs, users: 0, dropped: false }
      if (!sameDir(found, dir)) throw new FsError('ENOENT')
      return found
    } catch (e) {
      await closeFd(fd)
      throw e
    }
  }

  /** lstat of the entry `rel` of `dir`. */
  lstat(dir: DirId, rel: Buffer): Promise<Stats> {
    return this.inDir(dir, (at) => lstatPath(joinPath(at, baseName(rel))))
  }

  /** Opens the regular file `rel` of `dir` if it is still the one `expected` (its lstat) describes. */
  openRegular(dir: DirId, rel: Buffer, expected: Stats): Promise<fsp.FileHandle> {
    return this.inDir(dir, (at) => openRegular(joinPath(at, baseName(rel)), expected))
  }

  readLink(dir: DirId, rel: Buffer): Promise<Buffer> {
    return this.inDir(dir, (at) => readLink(joinPath(at, baseName(rel))))
  }

  listDir(dir: DirId): Promise<Buffer[]> {
    return this.inDir(dir, listDir)
  }
}
