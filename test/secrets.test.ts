// Where key material must never show up: the daemon's command line and environment (other
// users can read /proc/PID/cmdline), its log output on stderr and in syslog, error messages
// about wrong or malformed keys. Also the file modes and warnings that protect the secrets.
import t, { type Test } from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { deriveKeys } from '../src/format/keys.js'
import { formatMasterKey } from '../src/format/masterkey.js'
import { ExitCode } from '../src/exitcodes.js'
import { BIN, runCli, type CliResult } from './lib/cli.js'
import { childPids, cmdline, isMounted, processGone, waitFor } from './lib/mounts.js'
import { initSource, isTsreverse, listTree, mountDir, mountGocryptfs, mountOurs, scratchDir, serverPid, stopMount } from './lib/reverse-mounts.js'
import { untar } from './lib/restore-fixtures.js'
import { VECTORS } from './lib/vectors.js'

const base = initSource(t, scratchDir(t, 'tsreverse-secrets-'))
const { src, passfile, masterKey } = base
const KEY_DASHED = formatMasterKey(masterKey)
const KEY_HEX = masterKey.toString('hex')

/** The spellings in which a key could leak: hex with and without dashes, base64 of both alphabets. */
function forms(key: Buffer): string[] {
  const hex = key.toString('hex')
  return [hex, hex.match(/.{8}/g)!.join('-'), key.toString('base64').replace(/=+$/, ''), key.toString('base64url')]
}
const derived = deriveKeys(masterKey, { hkdf: true })
const SECRETS: [string, string][] = [
  ...forms(masterKey).map((f): [string, string] => ['master key', f]),
  ...forms(derived.eme).map((f): [string, string] => ['name key', f]),
  ...forms(derived.siv).map((f): [string, string] => ['content key', f]),
]

/** Which key spellings occur in text (hex compared case-insensitively; any 16-character piece counts). */
function leaks(text: string, secrets: [string, string][] = SECRETS): string[] {
  const lower = text.toLowerCase()
  const found = new Set<string>()
  for (const [what, form] of secrets) {
    const isHex = /^[0-9a-f-]+$/.test(form)
    const hay = isHex ? lower : text
    for (let i = 0; i + 16 <= form.length; i += 8) {
      if (hay.includes(form.slice(i, i + 16))) found.add(`${what} (${form.slice(0, 8)}...)`)
    }
  }
  return [...found]
}

const procText = (pid: number, file: 'cmdline' | 'environ'): string => {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'latin1').replace(/\0/g, ' ')
  } catch {
    return ''
  }
}

/** Command line and environment of a process and its children (the logger). */
function processTexts(pid: number): string {
  return [pid, ...childPids(pid)].map((p) => `${procText(p, 'cmdline')}\n${procText(p, 'environ')}`).join('\n')
}

const mountpoint = (t: Test): string => mountDir(scratchDir(t), 'mnt')

/** `tsreverse ARGS SRC MNT` daemonized, with its output captured; the daemon is stopped on teardown. */
function mountCaptured(t: Test, args: string[], env?: NodeJS.ProcessEnv): CliResult & { mnt: string; pid: number } {
  const mnt = mountpoint(t)
  const r = runCli([...args, src, mnt], { env: env ?? process.env })
  const pid = serverPid(mnt, isTsreverse)
  if (pid !== undefined) t.teardown(() => stopMount({ mnt, pid }))
  if (r.code !== 0 || pid === undefined) throw new Error(`mount ${args.join(' ')} failed (${r.code}): ${r.stderr}`)
  return { ...r, mnt, pid }
}

// Lists and reads a whole view and looks up bad names, in a separate process (the server of a
// -fg mount is this process's child, whose output it must keep draining meanwhile).
const EXERCISE = `(mnt) => {
  const fs = require('fs'), path = require('path')
  const walk = (d) => { for (const n of fs.readdirSync(d)) { const p = path.join(d, n); const st = fs.lstatSync(p)
    if (st.isDirectory()) walk(p); else if (st.isFile()) fs.readFileSync(p); else if (st.isSymbolicLink()) fs.readlinkSync(p) } }
  walk(mnt)
  for (const n of ['gocryptfs.longname.AAAA', 'not-base64!', 'QlJdkRUR8yk7JpkC5wsvPx', 'x'.repeat(300)]) { try { fs.lstatSync(path.join(mnt, n)) } catch {} }
}`
const exerciseArgs = (mnt: string): string[] => ['-e', `(${EXERCISE})(${JSON.stringify(mnt)})`]

function exercise(mnt: string): void {
  const r = spawnSync(process.execPath, exerciseArgs(mnt), { stdio: 'inherit', timeout: 60_000 })
  if (r.status !== 0) throw new Error(`exercising ${mnt} failed (${r.status})`)
}

const referenceView = listTree(mountOurs(t, ['-passfile', passfile, src, mountDir(scratchDir(t), 'ref')]).mnt, { hash: true })

t.test("a -passfile mount: no key in the daemon's command line or environment", async (t) => {
  const m = mountOurs(t, ['-passfile', passfile, src, mountpoint(t)])
  exercise(m.mnt)
  t.same(leaks(processTexts(m.pid)), [], 'cmdline and environ of the daemon and its logger')
})

for (const [how, args] of [
  ['-masterkey KEY (dashes)', ['-masterkey', KEY_DASHED]],
  ['-masterkey=KEY (plain hex)', [`-masterkey=${KEY_HEX}`]],
  ['--masterkey KEY (upper case)', ['--masterkey', KEY_HEX.toUpperCase()]],
  ['-o masterkey=KEY (fstab style)', ['-o', `rw,masterkey=${KEY_DASHED},allow_other`]],
] as const) {
  t.test(`${how}: the daemon gets the key without it in its command line`, async (t) => {
    const m = mountCaptured(t, [...args])
    t.match(m.stderr, /^Warning: a master key given on the command line can be seen by other users/m, 'the user is warned')
    t.same(leaks(m.stderr + m.stdout), [], 'the output does not repeat the key')
    t.same(leaks(processTexts(m.pid)), [], 'cmdline and environ of the daemon and its logger')
    t.same(listTree(m.mnt, { hash: true }), referenceView, 'and it serves the view of that key')
  })
}

t.test('-q silences the -masterkey warning, the key still reaches the daemon', async (t) => {
  const m = mountCaptured(t, ['-q', '-masterkey', KEY_DASHED])
  t.equal(m.stderr, '')
  t.same(listTree(m.mnt, { hash: true }), referenceView)
})

/** Runs `tsreverse -fg ARGS SRC MNT`, exercises the mount, stops it with SIGTERM; returns the output. */
async function foreground(t: Test, args: string[]): Promise<{ code: number | null; output: string }> {
  const mnt = mountpoint(t)
  const child = spawn(process.execPath, [BIN, '-fg', ...args, src, mnt], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.setEncoding('latin1').on('data', (s: string) => (output += s))
  child.stderr.setEncoding('latin1').on('data', (s: string) => (output += s))
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  await waitFor('the -fg mount', () => isMounted(mnt) || child.exitCode !== null)
  await new Promise<void>((resolve, reject) => {
    spawn(process.execPath, exerciseArgs(mnt), { stdio: 'inherit' }).on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`exercise exited ${code}`)),
    )
  })
  child.kill('SIGTERM')
  return { code: await exited, output }
}

for (const [how, args] of [
  ['-passfile', ['-passfile', passfile]],
  ['-masterkey', ['-masterkey', KEY_DASHED]],
  ['-passfile -fusedebug', ['-passfile', passfile, '-fusedebug']],
] as const) {
  t.test(`-fg -nosyslog ${how}: the log output carries no key material`, async (t) => {
    const r = await foreground(t, ['-nosyslog', ...args])
    t.equal(r.code, ExitCode.SigInt, 'stopped by SIGTERM')
    t.match(r.output, /SIGTERM received/, 'the output was captured to the end')
    t.same(leaks(r.output), [], `${r.output.length} bytes of output`)
  })
}

// The daemon starts logger(1) only where there is a syslog socket to send to.
const noSyslog = ((): string | false => {
  try {
    return !statSync('/dev/log').isSocket() && '/dev/log is not a socket'
  } catch {
    return 'no /dev/log here'
  }
})()

t.test('syslog (through logger) receives no key material', { skip: noSyslog }, async (t) => {
  const dir = scratchDir(t)
  const bin = path.join(dir, 'bin')
  mkdirSync(bin)
  const logFile = path.join(dir, 'syslog')
  // A stand-in for logger(1) that keeps what the daemon sends to syslog.
  writeFileSync(path.join(bin, 'logger'), `#!/bin/sh\necho "logger $*" >> '${logFile}'\nexec cat >> '${logFile}'\n`, { mode: 0o755 })
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` }
  for (const args of [
    ['-passfile', passfile],
    ['-masterkey', KEY_DASHED],
  ]) {
    const m = mountCaptured(t, args, env)
    exercise(m.mnt)
    process.kill(m.pid, 'SIGTERM')
    await waitFor('the daemon to exit', () => processGone(m.pid))
  }
  const logged = readFileSync(logFile, 'latin1')
  t.equal(logged.match(/SIGTERM received/g)?.length, 2, 'both daemons logged through logger to the end')
  t.same(leaks(logged), [], `${logged.length} bytes of syslog`)
})

t.test('errors about wrong or malformed keys do not repeat them', async (t) => {
  const dir = scratchDir(t)
  const view = path.join(dir, 'view')
  untar(path.join(VECTORS, 'B', 'view.tar'), view)
  const vectorKey = Buffer.from(
    readFileSync(path.join(VECTORS, 'B', 'masterkey.txt'), 'ascii')
      .trim()
      .replace(/-/g, ''),
    'hex',
  )
  const wrongKey = Buffer.from(vectorKey)
  wrongKey[31] ^= 1
  const wrong = formatMasterKey(wrongKey)
  const secrets: [string, string][] = [
    ...forms(vectorKey).map((f): [string, string] => ['vector key', f]),
    ...forms(wrongKey).map((f): [string, string] => ['wrong key', f]),
  ]
  const wrongPass = path.join(dir, 'wrong-pass')
  writeFileSync(wrongPass, 'not the password\n', { mode: 0o600 })
  const conf = path.join(view, 'gocryptfs.conf')
  const bad = KEY_DASHED.slice(0, 20) + 'g' + KEY_DASHED.slice(21)
  const cases: [string, string[], number][] = [
    ['-forward with a wrong key', ['-forward', '-masterkey', wrong, view, mountpoint(t)], ExitCode.PasswordIncorrect],
    ['-restore with a wrong key', ['-restore', '-masterkey', wrong, view, path.join(dir, 'out')], ExitCode.PasswordIncorrect],
    ['-fsck with a wrong key', ['-fsck', '-masterkey', wrong, view], ExitCode.PasswordIncorrect],
    ['-dumpmasterkey with a wrong password', ['-dumpmasterkey', '-config', conf, '-passfile', wrongPass, dir], ExitCode.PasswordIncorrect],
    ['a key with a non-hex character', ['-masterkey', bad, src, mountpoint(t)], ExitCode.MasterKey],
    ['a key one byte short', ['-masterkey', KEY_HEX.slice(0, 62), src, mountpoint(t)], ExitCode.MasterKey],
    ['a key one digit long', ['-masterkey', KEY_HEX + 'a', src, mountpoint(t)], ExitCode.MasterKey],
    ['a bad key on stdin', ['-masterkey', 'stdin', src, mountpoint(t)], ExitCode.MasterKey],
    ['-info', ['-info', '-config', conf, dir], ExitCode.Success],
  ]
  for (const [what, args, code] of cases) {
    const r = runCli(args, { input: bad + '\n' })
    t.equal(r.code, code, `${what}: exit ${code} (${r.stderr.trim().split('\n').pop()})`)
    t.same(leaks(r.stdout + r.stderr, [...secrets, ...SECRETS]), [], `${what}: no key in the output`)
    t.notOk(r.stdout.includes(bad.slice(0, 20)) || r.stderr.includes(bad.slice(0, 20)), `${what}: the malformed input is not echoed`)
  }
})

t.test('configs are written with mode 0400, also by -passwd and with -config', async (t) => {
  const dir = scratchDir(t)
  const plain = path.join(dir, 'plain')
  mkdirSync(plain)
  const pass = path.join(dir, 'pass')
  writeFileSync(pass, 'first\n', { mode: 0o600 })
  const custom = path.join(dir, 'custom.conf')
  const mode = (p: string): string => (statSync(p).mode & 0o7777).toString(8)
  for (const args of [
    ['-init', '-scryptn', '10', '-passfile', pass, plain],
    ['-init', '-scryptn', '10', '-config', custom, '-passfile', pass, plain],
  ]) {
    const r = runCli(args)
    t.equal(r.code, 0, r.stderr)
  }
  const conf = path.join(plain, '.gocryptfs.reverse.conf')
  t.equal(mode(conf), '400', '-init')
  t.equal(mode(custom), '400', '-init -config')
  const r = runCli(['-passwd', '-scryptn', '10', '-passfile', pass, plain], { input: 'second\n' })
  t.equal(r.code, 0, r.stderr)
  t.equal(mode(conf), '400', '-passwd')
  t.same(
    readdirSync(plain).filter((n) => n.endsWith('.tmp')),
    [],
    'no temporary file is left',
  )
  const bak = readdirSync(plain).find((n) => n.endsWith('.bak'))
  if (bak) t.equal(mode(path.join(plain, bak)), '400', 'the backup keeps the mode of the old config')
})

t.test('a passfile readable by group or others draws a warning; a private one does not', async (t) => {
  const dir = scratchDir(t)
  const shared = path.join(dir, 'shared-pass')
  writeFileSync(shared, readFileSync(passfile))
  chmodSync(shared, 0o644)
  const warned = mountCaptured(t, ['-passfile', shared])
  t.match(warned.stderr, /^warning: passfile .*shared-pass is readable by group or others \(mode 0?644\)/m)
  const quiet = mountCaptured(t, ['-passfile', passfile])
  t.notMatch(quiet.stderr, /warning/i)
})

t.test("for comparison: gocryptfs keeps -masterkey in its daemon's command line", async (t) => {
  const m = mountGocryptfs(t, ['-reverse', '-masterkey', KEY_DASHED, src, mountpoint(t)])
  t.ok(cmdline(m.pid).includes(KEY_DASHED), 'gocryptfs 2.3 re-executes itself with its arguments, the key included')
})
