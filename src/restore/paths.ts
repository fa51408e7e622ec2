// Plaintext <-> ciphertext paths of a tree made by a reverse view. Reverse mode derives every
// directory IV from the ciphertext path (spec 4, 5.1), so the mapping needs only the keys and
// the settings: no gocryptfs.diriv has to be read, and the result is what the view shows.
// Paths are relative to the tree root, '/'-separated raw bytes, '' for the root. A copy of one
// of the view's subdirectories has that directory as its root: the IVs still derive from the
// whole path in the view, so the mapper is told the subdirectory's plaintext path (prefix).
import { promises as fsp } from 'node:fs'
import { ExitCode, UserError } from '../exitcodes.js'
import { CorruptError } from '../format/errors.js'
import { LONGNAME_SUFFIX, NameCipher, isLongNameHash, validPlainName } from '../format/names.js'
import { derivePathIv } from '../format/pathiv.js'
import type { FormatSettings } from '../format/settings.js'
import { readable } from '../view/byte-string.js'
import { joinPath } from '../view/source.js'

const ZERO_IV = Buffer.alloc(16)
const SLASH = 0x2f

/** Reads the content of `<hashed>.name` in the ciphertext directory `dirRel`. */
export type NameFileReader = (dirRel: Buffer, hashed: string) => Promise<string>

/** gocryptfs reads at most 344 bytes; anything longer than this is not a name. */
const NAME_FILE_MAX = 4096

/** Content of the .name file of the hashed name `hashed` in `dirRel` of the tree at `rootAbs` (spec 5.4). */
export async function readNameFile(rootAbs: Buffer, dirRel: Buffer, hashed: string): Promise<string> {
  const fh = await fsp.open(joinPath(rootAbs, joinPath(dirRel, Buffer.from(hashed + LONGNAME_SUFFIX, 'latin1'))), 'r')
  try {
    const buf = Buffer.alloc(NAME_FILE_MAX)
    const { bytesRead } = await fh.read(buf, 0, NAME_FILE_MAX, 0)
    return buf.toString('latin1', 0, bytesRead)
  } finally {
    await fh.close()
  }
}

export class PathMapper {
  readonly settings: FormatSettings
  /** Undefined with plaintext names. */
  readonly names: NameCipher | undefined
  /** The view's ciphertext path of the tree root; empty unless the tree is a subdirectory's copy. */
  readonly #base: Buffer = Buffer.alloc(0)

  /**
   * `prefix`: the plaintext path in the view of the directory that is this tree's root. Throws
   * RangeError when a component of it is not a valid name.
   */
  constructor(settings: FormatSettings, emeKey: Uint8Array | undefined, prefix?: Buffer) {
    this.settings = settings
    if (!settings.plaintextNames) {
      if (!emeKey) throw new TypeError('encrypted names need the EME key')
      this.names = new NameCipher(emeKey, {
        raw64: settings.raw64,
        longNameMax: settings.longNameMax,
        longNames: settings.longNames,
      })
    }
    if (prefix) this.#base = this.encryptPath(prefix)
  }

  /** The path in the view that the IVs of `rel` (relative to the tree root) derive from. */
  ivPath(rel: Buffer): Buffer {
    return rel.length === 0 ? this.#base : joinPath(this.#base, rel)
  }

  /** The name tweak of the ciphertext directory `dirRel`, derived from its path. */
  dirIv(dirRel: Buffer): Buffer {
    return this.settings.dirIv ? derivePathIv(this.ivPath(dirRel), 'DIRIV') : ZERO_IV
  }

  /** The name the view shows for `plain` inside `dirRel` (tweak `iv`): encrypted, hashed when too long. */
  encryptName(dirRel: Buffer, plain: Uint8Array, iv = this.dirIv(dirRel)): Buffer {
    if (!this.names) {
      if (!validPlainName(plain)) throw new RangeError('invalid file name')
      return Buffer.from(plain)
    }
    return Buffer.from(this.names.viewName(plain, iv).name, 'latin1')
  }

  /**
   * The plaintext of an entry name in `dirRel` (tweak `iv`). `full` is the content of the .name
   * file when `cName` is a hashed long name; it must hash to `cName`. Throws CorruptError.
   */
  decryptName(dirRel: Buffer, cName: Buffer, full?: string, iv = this.dirIv(dirRel)): Buffer {
    if (!this.names) {
      if (!validPlainName(cName)) throw new CorruptError('invalid file name')
      return cName
    }
    const text = cName.toString('latin1')
    if (isLongNameHash(text)) {
      if (full === undefined) throw new CorruptError('hashed long name without its .name content')
      if (this.names.hashLongName(full) !== text) throw new CorruptError('the .name file does not belong to this hashed name')
      return this.names.decryptName(full, iv)
    }
    return this.names.decryptName(text, iv)
  }

  /** Whether a name is hashed in this tree (its full spelling needs the .name file). */
  isHashed(cName: Buffer): boolean {
    return this.names !== undefined && isLongNameHash(cName.toString('latin1'))
  }

  /** A whole plaintext path, component by component. */
  encryptPath(plainRel: Buffer): Buffer {
    let rel: Buffer = Buffer.alloc(0)
    for (const c of components(plainRel)) rel = joinPath(rel, this.encryptName(rel, c))
    return rel
  }

  /** A whole ciphertext path; hashed components need `readNameFile`. */
  async decryptPath(cipherRel: Buffer, readNameFile?: NameFileReader): Promise<Buffer> {
    let rel: Buffer = Buffer.alloc(0)
    let plain: Buffer = Buffer.alloc(0)
    for (const c of components(cipherRel)) {
      let full: string | undefined
      if (this.isHashed(c)) {
        if (!readNameFile) throw new CorruptError(`${c.toString('latin1')} is a hashed long name: its .name file is needed (give -cipherdir)`)
        full = await readNameFile(rel, c.toString('latin1'))
      }
      plain = joinPath(plain, this.decryptName(rel, c, full))
      rel = joinPath(rel, c)
    }
    return plain
  }
}

/** A PathMapper for the tree holding the view's directory `prefix`; UserError when it is not a valid path. */
export function prefixedMapper(settings: FormatSettings, emeKey: Uint8Array | undefined, prefix: Buffer | undefined): PathMapper {
  try {
    return new PathMapper(settings, emeKey, prefix)
  } catch (e) {
    if (!(e instanceof RangeError)) throw e
    throw new UserError(`-prefix ${readable(prefix!)} is not a valid plaintext path`, ExitCode.Usage)
  }
}

/** Path components, ignoring empty ones and '.' (so 'a//b/', './a/b' and '/a/b' are 'a/b'). */
export function components(rel: Buffer): Buffer[] {
  const out: Buffer[] = []
  let start = 0
  for (let i = 0; i <= rel.length; i++) {
    if (i < rel.length && rel[i] !== SLASH) continue
    const c = rel.subarray(start, i)
    start = i + 1
    if (c.length === 0 || (c.length === 1 && c[0] === 0x2e)) continue
    out.push(c)
  }
  return out
}
