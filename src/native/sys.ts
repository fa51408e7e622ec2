// The typed surface of our native addon's source syscalls (native/sys.c; its FUSE binding is
// typed in src/fuse/binding.ts): source syscalls run on a pool of threads of its own, each call
// a short batch answered through its callback on the calling JavaScript thread, which may seal
// what it read (native/seal.c); plus synchronous calls Node lacks (process hardening, exact
// utimensat).
// Stats cross as 18 doubles (STAT_FIELDS), names as one Buffer with offsets.
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

/** The order of a stat's fields in the Float64Arrays the addon returns. */
export const STAT_FIELDS = [
  'dev',
  'ino',
  'mode',
  'nlink',
  'uid',
  'gid',
  'rdev',
  'size',
  'blksize',
  'blocks',
  'atimeSec',
  'atimeNsec',
  'mtimeSec',
  'mtimeNsec',
  'ctimeSec',
  'ctimeNsec',
  'birthSec',
  'birthNsec',
] as const
export const STAT_N = STAT_FIELDS.length

/** The dirfd that makes a name an absolute (or working-directory) path. */
export const AT_FDCWD = -100

export type Done<T> = (err: NodeJS.ErrnoException | null, result: T) => void

/** Names of a directory: names.subarray(offsets[i], offsets[i + 1]) is the i-th. */
export interface PackedNames {
  names?: Buffer
  offsets?: Uint32Array
}

/**
 * The directory a call checks first (DirCheck): lstat of `path` must show a directory with this
 * dev, ino and birth time in ms, or the call fails with code EDIRMOVED and does nothing else.
 * null path: no check.
 */
export type CheckArgs = [path: Buffer | null, dev: number, ino: number, birthMs: number]

/** A content key held by the addon (native/seal.c), from sealer(); wiped once collected. */
export type Sealer = { readonly __brand: 'Sealer' }

/** What makes open and pread return sealed bytes: the sealer, and fileId || block-0 IV (32 bytes). */
export type SealArgs = [sealer: Sealer | null, ids: Buffer | null]

/**
 * A FUSE open (the binding's Request) that open may answer itself, and the status that allows
 * it: size, mtime ms, mtime ns part, ctime ms, ctime ns part (consistency.ts compares these).
 */
export type HeldArgs = [reply: object | null, expect: Float64Array | null]

export interface NativeSys {
  lstat(dirfd: number, name: Buffer, ...rest: [...CheckArgs, Done<{ st: Float64Array }>]): void
  /** lstat of each NUL-separated name in `dirfd`; errs[i] is the errno of the i-th (0: stats has it); st: dirfd's own. */
  lstatEach(dirfd: number, names: Buffer, count: number, cb: Done<{ stats: Float64Array; errs: Int32Array; st: Float64Array }>): void
  /** The names of `dirfd`; st: its fstat, taken before they were read. */
  list(dirfd: number, cb: Done<{ st: Float64Array } & Required<PackedNames>>): void
  /** Opens `first` in `dirfd`, then each NUL-separated name (O_PATH, no symlinks): the caller owns fd; st is taken before the names are listed. */
  walk(dirfd: number, first: Buffer, names: Buffer, count: number, list: boolean, cb: Done<{ fd: number; st: Float64Array } & PackedNames>): void
  /**
   * Opens the regular file `name` in `dirfd` if it is still (dev, ino); one shorter than `below`
   * bytes on an ordinary local filesystem is read whole and closed (data, st after the read);
   * with a sealer, data is the whole view file (header and sealed blocks). With a reply as well,
   * such a file whose st after the read matches `expect` answers that FUSE open itself (a held
   * file): `answered`, without data.
   */
  open(
    dirfd: number,
    name: Buffer,
    dev: number,
    ino: number,
    below: number,
    ...rest: [...SealArgs, ...HeldArgs, ...CheckArgs, Done<{ st: Float64Array; fd?: number; data?: Buffer; answered?: true }>]
  ): void
  /**
   * `length` bytes from `position` (fewer at end of file); st: fstat after the read. With a
   * sealer, `position` is a block's start and data is those bytes sealed as content blocks.
   */
  pread(fd: number, length: number, position: number, ...rest: [...SealArgs, Done<{ data: Buffer; st: Float64Array }>]): void
  /** Copies and prepares a 64-byte content key; RangeError for another length. */
  sealer(key: Buffer): Sealer
  /** Content blocks of `plain` from block firstBlock, sealed on this thread. */
  sealBlocks(sealer: Sealer, plain: Buffer, firstBlock: number, fileId: Buffer, iv0: Buffer): Buffer
  /** At most n pool threads seal at once (0: no limit). */
  sealThreads(n: number): void
  /** fstat, then close. */
  closeFile(fd: number, cb: Done<{ st: Float64Array }>): void
  readlink(dirfd: number, name: Buffer, cb: Done<{ target: Buffer }>): void
  /** RLIMIT_CORE 0 and PR_SET_DUMPABLE 0: no core dump, no ptrace by non-root. Throws on failure. */
  harden(): void
  /** malloc_trim(0): the heap's free memory back to the system; true when some was. */
  trim(): boolean
  /** _exit(code): ends the process at once, without Node's teardown (stdout and stderr are synchronous on Linux). */
  exitNow(code: number): never
  /** utimensat(AT_FDCWD, path, ..., AT_SYMLINK_NOFOLLOW), to the nanosecond. Throws on failure. */
  utimens(path: Buffer, atimeSec: number, atimeNsec: number, mtimeSec: number, mtimeNsec: number): void
}

const ADDON = 'tsreverse_sys.node'
// From dist/src/native/ (compiled) to the package root.
const ROOT = fileURLToPath(new URL('../../../', import.meta.url))

function load(): unknown {
  const require = createRequire(import.meta.url)
  const tried: string[] = []
  // A local build first (as node-gyp-build): in a checkout it is the current source's; an
  // installed package has one only where its prebuild did not load.
  for (const rel of [`build/Release/${ADDON}`, `prebuilds/${process.platform}-${process.arch}/${ADDON}`]) {
    try {
      return require(ROOT + rel) as unknown
    } catch (e) {
      tried.push(`${rel}: ${(e as Error).message.split('\n')[0]}`)
    }
  }
  throw new Error(`the native addon ${ADDON} does not load (build it: node scripts/build-native.js in ${ROOT}): ${tried.join('; ')}`)
}

/** The addon's exports, untyped: each part of it types its own surface. */
export const addon = load()
export const sys = addon as NativeSys
