// The gocryptfs v2 config file (gocryptfs.conf / .gocryptfs.reverse.conf): reading it with the
// semantics of Go's encoding/json, gocryptfs's Validate rules, master-key (un)wrapping, and
// writing it byte for byte as gocryptfs does (internal/configfile in gocryptfs 2.3).
import { closeSync, fchmodSync, fsyncSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, constants } from 'node:fs'
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { dirname } from 'node:path'
import { ExitCode, UserError } from '../exitcodes.js'
import { HKDF_INFO_GCM, hkdfSha256 } from './keys.js'
import { MASTER_KEY_LEN } from './masterkey.js'
import { NAME_MAX } from './names.js'
import { deriveScryptKey, newScryptParams, logNOf, resolveLogN, scryptParamsProblem, type ScryptParams } from './scrypt.js'
import { plural } from '../plural.js'

export interface Fido2Params {
  CredentialID: Buffer
  HMACSalt: Buffer
}

/** The config file's content; member names as in the JSON. A JSON null is read as the empty value. */
export interface ConfigFile {
  Creator: string
  EncryptedKey: Buffer
  ScryptObject: ScryptParams
  Version: number
  FeatureFlags: string[]
  FIDO2?: Fido2Params
  /** 0 when absent (the member is omitted from the JSON then). */
  LongNameMax: number
}

const CONFIG_VERSION = 2

const KNOWN_FLAGS = [
  'PlaintextNames',
  'DirIV',
  'EMENames',
  'GCMIV128',
  'LongNames',
  'LongNameMax',
  'AESSIV',
  'Raw64',
  'HKDF',
  'FIDO2',
  'XChaCha20Poly1305',
] as const
export type FeatureFlag = (typeof KNOWN_FLAGS)[number]

export const MIN_LONG_NAME_MAX = 62

/** The effective -longnamemax: 0 or absent means 255; 1..61 and > 255 are refused (exit 1). */
export function checkLongNameMax(value: number | undefined): number {
  if (value === undefined || value === 0) return NAME_MAX
  if (!Number.isInteger(value) || value < MIN_LONG_NAME_MAX || value > NAME_MAX) {
    throw new UserError(`-longnamemax: value ${value} is outside the allowed range ${MIN_LONG_NAME_MAX}..${NAME_MAX}`, ExitCode.Usage)
  }
  return value
}

export function hasFlag(conf: ConfigFile, flag: FeatureFlag): boolean {
  return conf.FeatureFlags.includes(flag)
}

export type ContentEncryption = 'AES-GCM-256' | 'AES-SIV-512' | 'XChaCha20-Poly1305'

export function contentEncryption(conf: ConfigFile): ContentEncryption {
  if (hasFlag(conf, 'XChaCha20Poly1305')) return 'XChaCha20-Poly1305'
  if (hasFlag(conf, 'AESSIV')) return 'AES-SIV-512'
  return 'AES-GCM-256'
}

/** gocryptfs's Validate: the first rule the config breaks, if any. */
function configProblem(conf: ConfigFile): string | undefined {
  if (conf.Version !== CONFIG_VERSION) return `unsupported on-disk format version ${conf.Version} (only ${CONFIG_VERSION} is supported)`
  const scrypt = scryptParamsProblem(conf.ScryptObject)
  if (scrypt) return scrypt
  const unknown = conf.FeatureFlags.find((f) => !(KNOWN_FLAGS as readonly string[]).includes(f))
  if (unknown !== undefined) return `unknown feature flag ${JSON.stringify(unknown)}`
  const has = (f: FeatureFlag) => hasFlag(conf, f)
  if (has('XChaCha20Poly1305') && has('AESSIV')) return 'feature flags XChaCha20Poly1305 and AESSIV exclude each other'
  if (has('AESSIV') && !has('GCMIV128')) return 'feature flag AESSIV requires GCMIV128'
  if (has('XChaCha20Poly1305')) {
    if (has('GCMIV128')) return 'feature flag XChaCha20Poly1305 conflicts with GCMIV128'
    if (!has('HKDF')) return 'feature flag XChaCha20Poly1305 requires HKDF'
  }
  if (!has('XChaCha20Poly1305') && !has('AESSIV') && !has('GCMIV128')) return 'AES-GCM requires the GCMIV128 feature flag'
  if (has('PlaintextNames')) {
    for (const f of ['EMENames', 'DirIV', 'LongNames', 'Raw64', 'LongNameMax'] as const) {
      if (has(f)) return `feature flag PlaintextNames conflicts with ${f}`
    }
  }
  if (conf.LongNameMax !== 0 && !has('LongNameMax')) return `LongNameMax=${conf.LongNameMax} but the LongNameMax feature flag is not set`
  if (conf.LongNameMax === 0 && has('LongNameMax')) return 'the LongNameMax feature flag is set but LongNameMax is 0 or missing'
  return undefined
}

// ---- reading -------------------------------------------------------------------------------

/** Why a JSON value does not fit a member; the caller adds the file name. */
class TypeMismatch extends Error {}

// Go matches member names exactly first, then case-insensitively with Unicode simple folding,
// under which U+017F (long s) equals "s" and U+212A (Kelvin sign) equals "k".
function foldName(name: string): string {
  return name.replace(/\u017f/g, 's').toLowerCase()
}

function pickMembers(obj: Record<string, unknown>, names: readonly string[]): Map<string, unknown> {
  const picked = new Map<string, unknown>()
  for (const [key, value] of Object.entries(obj)) {
    const name = names.includes(key) ? key : names.find((n) => foldName(n) === foldName(key))
    if (name !== undefined) picked.set(name, value)
  }
  return picked
}

function jsonKind(v: unknown): string {
  return Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v
}

function asObject(v: unknown, member: string): Record<string, unknown> | undefined {
  if (v === null || v === undefined) return undefined
  if (typeof v !== 'object' || Array.isArray(v)) throw new TypeMismatch(`${member} must be an object, not ${jsonKind(v)}`)
  return v as Record<string, unknown>
}

function asString(v: unknown, member: string): string {
  if (v === null || v === undefined) return ''
  if (typeof v !== 'string') throw new TypeMismatch(`${member} must be a string, not ${jsonKind(v)}`)
  return v
}

// Go decodes []byte with padded standard base64 and skips \r and \n inside the string.
const STD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

function asBytes(v: unknown, member: string): Buffer {
  const s = asString(v, member).replace(/[\r\n]/g, '')
  if (!STD_BASE64.test(s)) throw new TypeMismatch(`${member} is not valid padded standard base64`)
  return Buffer.from(s, 'base64')
}

// JSON.parse cannot tell 1 from 1.0, which Go would refuse for an integer member; both pass here.
function asInt(v: unknown, member: string, min: number, max: number): number {
  if (v === null || v === undefined) return 0
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new TypeMismatch(`${member} must be an integer, not ${jsonKind(v)}`)
  if (v < min || v > max) throw new TypeMismatch(`${member}=${v} is out of range ${min}..${max}`)
  return v
}

function asStringList(v: unknown, member: string): string[] {
  if (v === null || v === undefined) return []
  if (!Array.isArray(v)) throw new TypeMismatch(`${member} must be an array of strings, not ${jsonKind(v)}`)
  return v.map((item, i) => asString(item, `${member}[${i}]`))
}

const INT_MAX = Number.MAX_SAFE_INTEGER
const INT_MIN = Number.MIN_SAFE_INTEGER

function decodeConfig(root: unknown): ConfigFile {
  const top = pickMembers(asObject(root, 'the top level') ?? {}, ['Creator', 'EncryptedKey', 'ScryptObject', 'Version', 'FeatureFlags', 'FIDO2', 'LongNameMax'])
  const scrypt = pickMembers(asObject(top.get('ScryptObject'), 'ScryptObject') ?? {}, ['Salt', 'N', 'R', 'P', 'KeyLen'])
  const fido2 = asObject(top.get('FIDO2'), 'FIDO2')
  const conf: ConfigFile = {
    Creator: asString(top.get('Creator'), 'Creator'),
    EncryptedKey: asBytes(top.get('EncryptedKey'), 'EncryptedKey'),
    ScryptObject: {
      Salt: asBytes(scrypt.get('Salt'), 'ScryptObject.Salt'),
      N: asInt(scrypt.get('N'), 'ScryptObject.N', INT_MIN, INT_MAX),
      R: asInt(scrypt.get('R'), 'ScryptObject.R', INT_MIN, INT_MAX),
      P: asInt(scrypt.get('P'), 'ScryptObject.P', INT_MIN, INT_MAX),
      KeyLen: asInt(scrypt.get('KeyLen'), 'ScryptObject.KeyLen', INT_MIN, INT_MAX),
    },
    Version: asInt(top.get('Version'), 'Version', 0, 0xffff),
    FeatureFlags: asStringList(top.get('FeatureFlags'), 'FeatureFlags'),
    LongNameMax: asInt(top.get('LongNameMax'), 'LongNameMax', 0, 0xff),
  }
  if (fido2) {
    const f = pickMembers(fido2, ['CredentialID', 'HMACSalt'])
    conf.FIDO2 = { CredentialID: asBytes(f.get('CredentialID'), 'FIDO2.CredentialID'), HMACSalt: asBytes(f.get('HMACSalt'), 'FIDO2.HMACSalt') }
  }
  return conf
}

/**
 * Parses and validates config text. Unreadable JSON gives exit code 11 (as a gocryptfs mount),
 * a config that fails validation 27. `path` only names the file in messages.
 */
export function parseConfig(text: string, path: string): ConfigFile {
  if (text.length === 0) throw new UserError(`Config file ${path} is empty`, ExitCode.Other)
  let conf: ConfigFile
  try {
    conf = decodeConfig(JSON.parse(text))
  } catch (err) {
    if (err instanceof SyntaxError || err instanceof TypeMismatch) {
      throw new UserError(`Config file ${path} is not a valid gocryptfs config: ${err.message}`, ExitCode.Other)
    }
    throw err
  }
  const problem = configProblem(conf)
  if (problem) throw new UserError(`Config file ${path} is not usable: ${problem}`, ExitCode.DeprecatedFS)
  return conf
}

/** Reads and parses a config file; an unreadable or missing file gives exit code 11. */
export function loadConfig(path: string): ConfigFile {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new UserError(`Cannot open config file ${path}: ${(err as Error).message}`, ExitCode.Other)
  }
  return parseConfig(text, path)
}

// ---- writing -------------------------------------------------------------------------------

// Go's encoding/json string escaping (1.19): HTML-safe, U+2028/2029 escaped, and only \n, \r, \t
// among the control characters get a short escape. Lone surrogates become U+FFFD when encoded.
function goQuote(s: string): string {
  let out = '"'
  for (const ch of s) {
    const c = ch.codePointAt(0)!
    if (ch === '"' || ch === '\\') out += '\\' + ch
    else if (ch === '\n') out += '\\n'
    else if (ch === '\r') out += '\\r'
    else if (ch === '\t') out += '\\t'
    else if (c < 0x20 || ch === '<' || ch === '>' || ch === '&' || c === 0x2028 || c === 0x2029) {
      out += '\\u' + c.toString(16).padStart(4, '0')
    } else out += ch
  }
  return out + '"'
}

function b64(buf: Buffer): string {
  return `"${buf.toString('base64')}"`
}

/** The file text exactly as gocryptfs writes it: json.MarshalIndent(conf, "", "\t") + "\n". */
export function serializeConfig(conf: ConfigFile): string {
  const s = conf.ScryptObject
  const flags = conf.FeatureFlags.length === 0 ? '[]' : `[\n${conf.FeatureFlags.map((f) => `\t\t${goQuote(f)}`).join(',\n')}\n\t]`
  const members = [
    `\t"Creator": ${goQuote(conf.Creator)}`,
    `\t"EncryptedKey": ${b64(conf.EncryptedKey)}`,
    `\t"ScryptObject": {\n\t\t"Salt": ${b64(s.Salt)},\n\t\t"N": ${s.N},\n\t\t"R": ${s.R},\n\t\t"P": ${s.P},\n\t\t"KeyLen": ${s.KeyLen}\n\t}`,
    `\t"Version": ${conf.Version}`,
    `\t"FeatureFlags": ${flags}`,
  ]
  if (conf.FIDO2) {
    members.push(`\t"FIDO2": {\n\t\t"CredentialID": ${b64(conf.FIDO2.CredentialID)},\n\t\t"HMACSalt": ${b64(conf.FIDO2.HMACSalt)}\n\t}`)
  }
  if (conf.LongNameMax !== 0) members.push(`\t"LongNameMax": ${conf.LongNameMax}`)
  return `{\n${members.join(',\n')}\n}\n`
}

function isEnoent(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT'
}

/**
 * Writes `path` atomically as gocryptfs does: `path.tmp` (mode 0400, created exclusively),
 * fsync, rename, then fsync of the directory. An existing `path` is refused with exit code 7
 * unless `overwrite`; other failures give 24 and remove the temporary file.
 */
export function writeConfigFile(path: string, conf: ConfigFile, opts: { overwrite: boolean }): void {
  const problem = configProblem(conf)
  if (problem) throw new UserError(`Refusing to write an invalid config to ${path}: ${problem}`, ExitCode.WriteConf)
  if (!opts.overwrite) {
    let exists = true
    try {
      statSync(path)
    } catch (err) {
      if (!isEnoent(err)) throw new UserError(`Cannot check config file ${path}: ${(err as Error).message}`, ExitCode.Init)
      exists = false
    }
    if (exists) throw new UserError(`Config file ${path} already exists`, ExitCode.Init)
  }
  const tmp = path + '.tmp'
  let fd: number
  try {
    fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o400)
  } catch (err) {
    throw new UserError(`Cannot create ${tmp}: ${(err as Error).message}`, ExitCode.WriteConf)
  }
  try {
    try {
      fchmodSync(fd, 0o400) // independent of the umask
      writeFileSync(fd, serializeConfig(conf))
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, path)
  } catch (err) {
    try {
      unlinkSync(tmp)
    } catch {
      // already renamed or never written: nothing to clean up
    }
    throw new UserError(`Cannot write config file ${path}: ${(err as Error).message}`, ExitCode.WriteConf)
  }
  syncDirectory(dirname(path))
}

// Makes the rename durable. Best effort: not every file system can fsync a directory.
function syncDirectory(dir: string): void {
  try {
    const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY)
    try {
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
  } catch {
    // the config itself was fsync'ed; only the directory entry's durability is at stake
  }
}

// ---- master key wrapping -------------------------------------------------------------------

const GCM_TAG_LEN = 16
// Block number 0 as big-endian uint64 and no file ID, like a symlink target.
const WRAP_AAD = Buffer.alloc(8)

// HKDF file systems (gocryptfs 1.3+) wrap with an HKDF-derived key and a 128-bit nonce; older
// ones use the scrypt output directly with a 96-bit nonce.
function wrapParams(kek: Buffer, hkdf: boolean): { key: Buffer; nonceLen: number } {
  return hkdf ? { key: hkdfSha256(kek, HKDF_INFO_GCM, 32), nonceLen: 16 } : { key: kek, nonceLen: 12 }
}

async function scryptKek(password: Uint8Array, params: ScryptParams): Promise<Buffer> {
  // gocryptfs panics on any other KeyLen: AES-256 needs exactly 32 bytes.
  if (params.KeyLen !== 32) {
    throw new UserError(`scrypt parameter KeyLen=${params.KeyLen} is not supported (must be 32)`, ExitCode.ScryptParams)
  }
  return deriveScryptKey(password, params)
}

async function wrapMasterKey(masterKey: Uint8Array, password: Uint8Array, params: ScryptParams, hkdf: boolean): Promise<Buffer> {
  if (masterKey.length !== MASTER_KEY_LEN) throw new RangeError(`master key must be ${MASTER_KEY_LEN} bytes, got ${masterKey.length}`)
  const kek = await scryptKek(password, params)
  const { key, nonceLen } = wrapParams(kek, hkdf)
  try {
    const nonce = randomBytes(nonceLen)
    const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: GCM_TAG_LEN })
    cipher.setAAD(WRAP_AAD)
    return Buffer.concat([nonce, cipher.update(masterKey), cipher.final(), cipher.getAuthTag()])
  } finally {
    kek.fill(0)
    key.fill(0)
  }
}

/**
 * Recovers the master key with a password. A wrong password (GCM authentication failure) is
 * "Password incorrect." with exit code 12, as is a malformed EncryptedKey.
 */
export async function unwrapMasterKey(conf: ConfigFile, password: Uint8Array): Promise<Buffer> {
  if (hasFlag(conf, 'FIDO2')) {
    throw new UserError('The master key of this config is protected by a FIDO2 token, which is not supported', ExitCode.Usage)
  }
  const hkdf = hasFlag(conf, 'HKDF')
  const nonceLen = hkdf ? 16 : 12
  const blob = conf.EncryptedKey
  if (blob.length < nonceLen + GCM_TAG_LEN) {
    throw new UserError(`Password incorrect. (EncryptedKey is too short: ${plural(blob.length, 'byte')})`, ExitCode.PasswordIncorrect)
  }
  const nonce = blob.subarray(0, nonceLen)
  // gocryptfs refuses an all-zero nonce: it is the signature of zeroed storage, never random output.
  if (nonce.every((b) => b === 0)) {
    throw new UserError('Password incorrect. (EncryptedKey has an all-zero nonce)', ExitCode.PasswordIncorrect)
  }
  const kek = await scryptKek(password, conf.ScryptObject)
  const { key } = wrapParams(kek, hkdf)
  let masterKey: Buffer | undefined
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: GCM_TAG_LEN })
    decipher.setAAD(WRAP_AAD)
    decipher.setAuthTag(blob.subarray(blob.length - GCM_TAG_LEN))
    // GCM is a stream mode: update() returns all of it, final() only authenticates.
    masterKey = decipher.update(blob.subarray(nonceLen, blob.length - GCM_TAG_LEN))
    decipher.final()
  } catch {
    masterKey?.fill(0)
    throw new UserError('Password incorrect.', ExitCode.PasswordIncorrect)
  } finally {
    kek.fill(0)
    key.fill(0)
  }
  if (masterKey.length !== MASTER_KEY_LEN) {
    masterKey.fill(0)
    throw new UserError(`The decrypted master key has ${plural(masterKey.length, 'byte')} instead of ${MASTER_KEY_LEN}`, ExitCode.Other)
  }
  return masterKey
}

export interface CreateConfigOptions {
  masterKey: Uint8Array
  password: Uint8Array
  /** log2 of scrypt's N; default 16, values <= 0 also mean 16. */
  scryptLogN?: number
  plaintextNames?: boolean
  deterministicNames?: boolean
  /** 0, absent or 255 = the default limit, which is not stored. */
  longNameMax?: number
  aessiv: boolean
  creator: string
}

/** A new v2 config wrapping `masterKey`, with the feature flags in the order gocryptfs -init writes. */
export async function createConfig(opts: CreateConfigOptions): Promise<ConfigFile> {
  const logN = resolveLogN(opts.scryptLogN, ExitCode.WriteConf)
  const flags: FeatureFlag[] = ['HKDF', 'GCMIV128']
  let longNameMax = 0
  if (opts.plaintextNames) {
    flags.push('PlaintextNames')
  } else {
    if (!opts.deterministicNames) flags.push('DirIV')
    const limit = checkLongNameMax(opts.longNameMax)
    if (limit !== NAME_MAX) {
      longNameMax = limit
      flags.push('LongNameMax')
    }
    flags.push('EMENames', 'LongNames', 'Raw64')
  }
  if (opts.aessiv) flags.push('AESSIV')
  const scrypt = newScryptParams(logN)
  return {
    Creator: opts.creator,
    EncryptedKey: await wrapMasterKey(opts.masterKey, opts.password, scrypt, true),
    ScryptObject: scrypt,
    Version: CONFIG_VERSION,
    FeatureFlags: flags,
    LongNameMax: longNameMax,
  }
}

/**
 * The config with `masterKey` wrapped under a new password and fresh salt and nonce (-passwd).
 * Without `scryptLogN` the old cost is kept; an explicit value outside 10..28 gives exit code 13.
 */
export async function rewrapMasterKey(conf: ConfigFile, masterKey: Uint8Array, newPassword: Uint8Array, scryptLogN?: number): Promise<ConfigFile> {
  const logN = scryptLogN === undefined ? logNOf(conf.ScryptObject) : resolveLogN(scryptLogN, ExitCode.ScryptParams)
  const scrypt = newScryptParams(logN)
  return {
    ...conf,
    FeatureFlags: [...conf.FeatureFlags],
    ScryptObject: scrypt,
    EncryptedKey: await wrapMasterKey(masterKey, newPassword, scrypt, hasFlag(conf, 'HKDF')),
  }
}
