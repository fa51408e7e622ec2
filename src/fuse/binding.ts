// The typed surface of our FUSE binding (native/fuse.c, part of the addon src/native/sys.ts
// loads): libfuse 3's low-level API. Every request arrives through the one callback given to
// fuseMount, on the JavaScript thread, and is answered by exactly one reply call with its
// Request, whenever the answer is ready; libfuse's threads never wait for it. Names and link
// targets cross as Buffers (bytes), attributes as ATTR_FIELDS doubles.
import { addon } from '../native/sys.js'

/** Attributes cross packed as a view's listings hold them (view/listing.ts ATTR_FIELDS). */
export { ATTR_FIELDS, ATTR_N } from '../view/listing.js'

/** The order of the statfs fields handed to replyStatfs. */
export const STATFS_FIELDS = ['bsize', 'frsize', 'blocks', 'bfree', 'bavail', 'files', 'ffree', 'favail', 'namemax'] as const

/** An unanswered request (opaque). */
export type Request = { readonly __request: unique symbol }
/** A mounted session (opaque). */
export type Session = { readonly __session: unique symbol }

export type RequestKind =
  'lookup' | 'forget' | 'getattr' | 'readlink' | 'open' | 'read' | 'release' | 'opendir' | 'readdir' | 'releasedir' | 'statfs' | 'access' | 'end'

/**
 * One request. `node` is the FUSE node (lookup: the parent; end: the loop's result); `fh` the
 * handle open/opendir answered; `offset` the read position or listing index; `n` the size
 * (read, readdir), open flags or access mask; `plus` READDIRPLUS; `extra` the looked-up name
 * (lookup) or (node, count) pairs (forget). `req` is undefined for forget and end.
 */
export type RequestArgs = [
  req: Request | undefined,
  node: number,
  fh: number,
  offset: number,
  n: number,
  plus: boolean,
  extra: Buffer | Float64Array | undefined,
]
export type OnRequest = (kind: number, ...args: RequestArgs) => void

/** The reply calls. Each returns 0 (or a count) once the kernel has the answer, else -errno. */
export interface Replies {
  /** errno positive; 0 answers success without data (release, access). */
  replyErr(req: Request, errno: number): number
  /** node 0: a negative entry (attr ignored), cached for the negative timeout. */
  replyEntry(req: Request, node: number, attr: Float64Array | null): number
  replyAttr(req: Request, attr: Float64Array): number
  replyReadlink(req: Request, target: Buffer): number
  /** data: the file's whole content, copied into the binding, which then answers its reads and release. */
  replyOpen(req: Request, fh: number, data?: Buffer): number
  replyData(req: Request, buf: Buffer, n: number): number
  replyStatfs(req: Request, st: Float64Array): number
  /**
   * Entries of a listing chunk from `index` on, as many as fit in `size` bytes; `base` is the
   * listing's index of the chunk's first entry (entry i resumes at offset base + i + 1). With
   * plus, nodes[i] is entry i's node. Returns how many the kernel got.
   */
  replyDir(
    req: Request,
    plus: boolean,
    size: number,
    index: number,
    names: Buffer,
    offsets: Uint32Array,
    attrs: Float64Array,
    nodes: Float64Array | null,
    base: number,
  ): number
  /** Bytes the binding holds for files handed over at open. */
  heldBytes(): number
}

export interface FuseBinding extends Replies {
  /** The request kinds by the number each request carries. */
  readonly requestKinds: readonly RequestKind[]
  /** libfuse's version, major * 100 + minor (fuse_version()). */
  readonly libfuseVersion: number
  /**
   * Mounts and serves. args: libfuse's command line after argv[0] ("-o", options, "-d"); conf:
   * maxRead, attrTimeout, entryTimeout, negativeTimeout, keepCache. Throws with libfuse's
   * reason when the mount is refused (fusermount3 prints its own on stderr).
   */
  fuseMount(mountpoint: Buffer, args: string[], conf: Float64Array, onRequest: OnRequest): Session
  /** The mount stops keeping the process alive; it still serves until it ends. */
  fuseUnref(session: Session): void
  /**
   * Detaches the mount in this process (root only; no fusermount3) and closes the session's
   * descriptor: users of the mount get ENOTCONN. For when no helper process can be started.
   */
  fuseUnmount(session: Session): void
  /** After "end": lets go of the session (it goes once its last request is answered). */
  fuseClose(session: Session): void
}

export const fuse = addon as FuseBinding
