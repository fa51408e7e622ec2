// The config commands end to end through bin/tsreverse, checked against real gocryptfs.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, copyFileSync, chmodSync, mkdirSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { runCli } from './lib/cli.js'
import { VECTORS } from './lib/vectors.js'

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tsreverse-cli-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function passfile(dir: string, password: string): string {
  const p = path.join(dir, `pass-${password.length}-${Math.random().toString(36).slice(2)}`)
  writeFileSync(p, password + '\n', { mode: 0o600 })
  return p
}

t.test('-info prints what gocryptfs -info prints for every vector', async (t) => {
  for (const v of ['A', 'B', 'C']) {
    const r = runCli(['-info', '-config', path.join(VECTORS, v, 'gocryptfs.conf'), '/'])
    t.equal(r.code, 0, `${v}: ${r.stderr}`)
    t.equal(r.stdout, readFileSync(path.join(VECTORS, v, 'info.txt'), 'utf8'), v)
  }
})

t.test('-dumpmasterkey recovers each vector key; a wrong password exits 12', async (t) => {
  for (const v of ['A', 'B', 'C']) {
    const conf = path.join(VECTORS, v, 'gocryptfs.conf')
    const r = runCli(['-dumpmasterkey', '-config', conf, '-passfile', path.join(VECTORS, v, 'passfile.txt'), '/'])
    t.equal(r.code, 0, r.stderr)
    t.equal(r.stdout.trim(), readFileSync(path.join(VECTORS, v, 'masterkey.txt'), 'utf8').trim(), v)
  }
  const dir = tmp(t)
  const bad = runCli(['-dumpmasterkey', '-config', path.join(VECTORS, 'B', 'gocryptfs.conf'), '-passfile', passfile(dir, 'wrong'), '/'])
  t.equal(bad.code, 12)
  t.match(bad.stderr, /Password incorrect/)
  t.equal(bad.stdout, '')
})

t.test('missing config: clear message naming the file, gocryptfs exit codes', async (t) => {
  const dir = tmp(t)
  const info = runCli(['-info', dir])
  t.equal(info.code, 8)
  t.match(info.stderr, dir)
  const dump = runCli(['-dumpmasterkey', '-passfile', passfile(dir, 'x'), dir])
  t.equal(dump.code, 8)
  t.match(dump.stderr, dir)
})

t.test('-init writes a 0400 config that gocryptfs reads and unlocks; refuses to overwrite', async (t) => {
  const dir = tmp(t)
  const src = path.join(dir, 'src')
  mkdirSync(src)
  const pw = passfile(dir, 'init-password')
  const r = runCli(['-init', '-scryptn', '10', '-passfile', pw, src])
  t.equal(r.code, 0, r.stderr)
  const conf = path.join(src, '.gocryptfs.reverse.conf')
  t.equal(statSync(conf).mode & 0o777, 0o400)
  t.notMatch(r.stdout, /[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}/, 'no master key printed when stdout is not a terminal')
  t.match(
    r.stdout,
    `Not running on a terminal, suppressing master key display\nShow it on a terminal with: tsreverse -dumpmasterkey ${src}\n`,
    'as gocryptfs says, and how to see it',
  )

  const ours = runCli(['-info', src])
  const theirs = spawnSync('gocryptfs', ['-q', '-reverse', '-info', src], { encoding: 'utf8' })
  t.equal(theirs.status, 0, theirs.stderr)
  const noCreator = (s: string) => s.replace(/^Creator:.*\n/m, '')
  t.equal(noCreator(ours.stdout), noCreator(theirs.stdout))
  t.match(ours.stdout, /FeatureFlags:      HKDF GCMIV128 DirIV EMENames LongNames Raw64 AESSIV/)

  // gocryptfs unlocks it: -passwd re-wraps with a new password, and we read its file back.
  const key = runCli(['-dumpmasterkey', '-passfile', pw, src]).stdout.trim()
  t.match(key, /^([0-9a-f]{8}-){7}[0-9a-f]{8}$/)
  const copy = path.join(dir, 'copy.conf')
  copyFileSync(conf, copy)
  chmodSync(copy, 0o600)
  const pw2 = passfile(dir, 'second-password')
  const passwd = spawnSync('sh', ['-c', `(cat "${pw}"; cat "${pw2}"; cat "${pw2}") | gocryptfs -q -passwd -config "${copy}" "${src}"`], { encoding: 'utf8' })
  t.equal(passwd.status, 0, passwd.stderr)
  t.equal(runCli(['-dumpmasterkey', '-config', copy, '-passfile', pw2, src]).stdout.trim(), key)

  const again = runCli(['-init', '-scryptn', '10', '-passfile', pw, src])
  t.equal(again.code, 7)
  t.match(again.stderr, /already exists/)
  t.equal(runCli(['-dumpmasterkey', '-passfile', pw, src]).stdout.trim(), key, 'untouched')
})

t.test('-init -q says nothing; with -config the hint names it', async (t) => {
  const dir = tmp(t)
  const pw = passfile(dir, 'init-password')
  const quiet = runCli(['-init', '-q', '-scryptn', '10', '-passfile', pw, mkdtempSync(path.join(dir, 'src-'))])
  t.equal(quiet.code, 0, quiet.stderr)
  t.equal(quiet.stdout, '')
  const conf = path.join(dir, 'elsewhere.conf')
  const src = mkdtempSync(path.join(dir, 'src-'))
  const r = runCli(['-init', '-config', conf, '-scryptn', '10', '-passfile', pw, src])
  t.match(r.stdout, `Show it on a terminal with: tsreverse -dumpmasterkey -config ${conf} ${src}\n`)
  t.match(runCli(['-dumpmasterkey', '-config', conf, '-passfile', pw, src]).stdout, /^([0-9a-f]{8}-){7}[0-9a-f]{8}\n$/, 'which works')
})

t.test('-init variants write the flags gocryptfs writes', async (t) => {
  const dir = tmp(t)
  const pw = passfile(dir, 'pw')
  const cases: [string[], string][] = [
    [['-plaintextnames'], 'HKDF GCMIV128 PlaintextNames AESSIV'],
    [['-deterministic-names', '-longnamemax', '100'], 'HKDF GCMIV128 LongNameMax EMENames LongNames Raw64 AESSIV'],
  ]
  for (const [flags, expected] of cases) {
    const src = mkdtempSync(path.join(dir, 'src-'))
    t.equal(runCli(['-init', '-scryptn', '10', '-passfile', pw, ...flags, src]).code, 0)
    t.match(runCli(['-info', src]).stdout, `FeatureFlags:      ${expected}\n`)
  }
  t.equal(runCli(['-init', '-longnamemax', '20', '-passfile', pw, mkdtempSync(path.join(dir, 'src-'))]).code, 1)
  t.equal(runCli(['-init', '-passfile', pw, path.join(dir, 'nonexistent')]).code, 6)
})

t.test('-passwd changes the password and keeps a .bak; -passwd -masterkey resets a forgotten one', async (t) => {
  const dir = tmp(t)
  const src = path.join(dir, 'src')
  mkdirSync(src)
  const pw = passfile(dir, 'first')
  t.equal(runCli(['-init', '-scryptn', '10', '-passfile', pw, src]).code, 0)
  const key = runCli(['-dumpmasterkey', '-passfile', pw, src]).stdout.trim()

  const r = runCli(['-passwd', '-extpass', `printf second`, '-passfile', pw, src])
  t.equal(r.code, 1, 'passfile and extpass together are a usage error')

  const second = passfile(dir, 'second')
  const changed = runCli(['-passwd', src], { input: 'first\nsecond\n' })
  t.equal(changed.code, 0, changed.stderr)
  t.ok(existsSync(path.join(src, '.gocryptfs.reverse.conf.bak')))
  t.equal(statSync(path.join(src, '.gocryptfs.reverse.conf')).mode & 0o777, 0o400)
  t.equal(runCli(['-dumpmasterkey', '-passfile', second, src]).stdout.trim(), key)
  t.equal(runCli(['-dumpmasterkey', '-passfile', pw, src]).code, 12)

  const reset = runCli(['-passwd', '-masterkey', key, src], { input: 'third\n' })
  t.equal(reset.code, 0, reset.stderr)
  t.match(reset.stderr, /master key/i, 'warns about a key on the command line')
  t.notMatch(reset.stderr + reset.stdout, key.slice(0, 17), 'never echoes the key')
  t.equal(runCli(['-dumpmasterkey', '-passfile', passfile(dir, 'third'), src]).stdout.trim(), key)
})

t.test('usage errors exit 1 with one line', async (t) => {
  for (const args of [['-nosuchflag'], ['-init', '-info', '/'], ['onlyone'], ['-info']]) {
    const r = runCli(args)
    t.equal(r.code, 1, args.join(' '))
    t.equal(r.stderr.trim().split('\n').length, 1, args.join(' '))
  }
  t.equal(runCli(['-version']).code, 0)
  t.match(runCli(['-help']).stdout, /-passfile/)
})
