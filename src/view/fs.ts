// The contract between view logic (reverse or forward) and the FUSE adapter. Views are pure
// TypeScript over node:fs; they signal failures by throwing FsError with a POSIX code.
import type { Ino } from './inomap.js'

export type Errno =
  | 'ENOENT'
  | 'EPERM'
  | 'EACCES'
  | 'EIO'
  | 'EROFS'
  | 'ENAMETOOLONG'
  | 'ENOTDIR'
  | 'EISDIR'
  | 'EINVAL'
  | 'ELOOP'
  | 'EBADF'
  | 'ENOSYS'
  | 'ENODATA'
  | 'EMFILE'
  | 'ENFILE'
  | 'ESTALE'
  | 'ENXIO'

export class FsError extends Error {
  constructor(
    readonly code: Errno,
    message?: string,
  ) {
    super(message ?? code)
    this.name = 'FsError'
  }
}

/** Attributes as the adapter hands them to the kernel. Times in milliseconds since the epoch. */
export interface Attr {
  mode: number
  /** spec 6.7: a bigint from 2^53 on. */
  ino: Ino
  nlink: number
  uid: number
  gid: number
  rdev: number
  size: number
  blocks: number
  blksize: number
  /** Whole milliseconds, and the nanoseconds past them (0..999999). */
  atimeMs: number
  atimeNsPart: number
  mtimeMs: number
  mtimeNsPart: number
  ctimeMs: number
  ctimeNsPart: number
}

export interface FsStats {
  bsize: number
  frsize: number
  blocks: number
  bfree: number
  bavail: number
  files: number
  ffree: number
  favail: number
  namemax: number
}

/** Up to LISTING_CHUNK (listing.ts) entries: entry i is names[offsets[i]..offsets[i + 1]) with attrs[i * ATTR_N..] (listing.ts: the fields). */
export interface ListingChunk {
  names: Buffer
  offsets: Uint32Array
  attrs: Float64Array
}

/** The entries of a directory, in order, chunk after chunk. */
export interface DirListing {
  chunks: ListingChunk[]
  count: number
}

/**
 * A read-only filesystem view. Paths are absolute within the view ('/' is the root). Paths,
 * listed names and symlink targets are byte strings (byte-string.ts): any bytes but / and NUL.
 */
export interface ViewFs {
  getattr(path: string): Promise<Attr>
  /** The entries with their attributes: those let `find -type f` skip a getattr per entry. */
  readdir(path: string): Promise<DirListing>
  readlink(path: string): Promise<string>
  /** Returns a handle for read/release. Write flags are rejected by the adapter before this. */
  open(path: string): Promise<number>
  /** Fills target[0..length) from the view file at position; returns bytes filled (short at EOF). */
  read(handle: number, target: Buffer, length: number, position: number): Promise<number>
  release(handle: number): Promise<void>
  /**
   * Optional: open for the FUSE open `reply` (the binding's Request), which the view may answer
   * itself through the binding (a held file): undefined then.
   */
  openHeld?(path: string, reply: object): Promise<number | undefined>
  /** Optional: a handle's whole content, handed with the handle to a caller that answers its reads and release. */
  takeData?(handle: number): Buffer | undefined
  statfs(path: string): Promise<FsStats>
}
