// A ciphertext tree copied out of a reverse view (ours or gocryptfs's), read in the decrypting
// direction: listings with decrypted names, symlink targets, file contents. Every IV is
// recomputed from the ciphertext path (spec 4), so gocryptfs.diriv files are only checked, and
// each thing that does not belong where it sits is reported as a Problem instead of used.
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
import { joinPath, listDir, readLink } from '../view/source.js'
import { lstat, type SourceStats } from '../view/stat.js'
import { CipherFile } from './cipher-file.js'
import { PathMapper, components, readNameFile } from './paths.js'
import { MisplacedError, type Problem } from './problems.js'

export interface CipherTreeOptions {
  /** Root of the ciphertext tree (where gocryptfs.conf is, or would be). */
  root: string
  settings: FormatSettings
  keys: DerivedKeys
  /** Content cipher; created from the keys when absent. */
  siv?: AesSiv
}

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
  readonly #encryptedNames: boolean

  private constructor(rootAbs: string, opts: CipherTreeOptions) {
    this.rootAbs = Buffer.from(rootAbs)
    this.settings = opts.settings
    this.mapper = new PathMapper(opts.settings, opts.keys.eme)
    this.siv = opts.siv ?? createAesSiv(opts.keys.siv)
    this.#encryptedNames = !opts.settings.plaintextNames
  }

  /** The root must be a directory (else UserError with gocryptfs' exit code 6). */
  static async create(opts: CipherTreeOptions): Promise<CipherTree> {
    let abs: string
    try {
      abs = await fsp.realpath(opts.root)
      if (!(await fsp.stat(abs)).isDirectory()) throw new Error('not a directory')
    } catch (e) {
      throw new UserError(`Invalid ciphertext directory ${opts.root}: ${(e as Error).message}`, ExitCode.CipherDir)
    }
    return new CipherTree(abs, opts)
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
    if (this.#encryptedNames && this.settings.dirIv) {
      const p = await this.#checkDirIv(dir, onDisk.has(DIRIV_NAME))
      if (p) problems.push(p)
    }
    const decoded = await Promise.all(candidates.map((name) => this.#entry(dir, name, problems)))
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
  async #entry(dir: TreeNode, name: Buffer, problems: Problem[]): Promise<TreeNode | undefined> {
    const rel = joinPath(dir.rel, name)
    const s = name.toString('latin1')
    let plain: Buffer
    try {
      let full: string | undefined
      if (this.mapper.isHashed(name)) {
        try {
          full = await this.readNameFile(dir.rel, s)
        } catch (e) {
          problems.push({ kind: 'longname', path: readable(dir.plain), cipherPath: readable(rel), message: `cannot read ${s}${LONGNAME_SUFFIX}: ${(e as Error).message}` })
          return undefined
        }
      } else if (this.mapper.names?.isLong(s)) {
        // The view only ever shows such a name hashed: this one was made by hand.
        throw new CorruptError('full spelling of a long name, which the view shows hashed')
      }
      plain = this.mapper.decryptName(dir.rel, name, full)
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
      const plain = this.mapper.decryptName(node.rel, c, full)
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
    const nonce = decode64(text, this.settings.raw64).subarray(0, 16)
    // Whatever the link count says (see CipherFile.open).
    if (!nonce.equals(derivePathIv(symlinkIvPath(node.rel.toString('latin1')), 'SYMLINKIV'))) {
      throw new MisplacedError('the symlink target belongs to another path (link renamed or moved?)')
    }
    return target
  }

  openFile(node: TreeNode): Promise<CipherFile> {
    return CipherFile.open(node.abs, node.st, derivePathIv(node.rel, 'FILEID'), this.siv)
  }
}
