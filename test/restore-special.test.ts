// Metadata a hostile copy can plant, since the format authenticates none of it: set-uid and
// set-gid bits (with owner root) and device nodes. -restore leaves them out and lists them by
// default, recreates them with -restore-special; -fsck lists them without counting them as
// problems. And restore never writes through a symlink it met at the destination.
import t, { type Test } from 'tap'
import { chmodSync, chownSync, lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { runCli } from './lib/cli.js'
import { run } from './lib/reverse-mounts.js'
import { vectorCopy, type Copy } from './lib/restore-fixtures.js'

const PLANTED = [
  { path: 'file-1', text: 'set-uid bit (mode 4755)' },
  { path: 'file-4096', text: 'set-gid bit (mode 2755)' },
  { path: 'a', text: 'set-uid and set-gid bits (mode 6755)' },
  { path: 'file-4095', text: 'character device 1:1' },
]

/** Vector B with the entries of PLANTED changed as a server could. */
function plantedCopy(t: Test): Copy {
  const c = vectorCopy(t, 'B')
  const at = (p: string): string => path.join(c.view, c.cipherPath(p))
  chownSync(at('file-1'), 0, 0)
  chmodSync(at('file-1'), 0o4755)
  chmodSync(at('file-4096'), 0o2755)
  chmodSync(at('a'), 0o6755)
  rmSync(at('file-4095'))
  const mknod = run('mknod', ['-m', '666', at('file-4095'), 'c', '1', '1'])
  if (mknod.status !== 0) throw new Error(`mknod: ${mknod.stderr}`)
  return c
}

const mode = (p: string): number => lstatSync(p).mode & 0o7777
const lineFor = (p: (typeof PLANTED)[number]): RegExp => new RegExp(`^\\s*${p.path}: ${p.text.replace(/[()]/g, '\\$&')}.*\\[special, ciphertext `, 'm')

t.test('by default: no set-id bits, no device nodes, each listed', async (t) => {
  const c = plantedCopy(t)
  const dest = path.join(c.work, 'restored')
  const r = runCli(['-q', '-restore', '-passfile', c.passfile, c.view, dest])
  t.equal(r.code, 0, `not damage: ${r.stderr}`)
  for (const p of PLANTED) t.match(r.stderr, lineFor(p), `${p.path} listed`)
  t.match(r.stderr, /, 4 set-id bits or device nodes left out to /, 'counted in the summary (also with -q)')
  t.equal(mode(path.join(dest, 'file-1')), 0o755)
  t.equal(lstatSync(path.join(dest, 'file-1')).uid, 0, 'the owner is still restored')
  t.equal(mode(path.join(dest, 'file-4096')), 0o755)
  t.equal(mode(path.join(dest, 'a')), 0o755)
  t.notOk(lstatSync(path.join(dest, 'file-4095'), { throwIfNoEntry: false }), 'no device node')
  t.same(readFileSync(path.join(dest, 'file-1')), readFileSync(path.join(c.plain, 'file-1')), 'contents as ever')
})

t.test('-restore-special recreates them', async (t) => {
  const c = plantedCopy(t)
  const dest = path.join(c.work, 'restored')
  const r = runCli(['-restore', '-restore-special', '-passfile', c.passfile, c.view, dest])
  t.equal(r.code, 0, r.stderr)
  t.notMatch(r.stderr, /\[special,/, 'nothing left out')
  t.match(r.stderr, /^restored .* 1 special file to /m)
  const st = lstatSync(path.join(dest, 'file-1'))
  t.same([st.mode & 0o7777, st.uid, st.gid], [0o4755, 0, 0], 'set-uid root')
  t.equal(mode(path.join(dest, 'file-4096')), 0o2755)
  t.equal(mode(path.join(dest, 'a')), 0o6755)
  const dev = lstatSync(path.join(dest, 'file-4095'))
  t.ok(dev.isCharacterDevice(), 'the device node')
  t.same([dev.rdev, dev.mode & 0o7777], [(1 << 8) | 1, 0o666], '1:1 (/dev/mem), mode 666')
})

t.test('-fsck lists them, exit 0', async (t) => {
  const c = plantedCopy(t)
  const r = runCli(['-fsck', '-passfile', c.passfile, c.view])
  t.equal(r.code, 0, r.stderr)
  for (const p of PLANTED) t.match(r.stdout, lineFor(p), `${p.path} listed`)
  t.match(r.stdout, /^fsck summary: no problems found \(.*; 4 with set-id bits or device nodes, listed \[special\]\)$/m)
})

t.test('restore does not write through a symlink at the destination', async (t) => {
  // Plaintext names: the server writes symlink targets in the clear, and an empty file needs
  // no header, so it can plant both.
  const c = vectorCopy(t, 'A')
  const outside = path.join(c.work, 'outside')
  mkdirSync(outside)
  writeFileSync(path.join(outside, 'kept'), 'kept\n')
  symlinkSync(outside, path.join(c.view, 'to-dir'))
  symlinkSync(path.join(outside, 'kept'), path.join(c.view, 'to-file'))
  const dest = path.join(c.work, 'restored')
  t.equal(runCli(['-q', '-restore', '-passfile', c.passfile, c.view, dest]).code, 0, 'first restore: the links')

  // The next copy has a directory and a file under those names.
  rmSync(path.join(c.view, 'to-dir'))
  rmSync(path.join(c.view, 'to-file'))
  mkdirSync(path.join(c.view, 'to-dir'))
  writeFileSync(path.join(c.view, 'to-dir', 'planted'), '')
  writeFileSync(path.join(c.view, 'to-file'), '')
  const r = runCli(['-q', '-restore', '-passfile', c.passfile, c.view, dest])
  t.equal(r.code, 26, r.stderr)
  t.match(r.stderr, /^\s*to-dir: .*EEXIST.*\[io, ciphertext to-dir\]$/m, 'the directory is refused')
  t.same(readFileSync(path.join(outside, 'kept'), 'utf8'), 'kept\n', 'the file outside is untouched')
  t.notOk(lstatSync(path.join(outside, 'planted'), { throwIfNoEntry: false }), 'nothing created outside')
  t.ok(lstatSync(path.join(dest, 'to-file')).isFile(), 'the symlink was replaced, not followed')
})
