// The forward view: a read-only, decrypted image of a ciphertext tree that was copied out of a
// reverse view. Lookups encrypt the plaintext name (names and IVs are functions of the path,
// spec 4, or stored in the tree's gocryptfs.diriv files), so no directory is scanned to find an
// entry; listings decrypt. Damage never yields
// wrong bytes: a block that fails authentication is EIO for the reader plus one log line, a
// name that does not decrypt is left out of the listing and logged.
import { CorruptError } from '../format/errors.js'
import { NAME_MAX } from '../format/names.js'
import { cipherToPlainSize } from '../format/sizes.js'
import type { CipherFile } from './cipher-file.js'
import type { CipherTree, TreeNode } from './cipher-tree.js'
import { PATH_HINT, contentProblem, formatProblem, pathProblem, type Problem } from './problems.js'
import { toAttr, type Owner } from '../view/attrs.js'
import { byteString, bytesOf, readable } from '../view/byte-string.js'
import { FsError, type Attr, type DirListing, type FsStats, type ViewFs } from '../view/fs.js'
import { listingOf } from '../view/listing.js'
import { InoMap, InoTag } from '../view/inomap.js'
import { Lru } from '../view/lru.js'
import { fsStatsOf, joinPath, toFsError } from '../view/source.js'
import { lstat } from '../view/stat.js'

export interface ForwardViewOptions {
  tree: CipherTree
  forceOwner?: Owner
  log?: (msg: string) => void
  /** Entries per cache (path mappings, reported problems). */
  cacheSize?: number
}

interface FileHandle {
  file: CipherFile
  viewPath: string
  /** For problem reports, which name paths relative to the root like restore and fsck. */
  plainPath: string
  cipherPath: string
}

const DEFAULT_CACHE = 4096
/** Nonce and SIV tag in front of an encrypted symlink target (spec 5.7). */
const SYMLINK_OVERHEAD = 32

export class ForwardView implements ViewFs {
  readonly #tree: CipherTree
  readonly #owner: Owner | undefined
  readonly #log: (msg: string) => void
  readonly #inos: InoMap
  /** View path -> ciphertext path: a pure function of the names, so it never goes stale. */
  readonly #cipherRels: Lru<string, Buffer>
  /** Problems already logged: repeated listings and reads (the kernel retries page by page) log once. */
  readonly #reported: Lru<string, true>
  readonly #handles = new Map<number, FileHandle>()
  #nextHandle = 1
  /** PATH_HINT is logged once, with the first problem it may explain. */
  #hinted = false

  private constructor(opts: ForwardViewOptions, rootDev: number) {
    this.#tree = opts.tree
    this.#owner = opts.forceOwner
    this.#log = opts.log ?? (() => {})
    this.#inos = new InoMap(rootDev)
    const cap = opts.cacheSize ?? DEFAULT_CACHE
    this.#cipherRels = new Lru(cap)
    this.#reported = new Lru(cap)
  }

  static async create(opts: ForwardViewOptions): Promise<ForwardView> {
    return new ForwardView(opts, (await opts.tree.rootNode()).st.dev)
  }

  // ---- ViewFs ----

  async getattr(viewPath: string): Promise<Attr> {
    try {
      return await this.#attr(await this.#resolve(viewPath))
    } catch (e) {
      throw this.#fail(e, 'getattr', viewPath)
    }
  }

  async readdir(viewPath: string): Promise<DirListing> {
    try {
      const dir = await this.#resolve(viewPath)
      if (!dir.st.isDirectory()) throw new FsError('ENOTDIR')
      const { entries, problems } = await this.#tree.list(dir)
      for (const p of problems) this.#report(p)
      const names = entries.map((e) => e.plain.subarray(e.plain.lastIndexOf(0x2f) + 1))
      return listingOf(names, await Promise.all(entries.map((e) => this.#attr(e))))
    } catch (e) {
      throw this.#fail(e, 'readdir', viewPath)
    }
  }

  async readlink(viewPath: string): Promise<string> {
    let node: TreeNode | undefined
    try {
      node = await this.#resolve(viewPath)
      if (!node.st.isSymbolicLink()) throw new FsError('EINVAL')
      return byteString(await this.#tree.readTarget(node))
    } catch (e) {
      if (node && e instanceof CorruptError) {
        this.#report(contentProblem(e, readable(node.plain), readable(node.rel), true))
        throw new FsError('EIO')
      }
      throw this.#fail(e, 'readlink', viewPath)
    }
  }

  async open(viewPath: string): Promise<number> {
    let node: TreeNode | undefined
    try {
      node = await this.#resolve(viewPath)
      const st = node.st
      if (st.isDirectory()) throw new FsError('EISDIR')
      if (st.isSymbolicLink()) throw new FsError('ELOOP')
      // FIFOs and devices are opened by the kernel; anything else reaching us is refused.
      if (!st.isFile()) throw new FsError('EACCES')
      const file = await this.#tree.openFile(node)
      const id = this.#nextHandle++
      this.#handles.set(id, { file, viewPath, plainPath: readable(node.plain), cipherPath: readable(node.rel) })
      return id
    } catch (e) {
      if (node && e instanceof CorruptError) {
        this.#report(contentProblem(e, readable(node.plain), readable(node.rel)))
        throw new FsError('EIO')
      }
      throw this.#fail(e, 'open', viewPath)
    }
  }

  async read(handle: number, target: Buffer, length: number, position: number): Promise<number> {
    const h = this.#handles.get(handle)
    if (!h) throw new FsError('EBADF')
    try {
      return (await h.file.read(position, length)).copy(target)
    } catch (e) {
      if (e instanceof CorruptError) {
        // Never a short read here: FUSE takes it for end of file and the reader gets less data silently.
        this.#report(contentProblem(e, h.plainPath, h.cipherPath))
        throw new FsError('EIO')
      }
      throw this.#fail(e, 'read', h.viewPath)
    }
  }

  async release(handle: number): Promise<void> {
    const h = this.#handles.get(handle)
    if (!h) throw new FsError('EBADF')
    this.#handles.delete(handle)
    try {
      await h.file.close()
    } catch (e) {
      throw this.#fail(e, 'release', h.viewPath)
    }
  }

  async statfs(): Promise<FsStats> {
    try {
      return await fsStatsOf(this.#tree.rootAbs, NAME_MAX)
    } catch (e) {
      throw this.#fail(e, 'statfs', '/')
    }
  }

  // ---- internals ----

  #fail(e: unknown, op: string, viewPath: string): FsError {
    return toFsError(e, `forward: ${op} ${readable(viewPath)}`, this.#log)
  }

  #report(p: Problem): void {
    const line = formatProblem(p)
    if (this.#reported.get(line)) return
    this.#reported.set(line, true)
    this.#log(`forward: ${line}`)
    if (!this.#hinted && pathProblem(p) && !this.#tree.storedIvs) {
      this.#hinted = true
      this.#log(`forward: ${PATH_HINT}`)
    }
  }

  async #resolve(viewPath: string): Promise<TreeNode> {
    const k = key(viewPath)
    const rel = await this.#cipherRel(k)
    const abs = joinPath(this.#tree.rootAbs, rel)
    return { rel, plain: bytesOf(k), abs, st: await lstat(abs) }
  }

  /** Ciphertext path of a view path (in key() form), by encrypting each component. */
  async #cipherRel(k: string): Promise<Buffer> {
    if (k === '') return Buffer.alloc(0)
    const cached = this.#cipherRels.get(k)
    if (cached) return cached
    const slash = k.lastIndexOf('/')
    const parent = await this.#cipherRel(slash < 0 ? '' : k.slice(0, slash))
    const name = bytesOf(k.slice(slash + 1))
    if (name.length > NAME_MAX) throw new FsError('ENAMETOOLONG')
    let iv: Buffer
    try {
      iv = await this.#tree.dirIv(parent)
    } catch (e) {
      if (e instanceof CorruptError) throw new FsError('EIO') // the listing reports it
      throw e
    }
    let cName: Buffer
    try {
      cName = this.#tree.mapper.encryptName(parent, name, iv)
    } catch {
      throw new FsError('ENOENT') // not a valid name
    }
    if (this.#tree.isHidden(parent, cName.toString('latin1'))) throw new FsError('ENOENT')
    const rel = joinPath(parent, cName)
    this.#cipherRels.set(k, rel)
    return rel
  }

  async #attr(node: TreeNode): Promise<Attr> {
    const st = node.st
    let size = st.size
    if (st.isFile()) size = cipherToPlainSize(st.size)
    else if (st.isSymbolicLink() && !this.#tree.settings.plaintextNames) size = await this.#targetLength(node)
    return toAttr(st, { ino: this.#inos.ino(st.dev, InoTag.Real, st.ino), size }, this.#owner)
  }

  /**
   * Plaintext length of a symlink target. Linux reports the encoded target's length as the
   * link's size, and unpadded base64 of nonce, tag and target gives it exactly, which spares
   * reading the link (and touching its atime). Padded base64 hides 0-2 bytes: read it then.
   */
  async #targetLength(node: TreeNode): Promise<number> {
    const encoded = node.st.size
    if (this.#tree.settings.raw64 && encoded > 0) return Math.max(0, Math.floor((encoded * 3) / 4) - SYMLINK_OVERHEAD)
    // A target that does not decrypt shows size 0; readlink reports it.
    return this.#tree.readTarget(node).then(
      (t) => t.length,
      () => 0,
    )
  }
}

/** A view path without leading and trailing slashes ('' for the root). */
function key(viewPath: string): string {
  return viewPath
    .split('/')
    .filter((c) => c !== '')
    .join('/')
}
