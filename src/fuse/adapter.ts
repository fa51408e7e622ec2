// Serves a ViewFs through the kernel with fuse-native 2.2.6 (the only module that loads it).
// Everything here works around measured quirks of that binding: options it lacks go through `fsname`,
// every numeric field crossing into C is 32 bits wide, a handler that throws or never answers
// hurts the whole mount, and an external unmount leaves the process running unless we notice.
// Paths cross as byte strings with the patched build `npm ci` makes; path-codec.ts covers the
// stock prebuild. The patched build uses libfuse 3, whose READDIRPLUS gives the kernel each
// listed entry's attributes with the listing, sparing a LOOKUP per entry; the stock one cannot.
import { spawn } from 'node:child_process'
import { readdir, readlink, realpath, stat } from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'
import { ExitCode, UserError } from '../exitcodes.js'
import { sys } from '../native/sys.js'
import { readable } from '../view/byte-string.js'
import { FsError, type Attr, type FsStats, type ViewFs } from '../view/fs.js'
import { BusyPoll } from './busy-poll.js'
import { findMount, readMountinfo, type MountEntry } from './mountinfo.js'
import { setReadAhead } from './read-ahead.js'
import { pathCodec, type PathEncoding } from './path-codec.js'

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
  extraOptions?: string[] // -ko: kernel mount options added to the mount's own, validated by the CLI
  log(msg: string): void
}

export interface MountHandle {
  /** Unmounts (lazily if the mount is busy). Resolves once `closed` has. */
  unmount(): Promise<void>
  /** 'unmounted' after unmount(), 'external' when someone else unmounted it. */
  closed: Promise<'unmounted' | 'external'>
}

type Callback = (result: number, ...values: unknown[]) => void
type Handler = (...args: any[]) => void
export type FuseOps = Record<string, Handler>

interface FuseInstance {
  mnt: string
  /** Native per-mount state; needed to release the loop handle after an external unmount. */
  _thread: Buffer
  /** The exact `-o` string fuse-native will hand to libfuse. */
  _fuseOptions(): string
  mount(cb: (err: Error | null) => void): void
}

interface FuseModule {
  new (mnt: string, ops: FuseOps, opts: Record<string, unknown>): FuseInstance
  [errno: string]: unknown
}

const require = createRequire(import.meta.url)
const Fuse = require('fuse-native') as FuseModule
// The binding itself (cached, so the same instance fuse-native uses): its unmount call only
// unreferences the loop handle, which fuse-native skips when the kernel mount is already gone.
const binding = createRequire(require.resolve('fuse-native'))('node-gyp-build')(
  path.dirname(require.resolve('fuse-native')),
) as {
  fuse_native_unmount(mnt: string, thread: Buffer): void
  path_encoding_latin1?: number
  /** 3 for the patched build (libfuse 3, READDIRPLUS); absent from the stock libfuse 2 prebuild. */
  libfuse_major?: number
  /** 1 when open may hand a file's whole content to the binding, which then answers its reads and release. */
  held_files?: number
  /** Bytes the binding holds for such files. */
  fuse_native_held_bytes?(): number
  /** Copies a file's whole content into the binding: the value open's answer carries. */
  fuse_native_hold?(data: Buffer): unknown
}

/** Set by the patch; absent from the stock prebuild (e.g. under PREBUILDS_ONLY=1). */
export const bindingPathEncoding: PathEncoding = binding.path_encoding_latin1 === 1 ? 'latin1' : 'utf8'
/** How the adapter hands a file's bytes to the binding: what it holds, and hold (copies at once). */
export interface Holder {
  heldBytes(): number
  hold(data: Buffer): unknown
}

export const bindingHolder: Holder | null =
  binding.held_files === 1 && binding.fuse_native_held_bytes && binding.fuse_native_hold
    ? { heldBytes: binding.fuse_native_held_bytes, hold: binding.fuse_native_hold }
    : null
// What the binding may hold of files handed over at open (a program may keep many open unread).
const HELD_MAX_BYTES = 32 * 1024 * 1024

const errnoOf = (code: string): number => (Fuse[code] as number | undefined) ?? (Fuse.EIO as number)
const EIO = errnoOf('EIO')
const EROFS = errnoOf('EROFS')
const ENOSYS = errnoOf('ENOSYS')
const EACCES = errnoOf('EACCES')
const ENAMETOOLONG = errnoOf('ENAMETOOLONG')
const ENOENT = errnoOf('ENOENT')

const U32 = 0xffffffff
const O_ACCMODE = 3
const O_WRITE_EXTRAS = 0o100 /* O_CREAT */ | 0o1000 /* O_TRUNC */ | 0o2000 /* O_APPEND */
const W_OK = 2
const X_OK = 1
const S_IFMT = 0o170000
const S_IFDIR = 0o040000
// libfuse hands readlink a PATH_MAX+1 buffer; a longer target would arrive truncated.
const MAX_LINK_BYTES = 4095
const MAX_NATIVE_STRING = 1023
const POLL_MS = 1000

// Per-op timeouts. fuse-native answers ETIMEDOUT after 15 s by default; `false` would let a
// stuck handler leave readers unkillable in D state, so every op keeps a limit. Reads and
// listings get the most: they wait on the source disk (possibly a sleeping or network one)
// and, for readdir, on encrypting every name of a huge directory. Metadata ops get 30 s.
const TIMEOUTS = { default: 30_000, read: 120_000, readdir: 120_000 }

// Reads of up to 512 KiB (libfuse 3 allows 1 MiB; the stock libfuse 2 prebuild stays at
// 128 KiB), as large as the read-ahead lets them come (readAheadKb). 1 MiB was no faster and
// raised the daemon's peak memory by 20 to 40 MB (docs/performance.md section 11).
const MAX_READ = 1 << 19

// A listing this large leaves hundreds of MB of garbage, which V8 collects only when it
// allocates again: an idle daemon would hold it for good. One full collection soon after the
// reply costs only what is still alive; then glibc hands its free memory back too.
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

/**
 * Inode numbers cross as 32 bits. Numbers that fit pass unchanged (so plaintext inodes, the
 * common case, stay recognizable); larger ones (gocryptfs-style namespaced or spilled numbers)
 * become low word XOR an odd-multiplier hash of the high word. Equal inputs give equal outputs,
 * so hard links stay equal; distinct inputs can collide with probability about 2^-32 per pair
 * (`find -samefile`/`rsync -H` could then see a false hard link).
 */
export function foldIno(ino: number): number {
  if (ino >= 0 && ino <= U32 && Number.isInteger(ino)) return ino
  const hi = Math.floor(ino / 0x100000000)
  return ((ino >>> 0) ^ Math.imul(hi, 0x9e3779b1)) >>> 0
}

const clampU32 = (n: number): number => (n >= U32 ? U32 : n > 0 ? Math.floor(n) : 0)
// fuse-native sends milliseconds as an unsigned 64-bit value: pre-1970 (and NaN) would wrap.
const clampTime = (ms: number): number => (ms > 0 ? ms : 0)
const clampNsPart = (ms: number, ns: number): number => (ms >= 0 ? ns : 0)

/** The stat object fuse-native packs into its 32-bit wire array. */
export function toFuseStat(a: Attr): Record<string, number> {
  return {
    mode: a.mode,
    uid: clampU32(a.uid),
    gid: clampU32(a.gid),
    size: a.size,
    dev: 0,
    nlink: clampU32(a.nlink),
    ino: foldIno(a.ino),
    rdev: a.rdev >>> 0, // the kernel decodes the low 32 bits (new_decode_dev), as glibc encodes
    blksize: clampU32(a.blksize),
    blocks: a.blocks,
    atime: clampTime(a.atimeMs),
    mtime: clampTime(a.mtimeMs),
    ctime: clampTime(a.ctimeMs),
    // The nanoseconds past each millisecond: an extra field of our patched fuse-native.
    atimeNsPart: clampNsPart(a.atimeMs, a.atimeNsPart),
    mtimeNsPart: clampNsPart(a.mtimeMs, a.mtimeNsPart),
    ctimeNsPart: clampNsPart(a.ctimeMs, a.ctimeNsPart),
  }
}

/**
 * statfs fields cross as 32 bits: a multi-TB disk would wrap. Double the fragment size and halve
 * the block counts until they fit, so df's product (size and free space) stays right; inode
 * counts cannot be rescaled and are clamped.
 */
export function scaleStatfs(s: FsStats): Record<string, number> {
  let frsize = s.frsize || s.bsize
  let bsize = s.bsize || frsize
  let { blocks, bfree, bavail } = s
  while ((blocks > U32 || bfree > U32 || bavail > U32) && frsize <= 0x40000000) {
    blocks = Math.floor(blocks / 2)
    bfree = Math.floor(bfree / 2)
    bavail = Math.floor(bavail / 2)
    frsize *= 2
    if (bsize <= 0x40000000) bsize *= 2
  }
  return {
    bsize,
    frsize,
    blocks: clampU32(blocks),
    bfree: clampU32(bfree),
    bavail: clampU32(bavail),
    files: clampU32(s.files),
    ffree: clampU32(s.ffree),
    favail: clampU32(s.favail),
    namemax: s.namemax,
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`
  return `non-error thrown: ${typeof err}`
}

/**
 * The fuse-native handler table. Each handler answers exactly once and never throws: FsError
 * becomes its errno; anything else EIO plus one log line naming op and path. `encoding` is the
 * loaded binding's; a path it cannot carry is ENOENT, a name it cannot carry is not listed.
 */
export function fuseOps(view: ViewFs, log: (msg: string) => void, encoding = bindingPathEncoding, holder = bindingHolder): FuseOps {
  const safeLog = (msg: string): void => {
    try {
      log(msg)
    } catch {
      // a broken logger must not keep the kernel waiting
    }
  }
  const codec = pathCodec(encoding, safeLog)
  const fail = (op: string, p: string, err: unknown): number => {
    if (err instanceof FsError) return errnoOf(err.code)
    safeLog(`${op} ${readable(p)}: ${describe(err)}`)
    return EIO
  }
  /** Runs work on the view path of kernel path kp, answering cb with reply's result or an errno. */
  function serve<T>(op: string, kp: string, cb: Callback, work: (p: string) => Promise<T>, reply: (v: T, p: string) => void): void {
    const p = codec.inward(kp)
    if (p === undefined) return cb(ENOENT)
    let pending: Promise<T>
    try {
      pending = work(p)
    } catch (err) {
      cb(fail(op, p, err))
      return
    }
    pending.then(
      (v) => {
        try {
          reply(v, p)
        } catch (err) {
          cb(fail(op, p, err))
        }
      },
      (err) => cb(fail(op, p, err)),
    )
  }
  const readOnly: Handler = (...args) => (args[args.length - 1] as Callback)(EROFS)

  return {
    getattr: (kp: string, cb: Callback) => serve('getattr', kp, cb, (p) => view.getattr(p), (a) => cb(0, toFuseStat(a))),
    readdir: (kp: string, cb: Callback) =>
      serve('readdir', kp, cb, (p) => view.readdir(p), (d, p) => {
        const names: string[] = []
        const shown: number[] = []
        const context = `readdir ${readable(p)}: not listing`
        d.names.forEach((name, i) => {
          const crossing = codec.outward(name, context)
          if (crossing === undefined) return
          names.push(crossing)
          shown.push(i)
        })
        // The binding packs each stat as forEach hands it over: made one at a time, they are
        // garbage at once, where an array of them (300,000 objects) lived through the reply.
        const stats = { length: shown.length, forEach: (pack: (st: Record<string, number>, i: number) => void) => shown.forEach((at, i) => pack(toFuseStat(d.attrs[at]!), i)) }
        cb(0, names, stats)
        if (names.length > COLLECT_AFTER_ENTRIES) collectSoon()
      }),
    readlink: (kp: string, cb: Callback) =>
      serve('readlink', kp, cb, (p) => view.readlink(p), (target, p) => {
        // A byte string: its length is its size in bytes.
        if (target.length > MAX_LINK_BYTES) {
          safeLog(`readlink ${readable(p)}: target longer than ${MAX_LINK_BYTES} bytes, not representable through fuse-native`)
          return cb(ENAMETOOLONG)
        }
        const crossing = codec.outward(target, `readlink ${readable(p)}: target`)
        cb(crossing === undefined ? EIO : 0, crossing)
      }),
    open: (kp: string, flags: number, cb: Callback) => {
      if ((flags & O_ACCMODE) !== 0 || (flags & O_WRITE_EXTRAS) !== 0) return cb(EROFS)
      serve('open', kp, cb, (p) => view.open(p), (fh) => {
        // The handle travels as a C int32 and back as uint32: only 0..2^31-1 survives both.
        // A small file's reads and release are then answered in the libfuse thread, not here.
        if (Number.isInteger(fh) && fh >= 0 && fh <= 0x7fffffff) {
          const data = holder && holder.heldBytes() < HELD_MAX_BYTES ? view.takeData?.(fh) : undefined
          return cb(0, fh, data && holder?.hold(data))
        }
        void view.release(fh).catch(() => {})
        throw new Error(`view returned unusable handle ${fh}`)
      })
    },
    read: (p: string, fh: number, buf: Buffer, len: number, pos: number, cb: Callback) =>
      serve('read', p, cb, () => view.read(fh, buf, len, pos), (n) => {
        if (!(n >= 0 && n <= len)) throw new Error(`view returned ${n} bytes for a ${len}-byte read`)
        cb(n)
      }),
    release: (p: string, fh: number, cb: Callback) => serve('release', p, cb, () => view.release(fh), () => cb(0)),
    statfs: (kp: string, cb: Callback) => serve('statfs', kp, cb, (p) => view.statfs(p), (s) => cb(0, scaleStatfs(s))),
    // Only reached without default_permissions; W_OK never gets here on a ro mount (the VFS
    // refuses first) but is answered for completeness. X_OK mirrors the kernel's own rule.
    access: (kp: string, mode: number, cb: Callback) => {
      if (mode & W_OK) return cb(EROFS)
      serve('access', kp, cb, (p) => view.getattr(p), (a) => {
        const exec = (a.mode & S_IFMT) === S_IFDIR || (a.mode & 0o111) !== 0
        cb(mode & X_OK && !exec ? EACCES : 0)
      })
    },
    // gocryptfs 2.3 reverse mode has no xattrs. ENOSYS makes the kernel answer every later
    // getxattr itself (EOPNOTSUPP): `ls -l` asks two per entry, which cost more than the lookup.
    // An empty list keeps `getfattr -d` and `rsync -X` quiet; answering the size query with 0
    // ourselves also avoids fuse-native's list path, which pads the size by 128 bytes.
    getxattr: (_p: string, _name: string, _pos: number, cb: Callback) => cb(ENOSYS),
    listxattr: (_p: string, cb: Callback) => cb(0),
    // opendir/releasedir stay out of JavaScript: the patched binding keeps an open directory's
    // listing in C for READDIRPLUS (libfuse's defaults under the stock prebuild).
    write: readOnly,
    create: readOnly,
    mknod: readOnly,
    mkdir: readOnly,
    unlink: readOnly,
    rmdir: readOnly,
    rename: readOnly,
    link: readOnly,
    symlink: readOnly,
    chmod: readOnly,
    chown: readOnly,
    truncate: readOnly,
    ftruncate: readOnly,
    utimens: readOnly,
    setxattr: readOnly,
    removexattr: readOnly,
  }
}

/** Runs fusermount in its own process group, so a Ctrl-C aimed at us cannot kill it midway. */
function fusermount(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('fusermount', args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true })
    // Listen first: out of file descriptors, spawn reports EMFILE on the next tick and leaves
    // stderr null, and an 'error' nobody listens to would end the process mid-unmount.
    child.on('error', reject)
    let stderr = ''
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s))
    child.on('close', (code) => {
      if (code === 0) resolve()
      else reject(new Error(stderr.trim() || `fusermount ${args.join(' ')} exited with ${code}`))
    })
  })
}

/** Backslash and comma are libfuse's option syntax; escape them inside a value. */
const escapeOption = (v: string): string => v.replace(/[\\,]/g, (c) => '\\' + c)

function formatSeconds(name: string, value: number | undefined): number {
  const v = value ?? 1
  if (!(typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 86_400)) {
    throw new UserError(`invalid ${name} ${String(value)}`, ExitCode.Usage)
  }
  return v
}

/**
 * The libfuse options. An unknown option would leave a dead kernel mount behind, so every
 * value is checked here and only known names are produced. Options fuse-native has no name for
 * ride along in fsname (libfuse splits that value at unescaped commas).
 */
function fuseOptions(o: MountOptions): Record<string, unknown> {
  if (o.readOnly !== true) throw new UserError('only read-only mounts are supported', ExitCode.Usage)
  if (typeof o.fsname !== 'string' || o.fsname === '' || o.fsname.includes('\0')) {
    throw new UserError('invalid fsname', ExitCode.Usage)
  }
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(o.subtype)) throw new UserError(`invalid subtype ${o.subtype}`, ExitCode.Usage)
  const attr = formatSeconds('attribute timeout', o.attrTimeout)
  const entry = formatSeconds('entry timeout', o.entryTimeout)
  const extra = ['ro', `attr_timeout=${attr}`, `entry_timeout=${entry}`, `negative_timeout=${entry}`]
  // libfuse 3 has neither option: it always mounts over a non-empty directory, and the patched
  // binding turns use_ino on in its init.
  if (binding.libfuse_major !== 3) extra.push('use_ino', ...(o.nonempty ? ['nonempty'] : []))
  if (o.exec === false) extra.push('noexec')
  return {
    fsname: [escapeOption(o.fsname), ...extra].join(','),
    subtype: o.subtype,
    allowOther: o.allowOther,
    defaultPermissions: o.defaultPermissions ?? o.allowOther,
    kernelCache: !!o.kernelCache,
    debug: !!o.debug,
    maxRead: MAX_READ,
    // A fusermount helper that unmounts when this process dies, even by SIGKILL.
    autoUnmount: true,
    timeout: TIMEOUTS,
  }
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

const isDeadConnection = (err: unknown): boolean => {
  const code = (err as NodeJS.ErrnoException).code
  return code === 'ENOTCONN' || code === 'ECONNABORTED'
}

/** Clears a mount left by a dead server ("Transport endpoint is not connected"). */
async function recoverStaleMount(mnt: string, log: (msg: string) => void): Promise<void> {
  const existing = findMount(await readMountinfo(), mnt)
  if (!existing) return
  try {
    await stat(mnt)
  } catch (err) {
    if (!isDeadConnection(err)) throw err
    log(`${mnt}: clearing stale ${existing.fsType} mount of ${existing.source}`)
    await fusermount(['-u', '-z', mnt])
    return
  }
  throw new UserError(`mountpoint ${mnt} is already a mount point (${existing.fsType})`, ExitCode.MountPoint)
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
  const fuseOpts = fuseOptions(opts)
  const mnt = await canonicalMountpoint(mountpoint)
  await recoverStaleMount(mnt, log)
  await checkMountpoint(mnt, !!opts.nonempty)

  if (bindingPathEncoding === 'utf8') {
    log('fuse-native is the stock prebuild, not the patched build of npm ci: names and symlink targets that are not UTF-8 will be hidden')
  }
  const fuse = new Fuse(mnt, new BusyPoll(opts.busyPollUs ?? 0).wrap(fuseOps(view, log)), fuseOpts)
  // The binding copies both strings into 1024-byte buffers and would silently cut them.
  if (Buffer.byteLength(mnt) > MAX_NATIVE_STRING || Buffer.byteLength(fuse._fuseOptions()) > MAX_NATIVE_STRING) {
    throw new UserError('mountpoint or fsname too long for fuse-native (1023 bytes)', ExitCode.Usage)
  }
  const fdsBefore = await devFuseFds()
  try {
    await new Promise<void>((resolve, reject) => fuse.mount((err) => (err ? reject(err) : resolve())))
  } catch (err) {
    // libfuse creates the kernel mount before checking its options; do not leave it dead.
    if (findMount(await readMountinfo(), mnt)?.fsType === `fuse.${opts.subtype}`) {
      await fusermount(['-u', '-z', mnt]).catch(() => {})
    }
    throw new UserError(`mount failed: ${(err as Error).message}`, ExitCode.FuseNewServer)
  }
  const newFds = [...(await devFuseFds())].filter((fd) => !fdsBefore.has(fd))
  const handle = await watchMount(fuse, mnt, newFds.length === 1 ? newFds[0] : undefined, log)
  if (opts.readAheadKb !== undefined) await applyReadAhead(mnt, opts.readAheadKb, log)
  return handle
}

/** The mount serves whether or not this works; a failure is only logged. */
async function applyReadAhead(mnt: string, kb: number, log: (msg: string) => void): Promise<void> {
  try {
    const device = findMount(await readMountinfo(), mnt)?.device
    if (device === undefined) throw new Error('the mount is not in mountinfo')
    const now = await setReadAhead(device, kb)
    if (now !== kb) log(`${mnt}: the kernel read-ahead is ${now} KiB, not the ${kb} KiB asked for`)
  } catch (err) {
    log(`${mnt}: cannot set the kernel read-ahead to ${kb} KiB: ${describe(err)}`)
  }
}

/** This process's file descriptors open on /dev/fuse. */
async function devFuseFds(): Promise<Set<number>> {
  const names = await readdir('/proc/self/fd')
  const links = await Promise.all(names.map((n) => readlink(`/proc/self/fd/${n}`).catch(() => '')))
  return new Set(names.filter((_, i) => links[i] === '/dev/fuse').map(Number))
}

/**
 * Resolves `closed` with 'external' when the FUSE connection ends without our unmount(). The
 * kernel ends it when the mount is gone for good (at umount, or after a lazy umount once the
 * last user left); libfuse then closes its /dev/fuse descriptor, which is what we watch.
 * Mountinfo is only the fallback when that descriptor is unknown: mount ids and device numbers
 * are recycled at once, so a new mount at the same path looks exactly like ours.
 */
async function watchMount(fuse: FuseInstance, mnt: string, connectionFd: number | undefined, log: (msg: string) => void): Promise<MountHandle> {
  const ours = findMount(await readMountinfo(), mnt)
  const isOurs = (e: MountEntry): boolean =>
    ours ? e.mountId === ours.mountId && e.device === ours.device && e.mountPoint === mnt : e.mountPoint === mnt
  const isPresent = (entries: MountEntry[]): boolean => entries.some(isOurs)
  const connectionEnded =
    connectionFd === undefined
      ? async () => !isPresent(await readMountinfo())
      : async () => (await readlink(`/proc/self/fd/${connectionFd}`).catch(() => '')) !== '/dev/fuse'

  let state: 'mounted' | 'unmounting' | 'closed' = 'mounted'
  let resolveClosed!: (kind: 'unmounted' | 'external') => void
  const closed = new Promise<'unmounted' | 'external'>((resolve) => (resolveClosed = resolve))
  const finish = (kind: 'unmounted' | 'external'): void => {
    state = 'closed'
    clearInterval(timer)
    try {
      binding.fuse_native_unmount(fuse.mnt, fuse._thread)
    } catch (err) {
      log(`releasing the FUSE handle of ${mnt}: ${describe(err)}`)
    }
    resolveClosed(kind)
  }

  // Nothing signals the end (fs.watch never fires on /proc/self/mountinfo, measured): poll.
  let polling = false
  const timer = setInterval(() => {
    if (polling || state !== 'mounted') return
    polling = true
    connectionEnded()
      .then((ended) => {
        if (ended && state === 'mounted') finish('external')
      })
      .catch(() => {}) // a failed read is retried on the next tick
      .finally(() => (polling = false))
  }, POLL_MS)
  timer.unref()

  const detach = async (): Promise<void> => {
    state = 'unmounting'
    try {
      await fusermount(['-u', mnt])
    } catch (err) {
      try {
        if (isPresent(await readMountinfo())) {
          log(`unmounting ${mnt} failed (${(err as Error).message}); detaching lazily`)
          await fusermount(['-u', '-z', mnt])
        }
      } catch (lazyErr) {
        state = 'mounted'
        throw lazyErr
      }
    }
    finish('unmounted')
  }
  let unmounting: Promise<void> | undefined
  const unmount = (): Promise<void> => {
    if (state === 'closed') return Promise.resolve()
    unmounting ??= detach().finally(() => (unmounting = undefined))
    return unmounting
  }
  return { unmount, closed }
}
