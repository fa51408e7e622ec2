// Settings detection for -masterkey without a config: the vectors' copies (plaintext, DirIV,
// deterministic names with -longnamemax 100), copies of our own ReverseView for settings the
// vectors lack (padded base64, no HKDF), a lost root diriv, explicit flags, a wrong key, and a
// copy that cannot tell.
import t from 'tap'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { UserError } from '../src/exitcodes.js'
import { ROOT_DIRIV, detectSettings, masterKeyFits, nameShape } from '../src/restore/detect.js'
import { deriveKeys } from '../src/format/keys.js'
import { parseMasterKey } from '../src/format/masterkey.js'
import { settingsFromFlags, type FormatFlags, type FormatSettings } from '../src/format/settings.js'
import { derivePathIv } from '../src/format/pathiv.js'
import { ReverseView } from '../src/view/reverse.js'
import { materialize, untar, vectorCopy } from './lib/restore-fixtures.js'
import { scratchDir } from './lib/reverse-mounts.js'
import { VECTORS } from './lib/vectors.js'

const pick = (s: FormatSettings): Partial<FormatSettings> => ({
  plaintextNames: s.plaintextNames,
  dirIv: s.dirIv,
  raw64: s.raw64,
  hkdf: s.hkdf,
  aessiv: s.aessiv,
})

t.test('nameShape', async (t) => {
  t.equal(nameShape('QlJdkRUR8yk7JpkC5wsvPw'), 'raw', '22 characters: 16 bytes unpadded')
  t.equal(nameShape('QlJdkRUR8yk7JpkC5wsvPw=='), 'padded')
  t.equal(nameShape('A'.repeat(64)), 'either', '48 bytes need no padding')
  t.equal(nameShape('gocryptfs.longname.' + 'a'.repeat(43)), 'raw')
  t.equal(nameShape('gocryptfs.longname.' + 'a'.repeat(43) + '='), 'padded')
  for (const n of ['file-1', 'a.txt', 'A'.repeat(21), 'A'.repeat(23), 'gocryptfs.diriv', 'A'.repeat(22) + '=']) {
    t.equal(nameShape(n), undefined, `${n} cannot be an encrypted name`)
  }
})

t.test('the root diriv is the same in every reverse view', async (t) => {
  t.same(ROOT_DIRIV, derivePathIv('', 'DIRIV'))
  t.equal(ROOT_DIRIV.toString('hex'), 'a8f7bac432ddc1cb3dc74e684d6ae48b', 'spec 5.1')
})

for (const v of ['A', 'B', 'C']) {
  t.test(`vector ${v} without its config`, async (t) => {
    const c = vectorCopy(t, v, { withoutConf: true })
    const key = parseMasterKey(c.key)
    const { settings, notes } = await detectSettings(c.view, key)
    t.same(pick(settings), pick(c.settings))
    if (v === 'C') {
      // The copy shows names of 43 characters in full and hashes those of 235 and more: any
      // limit in between treats its names as -longnamemax 100 did; the note says so.
      t.ok(settings.longNameMax >= 43 && settings.longNameMax < 235, `longNameMax ${settings.longNameMax} acts as 100 here`)
      t.match(notes.join('\n'), /between 43 and 234.*-longnamemax/)
    } else {
      t.equal(settings.longNameMax, 255)
    }
    t.match(notes.join('\n'), /settings detected: .*AES-SIV/)
    t.equal(await masterKeyFits(c.view, c.settings, deriveKeys(key, { hkdf: true })), true)
    t.equal(await masterKeyFits(c.view, c.settings, deriveKeys(Buffer.alloc(32, 9), { hkdf: true })), false)
  })
}

t.test('a lost root gocryptfs.diriv: names decrypt with the path-derived IV', async (t) => {
  const c = vectorCopy(t, 'B', { withoutConf: true })
  rmSync(path.join(c.view, 'gocryptfs.diriv'))
  const { settings, notes } = await detectSettings(c.view, parseMasterKey(c.key))
  t.same(pick(settings), pick(c.settings))
  t.match(notes[0], /root gocryptfs\.diriv is missing/)
})

t.test('explicit flags win', async (t) => {
  const c = vectorCopy(t, 'B', { withoutConf: true })
  const key = parseMasterKey(c.key)
  t.equal((await detectSettings(c.view, key, { deterministicNames: true })).settings.dirIv, false)
  t.equal((await detectSettings(c.view, key, { raw64: false })).settings.raw64, false)
  const err = await detectSettings(c.view, key, { aessiv: false }).catch((e: unknown) => e)
  t.equal((err as UserError).exitCode, 1, '-aessiv=false: nothing else is a reverse view')
})

t.test('settings the vectors lack, from copies of our ReverseView', async (t) => {
  const work = scratchDir(t, 'tsreverse-detect-')
  const src = path.join(work, 'src')
  untar(path.join(VECTORS, 'plaintext-tree.tar'), src)
  const masterKey = Buffer.alloc(32, 3)
  const cases: [string, FormatFlags][] = [
    ['padded base64', { raw64: false }],
    ['no HKDF', { hkdf: false }],
    ['deterministic, padded, no HKDF', { deterministicNames: true, raw64: false, hkdf: false }],
    ['plaintext names, no HKDF', { plaintextNames: true, hkdf: false }],
  ]
  for (const [name, flags] of cases) {
    const settings = settingsFromFlags({ ...flags, aessiv: true })
    const copy = path.join(work, name)
    mkdirSync(copy)
    await materialize(await ReverseView.create({ source: src, settings, masterKey }), copy)
    t.same(pick((await detectSettings(copy, masterKey)).settings), pick(settings), name)
  }
})

t.test('a wrong key, and a copy that cannot tell', async (t) => {
  const c = vectorCopy(t, 'C', { withoutConf: true })
  const wrong = await detectSettings(c.view, Buffer.alloc(32, 5)).catch((e: unknown) => e)
  t.equal((wrong as UserError).exitCode, 12)
  t.match((wrong as UserError).message, /does not decrypt the file contents/)

  // Names that look encrypted, nothing that decrypts, no file contents to try the key on.
  const odd = scratchDir(t, 'tsreverse-detect-')
  for (const n of ['AAAAAAAAAAAAAAAAAAAAAA', 'BBBBBBBBBBBBBBBBBBBBBB']) writeFileSync(path.join(odd, n), '')
  const err = await detectSettings(odd, Buffer.alloc(32, 5)).catch((e: unknown) => e)
  t.ok(err instanceof UserError)
  t.equal((err as UserError).exitCode, 1)
  t.match((err as UserError).message, /-plaintextnames/)
  t.same(pick((await detectSettings(odd, Buffer.alloc(32, 5), { plaintextNames: true })).settings).plaintextNames, true, 'the flag settles it')
})
