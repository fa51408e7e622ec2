// The native source syscalls: exact stats, byte names, the directory check, whole reads only of
// ordinary non-empty files, descriptors owned by the caller, errors with codes.
import t from 'tap'
import { closeSync, fstatSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { sys } from '../src/native/sys.js'
import { AT_FDCWD, closeFile, listAt, lstatAt, lstatEachAt, openAt, preadAt, readlinkAt, unpackNames, walkFrom, type DirCheck } from '../src/view/source-io.js'
import { lstatNow } from '../src/view/stat.js'

const code = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'ok',
    (e: NodeJS.ErrnoException) => e.code ?? String(e),
  )

t.test('stats equal Node bigint stats, to the nanosecond', async (t) => {
  const dir = t.testdir({ f: 'hello', sub: {} })
  symlinkSync('f', path.join(dir, 'link'))
  for (const name of ['f', 'sub', 'link']) {
    const got = await lstatAt(AT_FDCWD, Buffer.from(path.join(dir, name)))
    const want = lstatNow(path.join(dir, name))
    t.same({ ...got }, { ...want }, name)
    t.equal(got.isSymbolicLink(), name === 'link')
  }
})

t.test('walk, list, lstatEach and readlink by descriptor, names as bytes', async (t) => {
  const dir = t.testdir({ a: { b: { x: 'xx' } } })
  const odd = Buffer.from([0x6f, 0xff, 0x64])
  const b = path.join(dir, 'a/b')
  writeFileSync(Buffer.concat([Buffer.from(b + '/'), odd]), 'odd')
  symlinkSync('x', path.join(b, 'l'))
  const w = await walkFrom(AT_FDCWD, Buffer.from(dir), [Buffer.from('a'), Buffer.from('b')], true)
  t.teardown(() => closeSync(w.fd))
  t.equal(w.st.ino, lstatSync(b).ino, 'the fstat of the directory reached')
  t.same(
    unpackNames(w.names!)
      .map((n) => n.toString('hex'))
      .sort(),
    [Buffer.from('l'), odd, Buffer.from('x')].map((n) => n.toString('hex')).sort(),
  )
  t.same(
    unpackNames((await listAt(w.fd)).names)
      .map((n) => n.toString('hex'))
      .sort(),
    unpackNames(w.names!)
      .map((n) => n.toString('hex'))
      .sort(),
  )
  const each = await lstatEachAt(w.fd, [Buffer.from('x'), odd, Buffer.from('gone')])
  t.equal((each.stats[0] as { size: number }).size, 2)
  t.equal((each.stats[1] as { size: number }).size, 3)
  t.match(each.stats[2], { code: 'ENOENT' })
  t.equal(each.dir.ino, w.st.ino)
  t.equal((await readlinkAt(w.fd, Buffer.from('l'))).toString(), 'x')
  t.equal(await code(walkFrom(AT_FDCWD, Buffer.from(dir), [Buffer.from('a'), Buffer.from('b'), Buffer.from('l')], false)), 'ENOTDIR', 'never through a symlink')
})

t.test('open: the expected file only; small ordinary files read whole, empty ones and /proc not', async (t) => {
  const dir = t.testdir({ small: randomBytes(5000), big: randomBytes(40 * 4096), empty: '' })
  const st = (n: string) => lstatNow(path.join(dir, n))
  const d = lstatNow(dir)
  const check: DirCheck = { path: Buffer.from(dir), dev: d.dev, ino: d.ino, birth: d.birthtimeMs }
  const small0 = st('small')
  const open = (n: string, below = 32 * 4096, expected = n === 'small' ? small0 : st(n)) =>
    openAt(AT_FDCWD, Buffer.from(path.join(dir, n)), expected, below, check)

  const small = await open('small')
  if (!('data' in small)) throw new Error('a small file was not read whole')
  t.ok(small.data.equals(readFileSync(path.join(dir, 'small'))))
  t.equal(small.status.size, 5000)
  const notAsked = await open('small', 0)
  t.ok('fd' in notAsked, 'below 0: never read whole')
  if ('fd' in notAsked) await closeFile(notAsked.fd)
  const empty = await open('empty')
  t.ok('fd' in empty, 'an empty file is not read at open')
  if ('fd' in empty) await closeFile(empty.fd)
  const big = await open('big')
  if (!('fd' in big)) throw new Error('a file of 40 blocks was read whole')
  const r = await preadAt(big.fd, 8192, 40 * 4096 - 4096)
  t.ok(r.data.equals(readFileSync(path.join(dir, 'big')).subarray(-4096)), 'short at end of file')
  t.equal((await closeFile(big.fd)).size, 40 * 4096, 'close answers the fstat')
  t.throws(() => fstatSync(big.fd), { code: 'EBADF' }, 'and closed it')
  t.equal(await code(open('small', 32 * 4096, st('big'))), 'ENOENT', 'another file than expected')

  // procfs files say 0 or 4096 bytes and may change state when read: opened, never read.
  const proc = Buffer.from('/proc/self/status')
  const p = await openAt(AT_FDCWD, proc, lstatNow('/proc/self/status'), 32 * 4096)
  t.ok('fd' in p, 'a /proc file is opened, not read')
  if ('fd' in p) await closeFile(p.fd)

  renameSync(dir, `${dir}.moved`)
  t.teardown(() => rmSync(`${dir}.moved`, { recursive: true, force: true }))
  mkdirSync(dir)
  t.equal(await code(open('small')), 'EDIRMOVED', 'another directory at the checked path')
  t.equal(await code(lstatAt(AT_FDCWD, Buffer.from(path.join(dir, 'small')), check)), 'EDIRMOVED')
})

t.test('errors carry code, errno and syscall', async (t) => {
  const err = await lstatAt(AT_FDCWD, Buffer.from('/nonexistent-tsreverse')).catch((e: NodeJS.ErrnoException) => e)
  t.match(err, { code: 'ENOENT', errno: -2, syscall: 'lstat' })
  t.throws(() => sys.utimens(Buffer.from('/nonexistent-tsreverse'), 0, 0, 0, 0), { code: 'ENOENT' })
})

t.test('utimens sets times to the nanosecond, not following symlinks', async (t) => {
  const dir = t.testdir({ f: 'x' })
  symlinkSync('f', path.join(dir, 'l'))
  sys.utimens(Buffer.from(path.join(dir, 'l')), 1733570000, 123456789, 1733570001, 987654321)
  const l = lstatSync(path.join(dir, 'l'), { bigint: true })
  t.equal(l.mtimeNs, 1733570001987654321n)
  t.equal(l.atimeNs, 1733570000123456789n)
  t.not(lstatSync(path.join(dir, 'f'), { bigint: true }).mtimeNs, 1733570001987654321n, 'the target is untouched')
})

t.test('many calls at once all answer', async (t) => {
  const dir = t.testdir({ f: 'x' })
  const f = Buffer.from(path.join(dir, 'f'))
  const all = await Promise.all(Array.from({ length: 2000 }, () => lstatAt(AT_FDCWD, f)))
  t.equal(all.filter((s) => s.size === 1).length, 2000)
})
