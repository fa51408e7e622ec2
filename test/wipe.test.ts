// Secrets held as bytes are zeroed once used: the password after unlocking, and a master key
// given as text is parsed without becoming a string (strings cannot be wiped).
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createConfig, writeConfigFile } from '../src/format/config.js'
import { parseMasterKey } from '../src/format/masterkey.js'

const KEY = Buffer.from('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'hex')

t.test('unlock zeroes the password once the master key is out, also when it is wrong', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tsreverse-wipe-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const conf = path.join(dir, 'c.conf')
  const config = await createConfig({ masterKey: KEY, password: Buffer.from('right'), scryptLogN: 10, aessiv: true, creator: 'test' })
  writeConfigFile(conf, config, { overwrite: false })
  const given: Buffer[] = []
  // Absolute URLs: with source maps, tap would resolve relative ones from the .ts file.
  const module = (rel: string): string => new URL(rel, import.meta.url).href
  const { unlock } = await t.mockImport<typeof import('../src/cli/auth.js')>(module('../src/cli/auth.js'), {
    [module('../src/cli/password.js')]: {
      readPassword: async () => {
        given.push(Buffer.from(given.length === 0 ? 'right' : 'wrong'))
        return given.at(-1)
      },
    },
  })
  const unlocked = await unlock({ passfile: ['unused'] }, { path: conf, custom: true })
  t.same(unlocked.masterKey, KEY)
  t.ok(
    given[0]!.every((b) => b === 0),
    'the right password is zeroed',
  )
  await t.rejects(unlock({ passfile: ['unused'] }, { path: conf, custom: true }), /Password incorrect/)
  t.ok(
    given[1]!.every((b) => b === 0),
    'so is a wrong one',
  )
})

t.test('a master key parses from bytes as from text, and the bytes are left to the caller', async (t) => {
  const text = KEY.toString('hex')
    .toUpperCase()
    .replace(/(.{8})/g, '$1-')
    .slice(0, -1)
  const bytes = Buffer.from(text)
  t.same(parseMasterKey(bytes), KEY)
  t.same(parseMasterKey(text), KEY)
  t.equal(bytes.toString(), text, 'input untouched: the caller wipes it')
  t.throws(() => parseMasterKey(Buffer.from('00g0')), /not a hex digit/)
  t.throws(() => parseMasterKey('é'), /not a hex digit/)
  t.throws(() => parseMasterKey('000'), /odd number of hex digits/)
  t.throws(() => parseMasterKey('00'), /Master key has 1 byte, but 32 are required/)
})
