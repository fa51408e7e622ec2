// The config file: the three vectors (unwrap, byte-identical re-serialization, -info text),
// every validation rule as a table with its exit code, creation and re-wrapping, atomic
// writing, and interoperability with the real gocryptfs 2.3 in both directions.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ExitCode } from '../src/exitcodes.js'
import { loadConfigForInfo, formatInfo } from '../src/cli/info.js'
import {
  checkLongNameMax,
  createConfig,
  loadConfig,
  parseConfig,
  rewrapMasterKey,
  serializeConfig,
  unwrapMasterKey,
  writeConfigFile,
  type ConfigFile,
} from '../src/format/config.js'
import { formatMasterKey, parseMasterKey } from '../src/format/masterkey.js'
import { settingsFromConfig, settingsFromFlags } from '../src/format/settings.js'
import { VECTORS } from './lib/vectors.js'

const vectorText = (v: string) => readFileSync(`${VECTORS}/${v}/gocryptfs.conf`, 'utf8')
const vectorPassword = (v: string) => readFileSync(`${VECTORS}/${v}/passfile.txt`).subarray(0, -1)
const vectorKey = (v: string) => parseMasterKey(readFileSync(`${VECTORS}/${v}/masterkey.txt`, 'utf8').trim())
const pw = (s: string) => Buffer.from(s)
const userError = (exitCode: number) => ({ name: 'UserError', exitCode })

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsreverse-config-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.test('vectors: unwrap to masterkey.txt, serialize back byte for byte, -info text', async (t) => {
  for (const v of ['A', 'B', 'C']) {
    const text = vectorText(v)
    const conf = parseConfig(text, `${v}/gocryptfs.conf`)
    t.equal(serializeConfig(conf), text, `${v}: serialize(parse(x)) === x`)
    t.equal(formatInfo(conf), readFileSync(`${VECTORS}/${v}/info.txt`, 'utf8'), `${v}: -info`)
    const key = await unwrapMasterKey(conf, vectorPassword(v))
    t.equal(key.toString('hex'), vectorKey(v).toString('hex'), `${v}: master key`)
  }
})

t.test('vectors: format settings', async (t) => {
  const common = { hkdf: true, aessiv: true }
  t.same(settingsFromConfig(parseConfig(vectorText('A'), 'A')), {
    ...common,
    plaintextNames: true,
    dirIv: false,
    emeNames: false,
    longNames: false,
    longNameMax: 255,
    raw64: false,
  })
  t.same(settingsFromConfig(parseConfig(vectorText('B'), 'B')), {
    ...common,
    plaintextNames: false,
    dirIv: true,
    emeNames: true,
    longNames: true,
    longNameMax: 255,
    raw64: true,
  })
  t.same(settingsFromConfig(parseConfig(vectorText('C'), 'C')), {
    ...common,
    plaintextNames: false,
    dirIv: false,
    emeNames: true,
    longNames: true,
    longNameMax: 100,
    raw64: true,
  })
  t.equal(settingsFromConfig(parseConfig(vectorText('B'), 'B'), { longnames: false }).longNames, false)
})

t.test('settings from flags (-masterkey mounts) use gocryptfs defaults', async (t) => {
  t.same(settingsFromFlags({ aessiv: true }), {
    plaintextNames: false,
    dirIv: true,
    emeNames: true,
    longNames: true,
    longNameMax: 255,
    raw64: true,
    hkdf: true,
    aessiv: true,
  })
  // The flags of vectors A and C give the settings of their configs (README check 3).
  t.same(settingsFromFlags({ aessiv: true, plaintextNames: true }), settingsFromConfig(parseConfig(vectorText('A'), 'A')))
  t.same(settingsFromFlags({ aessiv: true, deterministicNames: true, longNameMax: 100 }), settingsFromConfig(parseConfig(vectorText('C'), 'C')))
  t.match(settingsFromFlags({ raw64: false, hkdf: false, longnames: false, longNameMax: 0 }), {
    raw64: false,
    hkdf: false,
    longNames: false,
    longNameMax: 255,
    aessiv: false,
  })
  for (const ok of [62, 200, 255]) t.equal(settingsFromFlags({ longNameMax: ok }).longNameMax, ok)
  for (const bad of [1, 61, 256, 100.5]) {
    t.throws(() => settingsFromFlags({ longNameMax: bad }), userError(ExitCode.Usage), `-longnamemax ${bad}`)
    t.throws(() => checkLongNameMax(bad), userError(ExitCode.Usage))
  }
})

// A variant of vector B's config, changed as JSON.
function variant(change: (c: Record<string, any>) => void, base = 'B'): string {
  const obj = JSON.parse(vectorText(base))
  change(obj)
  return JSON.stringify(obj, null, '\t')
}
const setFlags = (flags: string[]) => (c: Record<string, any>) => (c.FeatureFlags = flags)
const B_FLAGS = ['HKDF', 'GCMIV128', 'DirIV', 'EMENames', 'LongNames', 'Raw64', 'AESSIV']
const without = (...drop: string[]) => B_FLAGS.filter((f) => !drop.includes(f))

t.test('malformed and invalid configs are refused with gocryptfs exit codes', async (t) => {
  const cases: [string, string, number, RegExp?][] = [
    ['empty file', '', ExitCode.Other, /empty/],
    ['truncated JSON', vectorText('B').slice(0, 120), ExitCode.Other],
    ['trailing garbage', vectorText('B') + '}', ExitCode.Other],
    ['byte order mark', '\ufeff' + vectorText('B'), ExitCode.Other],
    ['top level is an array', '[]', ExitCode.Other],
    ['Creator is a number', variant((c) => (c.Creator = 5)), ExitCode.Other, /Creator/],
    ['N is a string', variant((c) => (c.ScryptObject.N = '65536')), ExitCode.Other, /N/],
    ['N is fractional', variant((c) => (c.ScryptObject.N = 1024.5)), ExitCode.Other],
    ['ScryptObject is an array', variant((c) => (c.ScryptObject = [])), ExitCode.Other],
    ['EncryptedKey is not base64', variant((c) => (c.EncryptedKey = 'abc')), ExitCode.Other, /EncryptedKey/],
    ['EncryptedKey is URL-safe base64', variant((c) => (c.EncryptedKey = '-_' + c.EncryptedKey.slice(2))), ExitCode.Other],
    ['Salt without padding', variant((c) => (c.ScryptObject.Salt = c.ScryptObject.Salt.replace(/=$/, ''))), ExitCode.Other],
    ['FeatureFlags is a string', variant((c) => (c.FeatureFlags = 'HKDF')), ExitCode.Other],
    ['FeatureFlags holds a number', variant((c) => (c.FeatureFlags = [...B_FLAGS, 1])), ExitCode.Other],
    ['Version is negative', variant((c) => (c.Version = -2)), ExitCode.Other],
    ['LongNameMax does not fit uint8', variant((c) => (c.LongNameMax = 300)), ExitCode.Other],
    ['top level null', 'null', ExitCode.DeprecatedFS, /version 0/],
    ['Version 1', variant((c) => (c.Version = 1)), ExitCode.DeprecatedFS, /version 1/],
    ['Version 3', variant((c) => (c.Version = 3)), ExitCode.DeprecatedFS, /version 3/],
    ['Version missing', variant((c) => delete c.Version), ExitCode.DeprecatedFS],
    ['unknown flag', variant(setFlags([...B_FLAGS, 'TurboNames'])), ExitCode.DeprecatedFS, /"TurboNames"/],
    ['flag in the wrong case', variant(setFlags([...without('HKDF'), 'hkdf'])), ExitCode.DeprecatedFS, /"hkdf"/],
    ['N below 1024', variant((c) => (c.ScryptObject.N = 512)), ExitCode.DeprecatedFS, /N=512/],
    ['N missing', variant((c) => delete c.ScryptObject.N), ExitCode.DeprecatedFS],
    ['R below 8', variant((c) => (c.ScryptObject.R = 4)), ExitCode.DeprecatedFS, /R=4/],
    ['P below 1', variant((c) => (c.ScryptObject.P = 0)), ExitCode.DeprecatedFS, /P=0/],
    ['salt of 16 bytes', variant((c) => (c.ScryptObject.Salt = Buffer.alloc(16, 7).toString('base64'))), ExitCode.DeprecatedFS, /salt/],
    ['KeyLen 16', variant((c) => (c.ScryptObject.KeyLen = 16)), ExitCode.DeprecatedFS, /KeyLen=16/],
    ['AESSIV without GCMIV128', variant(setFlags(without('GCMIV128'))), ExitCode.DeprecatedFS, /GCMIV128/],
    ['XChaCha20Poly1305 with AESSIV', variant(setFlags([...without('GCMIV128'), 'XChaCha20Poly1305'])), ExitCode.DeprecatedFS],
    ['XChaCha20Poly1305 with GCMIV128', variant(setFlags([...without('AESSIV'), 'XChaCha20Poly1305'])), ExitCode.DeprecatedFS],
    ['XChaCha20Poly1305 without HKDF', variant(setFlags([...without('AESSIV', 'GCMIV128', 'HKDF'), 'XChaCha20Poly1305'])), ExitCode.DeprecatedFS],
    ['AES-GCM without GCMIV128', variant(setFlags(without('AESSIV', 'GCMIV128'))), ExitCode.DeprecatedFS, /GCMIV128/],
    ['LongNameMax member without flag', variant((c) => (c.LongNameMax = 100)), ExitCode.DeprecatedFS, /LongNameMax=100/],
    ['LongNameMax flag without member', variant(setFlags([...B_FLAGS, 'LongNameMax'])), ExitCode.DeprecatedFS],
    ['LongNameMax flag with member 0', variant((c) => (c.LongNameMax = 0), 'C'), ExitCode.DeprecatedFS],
  ]
  for (const flag of ['EMENames', 'DirIV', 'LongNames', 'Raw64', 'LongNameMax']) {
    const text = variant((c) => {
      c.FeatureFlags = ['HKDF', 'GCMIV128', 'PlaintextNames', 'AESSIV', flag]
      if (flag === 'LongNameMax') c.LongNameMax = 100
    })
    cases.push([`PlaintextNames with ${flag}`, text, ExitCode.DeprecatedFS, new RegExp(`PlaintextNames.*${flag}`)])
  }
  for (const [name, text, exitCode, message] of cases) {
    t.throws(() => parseConfig(text, '/some/dir/gocryptfs.conf'), userError(exitCode), name)
    try {
      parseConfig(text, '/some/dir/gocryptfs.conf')
    } catch (err) {
      t.match((err as Error).message, /\/some\/dir\/gocryptfs\.conf/, `${name}: names the file`)
      if (message) t.match((err as Error).message, message, `${name}: says why`)
    }
  }
})

t.test('Go decoding rules: member names fold case, unknown members and nulls are tolerated', async (t) => {
  const b = parseConfig(vectorText('B'), 'B')
  const lowered = vectorText('B').replace(/"(\w+)":/g, (_, k: string) => `"${k.toLowerCase()}":`)
  t.not(lowered, vectorText('B'))
  t.equal(serializeConfig(parseConfig(lowered, 'lowered')), vectorText('B'), 'lower-case member names')
  // U+212A KELVIN SIGN folds to "k" in Go (and in JS toLowerCase).
  t.equal(parseConfig(vectorText('B').replace('"KeyLen"', '"\u212aeyLen"'), 'kelvin').ScryptObject.KeyLen, 32)
  t.equal(parseConfig(vectorText('B').replace('"Salt"', '"\u017falt"'), 'long s').ScryptObject.Salt.length, 32)
  const extra = variant((c) => {
    c.Comment = { anything: [1, 2] }
    c.FIDO2 = null
    c.LongNameMax = null
    c.ScryptObject.Extra = true
  })
  t.same(parseConfig(extra, 'extra'), b)
  // Base64 with embedded line breaks is accepted, as Go's decoder skips \r and \n.
  const wrapped = variant((c) => (c.EncryptedKey = c.EncryptedKey.slice(0, 20) + '\r\n' + c.EncryptedKey.slice(20)))
  t.same(parseConfig(wrapped, 'wrapped').EncryptedKey, b.EncryptedKey)
})

t.test('serialization escapes strings like Go and keeps FIDO2 and LongNameMax in place', async (t) => {
  const conf = parseConfig(vectorText('C'), 'C')
  conf.Creator = 'a"b\\c\n\t\r\u0001<>&\u2028é😀'
  conf.FIDO2 = { CredentialID: Buffer.from([1, 2, 3]), HMACSalt: Buffer.alloc(32, 9) }
  const text = serializeConfig(conf)
  t.match(text, '\t"Creator": "a\\"b\\\\c\\n\\t\\r\\u0001\\u003c\\u003e\\u0026\\u2028é😀",\n')
  t.match(text, /\t\],\n\t"FIDO2": \{\n\t\t"CredentialID": "AQID",\n\t\t"HMACSalt": "[^"]+"\n\t\},\n\t"LongNameMax": 100\n\}\n$/)
  const back = parseConfig(text, 'escaped')
  t.equal(back.Creator, conf.Creator)
  t.same(back.FIDO2, conf.FIDO2)
  t.equal(serializeConfig(back), text)
})

t.test('unwrapping failures', async (t) => {
  const b = parseConfig(vectorText('B'), 'B')
  await t.rejects(unwrapMasterKey(b, pw('vector-B-passwore')), { ...userError(ExitCode.PasswordIncorrect), message: 'Password incorrect.' })
  await t.rejects(unwrapMasterKey(b, Buffer.concat([vectorPassword('B'), pw('\r')])), userError(ExitCode.PasswordIncorrect))
  const zeroNonce = { ...b, EncryptedKey: Buffer.concat([Buffer.alloc(16), b.EncryptedKey.subarray(16)]) }
  await t.rejects(unwrapMasterKey(zeroNonce, vectorPassword('B')), { ...userError(ExitCode.PasswordIncorrect), message: /all-zero nonce/ })
  await t.rejects(unwrapMasterKey({ ...b, EncryptedKey: b.EncryptedKey.subarray(0, 31) }, vectorPassword('B')), userError(ExitCode.PasswordIncorrect))
  await t.rejects(unwrapMasterKey({ ...b, EncryptedKey: Buffer.alloc(0) }, vectorPassword('B')), userError(ExitCode.PasswordIncorrect))
  const flipped = Buffer.from(b.EncryptedKey)
  flipped[40]! ^= 1
  await t.rejects(unwrapMasterKey({ ...b, EncryptedKey: flipped }, vectorPassword('B')), userError(ExitCode.PasswordIncorrect))
  // The AAD and nonce length belong to the HKDF flag: without it the same blob does not open.
  await t.rejects(unwrapMasterKey({ ...b, FeatureFlags: without('HKDF') }, vectorPassword('B')), userError(ExitCode.PasswordIncorrect))
  await t.rejects(unwrapMasterKey({ ...b, FeatureFlags: [...B_FLAGS, 'FIDO2'] }, vectorPassword('B')), userError(ExitCode.Usage))
  const keyLen64 = parseConfig(
    variant((c) => (c.ScryptObject.KeyLen = 64)),
    'keylen 64',
  )
  await t.rejects(unwrapMasterKey(keyLen64, vectorPassword('B')), userError(ExitCode.ScryptParams))
})

t.test('loading files: missing, empty, -info mapping to exit code 8', async (t) => {
  const dir = tempDir(t)
  const missing = join(dir, 'nope.conf')
  t.throws(() => loadConfig(missing), { ...userError(ExitCode.Other), message: /nope\.conf/ })
  t.throws(() => loadConfigForInfo(missing), { ...userError(ExitCode.LoadConf), message: /nope\.conf/ })
  const empty = join(dir, 'empty.conf')
  writeFileSync(empty, '')
  t.throws(() => loadConfig(empty), { ...userError(ExitCode.Other), message: /empty/ })
  const v1 = join(dir, 'v1.conf')
  writeFileSync(
    v1,
    variant((c) => (c.Version = 1)),
  )
  t.throws(() => loadConfig(v1), userError(ExitCode.DeprecatedFS))
  t.throws(() => loadConfigForInfo(v1), userError(ExitCode.LoadConf))
  t.equal(formatInfo(loadConfigForInfo(`${VECTORS}/C/gocryptfs.conf`)), readFileSync(`${VECTORS}/C/info.txt`, 'utf8'))
  t.throws(() => settingsFromConfig({ ...loadConfig(`${VECTORS}/C/gocryptfs.conf`), LongNameMax: 30 }), userError(ExitCode.DeprecatedFS))
})

t.test('createConfig: flags in gocryptfs -init order, round trip through parse and unwrap', async (t) => {
  const expectations: [string, { plaintextNames?: boolean; deterministicNames?: boolean; longNameMax?: number }][] = [
    ['A', { plaintextNames: true }],
    ['B', {}],
    ['C', { deterministicNames: true, longNameMax: 100 }],
  ]
  for (const [v, opts] of expectations) {
    const masterKey = randomBytes(32)
    const conf = await createConfig({ masterKey, password: pw('secret'), scryptLogN: 10, aessiv: true, creator: 'tsreverse test', ...opts })
    const vector = parseConfig(vectorText(v), v)
    t.same(conf.FeatureFlags, vector.FeatureFlags, `${v}: same flags, same order`)
    t.equal(conf.LongNameMax, vector.LongNameMax)
    t.match(conf.ScryptObject, { N: 1024, R: 8, P: 1, KeyLen: 32 })
    t.equal(conf.EncryptedKey.length, 64)
    const back = parseConfig(serializeConfig(conf), 'created')
    t.equal(serializeConfig(back), serializeConfig(conf))
    t.equal((await unwrapMasterKey(back, pw('secret'))).toString('hex'), masterKey.toString('hex'), `${v}: unwraps`)
  }
  const gcm = await createConfig({ masterKey: randomBytes(32), password: pw('x'), scryptLogN: 10, aessiv: false, creator: 'c' })
  t.same(gcm.FeatureFlags, without('AESSIV'))
  const plainMax = await createConfig({
    masterKey: randomBytes(32),
    password: pw('x'),
    scryptLogN: 10,
    aessiv: true,
    creator: 'c',
    plaintextNames: true,
    longNameMax: 100,
  })
  t.notOk(plainMax.FeatureFlags.includes('LongNameMax'), '-longnamemax is ignored with -plaintextnames')
  const max255 = await createConfig({ masterKey: randomBytes(32), password: pw('x'), scryptLogN: 10, aessiv: true, creator: 'c', longNameMax: 255 })
  t.same(max255.FeatureFlags, B_FLAGS)
  t.equal(max255.LongNameMax, 0)
  const defaults = await createConfig({ masterKey: randomBytes(32), password: pw('x'), aessiv: true, creator: 'c' })
  t.equal(defaults.ScryptObject.N, 65536, 'default scryptn 16')
  const base = { masterKey: randomBytes(32), password: pw('x'), aessiv: true, creator: 'c' }
  await t.rejects(createConfig({ ...base, scryptLogN: 9 }), userError(ExitCode.WriteConf))
  await t.rejects(createConfig({ ...base, scryptLogN: 10, longNameMax: 61 }), userError(ExitCode.Usage))
  await t.rejects(createConfig({ ...base, scryptLogN: 10, longNameMax: 256 }), userError(ExitCode.Usage))
  await t.rejects(createConfig({ ...base, masterKey: randomBytes(16), scryptLogN: 10 }), RangeError)
})

t.test('rewrapMasterKey: new password, fresh salt and nonce, cost kept unless given', async (t) => {
  const masterKey = randomBytes(32)
  const conf = await createConfig({ masterKey, password: pw('old'), scryptLogN: 11, aessiv: true, creator: 'c', deterministicNames: true, longNameMax: 80 })
  const before = serializeConfig(conf)
  const next = await rewrapMasterKey(conf, masterKey, pw('new'))
  t.equal(serializeConfig(conf), before, 'the input is not modified')
  t.equal(next.ScryptObject.N, 2048)
  t.not(next.ScryptObject.Salt.toString('hex'), conf.ScryptObject.Salt.toString('hex'))
  t.not(next.EncryptedKey.subarray(0, 16).toString('hex'), conf.EncryptedKey.subarray(0, 16).toString('hex'))
  t.same(next.FeatureFlags, conf.FeatureFlags)
  t.equal(next.LongNameMax, 80)
  t.equal((await unwrapMasterKey(next, pw('new'))).toString('hex'), masterKey.toString('hex'))
  await t.rejects(unwrapMasterKey(next, pw('old')), userError(ExitCode.PasswordIncorrect))
  t.equal((await rewrapMasterKey(conf, masterKey, pw('n'), 10)).ScryptObject.N, 1024)
  await t.rejects(rewrapMasterKey(conf, masterKey, pw('n'), 5), userError(ExitCode.ScryptParams))
  // Legacy (no HKDF): 96-bit nonce, the scrypt output used directly as the GCM key.
  const legacy: ConfigFile = { ...conf, FeatureFlags: conf.FeatureFlags.filter((f) => f !== 'HKDF') }
  const legacyNext = await rewrapMasterKey(legacy, masterKey, pw('l'))
  t.equal(legacyNext.EncryptedKey.length, 60)
  t.equal((await unwrapMasterKey(legacyNext, pw('l'))).toString('hex'), masterKey.toString('hex'))
})

t.test('writeConfigFile: atomic, mode 0400, refuses to overwrite, leaves no temporary file', async (t) => {
  const dir = tempDir(t)
  const conf = parseConfig(vectorText('B'), 'B')
  const path = join(dir, 'gocryptfs.conf')
  writeConfigFile(path, conf, { overwrite: false })
  t.equal(readFileSync(path, 'utf8'), vectorText('B'))
  t.equal(statSync(path).mode & 0o777, 0o400)
  t.same(readdirSync(dir), ['gocryptfs.conf'])
  const other = parseConfig(vectorText('A'), 'A')
  t.throws(() => writeConfigFile(path, other, { overwrite: false }), { ...userError(ExitCode.Init), message: /already exists/ })
  t.equal(readFileSync(path, 'utf8'), vectorText('B'), 'existing file untouched')
  writeConfigFile(path, other, { overwrite: true })
  t.equal(readFileSync(path, 'utf8'), vectorText('A'), 'replaced when asked (-passwd)')
  t.equal(statSync(path).mode & 0o777, 0o400)
  t.same(readdirSync(dir), ['gocryptfs.conf'])

  t.throws(() => writeConfigFile(join(dir, 'no/such/dir/x.conf'), conf, { overwrite: false }), userError(ExitCode.WriteConf))
  // Rename fails when the target is a non-empty directory: the temporary file must go.
  const blocked = join(dir, 'blocked')
  mkdirSync(join(blocked, 'inner'), { recursive: true })
  t.throws(() => writeConfigFile(blocked, conf, { overwrite: true }), userError(ExitCode.WriteConf))
  t.notOk(existsSync(blocked + '.tmp'), 'no temporary file left behind')
  // A stale temporary file is someone else's: refuse and leave it alone.
  const stale = join(dir, 'stale.conf')
  writeFileSync(stale + '.tmp', 'partial')
  t.throws(() => writeConfigFile(stale, conf, { overwrite: false }), { ...userError(ExitCode.WriteConf), message: /stale\.conf\.tmp/ })
  t.equal(readFileSync(stale + '.tmp', 'utf8'), 'partial')
  t.notOk(existsSync(stale))
  const invalid = { ...conf, Version: 3 }
  t.throws(() => writeConfigFile(join(dir, 'invalid.conf'), invalid, { overwrite: false }), userError(ExitCode.WriteConf))
  t.notOk(existsSync(join(dir, 'invalid.conf')))
  t.notOk(existsSync(join(dir, 'invalid.conf.tmp')))
})

// ---- interoperability with the real gocryptfs ---------------------------------------------

const haveGocryptfs = spawnSync('gocryptfs', ['-version']).status === 0
const gocryptfs = (args: string[]) => spawnSync('gocryptfs', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 })

function passfile(dir: string, password: string): string {
  const path = join(dir, 'passfile')
  writeFileSync(path, password + '\n')
  chmodSync(path, 0o600)
  return path
}

t.test('gocryptfs reads our configs: -info, -passwd, and a reverse mount', { skip: !haveGocryptfs && 'gocryptfs not installed' }, async (t) => {
  const dir = tempDir(t)
  const masterKey = randomBytes(32)
  const conf = await createConfig({ masterKey, password: pw('interop pw'), scryptLogN: 10, aessiv: true, creator: 'tsreverse test' })
  const confPath = join(dir, 'our.conf')
  writeConfigFile(confPath, conf, { overwrite: false })
  const pass = passfile(dir, 'interop pw')
  const src = join(dir, 'src')
  mkdirSync(src)
  writeFileSync(join(src, 'hello.txt'), 'hello\n')

  const info = gocryptfs(['-q', '-info', '-config', confPath, src])
  t.equal(info.status, 0, info.stderr)
  t.equal(info.stdout, formatInfo(conf), 'gocryptfs -info prints what formatInfo prints')

  // Mounting unlocks our wrapping; the view must equal a -masterkey mount with our key.
  const listings: string[][] = []
  for (const auth of [
    ['-config', confPath, '-passfile', pass],
    [`-masterkey=${formatMasterKey(masterKey)}`, '-aessiv'],
  ]) {
    const mnt = join(dir, `mnt${listings.length}`)
    mkdirSync(mnt)
    const mount = spawnSync('gocryptfs', ['-q', '-reverse', ...auth, src, mnt], { stdio: 'ignore', timeout: 60_000 })
    t.equal(mount.status, 0, 'reverse mount succeeded')
    t.teardown(() => spawnSync('fusermount', ['-u', '-z', mnt]))
    try {
      listings.push(readdirSync(mnt).sort())
    } finally {
      spawnSync('fusermount', ['-u', mnt])
    }
  }
  t.equal(listings[0]!.length, 2)
  t.ok(listings[0]!.includes('gocryptfs.diriv'))
  t.notOk(listings[0]!.includes('hello.txt'), 'names are encrypted')
  t.same(listings[0], listings[1], 'gocryptfs recovered exactly our master key')

  // -passwd opens our wrapping and writes its own; we read that back to the same key.
  const passwd = gocryptfs(['-q', '-passwd', '-config', confPath, '-passfile', pass, src])
  t.equal(passwd.status, 0, passwd.stderr)
  const rewritten = readFileSync(confPath, 'utf8')
  t.not(rewritten, serializeConfig(conf), 'gocryptfs rewrote the file')
  t.equal(serializeConfig(parseConfig(rewritten, confPath)), rewritten, 'byte-identical re-serialization of gocryptfs output')
  t.equal((await unwrapMasterKey(loadConfig(confPath), pw('interop pw'))).toString('hex'), masterKey.toString('hex'))
})

t.test('legacy (non-HKDF) wrapping interoperates with gocryptfs -passwd', { skip: !haveGocryptfs && 'gocryptfs not installed' }, async (t) => {
  const dir = tempDir(t)
  const masterKey = randomBytes(32)
  const created = await createConfig({ masterKey, password: pw('x'), scryptLogN: 10, aessiv: true, creator: 'c' })
  const legacy = await rewrapMasterKey({ ...created, FeatureFlags: created.FeatureFlags.filter((f) => f !== 'HKDF') }, masterKey, pw('legacy pw'))
  const confPath = join(dir, 'legacy.conf')
  writeConfigFile(confPath, legacy, { overwrite: false })
  const passwd = gocryptfs(['-q', '-passwd', '-config', confPath, '-passfile', passfile(dir, 'legacy pw'), dir])
  t.equal(passwd.status, 0, passwd.stderr)
  const back = loadConfig(confPath)
  t.equal(back.EncryptedKey.length, 60, 'gocryptfs also uses a 96-bit nonce without HKDF')
  t.equal((await unwrapMasterKey(back, pw('legacy pw'))).toString('hex'), masterKey.toString('hex'))
})

t.test('we read configs made by gocryptfs -init: same flags as createConfig, exact bytes', { skip: !haveGocryptfs && 'gocryptfs not installed' }, async (t) => {
  const dir = tempDir(t)
  const pass = passfile(dir, 'init pw')
  const variants: [string[], { plaintextNames?: boolean; deterministicNames?: boolean; longNameMax?: number }][] = [
    [['-plaintextnames'], { plaintextNames: true }],
    [[], {}],
    [['-deterministic-names', '-longnamemax', '100'], { deterministicNames: true, longNameMax: 100 }],
    [['-longnamemax', '62'], { longNameMax: 62 }],
  ]
  for (const [i, [flags, opts]] of variants.entries()) {
    const confPath = join(dir, `init${i}.conf`)
    const init = gocryptfs(['-q', '-init', '-reverse', '-scryptn', '10', '-passfile', pass, '-config', confPath, ...flags, dir])
    t.equal(init.status, 0, init.stderr)
    const text = readFileSync(confPath, 'utf8')
    const theirs = parseConfig(text, confPath)
    t.equal(serializeConfig(theirs), text, `${flags.join(' ')}: byte-identical`)
    const ours = await createConfig({ masterKey: randomBytes(32), password: pw('x'), scryptLogN: 10, aessiv: true, creator: 'c', ...opts })
    t.same(ours.FeatureFlags, theirs.FeatureFlags, `${flags.join(' ')}: flags`)
    t.equal(ours.LongNameMax, theirs.LongNameMax)
    t.equal((await unwrapMasterKey(theirs, pw('init pw'))).length, 32)
  }
  // gocryptfs refuses an existing config with exit code 7, as writeConfigFile does.
  const again = gocryptfs(['-q', '-init', '-reverse', '-scryptn', '10', '-passfile', pass, '-config', join(dir, 'init0.conf'), dir])
  t.equal(again.status, ExitCode.Init)
})
