// Plaintext <-> ciphertext paths of a tree made by a reverse view. Reverse mode derives every
// directory IV from the ciphertext path (spec 4, 5.1), so the mapping needs only the keys and
// the settings: no gocryptfs.diriv has to be read, and the result is what the view shows.
// Paths are relative to the tree root, '/'-separated raw bytes, '' for the root.
import { promises as fsp } from 'node:fs'
import { CorruptError } from '../format/errors.js'
import { LONGNAME_SUFFIX, NameCipher, isLongNameHash, validPlainName } from '../format/names.js'
import { derivePathIv } from '../format/pathiv.js'
import type { FormatSettings } from '../format/settings.js'
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

  constructor(settings: FormatSettings, emeKey: Uint8Array | undefined) {
    this.settings = settings
    if (settings.plaintextNames) return
    if (!emeKey) throw new TypeError('encrypted names need the EME key')
    this.names = new NameCipher(emeKey, {
      raw64: settings.raw64,
      longNameMax: settings.longNameMax,
      longNames: settings.longNames,
    })
  }

  /** The name tweak of the ciphertext directory `dirRel`. */
  dirIv(dirRel: Uint8Array): Buffer {
    return this.settings.dirIv ? derivePathIv(dirRel, 'DIRIV') : ZERO_IV
  }

  /** The name the view shows for `plain` inside `dirRel`: encrypted, hashed when too long. */
  encryptName(dirRel: Uint8Array, plain: Uint8Array): Buffer {
    if (!this.names) {
      if (!validPlainName(plain)) throw new RangeError('invalid file name')
      return Buffer.from(plain)
    }
    return Buffer.from(this.names.viewName(plain, this.dirIv(dirRel)).name, 'latin1')
  }

  /**
   * The plaintext of an entry name in `dirRel`. `full` is the content of the .name file when
   * `cName` is a hashed long name; it must hash to `cName`. Throws CorruptError.
   */
  decryptName(dirRel: Uint8Array, cName: Buffer, full?: string): Buffer {
    if (!this.names) {
      if (!validPlainName(cName)) throw new CorruptError('invalid file name')
      return cName
    }
    const text = cName.toString('latin1')
    if (isLongNameHash(text)) {
      if (full === undefined) throw new CorruptError('hashed long name without its .name content')
      if (this.names.hashLongName(full) !== text) throw new CorruptError('the .name file does not belong to this hashed name')
      return this.names.decryptName(full, this.dirIv(dirRel))
    }
    return this.names.decryptName(text, this.dirIv(dirRel))
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
