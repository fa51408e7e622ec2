// Promises over the native source syscalls (src/native/sys.ts): every source syscall of the
// view runs on the addon's thread pool, never on the JavaScript thread that answers the mount,
// so a hung filesystem inside the source, or this mount reached again through it, stalls only
// the requests that touch it. Stats come back exact to the nanosecond (stat.ts).
import { AT_FDCWD, STAT_N, sys, type CheckArgs, type Done, type HeldArgs, type PackedNames, type SealArgs, type Sealer } from '../native/sys.js'
import type { FileStatus } from './consistency.js'
import { msOfParts, statsAt, type SourceStats } from './stat.js'

export { AT_FDCWD, type Sealer }

/**
 * Makes an open or a read return the view's bytes, sealed on the pool thread that read them
 * (native/seal.c): the key's sealer, and the file's ID and block-0 IV.
 */
export interface Sealing {
  sealer: Sealer
  ids: Buffer
}

/** The addon's copy of a 64-byte content key, for sealingOf. */
export const createSealer = (key: Uint8Array): Sealer => sys.sealer(Buffer.from(key.buffer, key.byteOffset, key.byteLength))

/** Sealing with `sealer` for the file with this ID and block-0 IV. */
export const sealingOf = (sealer: Sealer, fileId: Uint8Array, iv0: Uint8Array): Sealing => ({ sealer, ids: Buffer.concat([fileId, iv0]) })

/** At most n pool threads seal at once (0: no limit). */
export const setSealThreads = (n: number): void => sys.sealThreads(n)

const sealArgs = (s: Sealing | undefined): SealArgs => (s ? [s.sealer, s.ids] : [null, null])

/**
 * A FUSE open (the binding's Request) that a sealed open may answer on the pool thread, handing
 * the binding the view file as a held file, when the file's fstat after its read still shows
 * `looked` (its lookup).
 */
export interface HeldOpen {
  reply: object
  looked: FileStatus
}

const heldArgs = (h: HeldOpen | undefined): HeldArgs =>
  h ? [h.reply, Float64Array.of(h.looked.size, h.looked.mtimeMs, h.looked.mtimeNsPart, h.looked.ctimeMs, h.looked.ctimeNsPart)] : [null, null]

/** A directory resolved earlier that must still be at `path` (absolute) before a call acts. */
export interface DirCheck {
  path: Uint8Array
  dev: number
  ino: number
  birth: number
}

/**
 * The fields of a stat the consistency check compares: all a read's answer needs to carry,
 * taken without building a whole Stats (every read makes one).
 */
function statusOf(a: Float64Array): FileStatus {
  return { size: a[7]!, mtimeMs: msOfParts(a[12]!, a[13]!), mtimeNsPart: a[13]! % 1e6, ctimeMs: msOfParts(a[14]!, a[15]!), ctimeNsPart: a[15]! % 1e6 }
}

function call<T>(start: (done: Done<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => start((err, result) => (err ? reject(err) : resolve(result))))
}

const checkArgs = (c: DirCheck | undefined): CheckArgs =>
  c ? [Buffer.from(c.path.buffer, c.path.byteOffset, c.path.byteLength), c.dev, c.ino, c.birth] : [null, 0, 0, 0]

/** Names joined by NUL, which no name contains. */
const joined = (names: readonly Uint8Array[]): Buffer => Buffer.concat(names.flatMap((n) => [n, ZERO]))
const ZERO = Buffer.alloc(1)

/** Names of a directory: names.subarray(offsets[i], offsets[i + 1]) is the i-th. */
export type NameList = Required<PackedNames>

const NO_NAMES: NameList = { names: Buffer.alloc(0), offsets: Uint32Array.of(0) }

/** How many names a list holds. */
export const nameCount = (p: NameList): number => Math.max(0, p.offsets.length - 1)

/** Names from..to of a list, each a view into the one Buffer that holds them all. */
export function unpackNames(p: NameList, from = 0, to = nameCount(p)): Buffer[] {
  const { names, offsets } = p
  const out = new Array<Buffer>(Math.max(0, to - from))
  for (let i = 0; i < out.length; i++) out[i] = names.subarray(offsets[from + i], offsets[from + i + 1])
  return out
}

const nameList = (p: PackedNames): NameList => (p.names && p.offsets && p.offsets.length > 0 ? { names: p.names, offsets: p.offsets } : NO_NAMES)

/** lstat of `name` in the directory `dirfd` (AT_FDCWD: `name` is a path), after `check`. */
export function lstatAt(dirfd: number, name: Buffer, check?: DirCheck): Promise<SourceStats> {
  return call<{ st: Float64Array }>((done) => sys.lstat(dirfd, name, ...checkArgs(check), done)).then((r) => statsAt(r.st))
}

/** lstat of each name in `dirfd` (an error in place of a failed one), and the stat of `dirfd` itself. */
export async function lstatEachAt(dirfd: number, names: readonly Buffer[]): Promise<{ stats: (SourceStats | NodeJS.ErrnoException)[]; dir: SourceStats }> {
  const r = await call<{ stats: Float64Array; errs: Int32Array; st: Float64Array }>((done) => sys.lstatEach(dirfd, joined(names), names.length, done))
  const stats = names.map((_, i) => {
    const errno = r.errs[i]!
    if (errno === 0) return statsAt(r.stats, i * STAT_N)
    return Object.assign(new Error(`lstat failed with errno ${errno}`), { errno: -errno, code: errnoCode(errno), syscall: 'lstat' })
  })
  return { stats, dir: statsAt(r.st) }
}

// The codes a listing's lstat can meet; the view only tells ENOENT (removed since) from the rest.
const CODES: Record<number, string> = { 2: 'ENOENT', 13: 'EACCES', 20: 'ENOTDIR', 36: 'ENAMETOOLONG', 40: 'ELOOP', 116: 'ESTALE' }
const errnoCode = (errno: number): string => CODES[errno] ?? 'EIO'

/** The entry names of the directory `dirfd` in getdents order, and its fstat from just before they were read. */
export async function listAt(dirfd: number): Promise<ListedNames> {
  const r = await call<{ st: Float64Array } & PackedNames>((done) => sys.list(dirfd, done))
  return { names: nameList(r), st: statsAt(r.st) }
}

/** A directory's names, and its stat from before they were read: a later change moves its mtime and ctime. */
export interface ListedNames {
  names: NameList
  st: SourceStats
}

/** A directory a walk reached: its O_PATH descriptor (the caller's), its fstat (taken before its names were read), its names when asked. */
export interface WalkedDir {
  fd: number
  st: SourceStats
  names?: NameList
}

/** Opens `first` in `dirfd`, then each of `names` in turn, never following a symlink. */
export async function walkFrom(dirfd: number, first: Buffer, names: readonly Buffer[], list: boolean): Promise<WalkedDir> {
  const r = await call<{ fd: number; st: Float64Array } & PackedNames>((done) => sys.walk(dirfd, first, joined(names), names.length, list, done))
  return { fd: r.fd, st: statsAt(r.st), names: list ? nameList(r) : undefined }
}

/**
 * An opened regular file: its descriptor, or, when it was read whole at open, its bytes
 * (plaintext, or the whole view file when sealed) with its fstat after that read, the
 * descriptor closed already.
 */
export type OpenedFile = { fd: number } | { data: Buffer; status: FileStatus }

/** The pool thread answered the HeldOpen with the file, read and sealed whole. */
export type Answered = { answered: true }

/**
 * After `check`, opens the regular file `name` of `dirfd` if it is still the one `expected`
 * describes (ENOENT otherwise); a file shorter than `below` bytes, not empty, on an ordinary
 * local filesystem is read whole at once (`below` 0: never), and sealed with `seal`; such a
 * file may answer `held` itself.
 */
export function openAt(
  dirfd: number,
  name: Buffer,
  expected: Pick<SourceStats, 'dev' | 'ino'>,
  below: number,
  check?: DirCheck,
  seal?: Sealing,
): Promise<OpenedFile>
export function openAt(
  dirfd: number,
  name: Buffer,
  expected: Pick<SourceStats, 'dev' | 'ino'>,
  below: number,
  check: DirCheck | undefined,
  seal: Sealing | undefined,
  held: HeldOpen | undefined,
): Promise<OpenedFile | Answered>
export async function openAt(
  dirfd: number,
  name: Buffer,
  expected: Pick<SourceStats, 'dev' | 'ino'>,
  below: number,
  check?: DirCheck,
  seal?: Sealing,
  held?: HeldOpen,
): Promise<OpenedFile | Answered> {
  const r = await call<{ st: Float64Array; fd?: number; data?: Buffer; answered?: true }>((done) =>
    sys.open(dirfd, name, expected.dev, expected.ino, below, ...sealArgs(seal), ...heldArgs(seal && held), ...checkArgs(check), done),
  )
  if (r.answered) return { answered: true }
  return r.fd !== undefined ? { fd: r.fd } : { data: r.data!, status: statusOf(r.st) }
}

/**
 * `length` bytes from `position`, fewer at end of file, and the fstat after the read; with
 * `seal` (position at a block's start) those bytes sealed as the view's content blocks.
 */
export async function preadAt(fd: number, length: number, position: number, seal?: Sealing): Promise<{ data: Buffer; status: FileStatus }> {
  const r = await call<{ data: Buffer; st: Float64Array }>((done) => sys.pread(fd, length, position, ...sealArgs(seal), done))
  return { data: r.data, status: statusOf(r.st) }
}

/** fstat, then close. */
export function closeFile(fd: number): Promise<FileStatus> {
  return call<{ st: Float64Array }>((done) => sys.closeFile(fd, done)).then((r) => statusOf(r.st))
}

export function readlinkAt(dirfd: number, name: Buffer): Promise<Buffer> {
  return call<{ target: Buffer }>((done) => sys.readlink(dirfd, name, done)).then((r) => r.target)
}
