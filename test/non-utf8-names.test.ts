// Names and symlink targets that are not UTF-8 (and some that are) through every path that
// serves plaintext names: a -plaintextnames reverse mount against gocryptfs -reverse, copies
// decrypted by our -forward mount, by gocryptfs and by -restore (plus -fsck and
// -encrypt-paths/-decrypt-paths on raw bytes), and exclusion and filter rules.
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, readdirSync, readlinkSync, lstatSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { bytesOf } from '../src/view/byte-string.js'
import { BIN, runCli } from './lib/cli.js'
import { lstatCode } from './lib/mounts.js'
import { mountDir, mountGocryptfs, mountOurs, run, scratchDir } from './lib/reverse-mounts.js'

const bytes = (...parts: (string | number[] | Buffer)[]): Buffer => Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p))))

const N = {
  ff: bytes('a', [0xff], 'b'),
  fe: bytes('a', [0xfe], 'b'),
  cafe: bytes('caf', [0xc3, 0xa9]),
  x80: bytes([0x80]),
  long: Buffer.from(Array.from({ length: 255 }, (_, i) => 0x80 + (i % 0x7f))),
  fffd: bytes('x', [0xef, 0xbf, 0xbd], 'y'), // valid UTF-8: U+FFFD itself
  nihon: Buffer.from('日本'),
  badLink: Buffer.from('link-bad'),
  goodLink: Buffer.from('link-ok'),
}
const BAD_TARGET = bytes('t', [0xff], '/', [0xc3])
const CONF = Buffer.from('.gocryptfs.reverse.conf')

const join = (dir: string | Buffer, ...names: Buffer[]): Buffer => Buffer.concat([Buffer.from(dir), ...names.flatMap((n) => [Buffer.from('/'), n])])

/** Every name above at the top and again one directory down (inside \x80). */
function makeTree(src: string): void {
  writeFileSync(join(src, N.ff), 'ff\n')
  writeFileSync(join(src, N.fe), 'fe\n')
  writeFileSync(join(src, N.cafe), 'café\n')
  writeFileSync(join(src, N.long), 'long\n'.repeat(1000))
  writeFileSync(join(src, N.fffd), 'U+FFFD\n')
  mkdirSync(join(src, N.nihon))
  writeFileSync(join(src, N.nihon, Buffer.from('f')), '日本\n')
  mkdirSync(join(src, N.x80))
  writeFileSync(join(src, N.x80, N.ff), 'inner ff\n')
  writeFileSync(join(src, N.x80, N.fe), 'inner fe\n')
  symlinkSync(BAD_TARGET, join(src, N.badLink))
  symlinkSync(N.cafe, join(src, N.goodLink))
  symlinkSync(BAD_TARGET, join(src, N.x80, N.long))
}

/** Injective and readable: printable ASCII as is, every other byte as \xNN. */
const esc = (b: Buffer): string =>
  [...b].map((c) => (c > 0x20 && c < 0x7f && c !== 0x5c ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`)).join('')

/** Every entry below root (skipped names and their subtrees left out), paths as raw bytes. */
function entries(root: string, skip: Buffer[] = []): { rel: Buffer; abs: Buffer }[] {
  const out: { rel: Buffer; abs: Buffer }[] = []
  const walk = (abs: Buffer, rel: Buffer | undefined): void => {
    for (const name of readdirSync(abs, { encoding: 'buffer' })) {
      if (skip.some((s) => s.equals(name))) continue
      const child = { rel: rel ? join(rel, name) : name, abs: join(abs, name) }
      out.push(child)
      if (lstatSync(child.abs).isDirectory()) walk(child.abs, child.rel)
    }
  }
  walk(Buffer.from(root), undefined)
  return out
}

/** Sorted `TYPE DETAIL PATH` lines below root: names as raw bytes, file contents hashed, link targets raw. */
function rawTree(root: string, skip: Buffer[] = []): string[] {
  return entries(root, skip)
    .map(({ rel, abs }) => {
      const st = lstatSync(abs)
      if (st.isDirectory()) return `d - ./${esc(rel)}`
      if (st.isSymbolicLink()) return `l ${esc(readlinkSync(abs, { encoding: 'buffer' }))} ./${esc(rel)}`
      return `f ${createHash('sha256').update(readFileSync(abs)).digest('hex')} ./${esc(rel)}`
    })
    .sort()
}

const names = (dir: string): string[] => readdirSync(dir, { encoding: 'buffer' }).map(esc).sort()

const work = scratchDir(t)
const passfile = path.join(work, 'passfile')
writeFileSync(passfile, 'non-utf8 test password\n', { mode: 0o600 })

function source(name: string, initFlags: string[]): string {
  const src = path.join(work, name)
  mkdirSync(src)
  makeTree(src)
  const init = runCli(['-init', ...initFlags, '-scryptn', '10', '-passfile', passfile, src])
  if (init.code !== 0) throw new Error(`-init: ${init.stderr}`)
  return src
}

/** A copy of a view, decrypted by our -forward, gocryptfs and -restore: each must equal the source. */
async function decryptCopies(t: Test, view: string, src: string, label: string): Promise<void> {
  const copy = path.join(work, `${label}-copy`)
  const cp = run('cp', ['-a', view, copy])
  t.equal(cp.status, 0, `cp -a of the view: ${cp.stderr}`)
  const expected = rawTree(src, [CONF])
  t.ok(expected.length >= 12, `${expected.length} source entries`)
  const ours = mountOurs(t, ['-forward', '-passfile', passfile, copy, mountDir(work, `${label}-fwd-ours`)]).mnt
  t.same(rawTree(ours), expected, 'our -forward mount equals the source byte for byte')
  const theirs = mountGocryptfs(t, ['-ro', '-passfile', passfile, copy, mountDir(work, `${label}-fwd-gocryptfs`)]).mnt
  t.same(rawTree(theirs), expected, 'gocryptfs forward equals the source')
  const restored = path.join(work, `${label}-restored`)
  const r = runCli(['-q', '-restore', '-passfile', passfile, copy, restored])
  t.equal(r.code, 0, `-restore: ${r.stderr}`)
  t.same(rawTree(restored), expected, '-restore equals the source')
  const fsck = runCli(['-q', '-fsck', '-passfile', passfile, copy])
  t.equal(fsck.code, 0, `-fsck finds nothing wrong: ${fsck.stdout}${fsck.stderr}`)

  // -encrypt-paths names what is in the copy, -decrypt-paths gives the bytes back.
  const plainPaths = entries(src, [CONF]).map((e) => e.rel)
  const lines = (list: Buffer[]): Buffer => Buffer.concat(list.flatMap((p) => [p, Buffer.from('\n')]))
  const cli = (args: string[], input: Buffer): Buffer => {
    const p = spawnSync(process.execPath, [BIN, '-q', ...args, '-passfile', passfile], { input, timeout: 60_000 })
    t.equal(p.status, 0, `${args[0]}: ${p.stderr}`)
    return p.stdout
  }
  const encrypted = cli(['-encrypt-paths', src], lines(plainPaths))
  const cipherPaths = encrypted.subarray(0, -1).toString('latin1').split('\n').map(bytesOf)
  t.same(cipherPaths.filter((c) => lstatCode(join(copy, c)) !== 'ok').map(esc), [], '-encrypt-paths: every path exists in the copy')
  t.same(cli(['-decrypt-paths', '-cipherdir', copy, copy], encrypted), lines(plainPaths), '-decrypt-paths: the same bytes back')
}

const plainSrc = source('plain-src', ['-plaintextnames'])

t.test('-plaintextnames reverse mount: the same view as gocryptfs -reverse', async (t) => {
  const ours = mountOurs(t, ['-passfile', passfile, plainSrc, mountDir(work, 'plain-ours')]).mnt
  const theirs = mountGocryptfs(t, ['-reverse', '-passfile', passfile, plainSrc, mountDir(work, 'plain-gocryptfs')]).mnt
  const view = rawTree(ours)
  t.same(view, rawTree(theirs), 'names (raw bytes), contents and link targets equal')
  t.same(names(ours), [...Object.values(N).map(esc), 'gocryptfs.conf'].sort(), 'every name listed once, none merged')
  t.not(readFileSync(join(ours, N.ff)).toString('hex'), readFileSync(join(ours, N.fe)).toString('hex'), 'a\\xffb and a\\xfeb are different files')
  t.same(readlinkSync(join(ours, N.badLink), { encoding: 'buffer' }), BAD_TARGET, 'a target that is not UTF-8 comes back raw')
  t.same(readlinkSync(join(ours, N.x80, N.long), { encoding: 'buffer' }), BAD_TARGET, 'also under a name of 255 high bytes')
  await decryptCopies(t, ours, plainSrc, 'plain')
})

t.test('encrypted names: a copy decrypts to the same bytes with -forward, gocryptfs and -restore', async (t) => {
  const src = source('enc-src', [])
  const ours = mountOurs(t, ['-passfile', passfile, src, mountDir(work, 'enc-ours')]).mnt
  await decryptCopies(t, ours, src, 'enc')
})

t.test('-exclude and -exclude-wildcard match UTF-8 and invalid names as gocryptfs does', async (t) => {
  const args = ['-exclude', 'café', '-ew', '日本', '-ew', 'a*b', '-passfile', passfile, plainSrc]
  const ours = mountOurs(t, [...args, mountDir(work, 'ex-ours')]).mnt
  const theirs = mountGocryptfs(t, ['-reverse', ...args, mountDir(work, 'ex-gocryptfs')]).mnt
  t.same(rawTree(ours), rawTree(theirs), 'same view as gocryptfs')
  t.same(names(ours), [N.x80, N.long, N.fffd, N.badLink, N.goodLink].map(esc).concat('gocryptfs.conf').sort(), 'café, 日本 and a?b gone')
  t.same(readdirSync(join(ours, N.x80), { encoding: 'buffer' }).map(esc), [esc(N.long)], 'and below \\x80')
})

t.test('-filter-from rules with UTF-8 and invalid bytes', async (t) => {
  const rules = path.join(work, 'rules')
  writeFileSync(rules, bytes('- /', N.cafe, '\n- ', N.x80, '/\n- ', N.nihon, '/\n- a', [0xfe], '*\n'))
  const mnt = mountOurs(t, ['-filter-from', rules, '-passfile', passfile, plainSrc, mountDir(work, 'filter')]).mnt
  t.same(names(mnt), [N.ff, N.long, N.fffd, N.badLink, N.goodLink].map(esc).concat('gocryptfs.conf').sort(), 'café, \\x80/, 日本/ and a\\xfe* hidden')
  t.equal(lstatCode(join(mnt, N.fe)), 'EPERM', 'a hidden name cannot be looked up')
})
