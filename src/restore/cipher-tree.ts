// A ciphertext tree copied out of a reverse view (ours or gocryptfs's), read in the decrypting
// direction: listings with decrypted names, symlink targets, file contents. Every IV is
// recomputed from the ciphertext path (spec 4), so gocryptfs.diriv files are only checked, and
// each thing that does not belong where it sits is reported as a Problem instead of used.
// With `storedIvs` the tree is read as gocryptfs forward mode reads it: the IVs are the ones
// stored in gocryptfs.diriv files and file headers, which is the only way to read a filesystem
// gocryptfs wrote in forward mode (its IVs are random), but nothing checks where entries sit.
import { promises as fsp } from 'node:fs'
import { ExitCode, UserError } from '../exitcodes.js'
import { createAesSiv, type AesSiv } from '../format/aes-siv.js'
import { CorruptError } from '../format/errors.js'
import type { DerivedKeys } from '../format/keys.js'
import { CONF_NAME, DIRIV_NAME, LONGNAME_SUFFIX, decode64, isLongNameFile, longNameFileTarget } from '../format/names.js'
import { derivePathIv, symlinkIvPath } from '../format/pathiv.js'
import type { FormatSettings } from '../format/settings.js'
import { decryptSymlinkTarget } from '../format/symlink.js'
import { readable } from '../view/byte-string.js'
import { Lru } from '../view/lru.js'
import { joinPath, listDir, readLink } from '../view/source.js'
import { lstat, type SourceStats } from '../view/stat.js'
import { CipherFile } from './cipher-file.js'
import { components, prefixedMapper, readNameFile, type PathMapper } from './paths.js'
import { MisplacedError, PATH_HINT, type Problem } from './problems.js'

export interface CipherTreeOptions {
  /** Root of the ciphertext tree (where gocryptfs.conf is, or would be). */
  root: string
  settings: FormatSettings
  keys: DerivedKeys
  /** Content cipher; created from the keys when absent. */
  siv?: AesSiv
  /** The plaintext path in the view of the directory the copy's root holds (a subdirectory's copy). */
  prefix?: Buffer
  /** Use the IVs stored in the tree instead of deriving them from the paths (see the file comment). */
  storedIvs?: boolean
}

/** Stored directory IVs kept in memory: listings and lookups read each directory's once. */
const DIRIV_CACHE = 4096
const DIRIV_LEN = 16
/** Root names tried with each IV when the root's gocryptfs.diriv is not the derived one. */
const ROOT_SAMPLE = 64

/** An entry of the tree, placed both on disk and in the plaintext. */
export interface TreeNode {
  /** Ciphertext path relative to the root; empty for the root. */
  rel: Buffer
  /** Plaintext path relative to the root; empty for the root. */
  plain: Buffer
  abs: Buffer
  st: SourceStats
}

export interface Listing {
  /** Decrypted entries in on-disk order; hidden and undecryptable ones left out. */
  entries: TreeNode[]
  problems: Problem[]
}

export class CipherTree {
  readonly rootAbs: Buffer
  readonly settings: FormatSettings
  readonly mapper: PathMapper
  readonly siv: AesSiv
  readonly storedIvs: boolean
  readonly #encryptedNames: boolean
  readonly #storedDirIvs = new Lru<string, Buffer>(DIRIV_CACHE)

  private constructor(rootAbs: string, opts: CipherTreeOptions) {
    this.rootAbs = Buffer.from(rootAbs)
    this.settings = opts.settings
    this.mapper = prefixedMapper(opts.settings, opts.keys.eme, opts.prefix)
    this.siv = opts.siv ?? createAesSiv(opts.keys.siv)
    this.storedIvs = opts.storedIvs ?? false
    this.#encryptedNames = !opts.settings.plaintextNames
  }

  /**
   * The root must be a directory (else UserError with gocryptfs' exit code 6), and, when its
   * gocryptfs.diriv decides it, the root of what the options say (see #checkRoot).
   */
  static async create(opts: CipherTreeOptions): Promise<CipherTree> {
    if (opts.prefix && opts.storedIvs) throw new UserError('-prefix and -stored-ivs exclude each other: stored IVs do not depend on paths', ExitCode.Usage)
    let abs: string
    try {
      abs = await fsp.realpath(opts.root)
      if (!(await fsp.stat(abs)).isDirectory()) throw new Error('not a directory')
    } catch (e) {
      throw new UserError(`Invalid ciphertext directory ${opts.root}: ${(e as Error).message}`, ExitCode.CipherDir)
    }
    const tree = new CipherTree(abs, opts)
    await tree.#checkRoot(opts.prefix)
    return tree
  }

  /**
   * A root gocryptfs.diriv other than the path-derived one is a damaged copy when the root's
   * names still decrypt with the derived IV. When they decrypt with the stored one instead,
   * the tree is a subdirectory's copy or a forward-mode filesystem: deriving would decrypt
   * nothing, so refuse and say which option reads it, rather than show an empty tree.
   */
  async #checkRoot(prefix: Buffer | undefined): Promise<void> {
    if (this.storedIvs || !this.#encryptedNames || !this.settings.dirIv) return
    const stored = await fsp.readFile(joinPath(this.rootAbs, Buffer.from(DIRIV_NAME))).catch(() => undefined)
    const derived = this.mapper.dirIv(Buffer.alloc(0))
    if (stored?.length !== DIRIV_LEN || stored.equals(derived)) return
    const names = (await listDir(this.rootAbs)).filter((n) => !this.isHidden(Buffer.alloc(0), n.toString('latin1'))).slice(0, ROOT_SAMPLE)
    const decrypting = async (iv: Buffer): Promise<number> => {
      let n = 0
      for (const name of names) {
        try {
          const full = this.mapper.isHashed(name) ? await this.readNameFile(Buffer.alloc(0), name.toString('latin1')) : undefined
          this.mapper.decryptName(Buffer.alloc(0), name, full, iv)
          n++
        } catch {
          // not with this IV
        }
      }
      return n
    }
    if ((await decrypting(stored)) <= (await decrypting(derived))) return
    const root = this.rootAbs.toString()
    if (prefix) {
      throw new UserError(
        `-prefix ${readable(prefix)} is not the path of the directory ${root} holds: its ${DIRIV_NAME} belongs to another one`,
        ExitCode.Usage,
      )
    }
    throw new UserError(
      `${root} is not the root of a reverse view's copy: its names decrypt with its own ${DIRIV_NAME}, not with the root's. ${PATH_HINT}`,
      ExitCode.CipherDir,
    )
  }

  /** The name tweak of the ciphertext directory `dirRel`: stored or derived. Throws CorruptError for a bad stored one. */
  async dirIv(dirRel: Buffer): Promise<Buffer> {
    if (!this.storedIvs || !this.#encryptedNames || !this.settings.dirIv) return this.mapper.dirIv(dirRel)
    const k = dirRel.toString('latin1')
    const cached = this.#storedDirIvs.get(k)
    if (cached) return cached
    let iv: Buffer
    try {
      iv = await fsp.readFile(joinPath(joinPath(this.rootAbs, dirRel), Buffer.from(DIRIV_NAME)))
    } catch (e) {
      throw new CorruptError(`${DIRIV_NAME} cannot be read (${(e as Error).message}): the names in this directory cannot be decrypted`)
    }
    if (iv.length !== DIRIV_LEN)
      throw new CorruptError(`${DIRIV_NAME} has ${iv.length} bytes instead of ${DIRIV_LEN}: the names in this directory cannot be decrypted`)
    this.#storedDirIvs.set(k, iv)
    return iv
  }

  async rootNode(): Promise<TreeNode> {
    return { rel: Buffer.alloc(0), plain: Buffer.alloc(0), abs: this.rootAbs, st: await lstat(this.rootAbs) }
  }

  /** Ciphertext entries that are format files, not tree entries. */
  isHidden(dirRel: Buffer, name: string): boolean {
    if (dirRel.length === 0 && name === CONF_NAME) return true
    return this.#encryptedNames && (name === DIRIV_NAME || isLongNameFile(name))
  }

  /** The decrypted entries of a directory and what is wrong in it (spec 5). */
  async list(dir: TreeNode): Promise<Listing> {
    const problems: Problem[] = []
    const onDisk = new Set<string>()
    const candidates: Buffer[] = []
    for (const name of await listDir(dir.abs)) {
      const s = name.toString('latin1')
      onDisk.add(s)
      if (!this.isHidden(dir.rel, s)) candidates.push(name)
    }
    let iv: Buffer
    try {
      iv = await this.dirIv(dir.rel)
    } catch (e) {
      if (!(e instanceof CorruptError)) throw e
      const cipherPath = readable(joinPath(dir.rel, Buffer.from(DIRIV_NAME)))
      problems.push({ kind: 'diriv', path: readable(dir.plain), cipherPath, message: e.message })
      return { entries: [], problems }
    }
    if (this.#encryptedNames && this.settings.dirIv && !this.storedIvs) {
      const p = await this.#checkDirIv(dir, onDisk.has(DIRIV_NAME))
      if (p) problems.push(p)
    }
    const decoded = await Promise.all(candidates.map((name) => this.#entry(dir, iv, name, problems)))
    const entries = decoded.filter((e): e is TreeNode => e !== undefined)
    if (this.#encryptedNames) {
      for (const s of onDisk) {
        if (!isLongNameFile(s) || onDisk.has(longNameFileTarget(s))) continue
        problems.push({
          kind: 'orphan',
          path: readable(dir.plain),
          cipherPath: readable(joinPath(dir.rel, Buffer.from(s, 'latin1'))),
          message: `${s} has no entry next to it: the entry with that long name is missing`,
        })
      }
    }
    return { entries, problems }
  }

  async #checkDirIv(dir: TreeNode, present: boolean): Promise<Problem | undefined> {
    const cipherPath = readable(joinPath(dir.rel, Buffer.from(DIRIV_NAME)))
    const problem = (message: string): Problem => ({ kind: 'diriv', path: readable(dir.plain), cipherPath, message })
    if (!present) return problem(`${DIRIV_NAME} is missing (the IV derived from the path is used)`)
    try {
      const content = await fsp.readFile(joinPath(dir.abs, Buffer.from(DIRIV_NAME)))
      if (!content.equals(this.mapper.dirIv(dir.rel))) {
        return problem(`${DIRIV_NAME} is not the one of this path (directory renamed or moved?); the IV derived from the path is used`)
      }
    } catch (e) {
      return problem(`${DIRIV_NAME} cannot be read: ${(e as Error).message}`)
    }
    return undefined
  }

  /** One directory entry decrypted, or undefined (problem recorded, or gone since listing). */
  async #entry(dir: TreeNode, iv: Buffer, name: Buffer, problems: Problem[]): Promise<TreeNode | undefined> {
    const rel = joinPath(dir.rel, name)
    const s = name.toString('latin1')
    let plain: Buffer
    try {
      let full: string | undefined
      if (this.mapper.isHashed(name)) {
        try {
          full = await this.readNameFile(dir.rel, s)
        } catch (e) {
          problems.push({
            kind: 'longname',
            path: readable(dir.plain),
            cipherPath: readable(rel),
            message: `cannot read ${s}${LONGNAME_SUFFIX}: ${(e as Error).message}`,
          })
          return undefined
        }
      } else if (this.mapper.names?.isLong(s)) {
        // The view only ever shows such a name hashed: this one was made by hand.
        throw new CorruptError('full spelling of a long name, which the view shows hashed')
      }
      plain = this.mapper.decryptName(dir.rel, name, full, iv)
    } catch (e) {
      if (!(e instanceof CorruptError)) throw e
      problems.push({
        kind: this.mapper.isHashed(name) ? 'longname' : 'name',
        path: readable(dir.plain),
        cipherPath: readable(rel),
        message: `an entry name does not decrypt (${e.message}); entry left out`,
      })
      return undefined
    }
    const abs = joinPath(this.rootAbs, rel)
    try {
      return { rel, plain: joinPath(dir.plain, plain), abs, st: await lstat(abs) }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw e
    }
  }

  readNameFile(dirRel: Buffer, hashed: string): Promise<string> {
    return readNameFile(this.rootAbs, dirRel, hashed)
  }

  /**
   * The entry at a ciphertext path relative to the root, decrypting each component. Throws
   * CorruptError for a component that does not decrypt or is a format file.
   */
  async locate(cipherRel: Buffer): Promise<TreeNode> {
    let node = await this.rootNode()
    for (const c of components(cipherRel)) {
      const s = c.toString('latin1')
      if (this.isHidden(node.rel, s)) throw new CorruptError(`${s} is a file of the format, not an entry of the tree`)
      const full = this.mapper.isHashed(c) ? await this.readNameFile(node.rel, s) : undefined
      const plain = this.mapper.decryptName(node.rel, c, full, await this.dirIv(node.rel))
      const rel = joinPath(node.rel, c)
      const abs = joinPath(this.rootAbs, rel)
      node = { rel, plain: joinPath(node.plain, plain), abs, st: await lstat(abs) }
    }
    return node
  }

  /** The plaintext target of a symlink (spec 5.7). Throws CorruptError or MisplacedError. */
  async readTarget(node: TreeNode): Promise<Buffer> {
    const raw = await readLink(node.abs)
    if (!this.#encryptedNames) return raw
    const text = raw.toString('latin1')
    const target = decryptSymlinkTarget(this.siv, text, this.settings.raw64)
    if (this.storedIvs) return target
    const nonce = decode64(text, this.settings.raw64).subarray(0, 16)
    // Whatever the link count says (see CipherFile.open).
    if (!nonce.equals(derivePathIv(symlinkIvPath(this.mapper.ivPath(node.rel).toString('latin1')), 'SYMLINKIV'))) {
      throw new MisplacedError('the symlink target belongs to another path (link renamed or moved?)')
    }
    return target
  }

  openFile(node: TreeNode): Promise<CipherFile> {
    const fileId = this.storedIvs ? undefined : derivePathIv(this.mapper.ivPath(node.rel), 'FILEID')
    return CipherFile.open(node.abs, node.st, fileId, this.siv)
  }

  /** The ciphertext path of a plaintext path relative to the root; RangeError for an invalid name. */
  async encryptPath(plainRel: Buffer): Promise<Buffer> {
    let rel: Buffer = Buffer.alloc(0)
    for (const c of components(plainRel)) rel = joinPath(rel, this.mapper.encryptName(rel, c, await this.dirIv(rel)))
    return rel
  }

  /** The plaintext path of a ciphertext path relative to the root; CorruptError when a name does not decrypt. */
  async decryptPath(cipherRel: Buffer): Promise<Buffer> {
    let rel: Buffer = Buffer.alloc(0)
    let plain: Buffer = Buffer.alloc(0)
    for (const c of components(cipherRel)) {
      const full = this.mapper.isHashed(c) ? await this.readNameFile(rel, c.toString('latin1')) : undefined
      plain = joinPath(plain, this.mapper.decryptName(rel, c, full, await this.dirIv(rel)))
      rel = joinPath(rel, c)
    }
    return plain
  }
}
