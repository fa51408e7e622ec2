// Serves a ViewFs through the kernel with our FUSE binding (binding.ts, native/fuse.c: libfuse
// 3's low-level API); the only module that talks to it. The kernel names files by node numbers:
// the node table here maps each to its parent and name (so to its view path) and counts the
// kernel's references (lookups, READDIRPLUS entries) until it forgets them. Each request is answered once, whenever its view
// call settles: libfuse never waits for JavaScript, so a request stuck on the source holds
// nothing but itself. Handlers never throw into the binding: FsError becomes its errno,
// anything else EIO plus one log line.
import { execFile, spawn } from 'node:child_process'
import { constants } from 'node:os'
import { readdir, realpath, stat } from 'node:fs/promises'
import path from 'node:path'
import { ExitCode, UserError } from '../exitcodes.js'
import { readable } from '../view/byte-string.js'
import { FsError, type DirListing, type FsStats, type ViewFs } from '../view/fs.js'
import { packAttr } from '../view/listing.js'
import { sys } from '../native/sys.js'
import { fuse, type Replies, type Request, type RequestArgs, type RequestKind, type Session } from './binding.js'
import { BusyPoll } from './busy-poll.js'
import { findMount, isDeadConnection, readMountinfo } from './mountinfo.js'
import { setReadAhead } from './read-ahead.js'

export interface MountOptions {
  /** Source column of /proc/mounts and df (commas and backslashes are allowed). */
  fsname: string
  /** The type shows as `fuse.<subtype>`. */
  subtype: string
  allowOther: boolean
  /** Defaults to allowOther, as gocryptfs couples them. */
  defaultPermissions?: boolean
  readOnly: true
  nonempty?: boolean
  /** Defaults to true (FUSE default); false mounts noexec. */
  exec?: boolean
  kernelCache?: boolean
  /** Seconds; default 1 like gocryptfs. 0 is allowed (-sharedstorage). */
  attrTimeout?: number
  /** Seconds, also used for negative lookups; default 1 like gocryptfs. */
  entryTimeout?: number
  debug?: boolean
  /** KiB of kernel read-ahead to set once mounted (needs root); undefined leaves the kernel's. */
  readAheadKb?: number
  /** Microseconds to keep polling for the next request after each one (busy-poll.ts); 0: never. */
  busyPollUs?: number
  /** Who pulls the view (-force_owner): warned about when they can list the directory under the mount point. */
  reader?: { uid: number; gid: number }
  /** -ko: kernel mount options added to the mount's own, validated by the CLI. */
  extraOptions?: string[]
  log(msg: string): void
}

export interface MountHandle {
  /** Unmounts (lazily if the mount is busy). Resolves once `closed` has. */
  unmount(): Promise<void>
  /** 'unmounted' after unmount(), 'external' when someone else unmounted it. */
  closed: Promise<'unmounted' | 'external'>
}

/** A request's arguments, as the binding hands them (binding.ts OnRequest, without the kind). */
export type Handler = (...args: RequestArgs) => void
export type FuseOps = Record<Exclude<RequestKind, 'end'>, Handler>

const errnoOf = (code: string): number => (constants.errno as Record<string, number | undefined>)[code] ?? constants.errno.EIO
const { EIO, EROFS, EACCES, ENAMETOOLONG, ESTALE, EBADF } = constants.errno

const O_ACCMODE = 3
const O_WRITE_EXTRAS = 0o100 /* O_CREAT */ | 0o1000 /* O_TRUNC */ | 0o2000 /* O_APPEND */
const W_OK = 2
const X_OK = 1
const S_IFMT = 0o170000
const S_IFDIR = 0o040000
// The kernel reads a link target into one page, NUL included.
const MAX_LINK_BYTES = 4095
/** The root's node number (FUSE_ROOT_ID). */
export const ROOT_NODE = 1
// What the binding may hold of files handed over at open (a program may keep many open unread).
const HELD_MAX_BYTES = 32 * 1024 * 1024

// Reads of up to 512 KiB (libfuse 3 allows 1 MiB), as large as the read-ahead lets them come
// (readAheadKb). 1 MiB was no faster and raised the daemon's peak memory by 20 to 40 MB
// (native-bench, measured when this was chosen; the commit says how).
const MAX_READ = 1 << 19

const packStatfs = (s: FsStats): Float64Array =>
  Float64Array.of(s.bsize, s.frsize || s.bsize, s.blocks, s.bfree, s.bavail, s.files, s.ffree, s.favail, s.namemax)

/**
 * A node: an entry of its parent, by name (a byte string). Paths are not kept per node: a
 * directory of 300,000 entries the kernel holds after READDIRPLUS would hold 300,000 of them.
 */
interface Node {
  readonly id: number
  readonly parent: Node | undefined
  readonly name: string
  /** The kernel's references (lookups and READDIRPLUS entries not yet forgotten). */
  lookups: number
  /** Open listings that may hand this node to the kernel. */
  pins: number
  /** Nodes of entries inside, by name. */
  children: Map<string, Node> | undefined
  /** The view path, kept once the node is a parent (the paths of its entries start with it). */
  path: string | undefined
}

/** Node numbers <-> (parent, name). A node stays while the kernel or an open listing holds it. */
export class NodeTable {
  readonly #byId = new Map<number, Node>()
  #next = ROOT_NODE + 1

  constructor() {
    // never forgotten
    const root: Node = { id: ROOT_NODE, parent: undefined, name: '', lookups: 1, pins: 1, children: undefined, path: '/' }
    this.#byId.set(ROOT_NODE, root)
  }

  get size(): number {
    return this.#byId.size
  }

  get(id: number): Node | undefined {
    return this.#byId.get(id)
  }

  path(id: number): string | undefined {
    const node = this.#byId.get(id)
    return node && pathOf(node)
  }

  /** The node of the entry `name` of `parent`, made if new (holding nothing yet). */
  child(parent: Node, name: string): Node {
    let node = parent.children?.get(name)
    if (!node) {
      node = { id: this.#next++, parent, name, lookups: 0, pins: 0, children: undefined, path: undefined }
      this.#byId.set(node.id, node)
      ;(parent.children ??= new Map()).set(name, node)
    }
    return node
  }

  forget(id: number, count: number): void {
    const node = this.#byId.get(id)
    if (!node || id === ROOT_NODE) return
    node.lookups -= count
    this.#drop(node)
  }

  /** One more kernel reference on a node an open listing pins. */
  sent(id: number): void {
    this.#byId.get(id)!.lookups++
  }

  unpin(id: number): void {
    const node = this.#byId.get(id)
    if (!node) return
    node.pins--
    this.#drop(node)
  }

  #drop(node: Node): void {
    if (node.lookups > 0 || node.pins > 0) return
    this.#byId.delete(node.id)
    const siblings = node.parent!.children
    if (siblings?.get(node.name) === node) {
      siblings.delete(node.name)
      if (siblings.size === 0) node.parent!.children = undefined
    }
  }
}

/** A node's view path; a parent keeps its own (a node outlives its parent's entry: it still names where it was found). */
function pathOf(node: Node): string {
  if (node.path !== undefined) return node.path
  const parent = node.parent!
  const dir = (parent.path ??= pathOf(parent))
  return (dir === '/' ? '/' : dir + '/') + node.name
}

/** An open listing: where each chunk starts, and with READDIRPLUS the nodes of each chunk sent from. */
interface OpenDir {
  node: Node
  listing: DirListing
  starts: number[]
  /** READDIRPLUS: each entry's node of a chunk, pinned until releasedir. */
  nodeIds: (Float64Array | undefined)[]
}

function openDir(node: Node, listing: DirListing): OpenDir {
  const starts: number[] = []
  let at = 0
  for (const c of listing.chunks) {
    starts.push(at)
    at += c.offsets.length - 1
  }
  return { node, listing, starts, nodeIds: [] }
}

const NO_NAMES = Buffer.alloc(0)
const NO_OFFSETS = new Uint32Array(1)
const NO_ATTRS = new Float64Array(0)

function describe(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`
  return `non-error thrown: ${typeof err}`
}

/**
 * The request handlers of one mount, over its node table. Each answers its request exactly
 * once through `replies` and never throws.
 */
export function fuseOps(view: ViewFs, log: (msg: string) => void, replies: Replies = fuse, nodes = new NodeTable()): FuseOps {
  const safeLog = (msg: string): void => {
    try {
      log(msg)
    } catch {
      // a broken logger must not keep the kernel waiting
    }
  }
  const fail = (op: string, p: string, err: unknown): number => {
    if (err instanceof FsError) return errnoOf(err.code)
    safeLog(`${op} ${readable(p)}: ${describe(err)}`)
    return EIO
  }
  const answerErr = (req: Request, errno: number): void => {
    try {
      replies.replyErr(req, errno)
    } catch (err) {
      safeLog(`answering a request: ${describe(err)}`) // already answered: nothing left to do
    }
  }
  /** Runs work on the view path p, answering with reply's result or an errno. */
  function serve<T>(op: string, req: Request, p: string | undefined, work: (p: string) => Promise<T>, reply: (v: T, p: string) => void): void {
    if (p === undefined) return answerErr(req, ESTALE) // a node the kernel has forgotten
    let pending: Promise<T>
    try {
      pending = work(p)
    } catch (err) {
      answerErr(req, fail(op, p, err))
      return
    }
    pending.then(
      (v) => {
        try {
          reply(v, p)
        } catch (err) {
          answerErr(req, fail(op, p, err))
        }
      },
      (err) => answerErr(req, fail(op, p, err)),
    )
  }
  const dirs = new Map<number, OpenDir>()
  let nextDir = 1

  return {
    lookup: (req, parent, _fh, _offset, _n, _plus, nameBytes) => {
      const dir = nodes.get(parent)
      const name = (nameBytes as Buffer).toString('latin1')
      const dirPath = dir && pathOf(dir)
      const p = dirPath && (dirPath === '/' ? '/' : dirPath + '/') + name
      serve(
        'lookup',
        req!,
        p,
        (p) =>
          view.getattr(p).catch((err: unknown) => {
            if (err instanceof FsError && err.code === 'ENOENT') return undefined // cached as absent
            throw err
          }),
        (a) => {
          if (!a) return void replies.replyEntry(req!, 0, null)
          const node = nodes.child(dir!, name)
          node.lookups++
          // Interrupted: the kernel took no reference.
          if (replies.replyEntry(req!, node.id, packAttr(a)) !== 0) nodes.forget(node.id, 1)
        },
      )
    },
    forget: (_req, _node, _fh, _offset, _n, _plus, pairs) => {
      const f = pairs as Float64Array
      for (let i = 0; i + 1 < f.length; i += 2) nodes.forget(f[i]!, f[i + 1]!)
    },
    getattr: (req, node) =>
      serve(
        'getattr',
        req!,
        nodes.path(node),
        (p) => view.getattr(p),
        (a) => replies.replyAttr(req!, packAttr(a)),
      ),
    readlink: (req, node) =>
      serve(
        'readlink',
        req!,
        nodes.path(node),
        (p) => view.readlink(p),
        (target, p) => {
          // A byte string: its length is its size in bytes.
          if (target.length > MAX_LINK_BYTES) {
            safeLog(`readlink ${readable(p)}: target longer than ${MAX_LINK_BYTES} bytes, more than the kernel takes`)
            return answerErr(req!, ENAMETOOLONG)
          }
          replies.replyReadlink(req!, Buffer.from(target, 'latin1'))
        },
      ),
    open: (req, node, _fh, _offset, flags) => {
      if ((flags & O_ACCMODE) !== 0 || (flags & O_WRITE_EXTRAS) !== 0) return answerErr(req!, EROFS)
      // Room for one more held file: a small file may then be answered by the pool thread that read it.
      const held = view.openHeld && replies.heldBytes() < HELD_MAX_BYTES
      serve(
        'open',
        req!,
        nodes.path(node),
        (p) => (held ? view.openHeld!(p, req!) : view.open(p)),
        (fh) => {
          if (fh === undefined) return // answered with the held file by the view
          if (!(Number.isSafeInteger(fh) && fh >= 0)) {
            void view.release(fh).catch(() => {})
            throw new Error(`view returned unusable handle ${fh}`)
          }
          // A small file's reads and release are then answered in the binding, not here.
          const data = replies.heldBytes() < HELD_MAX_BYTES ? view.takeData?.(fh) : undefined
          // Interrupted: no release will come for it.
          if (replies.replyOpen(req!, fh, data) !== 0 && !data) void view.release(fh).catch(() => {})
        },
      )
    },
    read: (req, node, fh, offset, len) => {
      const buf = Buffer.allocUnsafe(len)
      serve(
        'read',
        req!,
        nodes.path(node),
        () => view.read(fh, buf, len, offset),
        (n) => {
          if (!(n >= 0 && n <= len)) throw new Error(`view returned ${n} bytes for a ${len}-byte read`)
          replies.replyData(req!, buf, n)
        },
      )
    },
    release: (req, node, fh) =>
      serve(
        'release',
        req!,
        nodes.path(node) ?? '?',
        () => view.release(fh),
        () => answerErr(req!, 0),
      ),
    opendir: (req, id) => {
      const node = nodes.get(id)
      serve(
        'opendir',
        req!,
        node && pathOf(node),
        (p) => view.readdir(p),
        (d) => {
          const fh = nextDir++
          dirs.set(fh, openDir(node!, d))
          if (replies.replyOpen(req!, fh) !== 0) dirs.delete(fh)
        },
      )
    },
    // One chunk per answer: one that ends with its chunk is short, and the kernel asks again
    // from the next entry (only an empty answer ends a listing).
    readdir: (req, node, fh, offset, size, plus) => {
      const d = dirs.get(fh)
      if (!d) return answerErr(req!, EBADF)
      try {
        let k = d.starts.length - 1
        while (k > 0 && d.starts[k]! > offset) k--
        const chunk = d.listing.chunks[k]
        const index = offset - (d.starts[k] ?? 0)
        if (!chunk || index >= chunk.offsets.length - 1) {
          replies.replyDir(req!, plus, size, 0, NO_NAMES, NO_OFFSETS, NO_ATTRS, plus ? NO_ATTRS : null, offset)
          return
        }
        let ids = d.nodeIds[k]
        if (plus && !ids) {
          const names = chunk.names
          ids = d.nodeIds[k] = new Float64Array(chunk.offsets.length - 1)
          for (let i = 0; i < ids.length; i++) {
            const n = nodes.child(d.node, names.toString('latin1', chunk.offsets[i], chunk.offsets[i + 1]))
            n.pins++
            ids[i] = n.id
          }
        }
        const sent = replies.replyDir(req!, plus, size, index, chunk.names, chunk.offsets, chunk.attrs, plus ? ids! : null, d.starts[k]!)
        if (plus) for (let i = index; i < index + sent; i++) nodes.sent(ids![i]!)
      } catch (err) {
        answerErr(req!, fail('readdir', nodes.path(node) ?? '?', err))
      }
    },
    releasedir: (req, _node, fh) => {
      const d = dirs.get(fh)
      dirs.delete(fh)
      for (const ids of d?.nodeIds ?? []) if (ids) for (const id of ids) nodes.unpin(id)
      answerErr(req!, 0)
      if (d && d.listing.count > COLLECT_AFTER_ENTRIES) collectSoon()
    },
    statfs: (req, node) =>
      serve(
        'statfs',
        req!,
        nodes.path(node),
        (p) => view.statfs(p),
        (s) => replies.replyStatfs(req!, packStatfs(s)),
      ),
    // Only reached without default_permissions; W_OK never gets here on a ro mount (the VFS
    // refuses first) but is answered for completeness. X_OK mirrors the kernel's own rule.
    access: (req, node, _fh, _offset, mode) => {
      if (mode & W_OK) return answerErr(req!, EROFS)
      serve(
        'access',
        req!,
        nodes.path(node),
        (p) => view.getattr(p),
        (a) => {
          const exec = (a.mode & S_IFMT) === S_IFDIR || (a.mode & 0o111) !== 0
          answerErr(req!, mode & X_OK && !exec ? EACCES : 0)
        },
      )
    },
  }
}

/** Runs fusermount3 in its own process group, so a Ctrl-C aimed at us cannot kill it midway. */
function fusermount(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('fusermount3', args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true })
    // Listen first: out of file descriptors, spawn reports EMFILE on the next tick and leaves
    // stderr null, and an 'error' nobody listens to would end the process mid-unmount.
    child.on('error', reject)
    let stderr = ''
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s))
    child.on('close', (code) => {
      if (code === 0) resolve()
      else reject(new Error(stderr.trim() || `fusermount3 ${args.join(' ')} exited with ${code}`))
    })
  })
}

/** Backslash and comma are libfuse's option syntax; escape them inside a value. */
const escapeOption = (v: string): string => v.replace(/[\\,]/g, (c) => '\\' + c)

function seconds(name: string, value: number | undefined): number {
  const v = value ?? 1
  if (!(typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 86_400)) {
    throw new UserError(`invalid ${name} ${String(value)}`, ExitCode.Usage)
  }
  return v
}

/**
 * libfuse's command line and the binding's settings. Every value is checked here and only
 * known option names are produced: libfuse refuses unknown ones.
 */
function sessionArgs(o: MountOptions): { args: string[]; conf: Float64Array } {
  if (o.readOnly !== true) throw new UserError('only read-only mounts are supported', ExitCode.Usage)
  if (typeof o.fsname !== 'string' || o.fsname === '' || o.fsname.includes('\0')) {
    throw new UserError('invalid fsname', ExitCode.Usage)
  }
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(o.subtype)) throw new UserError(`invalid subtype ${o.subtype}`, ExitCode.Usage)
  const attr = seconds('attribute timeout', o.attrTimeout)
  const entry = seconds('entry timeout', o.entryTimeout)
  // libfuse 3 always mounts over a non-empty directory (checkMountpoint asks for -nonempty).
  const opts = ['ro', `fsname=${escapeOption(o.fsname)}`, `subtype=${o.subtype}`, `max_read=${MAX_READ}`]
  if (o.allowOther) opts.push('allow_other')
  if (o.defaultPermissions ?? o.allowOther) opts.push('default_permissions')
  if (o.exec === false) opts.push('noexec')
  opts.push(...(o.extraOptions ?? []).map(escapeOption))
  // No auto_unmount: a crashed server must leave a dead mount (ENOTCONN, a failed pull), never
  // the empty directory under it, which a pull would copy (and --delete would mirror).
  const args = ['-o', opts.join(',')]
  if (o.debug) args.push('-d')
  return { args, conf: Float64Array.of(MAX_READ, attr, entry, entry, o.kernelCache ? 1 : 0) }
}

// Building a listing this large leaves tens of MB of garbage (each chunk's stats, names and
// attributes before they are packed), which V8 collects only when it allocates again: an idle
// daemon would hold it for good. One full collection soon after the
// listing is released costs only what is still alive; then glibc hands its free memory back too.
const COLLECT_AFTER_ENTRIES = 10_000
const COLLECT_DELAY_MS = 200
let collecting: NodeJS.Timeout | undefined

function collectSoon(): void {
  const gc = (globalThis as { gc?: () => void }).gc
  if (!gc || collecting) return
  collecting = setTimeout(() => {
    collecting = undefined
    gc()
    sys.trim()
  }, COLLECT_DELAY_MS).unref()
}

/** The path as mountinfo shows it (symlinks resolved), even when the mount on it is dead. */
async function canonicalMountpoint(mountpoint: string): Promise<string> {
  const abs = path.resolve(mountpoint)
  try {
    return await realpath(abs)
  } catch {
    return path.join(await realpath(path.dirname(abs)), path.basename(abs))
  }
}

/** How long a mount may take to open its root before it counts as hung. */
export const PROBE_MS = 10_000

// Opens the directory argv[1] (a directory open always reaches the server; cached attributes
// answer a stat even for a dead mount); on failure prints only the error code.
const PROBE_SCRIPT =
  "const fs = require('fs'); try { fs.closeSync(fs.openSync(process.argv[1], 'r')) } catch (e) { process.stderr.write(String(e.code)); process.exit(1) }"

/**
 * Whether the mount on mnt answers: 'dead' when its server is gone, 'hung' when it does not
 * answer within ms. Asked by a child process: a call stuck in a hung mount can only be ended by
 * killing its process (Node waits for its thread at exit). Anything else throws.
 */
export function probeMount(mnt: string, ms: number): Promise<'live' | 'dead' | 'hung'> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', PROBE_SCRIPT, mnt], { timeout: ms, killSignal: 'SIGKILL' }, (err, _stdout, stderr) => {
      if (!err) resolve('live')
      else if (err.killed) resolve('hung')
      else if (isDeadConnection({ code: stderr })) resolve('dead')
      else reject(new Error(`${mnt}: ${stderr || err.message}`))
    })
  })
}

/**
 * Clears a mount left by a dead server ("Transport endpoint is not connected"): a crash leaves
 * it on purpose (no auto_unmount), and the next mount on the same directory takes its place.
 */
async function recoverStaleMount(mnt: string, log: (msg: string) => void): Promise<void> {
  const existing = findMount(await readMountinfo(), mnt)
  if (!existing) return
  const state = await probeMount(mnt, PROBE_MS)
  if (state === 'dead') {
    log(`${mnt}: clearing stale ${existing.fsType} mount of ${existing.source}`)
    await fusermount(['-u', '-z', mnt])
    return
  }
  const how = state === 'hung' ? `, not answering for ${PROBE_MS / 1000} s` : ''
  throw new UserError(`mountpoint ${mnt} is already a mount point (${existing.fsType}${how})`, ExitCode.MountPoint)
}

/**
 * The directory under the mount point is what the reader sees whenever nothing is mounted (an
 * admin's umount): an empty tree that a pull would copy. Only the reader's class of the mode
 * bits is looked at (not supplementary groups or ACLs).
 */
async function warnIfUnderlyingReadable(mnt: string, reader: { uid: number; gid: number }, log: (msg: string) => void): Promise<void> {
  const st = await stat(mnt)
  const bit = st.uid === reader.uid ? 0o400 : st.gid === reader.gid ? 0o040 : 0o004
  if (reader.uid !== 0 && (st.mode & bit) === 0) return
  log(
    `warning: ${mnt} itself is readable by ${reader.uid}:${reader.gid} (mode ${(st.mode & 0o7777).toString(8)}, owner ${st.uid}:${st.gid}): ` +
      `when nothing is mounted there they see an empty directory; make it root's, mode 700, while unmounted`,
  )
}

async function checkMountpoint(mnt: string, nonempty: boolean): Promise<void> {
  let entries: string[]
  try {
    entries = await readdir(mnt)
  } catch (err) {
    throw new UserError(`invalid mountpoint ${mnt}: ${(err as Error).message}`, ExitCode.MountPoint)
  }
  if (entries.length > 0 && !nonempty) {
    throw new UserError(`mountpoint ${mnt} is not empty (use -nonempty to mount anyway)`, ExitCode.MountPoint)
  }
}

export async function mountView(view: ViewFs, mountpoint: string, opts: MountOptions): Promise<MountHandle> {
  const log = opts.log
  const { args, conf } = sessionArgs(opts)
  const mnt = await canonicalMountpoint(mountpoint)
  await recoverStaleMount(mnt, log)
  await checkMountpoint(mnt, !!opts.nonempty)
  if (opts.reader) await warnIfUnderlyingReadable(mnt, opts.reader, log)

  const ops = new BusyPoll(opts.busyPollUs ?? 0).wrap(fuseOps(view, log))
  let state: 'mounted' | 'unmounting' | 'closed' = 'mounted'
  let resolveClosed!: (kind: 'unmounted' | 'external') => void
  const closed = new Promise<'unmounted' | 'external'>((resolve) => (resolveClosed = resolve))
  const isClosed = (): boolean => state === 'closed'
  let session: Session
  // The binding says when the kernel ended the connection: at umount, or after a lazy umount
  // once the last user left. Until then the session serves, even after our own unmount().
  const ended = (rc: number): void => {
    fuse.fuseClose(session)
    if (rc < 0) log(`${mnt}: the FUSE session ended with error ${-rc}`)
    if (state === 'mounted') resolveClosed('external')
    state = 'closed'
  }
  try {
    session = fuse.fuseMount(Buffer.from(mnt), args, conf, (kind, req, node, fh, offset, n, plus, extra) => {
      const name = fuse.requestKinds[kind]
      if (name === 'end') ended(node)
      else if (name !== undefined) ops[name](req, node, fh, offset, n, plus, extra)
    })
  } catch (err) {
    throw new UserError((err as Error).message, ExitCode.FuseNewServer)
  }

  const detach = async (): Promise<void> => {
    state = 'unmounting'
    try {
      await fusermount(['-u', mnt])
    } catch (err) {
      try {
        if (findMount(await readMountinfo(), mnt)) {
          log(`unmounting ${mnt} failed (${(err as Error).message}); detaching lazily`)
          await fusermount(['-u', '-z', mnt])
        }
      } catch (lazyErr) {
        // fusermount3 could not even start (out of descriptors): root detaches in-process,
        // cutting off the mount's users, rather than exit and leave a dead mount behind.
        if (process.getuid?.() !== 0 || isClosed()) {
          if (state === 'unmounting') state = 'mounted'
          throw lazyErr
        }
        log(`unmounting ${mnt} with fusermount3 failed (${(lazyErr as Error).message}); detaching in-process`)
        fuse.fuseUnmount(session)
      }
    }
    // Users of a lazily detached mount are still served; they no longer keep us alive.
    if (!isClosed()) fuse.fuseUnref(session)
    resolveClosed('unmounted')
  }
  let unmounting: Promise<void> | undefined
  const unmount = (): Promise<void> => {
    if (state === 'closed') return closed.then(() => {})
    unmounting ??= detach().finally(() => (unmounting = undefined))
    return unmounting
  }
  if (opts.readAheadKb !== undefined) await applyReadAhead(mnt, opts.readAheadKb, log)
  return { unmount, closed }
}

/** The mount serves whether or not this works; a failure is only logged. */
async function applyReadAhead(mnt: string, kb: number, log: (msg: string) => void): Promise<void> {
  try {
    // mount(2) returns before the kernel has INIT's answer, which resets the read-ahead when it
    // comes. A first request waits for it (served meanwhile by this thread: hence async).
    await stat(mnt)
    const device = findMount(await readMountinfo(), mnt)?.device
    if (device === undefined) throw new Error('the mount is not in mountinfo')
    const now = await setReadAhead(device, kb)
    if (now !== kb) log(`${mnt}: the kernel read-ahead is ${now} KiB, not the ${kb} KiB asked for`)
  } catch (err) {
    log(`${mnt}: cannot set the kernel read-ahead to ${kb} KiB: ${describe(err)}`)
  }
}
