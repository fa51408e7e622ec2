// Settings of a ciphertext tree copied from a reverse view when only the master key is at hand
// (-masterkey skips the config, spec 1.1). Reverse views are always AES-SIV; the rest is read
// off the copy:
//   encrypted names with DirIV  <- gocryptfs.diriv in the root, or root names that decrypt with
//                                  the root's path-derived IV (the diriv file was lost)
//   deterministic names         <- root names that decrypt with the all-zero IV
//   plaintext names             <- no root name looks encrypted, or none decrypts although the
//                                  key opens file contents
//   Raw64 or padded base64      <- '=' in names, or lengths only one of the two produces
//   HKDF or not                 <- which key derivation opens file contents
//   a custom -longnamemax       <- full names shorter than 256 behind a hash (.name files)
// Flags the user gives win. Where the copy cannot tell, the error names the flag to add.
import { promises as fsp } from 'node:fs'
import path from 'node:path'
import { ExitCode, UserError } from '../exitcodes.js'
import { readNameFile } from './paths.js'
import { createAesSiv, type AesSiv } from '../format/aes-siv.js'
import { MIN_LONG_NAME_MAX } from '../format/config.js'
import { isHoleBlock } from '../format/blocks.js'
import { parseHeader } from '../format/content.js'
import { CorruptError } from '../format/errors.js'
import { deriveKeys, type DerivedKeys } from '../format/keys.js'
import { CONF_NAME, DIRIV_NAME, LONGNAME_PREFIX, NameCipher, encodedLength, isLongNameFile, isLongNameHash } from '../format/names.js'
import { derivePathIv } from '../format/pathiv.js'
import { settingsFromFlags, type FormatFlags, type FormatSettings } from '../format/settings.js'
import { CIPHER_BLOCK, HEADER_LEN } from '../format/sizes.js'

/** Content of the root gocryptfs.diriv in every reverse view: it does not depend on the key. */
export const ROOT_DIRIV = derivePathIv('', 'DIRIV')
const ZERO_IV = Buffer.alloc(16)
const SLASH = Buffer.from('/')
/** Entries looked at (breadth first) for name shapes and sample files. */
const SAMPLE_ENTRIES = 2000
/** Files whose first block is tried with the key. */
const SAMPLE_FILES = 4

export type NameShape = 'raw' | 'padded' | 'either'

/** The base64 flavour a name is spelled in if it is an encrypted or hashed name; undefined if it cannot be one. */
export function nameShape(name: string): NameShape | undefined {
  if (isLongNameHash(name)) {
    const hash = name.slice(LONGNAME_PREFIX.length)
    if (/^[A-Za-z0-9_-]{43}$/.test(hash)) return 'raw'
    if (/^[A-Za-z0-9_-]{43}=$/.test(hash)) return 'padded'
    return undefined
  }
  const m = /^([A-Za-z0-9_-]+)(={0,2})$/.exec(name)
  if (!m) return undefined
  const bytes = Math.floor((m[1]!.length * 3) / 4)
  // EME output is a non-empty multiple of 16 bytes; padded names are at most 256 bytes.
  if (bytes === 0 || bytes % 16 !== 0 || bytes > 256) return undefined
  const raw = m[2] === '' && encodedLength(bytes, true) === name.length
  const padded = encodedLength(bytes, false) === name.length
  if (raw && padded) return 'either'
  return raw ? 'raw' : padded ? 'padded' : undefined
}

interface Sample {
  /** Root entry names (latin1) other than the format's own files. */
  rootNames: string[]
  rootHasDirIv: boolean
  /** Names seen anywhere that only one base64 flavour produces. */
  raw: number
  padded: number
  /** Regular files with content (absolute paths). */
  files: Buffer[]
  /** Longest encrypted-looking name shown in full, shortest full name behind a hash (.name content). */
  longestShown: number
  shortestHashed: number
}

async function sampleTree(root: Buffer): Promise<Sample> {
  const sample: Sample = { rootNames: [], rootHasDirIv: false, raw: 0, padded: 0, files: [], longestShown: 0, shortestHashed: Infinity }
  const queue = [root]
  let seen = 0
  while (queue.length > 0 && seen < SAMPLE_ENTRIES) {
    const dir = queue.shift()!
    let names: Buffer[]
    try {
      names = await fsp.readdir(dir, { encoding: 'buffer' })
    } catch {
      continue // an unreadable directory says nothing either way
    }
    for (const name of names) {
      seen++
      const s = name.toString('latin1')
      const abs = Buffer.concat([dir, SLASH, name])
      const shape = nameShape(s)
      if (shape === 'raw') sample.raw++
      else if (shape === 'padded') sample.padded++
      if (shape && !isLongNameHash(s)) sample.longestShown = Math.max(sample.longestShown, s.length)
      if (isLongNameFile(s)) {
        const nameFile = await fsp.stat(abs).catch(() => undefined)
        if (nameFile) sample.shortestHashed = Math.min(sample.shortestHashed, nameFile.size)
      }
      if (dir === root && s === DIRIV_NAME) sample.rootHasDirIv = true
      if (s === DIRIV_NAME || s === CONF_NAME || isLongNameFile(s)) continue
      if (dir === root) sample.rootNames.push(s)
      const st = await fsp.lstat(abs).catch(() => undefined)
      if (st?.isDirectory()) queue.push(abs)
      else if (st?.isFile() && st.size > HEADER_LEN && sample.files.length < SAMPLE_FILES) sample.files.push(abs)
    }
  }
  return sample
}

/** Whether the content key opens the first block of the sample files; undefined when none could be tried. */
async function contentOpens(files: Buffer[], siv: AesSiv): Promise<boolean | undefined> {
  let tried = false
  for (const f of files) {
    let head: Buffer
    try {
      head = await readHead(f, HEADER_LEN + CIPHER_BLOCK)
    } catch {
      continue
    }
    try {
      const fileId = parseHeader(head)
      const block = head.subarray(HEADER_LEN)
      if (isHoleBlock(block, 0)) continue // all zeros: opens with any key
      tried = true
      siv.openBlocks(block, 0, fileId)
      return true
    } catch (e) {
      if (!(e instanceof CorruptError)) throw e
    }
  }
  return tried ? false : undefined
}

async function readHead(file: Buffer, length: number): Promise<Buffer> {
  const fh = await fsp.open(file, 'r')
  try {
    const buf = Buffer.alloc(length)
    const { bytesRead } = await fh.read(buf, 0, length, 0)
    return buf.subarray(0, bytesRead)
  } finally {
    await fh.close()
  }
}

/** How many of the encrypted-looking root names decrypt with this tweak. */
async function countDecrypting(root: Buffer, names: NameCipher, rootNames: string[], iv: Buffer): Promise<number> {
  let n = 0
  for (const s of rootNames) {
    try {
      let full = s
      if (isLongNameHash(s)) {
        full = await readNameFile(root, Buffer.alloc(0), s)
        if (names.hashLongName(full) !== s) continue
      }
      names.decryptName(full, iv)
      n++
    } catch {
      // not decryptable with this tweak
    }
  }
  return n
}

export interface Detected {
  settings: FormatSettings
  /** What was found, for the user (no secrets). */
  notes: string[]
}

interface NameMode {
  plaintextNames: boolean
  dirIv: boolean
  note: string
}

/**
 * Settings for decrypting the copy at `root` with `masterKey`. UserError when the key opens
 * nothing (exit 12) or the copy cannot tell (exit 1, naming the flag to add).
 */
export async function detectSettings(root: string, masterKey: Uint8Array, flags: FormatFlags = {}): Promise<Detected> {
  if (flags.aessiv === false) {
    throw new UserError('reverse views are always AES-SIV; other content encryption cannot be decrypted here', ExitCode.Usage)
  }
  const rootAbs = Buffer.from(path.resolve(root))
  const sample = await sampleTree(rootAbs)
  const rawShapes = sample.raw > 0
  const paddedShapes = sample.padded > 0
  const raw64 = flags.raw64 ?? (paddedShapes ? (rawShapes ? undefined : false) : true)
  let triedContent = false
  let undecided = ''
  for (const hkdf of flags.hkdf !== undefined ? [flags.hkdf] : [true, false]) {
    const keys = deriveKeys(masterKey, { hkdf })
    const opens = await contentOpens(sample.files, createAesSiv(keys.siv))
    triedContent ||= opens !== undefined
    if (opens === false) continue
    const mode = await nameMode(rootAbs, sample, keys, raw64, opens, flags)
    if (typeof mode === 'string') {
      undecided = mode
      continue
    }
    if (!mode.plaintextNames && raw64 === undefined) {
      throw new UserError(`names in ${root} are spelled both with and without base64 padding; add -raw64=true or -raw64=false`, ExitCode.Usage)
    }
    const settings = settingsFromFlags({
      plaintextNames: mode.plaintextNames,
      deterministicNames: !mode.dirIv,
      longNameMax: flags.longNameMax ?? longNameMaxOf(sample),
      raw64: mode.plaintextNames ? undefined : raw64,
      hkdf,
      longnames: flags.longnames,
      aessiv: true,
    })
    const spelling = settings.plaintextNames ? '' : settings.raw64 ? ', Raw64' : ', padded base64'
    const notes = [`settings detected: ${mode.note}${spelling}${hkdf ? ', HKDF' : ', no HKDF'}, AES-SIV`]
    if (!settings.plaintextNames && flags.longNameMax === undefined) {
      const limit = longNameLimitNote(sample, settings.raw64)
      if (limit) notes.push(limit)
    }
    return { settings, notes }
  }
  if (undecided) throw new UserError(undecided, ExitCode.Usage)
  if (triedContent) {
    throw new UserError(`the master key does not decrypt the file contents in ${root}: wrong key?`, ExitCode.PasswordIncorrect)
  }
  throw new UserError(`cannot tell how ${root} was encrypted; add -plaintextnames or -deterministic-names`, ExitCode.Usage)
}

/**
 * A custom -longnamemax shows as full names of at most 255 characters behind a hash. Names are
 * hashed when longer than the limit, so it lies in [longestShown, shortestHashed - 1]. Any value
 * there treats the names of the copy alike; encoded lengths come in steps of about 21, so when
 * the copy has names of neighbouring lengths the value is exact for all names.
 */
function longNameMaxOf(sample: Sample): number | undefined {
  if (sample.shortestHashed > 255) return undefined
  return Math.max(MIN_LONG_NAME_MAX, sample.shortestHashed - 1)
}

/** A note when the copy leaves -longnamemax open for names of lengths it does not contain. */
function longNameLimitNote(sample: Sample, raw64: boolean): string | undefined {
  if (sample.shortestHashed > 255) return undefined
  const low = sample.longestShown
  const high = sample.shortestHashed - 1
  for (let k = 1; k <= 16; k++) {
    const len = encodedLength(16 * k, raw64)
    if (len > low && len <= high) {
      return `long names: the copy hashes names longer than some limit between ${low} and ${high}; give -longnamemax to -encrypt-paths names of other lengths`
    }
  }
  return undefined
}

/** The name mode, or a message saying why the copy cannot tell. */
async function nameMode(
  root: Buffer,
  sample: Sample,
  keys: DerivedKeys,
  raw64: boolean | undefined,
  contentOpens: boolean | undefined,
  flags: FormatFlags,
): Promise<NameMode | string> {
  if (flags.plaintextNames) return { plaintextNames: true, dirIv: false, note: 'plaintext names (-plaintextnames)' }
  if (flags.deterministicNames) return { plaintextNames: false, dirIv: false, note: 'deterministic names (-deterministic-names)' }
  if (sample.rootHasDirIv) return { plaintextNames: false, dirIv: true, note: `encrypted names with ${DIRIV_NAME}` }
  const looks = sample.rootNames.filter((s) => nameShape(s) !== undefined)
  if (looks.length === 0) {
    return { plaintextNames: true, dirIv: false, note: sample.rootNames.length ? 'plaintext names' : 'plaintext names (the tree is empty)' }
  }
  const names = new NameCipher(keys.eme, { raw64: raw64 ?? true, longNameMax: 0, longNames: true })
  const zero = await countDecrypting(root, names, looks, ZERO_IV)
  const derived = await countDecrypting(root, names, looks, ROOT_DIRIV)
  const best = Math.max(zero, derived)
  if (best * 2 > looks.length) {
    if (zero >= derived) return { plaintextNames: false, dirIv: false, note: 'deterministic names' }
    return { plaintextNames: false, dirIv: true, note: `encrypted names with per-directory IVs (the root ${DIRIV_NAME} is missing)` }
  }
  if (best === 0 && contentOpens === true) return { plaintextNames: true, dirIv: false, note: 'plaintext names' }
  return (
    `cannot tell how the names in ${root.toString()} are encrypted: ${best} of ${looks.length} root names decrypt with this key; ` +
    'add -plaintextnames or -deterministic-names, or check the master key'
  )
}

/**
 * Whether `keys` decrypt the copy (for -masterkey with a config, which the key cannot be checked
 * against): file contents first, else root names. Undefined when nothing could be tried.
 */
export async function masterKeyFits(root: string, settings: FormatSettings, keys: DerivedKeys): Promise<boolean | undefined> {
  const rootAbs = Buffer.from(path.resolve(root))
  const sample = await sampleTree(rootAbs)
  const opens = await contentOpens(sample.files, createAesSiv(keys.siv))
  if (opens !== undefined || settings.plaintextNames) return opens
  const looks = sample.rootNames.filter((s) => nameShape(s) !== undefined)
  if (looks.length === 0) return undefined
  const names = new NameCipher(keys.eme, { raw64: settings.raw64, longNameMax: 0, longNames: true })
  if (!settings.dirIv) return (await countDecrypting(rootAbs, names, looks, ZERO_IV)) > 0
  // A subdirectory's copy or a forward-mode filesystem: the root's own gocryptfs.diriv is its IV.
  const stored = await fsp.readFile(path.join(root, DIRIV_NAME)).catch(() => undefined)
  for (const iv of stored?.length === 16 ? [ROOT_DIRIV, stored] : [ROOT_DIRIV]) {
    if ((await countDecrypting(rootAbs, names, looks, iv)) > 0) return true
  }
  return false
}
