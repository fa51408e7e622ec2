// Access to a tree by path. Paths are Buffers so names that are not UTF-8 survive, and the
// final component is never followed when it is a symlink; files are re-checked by fstat after
// opening. Earlier components are followed: the reverse view reaches its source through
// source-tree.ts, which hands these helpers paths that cannot be redirected.
import { constants, promises as fsp } from 'node:fs'
import { FsError, type Errno, type FsStats } from './fs.js'
import { fstatFd, lstat, type SourceStats } from './stat.js'

const SLASH = Buffer.from('/')

/**
 * Errors of the source that the caller of the view should see as they are. EINVAL: readlink of
 * an entry that stopped being a symlink since its lookup.
 */
const PASSED_THROUGH = new Set<string>(['ENOENT', 'EACCES', 'EPERM', 'ENOTDIR', 'ELOOP', 'ENAMETOOLONG', 'EMFILE', 'ENFILE', 'ESTALE', 'ENXIO', 'EINVAL'])

/** Maps a failure to an FsError: source errnos pass through, anything else is logged and becomes EIO. */
export function toFsError(e: unknown, what: string, log: (msg: string) => void): FsError {
  if (e instanceof FsError) return e
  const code = (e as NodeJS.ErrnoException | undefined)?.code
  if (code !== undefined && PASSED_THROUGH.has(code)) {
    // The daemon itself is short of descriptors, not the source at fault: worth a line.
    if (code === 'EMFILE' || code === 'ENFILE') log(`${what}: ${(e as Error).message}`)
    return new FsError(code as Errno)
  }
  log(`${what}: ${e instanceof Error ? e.message : String(e)}`)
  return new FsError('EIO')
}

/**
 * A copy in memory of its own, for Buffers a cache keeps: a small Buffer is a slice of an 8 KiB
 * slab that Node shares among allocations, and a slice kept for long keeps its whole slab.
 */
export function ownCopy(b: Uint8Array): Buffer {
  const copy = Buffer.allocUnsafeSlow(b.length)
  copy.set(b)
  return copy
}

/** a/b joined; an empty `dir` stands for the root of a relative path. */
export function joinPath(dir: Buffer, name: Uint8Array): Buffer {
  return dir.length === 0 ? Buffer.from(name) : Buffer.concat([dir, SLASH, name])
}

/** Entry names in the order getdents returns them (fs.readdir would sort them). */
export async function listDir(dir: Buffer): Promise<Buffer[]> {
  // Node accepts encoding 'buffer' here and yields Buffer names; the type declarations lack it.
  const handle = await fsp.opendir(dir, { encoding: 'buffer' as BufferEncoding, bufferSize: 256 })
  const names: Buffer[] = []
  for await (const entry of handle) names.push(entry.name as unknown as Buffer)
  return names
}

/** For a rejected lookup: undefined when the entry is gone; other errors propagate. */
export function undefinedIfGone(e: NodeJS.ErrnoException): undefined {
  if (e.code === 'ENOENT') return undefined
  throw e
}

/** lstat, or undefined when the entry is gone; other errors propagate. */
export function lstatIfExists(path: Buffer): Promise<SourceStats | undefined> {
  return lstat(path).catch(undefinedIfGone)
}

export function readLink(path: Buffer): Promise<Buffer> {
  return fsp.readlink(path, { encoding: 'buffer' })
}

// O_NONBLOCK: opening a FIFO that replaced the file must not hang the view.
export const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK

/** Whether an opened file's fstat shows the regular file its lstat at lookup (`expected`) described. */
export function isExpectedFile(st: SourceStats, expected: Pick<SourceStats, 'dev' | 'ino'>): boolean {
  return st.isFile() && st.ino === expected.ino && st.dev === expected.dev
}

/**
 * Opens the regular file that `expected` (its lstat at lookup) describes. Fails with ENOENT
 * when something else is at the path by now, so bytes of another file are never served.
 */
export async function openRegular(path: Buffer, expected: SourceStats): Promise<fsp.FileHandle> {
  const fh = await fsp.open(path, OPEN_FLAGS)
  try {
    if (!isExpectedFile(await fstatFd(fh.fd), expected)) throw new FsError('ENOENT')
    return fh
  } catch (e) {
    await fh.close()
    throw e
  }
}

/** What preadFully reads from: a FileHandle, or a descriptor wrapped alike. */
export interface Preader {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>
}

/** pread until `length` bytes or end of file, into `into` when given. */
export async function preadFully(fh: Preader, position: number, length: number, into?: Buffer): Promise<Buffer> {
  const buf = into ?? Buffer.allocUnsafe(length)
  let got = 0
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, position + got)
    if (bytesRead === 0) break
    got += bytesRead
  }
  return got === length ? buf : buf.subarray(0, got)
}

/** statfs of the filesystem that holds `path`, as a view reports it (names up to `namemax` bytes). */
export async function fsStatsOf(path: string | Buffer, namemax: number): Promise<FsStats> {
  const s = await fsp.statfs(path)
  return {
    bsize: s.bsize,
    frsize: s.bsize,
    blocks: s.blocks,
    bfree: s.bfree,
    bavail: s.bavail,
    files: s.files,
    ffree: s.ffree,
    favail: s.ffree,
    namemax,
  }
}
