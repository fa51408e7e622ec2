// File names of the encrypted view (spec 5): PKCS#7 padding, EME under the directory IV,
// URL-safe base64, and hashing of names that are too long. Plaintext names are raw bytes.
import { createHash } from 'node:crypto'
import { Eme } from './eme.js'
import { CorruptError } from './errors.js'

export const DIRIV_NAME = 'gocryptfs.diriv'
export const CONF_NAME = 'gocryptfs.conf'
export const REVERSE_CONF_NAME = '.gocryptfs.reverse.conf'
export const LONGNAME_PREFIX = 'gocryptfs.longname.'
export const LONGNAME_SUFFIX = '.name'
/** Longest name a Linux directory entry can have (bytes). */
export const NAME_MAX = 255

const BLOCK = 16
const SLASH = 0x2f
const DOT = 0x2e

/** `gocryptfs.longname.<hash>`: the entry that stands in for a hashed long name. */
export function isLongNameHash(name: string): boolean {
  return name.startsWith(LONGNAME_PREFIX) && !name.endsWith(LONGNAME_SUFFIX)
}

/** `gocryptfs.longname.<hash>.name`: the virtual file holding the full encrypted name. */
export function isLongNameFile(name: string): boolean {
  return name.startsWith(LONGNAME_PREFIX) && name.endsWith(LONGNAME_SUFFIX)
}

/** The hashed entry a `.name` file belongs to; only meaningful when isLongNameFile(name). */
export function longNameFileTarget(name: string): string {
  return name.slice(0, name.length - LONGNAME_SUFFIX.length)
}

/** Non-empty, at most 255 bytes, no '/' or NUL, not '.' or '..' (gocryptfs IsValidName). */
export function validPlainName(name: Uint8Array): boolean {
  const n = name.length
  if (n === 0 || n > NAME_MAX) return false
  if (name[0] === DOT && (n === 1 || (n === 2 && name[1] === DOT))) return false
  return !name.includes(SLASH) && !name.includes(0)
}

/** PKCS#7 to a multiple of 16: always appends 1..16 bytes of value k. */
export function pad16(name: Uint8Array): Buffer {
  const k = BLOCK - (name.length % BLOCK)
  const out = Buffer.allocUnsafe(name.length + k)
  out.set(name)
  out.fill(k, name.length)
  return out
}

/** Inverse of pad16; rejects anything pad16 cannot have produced, including an empty result. */
export function unpad16(padded: Uint8Array): Buffer {
  const n = padded.length
  if (n === 0 || n % BLOCK !== 0) throw new CorruptError('padded name has a bad length')
  const k = padded[n - 1]
  if (k === 0 || k > BLOCK || k >= n) throw new CorruptError('bad name padding')
  for (let i = n - k; i < n - 1; i++) {
    if (padded[i] !== k) throw new CorruptError('bad name padding')
  }
  return Buffer.from(padded.buffer, padded.byteOffset, n - k)
}

/** URL-safe base64; Raw64 omits the '=' padding. */
export function encode64(data: Uint8Array, raw64: boolean): string {
  const text = Buffer.from(data.buffer, data.byteOffset, data.length).toString('base64url')
  return raw64 ? text : text + '='.repeat((4 - (text.length % 4)) % 4)
}

/** Length of encode64 output for `byteLength` input bytes. */
export function encodedLength(byteLength: number, raw64: boolean): number {
  return raw64 ? Math.ceil((byteLength * 4) / 3) : 4 * Math.ceil(byteLength / 3)
}

/**
 * Strict inverse of encode64: only the one canonical spelling of each byte string decodes
 * (spec 5.5; gocryptfs 2.3 was lenient). Node's decoder is lenient too, so the result is
 * re-encoded and compared, which rejects the other alphabet, whitespace and CR/LF, wrong '='
 * padding and aliases with non-zero unused bits (...Px for ...Pw).
 */
export function decode64(text: string, raw64: boolean): Buffer {
  const data = Buffer.from(text, 'base64url')
  if (encode64(data, raw64) !== text) throw new CorruptError('not canonical base64')
  return data
}

export interface NameOptions {
  /** Unpadded base64 (the Raw64 feature flag). */
  raw64: boolean
  /** LongNameMax, 62..255; 0 means the default 255. */
  longNameMax: number
  /** The LongNames feature flag: hash names longer than longNameMax. */
  longNames: boolean
}

export class NameCipher {
  readonly #eme: Eme
  readonly #raw64: boolean
  /** Encrypted names longer than this are replaced by their hash. */
  readonly #hashAbove: number

  constructor(emeKey: Uint8Array, opts: NameOptions) {
    const max = opts.longNameMax
    if (max !== 0 && !(Number.isInteger(max) && max >= 62 && max <= NAME_MAX)) {
      throw new RangeError('longNameMax must be 62..255')
    }
    this.#eme = new Eme(emeKey)
    this.#raw64 = opts.raw64
    // Reverse mode hashes above NAME_MAX even without LongNames: such a name cannot be listed.
    this.#hashAbove = opts.longNames && max !== 0 ? max : NAME_MAX
  }

  /** Full encrypted name (never hashed). Throws RangeError if !validPlainName(plain). */
  encryptName(plain: Uint8Array, dirIv: Uint8Array): string {
    return this.encryptNames([plain], dirIv)[0]!
  }

  /** encryptName of each of a directory's names, in one batch. Throws RangeError if one is invalid. */
  encryptNames(plains: readonly Uint8Array[], dirIv: Uint8Array): string[] {
    if (!plains.every(validPlainName)) throw new RangeError('invalid plaintext name')
    return this.#eme.encryptEach(dirIv, plains.map(pad16)).map((sealed) => encode64(sealed, this.#raw64))
  }

  /**
   * Decrypts a full encrypted name; any defect gives CorruptError (ENOENT on lookup). Lookups
   * must also reject isLong(cName) spellings: the view only ever shows their hash.
   */
  decryptName(cName: string, dirIv: Uint8Array): Buffer {
    const bin = decode64(cName, this.#raw64)
    // A valid name pads to at most 256 bytes.
    if (bin.length === 0 || bin.length % BLOCK !== 0 || bin.length > NAME_MAX + 1) {
      throw new CorruptError('encrypted name has a bad length')
    }
    const plain = unpad16(this.#eme.decrypt(dirIv, bin))
    if (!validPlainName(plain)) throw new CorruptError('decrypted name is not a valid name')
    return plain
  }

  /** Whether the full encrypted name is shown as its hash. */
  isLong(cName: string): boolean {
    return cName.length > this.#hashAbove
  }

  /** Whether a plaintext name of this many bytes gets a hashed view name (no crypto needed). */
  isLongPlainLength(plainLength: number): boolean {
    return encodedLength(plainLength + BLOCK - (plainLength % BLOCK), this.#raw64) > this.#hashAbove
  }

  /** `gocryptfs.longname.` + base64(SHA256(full encrypted name)). */
  hashLongName(cName: string): string {
    return LONGNAME_PREFIX + encode64(createHash('sha256').update(cName, 'latin1').digest(), this.#raw64)
  }

  /** `name` as listed in the directory; `full` is the complete encrypted name (= .name content when hashed). */
  viewName(plain: Uint8Array, dirIv: Uint8Array): { name: string; full: string } {
    return this.viewNames([plain], dirIv)[0]!
  }

  /** viewName of each of a directory's names, in one batch. Throws RangeError if one is invalid. */
  viewNames(plains: readonly Uint8Array[], dirIv: Uint8Array): { name: string; full: string }[] {
    return this.encryptNames(plains, dirIv).map((full) => ({ name: this.isLong(full) ? this.hashLongName(full) : full, full }))
  }
}
