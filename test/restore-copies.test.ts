// Copies that are not a whole reverse view: a subdirectory of a real `gocryptfs -reverse` view
// copied to another path (read with -prefix, whose IVs then derive from the directory's path in
// the view), and filesystems written by gocryptfs in forward mode (read with -stored-ivs). Each
// must decrypt exactly where gocryptfs decrypts it, and without the option be refused with a
// hint rather than shown empty or written wrong.
import t from 'tap'
import { existsSync, lstatSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { runCli } from './lib/cli.js'
import { diffTrees, listTree, mountGocryptfs, mountOurs, run, scratchDir, stopMount } from './lib/reverse-mounts.js'
import { OTHER_OWNER, blockOffset, cpA, flipBit, gocryptfsCopy, makeVariedTree, vectorCopy } from './lib/restore-fixtures.js'

const RESTORED = { hash: true, mtime: true } as const
const FULL = { hash: true, mtime: true }
const HINT = /give -prefix with that directory's plaintext path in the view; if gocryptfs wrote it in forward mode, give -stored-ivs/

t.test('a subdirectory of a gocryptfs -reverse view copied elsewhere', async (t) => {
  const copy = await gocryptfsCopy(t)
  const PREFIX = 'docs/deeper'
  const top = path.join(copy.work, 'backup/t2/deeper')
  mkdirSync(path.dirname(top), { recursive: true })
  cpA(path.join(copy.view, copy.cipherPath(PREFIX)), top)
  const plain = path.join(copy.plain, PREFIX)
  const expected = listTree(plain, RESTORED)
  const key = ['-masterkey', copy.key]

  await t.test('gocryptfs forward mode decrypts it with the stored IVs', async (t) => {
    const mnt = path.join(copy.work, 'mnt-gocryptfs')
    mkdirSync(mnt)
    const m = mountGocryptfs(t, ['-ro', '-aessiv', '-masterkey', copy.key, top, mnt])
    t.equal(diffTrees(plain, mnt), '')
    await stopMount(m)
  })

  await t.test('without -prefix: refused with the hint, nothing written', async (t) => {
    const dest = path.join(copy.work, 'no-prefix')
    const r = runCli(['-restore', ...key, '-cipherdir', top, top, dest])
    t.equal(r.code, 6, r.stderr)
    t.match(r.stderr, /is not the root of a reverse view's copy/)
    t.match(r.stderr, HINT)
    t.notOk(existsSync(dest))
    const f = runCli(['-fsck', ...key, top])
    t.equal(f.code, 6, f.stderr)
    t.match(f.stderr, HINT)
  })

  await t.test('-restore -prefix restores it exactly; one file of it too', async (t) => {
    const dest = path.join(copy.work, 'restored')
    const r = runCli(['-q', '-restore', ...key, '-cipherdir', top, '-prefix', PREFIX, top, dest])
    t.equal(r.code, 0, r.stderr)
    t.same(listTree(dest, RESTORED), expected)
    const one = path.join(copy.work, 'one')
    const file = listTree(plain)
      .find((l) => l.startsWith('f ') && l.includes(' ./deepest/'))!
      .split(' ./')[1]!
    const cipherFile = copy.cipherPath(path.join(PREFIX, file)).split('/').slice(2).join('/')
    const r1 = runCli(['-q', '-restore', ...key, '-cipherdir', top, '-prefix', `/${PREFIX}/`, path.join(top, cipherFile), one])
    t.equal(r1.code, 0, r1.stderr)
    t.ok(readFileSync(one).equals(readFileSync(path.join(plain, file))))
    t.equal(runCli(['-restore', ...key, '-prefix', PREFIX, top, dest]).code, 1, '-prefix needs -cipherdir')
  })

  await t.test('-forward -prefix shows it, -fsck -prefix passes, -decrypt-paths -prefix names it', async (t) => {
    const mnt = path.join(copy.work, 'mnt-ours')
    mkdirSync(mnt)
    mountOurs(t, ['-forward', ...key, '-prefix', PREFIX, top, mnt])
    t.same(listTree(mnt, FULL), listTree(plain, FULL))
    const f = runCli(['-fsck', ...key, '-prefix', PREFIX, top])
    t.equal(f.code, 0, f.stdout + f.stderr)
    const cipherDeepest = copy.cipherPath(`${PREFIX}/deepest`).split('/').pop()!
    const d = runCli(['-decrypt-paths', ...key, '-cipherdir', top, '-prefix', PREFIX], { input: `${cipherDeepest}\n` })
    t.equal(d.code, 0, d.stderr)
    t.equal(d.stdout, 'deepest\n')
  })

  await t.test('a wrong -prefix is refused, -stored-ivs reads it without one', async (t) => {
    const r = runCli(['-fsck', ...key, '-prefix', 'docs', top])
    t.equal(r.code, 1, r.stderr)
    t.match(r.stderr, /-prefix docs is not the path of the directory .* holds/)
    const dest = path.join(copy.work, 'stored')
    const s = runCli(['-q', '-restore', ...key, '-stored-ivs', '-cipherdir', top, top, dest])
    t.equal(s.code, 0, s.stderr)
    t.same(listTree(dest, RESTORED), expected)
  })

  await t.test('a file moved inside the copy is still caught with -prefix', async (t) => {
    const moved = path.join(copy.work, 'moved')
    cpA(top, moved)
    const deepest = copy.cipherPath(`${PREFIX}/deepest`).split('/').pop()!
    // An empty file has no header to carry a file ID.
    const file = listTree(path.join(plain, 'deepest'))
      .find((l) => l.startsWith('f ') && l.split(' ')[2] !== '0')!
      .split(' ./')[1]!
    const cipherName = copy.cipherPath(`${PREFIX}/deepest/${file}`).split('/').pop()!
    renameSync(path.join(moved, deepest, cipherName), path.join(moved, copy.cipherPath(`${PREFIX}/${file}`).split('/').pop()!))
    const r = runCli(['-fsck', ...key, '-prefix', PREFIX, moved])
    t.equal(r.code, 26, r.stdout)
    t.match(r.stdout, new RegExp(`^${file}: the file header belongs to another path .*\\[misplaced, `, 'm'))
    t.match(r.stdout, /^hint: If the copy holds a subdirectory/m)
  })
})

t.test('deterministic names: a subdirectory copy without -prefix is misplaced, with the hint', async (t) => {
  const c = vectorCopy(t, 'C')
  const top = path.join(c.work, 'a-copy')
  cpA(path.join(c.view, c.cipherPath('a')), top)
  const dest = path.join(c.work, 'out')
  const r = runCli(['-restore', '-masterkey', c.key, '-deterministic-names', '-cipherdir', top, top, dest])
  t.equal(r.code, 26, r.stderr)
  t.match(r.stderr, /\[misplaced, /)
  t.match(r.stderr, HINT)
  t.same(
    listTree(dest).filter((l) => l.startsWith('f ')),
    [],
    'no file written',
  )
  const ok = path.join(c.work, 'out-prefix')
  const p = runCli(['-q', '-restore', '-masterkey', c.key, '-deterministic-names', '-cipherdir', top, '-prefix', 'a', top, ok])
  t.equal(p.code, 0, p.stderr)
  t.equal(diffTrees(path.join(c.plain, 'a'), ok), '')
})

t.test('a filesystem written by gocryptfs in forward mode (-init -aessiv)', async (t) => {
  const work = scratchDir(t, 'tsreverse-forward-fs-')
  const plain = path.join(work, 'plain')
  const { fifo } = makeVariedTree(plain)
  const cipher = path.join(work, 'cipher')
  mkdirSync(cipher)
  const passfile = path.join(work, 'passfile.txt')
  writeFileSync(passfile, 'forward password\n', { mode: 0o600 })
  const init = run('gocryptfs', ['-q', '-init', '-aessiv', '-scryptn', '10', '-passfile', passfile, cipher])
  t.equal(init.status, 0, init.stderr)
  const mnt = path.join(work, 'mnt')
  mkdirSync(mnt)
  const m = mountGocryptfs(t, ['-passfile', passfile, cipher, mnt])
  try {
    t.equal(run('cp', ['-a', `${plain}/.`, mnt]).status, 0, 'cp -a into the mount')
  } finally {
    await stopMount(m)
  }
  const expected = listTree(plain, RESTORED)
  const pw = ['-passfile', passfile]

  t.test('without -stored-ivs: refused with the hint', async (t) => {
    const r = runCli(['-forward', ...pw, cipher, path.join(work, 'nowhere')])
    t.not(r.code, 0)
    const f = runCli(['-fsck', ...pw, cipher])
    t.equal(f.code, 6, f.stderr)
    t.match(f.stderr, HINT)
  })

  t.test('-forward -stored-ivs equals the plaintext', async (t) => {
    const view = path.join(work, 'view')
    mkdirSync(view)
    mountOurs(t, ['-forward', '-stored-ivs', ...pw, cipher, view])
    t.same(listTree(view, FULL), listTree(plain, FULL))
    t.equal(diffTrees(plain, view, ['--exclude', fifo]), '')
  })

  t.test('-restore -stored-ivs restores it exactly, with the password and with the master key alone', async (t) => {
    const dest = path.join(work, 'restored')
    const r = runCli(['-q', '-restore', '-restore-special', '-stored-ivs', ...pw, cipher, dest])
    t.equal(r.code, 0, r.stderr)
    t.same(listTree(dest, RESTORED), expected)
    t.equal(lstatSync(path.join(dest, 'secret.txt')).uid, OTHER_OWNER.uid, 'owners restored (as root)')
    const key = runCli(['-dumpmasterkey', ...pw, '-config', path.join(cipher, 'gocryptfs.conf'), cipher])
    t.equal(key.code, 0, key.stderr)
    const noConf = path.join(work, 'no-conf')
    cpA(cipher, noConf)
    run('rm', [path.join(noConf, 'gocryptfs.conf')])
    const dest2 = path.join(work, 'restored-key')
    const k = runCli(['-q', '-restore', '-restore-special', '-stored-ivs', '-masterkey', key.stdout.trim(), '-cipherdir', noConf, noConf, dest2])
    t.equal(k.code, 0, k.stderr)
    t.same(listTree(dest2, RESTORED), expected)
  })

  t.test('-fsck -stored-ivs passes as gocryptfs -fsck does, and finds a flipped bit', async (t) => {
    const f = runCli(['-fsck', '-stored-ivs', ...pw, cipher])
    t.equal(f.code, 0, f.stdout + f.stderr)
    t.equal(run('gocryptfs', ['-fsck', '-q', ...pw, cipher]).status, 0, 'gocryptfs -fsck agrees')
    const damaged = path.join(work, 'damaged')
    cpA(cipher, damaged)
    // The biggest ciphertext file is big.bin's.
    const [big] = listTree(damaged)
      .filter((l) => l.startsWith('f '))
      .sort((a, b) => Number(b.split(' ')[2]) - Number(a.split(' ')[2]))
    flipBit(path.join(damaged, big!.slice(big!.indexOf(' ./') + 3)), blockOffset(2) + 7)
    const d = runCli(['-fsck', '-stored-ivs', ...pw, damaged])
    t.equal(d.code, 26, d.stdout)
    t.match(d.stdout, /^big\.bin: block 2 .*\[block, /m)
    t.notMatch(d.stdout, /^hint:/m, 'no path hint with -stored-ivs')
  })
})

t.test("gocryptfs' example filesystem v1.1-aessiv", { skip: process.env.GOCRYPTFS_SRC ? false : 'GOCRYPTFS_SRC not set' }, async (t) => {
  const fs = path.join(process.env.GOCRYPTFS_SRC!, 'tests/example_filesystems/v1.1-aessiv')
  const work = scratchDir(t, 'tsreverse-example-fs-')
  const passfile = path.join(work, 'pw')
  writeFileSync(passfile, 'test\n', { mode: 0o600 })
  const dest = path.join(work, 'out')
  const r = runCli(['-q', '-restore', '-stored-ivs', '-passfile', passfile, fs, dest])
  t.equal(r.code, 0, r.stderr)
  t.equal(readFileSync(path.join(dest, 'status.txt'), 'utf8'), 'It works!\n')
  t.equal(runCli(['-fsck', '-q', '-stored-ivs', '-passfile', passfile, fs]).code, 0)
})
