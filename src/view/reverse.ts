// The reverse view (spec 6): an encrypted, read-only image of a plaintext tree, computed on
// demand. View paths are resolved to plaintext component by component; every lookup re-checks
// the source (lstat), and the caches only hold mappings that cannot go stale by themselves
// (cipher path -> plaintext path is a function of the names; a directory entry is re-verified
// by lstat before it is used, in the same native job as its use where there is one).
import { constants, promises as fsp } from 'node:fs'
import path from 'node:path'
import { ExitCode, UserError } from '../exitcodes.js'
import { createAesSiv, type AesSiv } from '../format/aes-siv.js'
import { fileHeader, readCipherRange, type CipherRangeSource } from '../format/content.js'
import { CorruptError } from '../format/errors.js'
import { deriveKeys, type DerivedKeys } from '../format/keys.js'
import {
  CONF_NAME,
  DIRIV_NAME,
  LONGNAME_SUFFIX,
  NameCipher,
  REVERSE_CONF_NAME,
  isLongNameFile,
  isLongNameHash,
  longNameFileTarget,
  validPlainName,
} from '../format/names.js'
import { derivePathIv, symlinkIvPath } from '../format/pathiv.js'
import type { FormatSettings } from '../format/settings.js'
import { PLAIN_BLOCK, plainToCipherSize } from '../format/sizes.js'
import { SYMLINK_TARGET_MAX, encryptSymlinkTarget, encryptedTargetLength } from '../format/symlink.js'
import { toAttr, type Owner } from './attrs.js'
import { byteString, bytesOf, readable } from './byte-string.js'
import { DirRules, type Context } from './dir-rules.js'
import type { Excluder } from './exclude.js'
import type { Filter, Visibility } from './filter.js'
import { FsError, type Attr, type DirListing, type FsStats, type ViewFs } from './fs.js'
import { InoMap, InoTag, type Ino } from './inomap.js'
import { ListingBuilder, putIno } from './listing.js'
import { Lru } from './lru.js'
import { ConsistencyWatch, type FileStatus } from './consistency.js'
import { fsStatsOf, joinPath, ownCopy, toFsError } from './source.js'
import { AT_FDCWD, closeFile, createSealer, lstatAt, openAt, preadAt, sealingOf, type Answered, type Sealer } from './source-io.js'
import { stat, type SourceStats } from './stat.js'
import { SourceTree, dirMoved, isDirAt, isDirMoved, sameDir, type DirCheck, type ListedEntry } from './source-tree.js'

export interface ReverseViewOptions {
  /** The plaintext directory (SOURCEDIR). */
  source: string
  settings: FormatSettings
  /** Either the master key (keys derived per settings.hkdf) or the derived keys. */
  masterKey?: Uint8Array
  keys?: DerivedKeys
  /** Content cipher; created from the keys when absent. */
  siv?: AesSiv
  /**
   * File contents are sealed by the native pool thread that reads them (native/seal.c), not
   * with `siv` on this thread.
   */
  nativeSeal?: boolean
  /**
   * The config file in use. The virtual gocryptfs.conf is served only when this is absent or
   * SOURCE/.gocryptfs.reverse.conf; with any other (-config) path that file is an ordinary
   * entry (spec 1.1).
   */
  configPath?: string
  exclude?: Excluder
  /** -filter-from rules; hidden paths behave like excluded ones. */
  filter?: Filter
  /** -exclude-caches, -exclude-if-present: directories holding such a file are hidden (dir-rules.ts). */
  excludeCaches?: boolean
  excludeIfPresent?: string[]
  forceOwner?: Owner
  /** -one-file-system: directories on other devices are shown empty (spec 6.9). */
  oneFileSystem?: boolean
  /** Never list or enter this directory when it lies inside the source (our own mount point). */
  mountpoint?: string
  log?: (msg: string) => void
  /** Lines that report without warning (nothing wrong was served); default: log. */
  info?: (msg: string) => void
  /** -strict-consistency: reads of a file that changed since open fail with EIO (consistency.ts). */
  strictConsistency?: boolean
  /** Entries per cache (directories, files just looked up). */
  cacheSize?: number
  /** Hashed long names the indexes of all directories hold together (LongIndex). */
  longNamesMax?: number
}

/** A directory of the view, resolved to the plaintext. */
interface Dir {
  cPath: string // view path, no leading slash, '' for the root
  rel: Buffer // plaintext path relative to the source, empty for the root
  abs: Buffer
  dev: number
  ino: number
  birth: number
  iv: Buffer // name tweak for entries inside (unused with plaintext names)
  foreign: boolean // -one-file-system and on another device
  shown: Visibility // under -filter-from: a container lists only what the rules reach
}

interface RealNode {
  kind: 'real'
  dir: Dir // the directory it was found in
  cPath: string
  rel: Buffer
  st: SourceStats
  shown: Visibility
}

type Node = RealNode | { kind: 'diriv'; dir: Dir; st: SourceStats } | { kind: 'longname'; full: string; st: SourceStats } | { kind: 'conf'; st: SourceStats }

interface FileHandleState {
  viewPath: string // for log messages
  fd: number
  dir: Dir
  fileId: Buffer
  iv0: Buffer
  readPlain: (position: number, length: number) => Promise<Buffer>
  watch: ConsistencyWatch
  readSealed?: (firstBlock: number, length: number) => Promise<Buffer>
}

/** Bytes served from memory; `file`: a source file read whole at open, checked at each read as if read then. */
interface DataHandle {
  data: Buffer
  file?: { watch: ConsistencyWatch; status: FileStatus }
}

type Handle = FileHandleState | DataHandle

/**
 * The hashed long names of one directory, from one scan: view name -> index of its plaintext
 * name in `plains` (own copies, packed). A hit needs no check (a hash names one plaintext name;
 * the lstat that follows tells whether it still exists); a miss is final only while the
 * directory's mtime and ctime are still those of `st`, its stat from before the scan read the
 * names, and `settled`.
 */
interface LongIndex {
  st: SourceStats
  /** The directory had not changed for SETTLED_MS when scanned: a change made after the scan shows in its times. */
  settled: boolean
  byHash: Map<string, number>
  plains: Buffer
  offsets: Uint32Array
}

/** How a plaintext name is listed: not at all, as the virtual config file, or by its lstat. */
type EntryKind = 'hidden' | 'conf' | 'lstat'

/** A directory entry as listed; nameFile is the virtual .name file of a hashed entry. */
interface Listed {
  name: string
  node: Node
  nameFile?: Extract<Node, { kind: 'longname' }>
}

/** A real entry that a listing shows, before its name is encrypted. */
interface Unnamed {
  plain: Buffer
  rel: Buffer
  st: SourceStats
  shown: Visibility
}

const ZERO_IV = Buffer.alloc(16)
const S_IFREG_0444 = constants.S_IFREG | 0o444
const DEFAULT_CACHE = 4096
// About 20 MB: 65,536 names of ~200 bytes with their hashes.
const DEFAULT_LONG_NAMES = 65_536
/**
 * Timestamps are as coarse as a jiffy (or 1 to 2 s on some filesystems): a directory changed
 * this recently may change again within the same tick without its times moving.
 */
const SETTLED_MS = 2000
/** Names encrypted between two turns of the event loop, so other requests are answered meanwhile. */
const NAMES_PER_TURN = 4096
/** How long open may start from the lstat a listing or getattr made (the kernel's LOOKUP, then OPEN). */
const LOOKED_UP_MS = 1000
// Entries are useful for a second only; 4,096 of them held about 20 MB more RSS through `ls -lR`.
const LOOKED_UP_MAX = 256
const REVERSE_CONF_BYTES = Buffer.from(REVERSE_CONF_NAME)
/**
 * Files shorter than this are read and sealed whole at open, in the native call that opens them:
 * a small file then costs no call for its read and none for its release. 32 blocks: one FUSE
 * read. Only non-empty files on ordinary local filesystems (openAt): elsewhere a read may have
 * side effects (/proc/kmsg), so nothing is read before a reader asks.
 */
const WHOLE_BELOW = 32 * PLAIN_BLOCK
// Bounds what open handles of such files hold (a program may keep many open without reading).
const WHOLE_MAX_BYTES = 32 * 1024 * 1024
// The config file served as gocryptfs.conf is read whole; a real one is well under 1 KiB.
const CONF_MAX_BYTES = 64 * 1024

export class ReverseView implements ViewFs {
  readonly #settings: FormatSettings
  readonly #names: NameCipher | undefined
  readonly #siv: AesSiv
  readonly #seal: CipherRangeSource['seal']
  readonly #sealer: Sealer | undefined
  readonly #exclude: Excluder | undefined
  readonly #filter: Filter | undefined
  /** Per-directory files (markers, dir-merge files), when any are looked for. */
  readonly #rules: DirRules | undefined
  readonly #owner: Owner | undefined
  readonly #log: (msg: string) => void
  readonly #info: (msg: string) => void
  readonly #sourceAbs: Buffer
  readonly #tree: SourceTree
  readonly #strict: boolean
  readonly #confAbs: Buffer | undefined
  readonly #mountRel: Buffer | undefined
  readonly #oneFileSystem: boolean
  /** gocryptfs.diriv files exist (encrypted names, not deterministic). */
  readonly #hasDirIv: boolean
  readonly #root: Dir
  readonly #inos: InoMap
  readonly #dirs: Lru<string, Dir>
  /** Per directory (view path), the scan that resolves its hashed names (#findLong). */
  readonly #longIndex: Lru<string, LongIndex>
  /** Scans under way, so concurrent lookups in one directory share one. */
  readonly #scanning = new Map<string, Promise<LongIndex>>()
  /**
   * Files a listing or getattr just resolved, by view path, for the open that follows: it
   * spares open the name decryption and the file's lstat (the parent is still checked). Open checks the file it opens
   * against this lstat (openRegular) and resolves afresh when that fails, so a stale entry
   * never serves another file's bytes.
   */
  readonly #lookedUp: Lru<string, { node: RealNode; at: number }>
  readonly #handles = new Map<number, Handle>()
  #nextHandle = 1
  /** View bytes held by handles of files read whole at open. */
  #wholeBytes = 0
  /** Logged once: the config file is not a regular file (#confStat). */
  #confRefused = false

  private constructor(opts: ReverseViewOptions, sourceAbs: string, rootSt: SourceStats, mountRel: string | undefined, confAbs: string | undefined) {
    const keys = opts.keys ?? (opts.masterKey && deriveKeys(opts.masterKey, { hkdf: opts.settings.hkdf }))
    if (!keys) throw new TypeError('ReverseView needs masterKey or keys')
    this.#settings = opts.settings
    this.#names = opts.settings.plaintextNames
      ? undefined
      : new NameCipher(keys.eme, {
          raw64: opts.settings.raw64,
          longNameMax: opts.settings.longNameMax,
          longNames: opts.settings.longNames,
        })
    this.#siv = opts.siv ?? createAesSiv(keys.siv)
    this.#seal = (plain, first, fileId, iv0) => this.#siv.sealBlocks(plain, first, fileId, iv0)
    this.#sealer = opts.nativeSeal ? createSealer(keys.siv) : undefined
    this.#exclude = opts.exclude
    this.#filter = opts.filter
    this.#owner = opts.forceOwner
    this.#log = opts.log ?? (() => {})
    this.#info = opts.info ?? this.#log
    this.#sourceAbs = Buffer.from(sourceAbs)
    this.#tree = new SourceTree(this.#sourceAbs)
    this.#strict = opts.strictConsistency ?? false
    this.#confAbs = confAbs === undefined ? undefined : Buffer.from(confAbs)
    this.#mountRel = mountRel === undefined ? undefined : Buffer.from(mountRel)
    this.#inos = new InoMap(rootSt.dev)
    this.#root = {
      cPath: '',
      rel: Buffer.alloc(0),
      abs: this.#sourceAbs,
      dev: rootSt.dev,
      ino: rootSt.ino,
      birth: rootSt.birthtimeMs,
      iv: this.#dirIv(''),
      foreign: false,
      shown: 'included',
    }
    this.#oneFileSystem = opts.oneFileSystem ?? false
    this.#hasDirIv = opts.settings.dirIv && !opts.settings.plaintextNames
    const cap = opts.cacheSize ?? DEFAULT_CACHE
    this.#dirs = new Lru(cap)
    this.#longIndex = new Lru(opts.longNamesMax ?? DEFAULT_LONG_NAMES, undefined, (index) => index.byHash.size || 1)
    this.#lookedUp = new Lru(Math.min(cap, LOOKED_UP_MAX))
    const rulesOpts = { filter: opts.filter, excludeCaches: opts.excludeCaches ?? false, excludeIfPresent: opts.excludeIfPresent ?? [] }
    this.#rules = DirRules.needed(rulesOpts) ? new DirRules({ ...rulesOpts, tree: this.#tree, root: this.#root, log: this.#log, cacheSize: cap }) : undefined
  }

  /**
   * Resolves the source (it must be a directory; otherwise UserError with gocryptfs' exit code
   * 6) and the mount point's place inside it.
   */
  static async create(opts: ReverseViewOptions): Promise<ReverseView> {
    let sourceAbs: string
    let rootSt: SourceStats
    try {
      sourceAbs = await fsp.realpath(opts.source)
      rootSt = await stat(sourceAbs)
    } catch (e) {
      throw new UserError(`Invalid source directory ${opts.source}: ${(e as Error).message}`, ExitCode.CipherDir)
    }
    if (!rootSt.isDirectory()) throw new UserError(`${opts.source} is not a directory`, ExitCode.CipherDir)
    let mountRel: string | undefined
    if (opts.mountpoint !== undefined) {
      // A mount point that does not exist (yet) is compared as given.
      const mp = await fsp.realpath(opts.mountpoint).catch(() => path.resolve(opts.mountpoint!))
      const rel = path.relative(sourceAbs, mp)
      if (rel !== '' && rel !== '..' && !rel.startsWith('../') && !path.isAbsolute(rel)) mountRel = rel
    }
    const defaultConf = path.join(sourceAbs, REVERSE_CONF_NAME)
    const servesConf = opts.configPath === undefined || path.resolve(opts.configPath) === defaultConf
    // Where the config is now, symlinks resolved: later only a regular file there is served.
    const confAbs = servesConf ? await fsp.realpath(defaultConf).catch(() => defaultConf) : undefined
    return new ReverseView(opts, sourceAbs, rootSt, mountRel, confAbs)
  }

  // ---- ViewFs ----

  async getattr(viewPath: string): Promise<Attr> {
    try {
      const at = performance.now()
      const node = await this.#resolve(viewPath)
      this.#remember(viewPath, node, at)
      return await this.#attr(node)
    } catch (e) {
      throw this.#fail(e, 'getattr', viewPath)
    }
  }

  async readdir(viewPath: string): Promise<DirListing> {
    try {
      return await this.#readdir(await this.#dir(components(viewPath)))
    } catch (e) {
      throw this.#fail(e, 'readdir', viewPath)
    }
  }

  async readlink(viewPath: string): Promise<string> {
    try {
      const node = await this.#resolve(viewPath)
      if (node.kind !== 'real' || !node.st.isSymbolicLink()) throw new FsError('EINVAL')
      const target = await this.#tree.readLink(node.dir, node.rel)
      if (this.#settings.plaintextNames) return byteString(target)
      if (encryptedTargetLength(target.length, this.#settings.raw64) > SYMLINK_TARGET_MAX) {
        throw new FsError('ENAMETOOLONG')
      }
      return this.#encryptTarget(node, target)
    } catch (e) {
      throw this.#fail(e, 'readlink', viewPath)
    }
  }

  async open(viewPath: string): Promise<number> {
    // Without a reply to answer, there is always a handle.
    return (await this.#openAs(viewPath))!
  }

  /**
   * open, for the FUSE open `reply` (the binding's Request): with native sealing, a small file
   * read and sealed whole at open whose fstat after the read still shows its lookup's size and
   * times goes to the binding as a held file from the pool thread that read it, which answers
   * `reply`: undefined then. Anything else resolves as open does.
   */
  openHeld(viewPath: string, reply: object): Promise<number | undefined> {
    return this.#openAs(viewPath, this.#sealer && reply)
  }

  async #openAs(viewPath: string, reply?: object): Promise<number | undefined> {
    try {
      const handle = (await this.#openRecent(viewPath, reply)) ?? (await this.#open(viewPath, await this.#resolve(viewPath), undefined, reply))
      if ('answered' in handle) return undefined
      const id = this.#nextHandle++
      this.#handles.set(id, handle)
      return id
    } catch (e) {
      throw this.#fail(e, 'open', viewPath)
    }
  }

  async read(handle: number, target: Buffer, length: number, position: number): Promise<number> {
    const h = this.#handles.get(handle)
    if (!h) throw new FsError('EBADF')
    if ('data' in h) {
      h.file?.watch.afterRead(h.file.status)
      if (position >= h.data.length) return 0
      return h.data.copy(target, 0, position, Math.min(h.data.length, position + length))
    }
    try {
      h.watch.beforeRead()
      return await readCipherRange(
        {
          offset: position,
          length,
          fileId: h.fileId,
          iv0: h.iv0,
          readPlain: h.readPlain,
          readSealed: h.readSealed,
          seal: this.#seal,
        },
        target,
      )
    } catch (e) {
      throw this.#fail(e, 'read', h.viewPath)
    }
  }

  async release(handle: number): Promise<void> {
    const h = this.#handles.get(handle)
    if (!h) throw new FsError('EBADF')
    this.#handles.delete(handle)
    if ('fd' in h) {
      try {
        h.watch.atRelease(await this.#tree.release(h.fd))
      } catch (e) {
        throw this.#fail(e, 'release', h.viewPath)
      }
    } else if (h.file) this.#wholeBytes -= h.data.length
  }

  /**
   * The whole view file of a handle that holds it in memory, handed over with the handle: the
   * caller answers its reads and its release. Undefined when the handle holds no such bytes, or
   * when its reads must fail (-strict-consistency, the file changed before it was read): those
   * stay here.
   */
  takeData(handle: number): Buffer | undefined {
    const h = this.#handles.get(handle)
    if (!h || !('data' in h)) return undefined
    if (h.file) {
      try {
        // As if read now: the bytes were taken at open.
        h.file.watch.afterRead(h.file.status)
      } catch {
        return undefined
      }
    }
    this.#handles.delete(handle)
    if (h.file) this.#wholeBytes -= h.data.length
    return h.data
  }

  async statfs(): Promise<FsStats> {
    try {
      return await fsStatsOf(this.#sourceAbs.toString(), 255)
    } catch (e) {
      throw this.#fail(e, 'statfs', '/')
    }
  }

  // ---- resolution ----

  #fail(e: unknown, op: string, viewPath: string): FsError {
    return toFsError(e, `${op} ${readable(viewPath)}`, this.#log)
  }

  async #resolve(viewPath: string): Promise<Node> {
    const comps = components(viewPath)
    if (comps.length === 0) {
      const st = await lstatAt(AT_FDCWD, this.#root.abs)
      return { kind: 'real', dir: this.#root, cPath: '', rel: this.#root.rel, st, shown: 'included' }
    }
    return this.#lookupIn(comps.slice(0, -1), comps[comps.length - 1]!)
  }

  /**
   * The entry `name` of the directory at view components `comps`. A cached directory is
   * checked in the same hop as the entry's lstat (DirCheck) rather than before it; when it
   * moved, it is resolved afresh as #dir would.
   */
  async #lookupIn(comps: string[], name: string): Promise<Node> {
    const key = comps.join('/')
    const cached = comps.length === 0 ? undefined : this.#dirs.get(key)
    if (cached) {
      try {
        return await this.#lookup(cached, name, this.#checkOf(cached))
      } catch (e) {
        if (!isDirMoved(e)) throw e
        this.#dirs.delete(key)
      }
    }
    return this.#lookup(await this.#dir(comps), name)
  }

  /** What a cached directory must still be at its path; the root needs no check (nothing resolves it). */
  #checkOf(dir: Dir): DirCheck | undefined {
    return dir === this.#root ? undefined : { path: dir.abs, dev: dir.dev, ino: dir.ino, birth: dir.birth }
  }

  /** The directory at these view components, from the cache when it still holds. */
  async #dir(comps: string[]): Promise<Dir> {
    if (comps.length === 0) return this.#root
    const key = comps.join('/')
    const cached = this.#dirs.get(key)
    if (cached) {
      if (await this.#tree.isDirStill(this.#checkOf(cached)!)) return cached
      this.#dirs.delete(key)
    }
    const node = await this.#lookupIn(comps.slice(0, -1), comps[comps.length - 1]!)
    if (node.kind !== 'real' || !node.st.isDirectory()) throw new FsError('ENOTDIR')
    // Copied out of Node's shared 8 KiB slabs, or the full cache keeps one or two per entry
    // (in the soak: 2,576 slabs, 20 MiB, at 4,096 entries). rel is the tail of abs.
    const abs = ownCopy(joinPath(this.#sourceAbs, node.rel))
    const dir: Dir = {
      cPath: node.cPath,
      rel: abs.subarray(abs.length - node.rel.length),
      abs,
      dev: node.st.dev,
      ino: node.st.ino,
      birth: node.st.birthtimeMs,
      iv: this.#dirIv(node.cPath),
      foreign: this.#oneFileSystem && node.st.dev !== this.#root.dev,
      shown: node.shown,
    }
    this.#dirs.set(key, dir)
    return dir
  }

  #remember(viewPath: string, node: Node, at: number): void {
    if (node.kind === 'real' && node.st.isFile()) this.#lookedUp.set(viewPath, { node, at })
  }

  /**
   * Opens the file a listing or getattr resolved within LOOKED_UP_MS. Undefined when there is
   * none or it failed (gone, or another file by now): the caller then resolves afresh, exactly
   * as without this shortcut.
   */
  async #openRecent(viewPath: string, reply?: object): Promise<Handle | Answered | undefined> {
    const recent = this.#lookedUp.get(viewPath)
    if (recent === undefined || performance.now() - recent.at >= LOOKED_UP_MS) return undefined
    try {
      // The parent is checked as every walk checks it (in the hop that opens the file):
      // swapped for a symlink or another directory, it fails here.
      return await this.#open(viewPath, recent.node, this.#checkOf(recent.node.dir), reply)
    } catch {
      this.#lookedUp.delete(viewPath)
      return undefined
    }
  }

  #dirIv(cPath: string): Buffer {
    return this.#settings.dirIv ? derivePathIv(cPath, 'DIRIV') : ZERO_IV
  }

  /**
   * One view name inside `dir` (spec 5.5, 6.3), after `check` when given (DIR_MOVED when it
   * fails). Names answered without touching the source (invalid, hidden) skip the check.
   */
  async #lookup(dir: Dir, name: string, check?: DirCheck): Promise<Node> {
    if (this.#hasDirIv && name === DIRIV_NAME) {
      const st = await lstatAt(AT_FDCWD, dir.abs)
      if (check && !isDirAt(st, check)) throw dirMoved()
      // A per-directory file may have hidden dir since it was resolved.
      await this.#context(dir)
      return { kind: 'diriv', dir, st }
    }
    if (dir.foreign) throw new FsError('ENOENT')
    // Checked before exclusion: like 2.3, an excluded .gocryptfs.reverse.conf is only unlisted.
    if (dir.cPath === '' && this.#confAbs && name === CONF_NAME) {
      return { kind: 'conf', st: await this.#confStat() }
    }
    const names = this.#names
    let plain: Buffer
    if (!names) {
      plain = bytesOf(name)
      if (!validPlainName(plain)) throw new FsError('ENOENT')
    } else if (isLongNameFile(name)) {
      const target = longNameFileTarget(name)
      if (!isLongNameHash(target)) throw new FsError('ENOENT')
      const found = await this.#findLong(dir, target, check)
      const { full, st } = await this.#lookupReal(dir, target, { plain: found, full: names.encryptName(found, dir.iv) }, check)
      return { kind: 'longname', full, st }
    } else if (isLongNameHash(name)) {
      plain = await this.#findLong(dir, name, check)
    } else {
      try {
        plain = names.decryptName(name, dir.iv)
      } catch (e) {
        if (e instanceof CorruptError) throw new FsError('ENOENT')
        throw e
      }
      // The full spelling of a name the view shows hashed is not an alias for it.
      if (names.isLong(name)) throw new FsError('ENOENT')
    }
    return (await this.#lookupReal(dir, name, { plain, full: name }, check)).node
  }

  async #lookupReal(
    dir: Dir,
    name: string,
    found: { plain: Buffer; full: string },
    check: DirCheck | undefined,
  ): Promise<{ node: RealNode; full: string; st: SourceStats }> {
    const rel = joinPath(dir.rel, found.plain)
    if (this.#hidden(rel)) throw new FsError('EPERM')
    const st = await this.#tree.lstat(dir, rel, check)
    // Per-directory rules after the lstat, which checked that dir is still there.
    const shown = this.#shown(dir, rel, st, await this.#context(dir))
    if (shown === undefined || (this.#rules && (await this.#rules.marked(dir, [{ rel, st }])).size > 0)) throw new FsError('EPERM')
    const cPath = dir.cPath === '' ? name : `${dir.cPath}/${name}`
    return { node: { kind: 'real', dir, cPath, rel, st, shown }, full: found.full, st }
  }

  #hidden(rel: Buffer): boolean {
    return (this.#mountRel !== undefined && rel.equals(this.#mountRel)) || (this.#exclude?.isExcluded(rel) ?? false)
  }

  /**
   * How an entry of `dir` shows under -filter-from (it needs the type); undefined: hidden. `ctx`:
   * dir's per-directory rules and visibility as they are now (#context).
   */
  #shown(dir: Dir, rel: Buffer, st: SourceStats, ctx?: Context): Visibility | undefined {
    return this.#filter ? this.#filter.visibility(rel, st.isDirectory(), ctx?.shown ?? dir.shown, ctx?.scope) : 'included'
  }

  /** What per-directory files say inside `dir` now; EPERM when they hide it or a directory above. */
  async #context(dir: Dir): Promise<Context | undefined> {
    if (!this.#rules) return undefined
    const ctx = await this.#rules.context(dir)
    if (!ctx) throw new FsError('EPERM')
    return ctx
  }

  /**
   * The plaintext name behind gocryptfs.longname.<hash>: found by encrypting the long names of
   * the plaintext directory, once per directory while it does not change (LongIndex).
   */
  async #findLong(dir: Dir, hash: string, check: DirCheck | undefined): Promise<Buffer> {
    let index = this.#longIndex.get(dir.cPath)
    if (index && !sameDir(dirIdOf(index.st), dir)) index = undefined
    const hit = index && plainOf(index, hash)
    if (hit) return hit
    // The scan goes through the walk alone, so the directory is checked here first.
    const st = await lstatAt(AT_FDCWD, dir.abs).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return undefined
      throw e
    })
    const here = isDirAt(st, dir)
    if (check && !here) throw dirMoved()
    if (!(here && index?.settled && sameTimes(st!, index.st))) index = await this.#scanLongs(dir)
    let found = plainOf(index, hash)
    // A scan already under way may have read the names before the stat above: what it missed
    // shows in the times, and one scan begun now finds it.
    if (!found && here && !sameTimes(st!, index.st)) found = plainOf(await this.#scanLongs(dir), hash)
    if (!found) throw new FsError('ENOENT')
    return found
  }

  /** One scan of `dir`'s long names, shared by the lookups that wait for it. */
  #scanLongs(dir: Dir): Promise<LongIndex> {
    const key = dir.cPath
    let scan = this.#scanning.get(key)
    if (!scan) {
      scan = this.#indexLongs(dir).finally(() => this.#scanning.delete(key))
      this.#scanning.set(key, scan)
    }
    return scan
  }

  async #indexLongs(dir: Dir): Promise<LongIndex> {
    const started = Date.now()
    const { names: all, st } = await this.#tree.listDir(dir)
    const names = this.#names!
    // Copied: a subarray would keep the whole listing's buffer alive with the index.
    const longs = all.filter((plain) => names.isLongPlainLength(plain.length) && validPlainName(plain))
    const plains = Buffer.concat(longs)
    const offsets = new Uint32Array(longs.length + 1)
    for (let i = 0; i < longs.length; i++) offsets[i + 1] = offsets[i]! + longs[i]!.length
    const byHash = new Map<string, number>()
    for (let from = 0; from < longs.length; from += NAMES_PER_TURN) {
      if (from > 0) await nextTurn()
      names.viewNames(longs.slice(from, from + NAMES_PER_TURN), dir.iv).forEach((v, i) => byHash.set(v.name, from + i))
    }
    const index = { st, settled: st.ctimeMs < started - SETTLED_MS, byHash, plains, offsets }
    this.#longIndex.set(dir.cPath, index)
    return index
  }

  /** The full encrypted spelling behind the hashed name `hash` in the view directory `viewDir` (-ctlsock). */
  async longName(viewDir: string, hash: string): Promise<string> {
    const dir = await this.#dir(components(viewDir))
    return this.#names!.encryptName(await this.#findLong(dir, hash, undefined), dir.iv)
  }

  // ---- attributes ----

  /** A promise only where the size needs a syscall (#viewSize): listings stay synchronous. */
  #attr(node: Node): Attr | Promise<Attr> {
    const owner = this.#owner
    const st = node.st
    switch (node.kind) {
      case 'real': {
        const ino = this.#inos.ino(st.dev, InoTag.Real, st.ino)
        const size = this.#viewSize(node)
        return typeof size === 'number' ? toAttr(st, { ino, size }, owner) : size.then((n) => toAttr(st, { ino, size: n }, owner))
      }
      case 'diriv':
        return toAttr(st, { ino: this.#inos.ino(st.dev, InoTag.DirIv, st.ino), mode: S_IFREG_0444, nlink: 1, size: 16 }, owner)
      case 'longname':
        return this.#nameFileAttr(node, this.#inos.ino(st.dev, InoTag.LongName, st.ino))
      case 'conf':
        return toAttr(st, { ino: this.#inos.ino(st.dev, InoTag.Real, st.ino) }, owner)
    }
  }

  #nameFileAttr(node: { full: string; st: SourceStats }, ino: Ino): Attr {
    return toAttr(node.st, { ino, mode: S_IFREG_0444, nlink: 1, size: node.full.length }, this.#owner)
  }

  /** st_size in the view: ciphertext size of files, encoded target length of symlinks (spec 6.4). */
  #viewSize(node: RealNode): number | Promise<number> {
    const st = node.st
    if (st.isFile()) return plainToCipherSize(st.size)
    if (!st.isSymbolicLink() || this.#settings.plaintextNames) return st.size
    // Linux reports a symlink's target length as its size; gocryptfs reads the link instead,
    // which costs a syscall and touches the link's atime. Read it only where the size is 0.
    if (st.size > 0) return this.#targetSize(st.size)
    return this.#tree.readLink(node.dir, node.rel).then((target) => this.#targetSize(target.length))
  }

  #targetSize(plainLen: number): number {
    const len = encryptedTargetLength(plainLen, this.#settings.raw64)
    return len > SYMLINK_TARGET_MAX ? 0 : len
  }

  #encryptTarget(node: RealNode, target: Buffer): string {
    const nonce = derivePathIv(symlinkIvPath(node.cPath), 'SYMLINKIV')
    return encryptSymlinkTarget(this.#siv, target, nonce, this.#settings.raw64)
  }

  // ---- listings ----

  /**
   * Spec 6.2: entries in getdents order minus hidden ones, then gocryptfs.diriv, then .name
   * files. Built a chunk of entries at a time (listEntries), with a turn of the event loop after
   * each, so other requests are answered meanwhile; only its packed names and attributes
   * (ListingBuilder) outlive it.
   */
  async #readdir(dir: Dir): Promise<DirListing> {
    const at = performance.now()
    const listing = new ListingBuilder()
    // The .name files, their inode numbers set at the end: (dev, ino) of each entry's lstat.
    const nameFiles = new ListingBuilder()
    const nameFileInos: number[] = []
    // The stat of the directory the listing read, for gocryptfs.diriv.
    let dirSt: SourceStats | undefined
    if (!dir.foreign) {
      // Names and types come from the directory the walk reached, never through a swapped symlink.
      let kinds: EntryKind[] = []
      let rels: Buffer[] = []
      const wanted = (plain: Buffer): boolean => {
        const rel = joinPath(dir.rel, plain)
        const kind = this.#entryKind(dir, plain, rel)
        kinds.push(kind)
        rels.push(rel)
        // The per-directory files are read even where they are not shown.
        return kind === 'lstat' || (this.#rules?.wants(plain) ?? false)
      }
      // The directory's own rules first: a listing comes in chunks, and each chunk is shown by them.
      const ctx = await this.#context(dir)
      dirSt = await this.#tree.listEntries(dir, wanted, async (entries) => {
        // Shown entries first, then their names in one batch (#nameAll).
        let shown: (Unnamed | Listed)[] = []
        for (let i = 0; i < entries.length; i++) {
          const kind = kinds[i]!
          if (kind === 'hidden') continue
          const e = kind === 'conf' ? await this.#listConf(dir, rels[i]!, ctx) : this.#listEntry(dir, entries[i]!, rels[i]!, ctx)
          if (e) shown.push(e)
        }
        kinds = []
        rels = []
        if (this.#rules) {
          // Only directories are looked into: no syscall for a file.
          const marked = await this.#rules.marked(
            dir,
            shown.filter((e): e is Unnamed => 'plain' in e),
          )
          if (marked.size > 0) shown = shown.filter((e) => !marked.has(e as Unnamed))
        }
        const named = this.#nameAll(dir, shown)
        const attrs = named.map((e) => this.#attr(e.node))
        const settled = attrs.some((a) => a instanceof Promise) ? await Promise.all(attrs) : (attrs as Attr[])
        named.forEach((e, i) => {
          listing.add(e.name, settled[i]!)
          if (e.node.kind === 'real') this.#remember(`/${e.node.cPath}`, e.node, at)
          if (e.nameFile) {
            // Its inode number only at the end, after gocryptfs.diriv's: inode namespaces go in
            // order of first use, as in gocryptfs.
            nameFiles.add(e.name + LONGNAME_SUFFIX, this.#nameFileAttr(e.nameFile, 0))
            nameFileInos.push(e.nameFile.st.dev, e.nameFile.st.ino)
          }
        })
        await nextTurn()
      })
    }
    if (this.#hasDirIv) {
      listing.add(DIRIV_NAME, await this.#attr({ kind: 'diriv', dir, st: dirSt ?? (await lstatAt(AT_FDCWD, dir.abs)) }))
    }
    const more = nameFiles.finish()
    let i = 0
    for (const chunk of more.chunks) {
      for (let j = 0; j + 1 < chunk.offsets.length; j++, i += 2) {
        putIno(chunk.attrs, j, this.#inos.ino(nameFileInos[i]!, InoTag.LongName, nameFileInos[i + 1]!))
      }
    }
    return listing.finish(more)
  }

  /** How a plaintext name of `dir` is listed; hidden ones are not even lstat'ed. */
  #entryKind(dir: Dir, plain: Buffer, rel: Buffer): EntryKind {
    if (this.#hidden(rel)) return 'hidden'
    const confAbs = dir.cPath === '' ? this.#confAbs : undefined
    if (confAbs && plain.equals(REVERSE_CONF_BYTES)) return 'conf'
    if (!this.#names && confAbs && byteString(plain) === CONF_NAME) {
      this.#log(`readdir /: not listing the plaintext file ${CONF_NAME}, the config file is shown under that name`)
      return 'hidden'
    }
    return 'lstat'
  }

  /**
   * The lstat of the config file the view serves as gocryptfs.conf: the file found at mount,
   * symlinks resolved then, and only while a regular file is there. gocryptfs follows a symlink
   * each time, so whoever may write in SOURCE's root could swap in a link to any file the daemon
   * can read and have it served unencrypted.
   */
  async #confStat(): Promise<SourceStats> {
    const st = await lstatAt(AT_FDCWD, this.#confAbs!)
    if (st.isFile()) return st
    if (!this.#confRefused) this.#log(`not serving ${CONF_NAME}: ${readable(this.#confAbs!)} is no longer a regular file`)
    this.#confRefused = true
    throw new FsError('ENOENT')
  }

  /** The virtual config file, listed in place of SOURCE/.gocryptfs.reverse.conf (`rel`). */
  async #listConf(dir: Dir, rel: Buffer, ctx: Context | undefined): Promise<Listed | undefined> {
    const st = await this.#confStat().catch((e: unknown) => this.#unlisted(e))
    return st && this.#shown(dir, rel, st, ctx) ? { name: CONF_NAME, node: { kind: 'conf', st } } : undefined
  }

  /** One plaintext entry of `dir` (at `rel`) to list, or undefined when hidden or vanished meanwhile. */
  #listEntry(dir: Dir, entry: ListedEntry, rel: Buffer, ctx: Context | undefined): Unnamed | undefined {
    const st = entry.st
    if (!st) return this.#unlisted(entry.error)
    // The name is encrypted only once the filter (which needs the type) shows the entry.
    const shown = this.#shown(dir, rel, st, ctx)
    return shown ? { plain: entry.name, rel, st, shown } : undefined
  }

  /** The entries with their view names, in the same order; those that have none are left out. */
  #nameAll(dir: Dir, entries: readonly (Unnamed | Listed)[]): Listed[] {
    const unnamed = entries.filter((e): e is Unnamed => 'plain' in e)
    const views = this.#entryNames(
      dir,
      unnamed.map((e) => e.plain),
    )
    const listed: Listed[] = []
    for (let i = 0, u = 0; i < entries.length; i++) {
      const e = entries[i]!
      if (!('plain' in e)) {
        listed.push(e)
        continue
      }
      const view = views[u++]
      if (!view) continue
      const cPath = dir.cPath === '' ? view.name : `${dir.cPath}/${view.name}`
      listed.push({
        name: view.name,
        node: { kind: 'real', dir, cPath, rel: e.rel, st: e.st, shown: e.shown },
        nameFile: view.full === undefined ? undefined : { kind: 'longname', full: view.full, st: e.st },
      })
    }
    return listed
  }

  /** Removed since getdents: not listed. Anything else is worth a log line but not the listing. */
  #unlisted(e: unknown): undefined {
    if ((e as NodeJS.ErrnoException | undefined)?.code !== 'ENOENT') this.#log(`readdir: ${(e as Error).message}`)
    return undefined
  }

  /**
   * The view names of a listing's plaintext names (full: the name behind a hashed one), one
   * batch of name encryption for all; undefined for a name that has none (logged).
   */
  #entryNames(dir: Dir, plains: readonly Buffer[]): ({ name: string; full?: string } | undefined)[] {
    const names = this.#names
    if (!names) return plains.map((p) => ({ name: byteString(p) }))
    const valid = plains.filter((p) => validPlainName(p))
    const views = names.viewNames(valid, dir.iv)
    let v = 0
    return plains.map((plain) => {
      if (valid[v] !== plain) {
        this.#log(`readdir /${readable(dir.cPath)}: cannot encrypt an entry name: invalid plaintext name`)
        return undefined
      }
      const view = views[v++]!
      return view.name === view.full ? { name: view.name } : view
    })
  }

  // ---- open ----

  /** Opens `node`, after `check` when given (DIR_MOVED when it fails); `reply` as openHeld. */
  async #open(viewPath: string, node: Node, check?: DirCheck, reply?: object): Promise<Handle | Answered> {
    switch (node.kind) {
      case 'diriv':
        return { data: node.dir.iv }
      case 'longname':
        return { data: Buffer.from(node.full, 'latin1') }
      case 'conf':
        return { data: await this.#readConf(node.st) }
      case 'real':
        break
    }
    const st = node.st
    if (st.isDirectory()) throw new FsError('EISDIR')
    if (st.isSymbolicLink()) throw new FsError('ELOOP')
    // gocryptfs refuses everything but regular files; FIFOs and devices are opened by the kernel.
    if (!st.isFile()) throw new FsError('EACCES')
    const ivPath = this.#settings.plaintextNames ? node.rel : node.cPath
    const fileId = derivePathIv(ivPath, 'FILEID')
    const iv0 = derivePathIv(ivPath, 'BLOCK0IV')
    const below = this.#wholeBytes < WHOLE_MAX_BYTES ? WHOLE_BELOW : 0
    const sealing = this.#sealer && sealingOf(this.#sealer, fileId, iv0)
    const held = reply && { reply, looked: st }
    const opened = await this.#tree.openRegular(node.dir, node.rel, st, below, check, sealing, held)
    if ('answered' in opened) return opened
    const what = `${readable(viewPath)} (plaintext ${readable(node.rel)})`
    const watch = new ConsistencyWatch(st, what, { strict: this.#strict, log: this.#log, info: this.#info })
    if ('data' in opened) {
      // An empty file has no header either (spec 6.11); the native call reads only non-empty ones.
      const data = sealing ? opened.data : Buffer.concat([fileHeader(fileId), this.#siv.sealBlocks(opened.data, 0, fileId, iv0)])
      this.#wholeBytes += data.length
      return { data, file: { watch, status: opened.status } }
    }
    const { fd } = opened
    // Either way the fstat taken right after the pread is checked before the bytes are served.
    const readPlain = async (position: number, length: number): Promise<Buffer> => {
      const { data, status } = await preadAt(fd, length, position)
      watch.afterRead(status)
      return data
    }
    const readSealed =
      sealing &&
      (async (first: number, length: number): Promise<Buffer> => {
        const { data, status } = await preadAt(fd, length, first * PLAIN_BLOCK, sealing)
        watch.afterRead(status)
        return data
      })
    return { viewPath, fd, dir: node.dir, watch, fileId, iv0, readPlain, readSealed }
  }

  /** The config file's bytes, if it is still the file `expected` (its lstat) describes. */
  async #readConf(expected: SourceStats): Promise<Buffer> {
    const opened = await openAt(AT_FDCWD, this.#confAbs!, expected, CONF_MAX_BYTES)
    if ('data' in opened) return opened.data
    // Not read at open: empty, too large, or on a filesystem that is not an ordinary local one.
    try {
      const { data } = await preadAt(opened.fd, CONF_MAX_BYTES + 1, 0)
      if (data.length > CONF_MAX_BYTES) throw new Error(`${readable(this.#confAbs!)} is larger than ${CONF_MAX_BYTES} bytes`)
      return data
    } finally {
      await closeFile(opened.fd)
    }
  }
}

/** The plaintext name an index holds for `hash`. */
function plainOf(index: LongIndex, hash: string): Buffer | undefined {
  const i = index.byHash.get(hash)
  return i === undefined ? undefined : index.plains.subarray(index.offsets[i], index.offsets[i + 1])
}

const dirIdOf = (st: SourceStats): { dev: number; ino: number; birth: number } => ({ dev: st.dev, ino: st.ino, birth: st.birthtimeMs })

const sameTimes = (a: SourceStats, b: SourceStats): boolean =>
  a.mtimeMs === b.mtimeMs && a.mtimeNsPart === b.mtimeNsPart && a.ctimeMs === b.ctimeMs && a.ctimeNsPart === b.ctimeNsPart

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

function components(viewPath: string): string[] {
  return viewPath.split('/').filter((c) => c !== '')
}
