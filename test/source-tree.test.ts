// SourceTree: the walk refuses a symlink in any directory component, answers ENOENT when the
// directory found is not the one the caller resolved, and its cached descriptors are closed
// when evicted, but never while a caller still uses one. A walk may start from a cached ancestor.
import t from 'tap'
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import os from 'node:os'
import path from 'node:path'
import { SealPool } from '../src/view/seal-pool.js'
import { DEFAULT_FDS, DIR_MOVED, SourceTree, type DirId } from '../src/view/source-tree.js'
import { InlineHops } from '../src/view/source-sync.js'
import { createAesSiv } from '../src/format/aes-siv.js'
import { waitFor } from './lib/mounts.js'
import { lstatNow } from '../src/view/stat.js'

const work = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'tsreverse-tree-')))
t.teardown(() => rmSync(work, { recursive: true, force: true }))
const src = path.join(work, 'src')
const outside = path.join(work, 'outside')
for (const root of [src, outside]) {
  mkdirSync(path.join(root, 'a/b'), { recursive: true })
  writeFileSync(path.join(root, 'a/b/f'), root === src ? 'inside' : 'outside')
}
for (const d of ['d1', 'd2']) mkdirSync(path.join(src, d))

function dirId(rel: string): DirId {
  const st = lstatNow(path.join(src, rel))
  return { rel: Buffer.from(rel), dev: st.dev, ino: st.ino, birth: st.birthtimeMs }
}

// Descriptors are told apart by what they point at: counting all of the process's would also
// count those that other parts of Node (libuv, the seal worker) open and close meanwhile.
function fdsOn(rel: string): number {
  const want = path.join(src, rel)
  let n = 0
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === want) n++
    } catch {} // closed since it was listed
  }
  return n
}

async function code(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'ok',
    (e: NodeJS.ErrnoException) => e.code ?? String(e),
  )
}

// The same walk with the syscalls on a seal worker (SourceHops), on this thread (InlineHops,
// for the source's device) and through libuv.
const pool = new SealPool(randomBytes(64), { threads: 1 })
t.teardown(() => pool.close())
const inline = { dev: lstatNow(src).dev, hops: new InlineHops(createAesSiv(randomBytes(64))) }
const hopsCases = [
  ['libuv', () => new SourceTree(Buffer.from(src))],
  ['worker', () => new SourceTree(Buffer.from(src), pool)],
  ['inline', () => new SourceTree(Buffer.from(src), pool, DEFAULT_FDS, inline)],
] as const

for (const [how, newTree] of hopsCases) {
  t.test(`${how}: a symlink in a middle or last directory component is refused`, async (t) => {
    const tree = newTree()
    const ab = dirId('a/b')
    const f = Buffer.from('a/b/f')
    const opened = await tree.openRegular(ab, f, lstatNow(path.join(src, 'a/b/f')))
    if (!('fd' in opened)) throw new Error('read whole although not asked to')
    t.equal(readFileSync(opened.fd, 'utf8'), 'inside')
    await tree.release(opened.fd, ab)

    renameSync(path.join(src, 'a'), path.join(src, 'a.real'))
    symlinkSync(path.join(outside, 'a'), path.join(src, 'a'))
    t.teardown(() => {
      rmSync(path.join(src, 'a'))
      renameSync(path.join(src, 'a.real'), path.join(src, 'a'))
    })
    // The cached descriptor still names the real directory: inside content, whatever the path says.
    t.equal(await tree.inDir(ab, (at) => readFile(Buffer.concat([at, Buffer.from('/f')]), 'utf8')), 'inside')
    // A fresh walk meets the symlink.
    const fresh = newTree()
    t.equal(await code(fresh.lstat(ab, f)), 'ENOTDIR', 'middle component')
    t.equal(await code(fresh.listDir(dirId('a.real'))), 'ok')
    const a = { ...dirId('a.real'), rel: Buffer.from('a') }
    t.equal(await code(fresh.listDir(a)), 'ENOTDIR', 'last component')
  })

  t.test(`${how}: a directory check that fails gives ${DIR_MOVED}, before the entry is touched`, async (t) => {
    const tree = newTree()
    const d1 = dirId('d1')
    writeFileSync(path.join(src, 'd1/f'), 'x')
    const f = Buffer.from('d1/f')
    const expected = lstatNow(path.join(src, 'd1/f'))
    const check = { path: Buffer.from(path.join(src, 'd1')), dev: d1.dev, ino: d1.ino, birth: d1.birth }
    t.equal((await tree.lstat(d1, f, check)).ino, expected.ino)
    const opened = await tree.openRegular(d1, f, expected, check)
    if (!('fd' in opened)) throw new Error('read whole although not asked to')
    t.equal((await tree.release(opened.fd, d1)).size, 1, 'release answers the fstat')
    renameSync(path.join(src, 'd1'), path.join(src, 'd1.old'))
    mkdirSync(path.join(src, 'd1'))
    t.teardown(() => {
      rmSync(path.join(src, 'd1'), { recursive: true })
      renameSync(path.join(src, 'd1.old'), path.join(src, 'd1'))
      rmSync(path.join(src, 'd1/f'))
    })
    t.equal(await code(tree.lstat(d1, f, check)), DIR_MOVED)
    t.equal(await code(tree.openRegular(d1, f, expected, check)), DIR_MOVED)
    const fresh = newTree()
    t.equal(await code(fresh.lstat(d1, f, check)), DIR_MOVED, 'also when a walk meets the other directory first')
    t.equal(await code(fresh.lstat(d1, f)), 'ENOENT', 'which, without a check, is ENOENT')
    t.equal(await code(tree.lstat(d1, f)), 'ok', 'without a check, the walked directory still answers')
  })
}

for (const [how, newTree] of hopsCases) {
  t.test(`${how}: a directory other than the one resolved gives ENOENT`, async (t) => {
    const tree = newTree()
    const d1 = dirId('d1')
    t.equal(await code(tree.listDir({ ...d1, ino: dirId('d2').ino })), 'ENOENT')
    t.equal(await code(tree.listDir({ ...d1, birth: d1.birth + 1 })), 'ENOENT', 'same inode number, other birth time')
    t.equal(await code(tree.listDir(d1)), 'ok')
  })

  t.test(`${how}: a walk starts from a cached ancestor, and from SOURCE when that ancestor was renamed`, async (t) => {
    mkdirSync(path.join(src, 'p/q'), { recursive: true })
    t.teardown(() => rmSync(path.join(src, 'p'), { recursive: true, force: true }))
    const tree = newTree()
    await tree.listDir(dirId('p'))
    t.same((await tree.listDir(dirId('p/q'))).map(String), [], 'found from the cached p')

    // p moves away with its q; a new p gets a q of its own. The cached descriptor of p now names
    // the moved directory, whose q is not the one resolved.
    renameSync(path.join(src, 'p'), path.join(src, 'p.old'))
    t.teardown(() => rmSync(path.join(src, 'p.old'), { recursive: true, force: true }))
    mkdirSync(path.join(src, 'p/q'), { recursive: true })
    writeFileSync(path.join(src, 'p/q/new'), '')
    t.same((await tree.listDir(dirId('p/q'))).map(String), ['new'], 'the new p/q, walked from SOURCE')
    mkdirSync(path.join(src, 'p/r'))
    rmSync(path.join(src, 'p.old'), { recursive: true })
    t.same((await tree.listDir(dirId('p/r'))).map(String), [], 'the stale p gives ENOENT, then SOURCE finds p/r')
  })

  t.test(`${how}: isDirStill tells whether a directory is still at its path`, async (t) => {
    mkdirSync(path.join(src, 's1'))
    t.teardown(() => rmSync(path.join(src, 's1'), { recursive: true, force: true }))
    const tree = newTree()
    const s1 = dirId('s1')
    const check = { path: Buffer.from(path.join(src, 's1')), dev: s1.dev, ino: s1.ino, birth: s1.birth }
    t.equal(await tree.isDirStill(check, s1.dev), true)
    rmSync(path.join(src, 's1'), { recursive: true })
    t.equal(await tree.isDirStill(check, s1.dev), false, 'gone')
    writeFileSync(path.join(src, 's1'), '')
    t.equal(await tree.isDirStill(check, s1.dev), false, 'a file there now')
    rmSync(path.join(src, 's1'))
    mkdirSync(path.join(src, 's1'))
    t.equal(await tree.isDirStill(check, s1.dev), false, 'another directory there now')
  })

  t.test(`${how}: a listing walks to the directory, lists it and stats it`, async (t) => {
    mkdirSync(path.join(src, 'l/m'), { recursive: true })
    writeFileSync(path.join(src, 'l/m/x'), 'xx')
    mkdirSync(path.join(src, 'l/m/sub'))
    writeFileSync(path.join(src, 'l/m/skipped'), '')
    t.teardown(() => rmSync(path.join(src, 'l'), { recursive: true, force: true }))
    const tree = newTree()
    const listing = await tree.listEntries(dirId('l/m'), (name) => String(name) !== 'skipped')
    t.equal(listing.st.ino, lstatNow(path.join(src, 'l/m')).ino, 'the stat of the directory listed')
    const got = Object.fromEntries(listing.entries.map((e) => [String(e.name), e.st?.size ?? 'none']))
    t.same(got, { x: 2, sub: lstatNow(path.join(src, 'l/m/sub')).size, skipped: 'none' }, 'lstat of the wanted entries only')
    t.same([fdsOn('l/m'), fdsOn('l')], [1, 0], 'the walked descriptor is cached, no other stays open')
    rmSync(path.join(src, 'l/m/x'))
    const again = await tree.listEntries(dirId('l/m'), () => true)
    t.same(again.entries.map((e) => String(e.name)).sort(), ['skipped', 'sub'], 'listed afresh from the cached descriptor')
    const other = { ...dirId('l/m'), rel: Buffer.from('l') }
    t.equal(await code(tree.listEntries(other, () => true)), 'ENOENT', 'another directory at the path')
    t.same([fdsOn('l/m'), fdsOn('l')], [1, 0], 'whose descriptor is closed')
  })
}

t.test('inline: a listing stats its entries by name from the directory; the working directory comes back', async (t) => {
  const dir = path.join(src, 'rel')
  mkdirSync(path.join(dir, 'sub'), { recursive: true })
  writeFileSync(path.join(dir, 'f'), 'three')
  symlinkSync('f', path.join(dir, 'link'))
  const odd = Buffer.concat([Buffer.from(dir + '/'), Buffer.from([0x6f, 0xff, 0x64])])
  writeFileSync(odd, 'odd')
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const expected = (name: Buffer): string => {
    const st = lstatNow(Buffer.concat([Buffer.from(dir + '/'), name]))
    return [st.ino, st.mode, st.size, st.mtimeMs, st.mtimeNsPart].join(' ')
  }
  const summary = (l: Awaited<ReturnType<SourceTree['listEntries']>>): string[] =>
    l.entries.map((e) => `${e.name.toString('hex')} ${e.st ? [e.st.ino, e.st.mode, e.st.size, e.st.mtimeMs, e.st.mtimeNsPart].join(' ') : 'none'}`).sort()
  const want = ['sub', 'f', 'link'].map((n) => Buffer.from(n)).concat([Buffer.from([0x6f, 0xff, 0x64])])
    .map((n) => `${n.toString('hex')} ${expected(n)}`).sort()

  const chdir = process.chdir.bind(process)
  const cwd = process.cwd()
  const dirs: string[] = []
  t.teardown(() => void (process.chdir = chdir))
  process.chdir = (to: string): void => {
    dirs.push(to)
    chdir(to)
  }
  const tree = new SourceTree(Buffer.from(src), pool, DEFAULT_FDS, inline)
  t.same(summary(await tree.listEntries(dirId('rel'), () => true)), want, 'the lstat of each entry, symlinks not followed, any bytes')
  t.equal(dirs.length, 2, 'one chdir there and one back')
  t.match(dirs, [/^\/proc\/self\/fd\/\d+$/, cwd], 'into the directory by its descriptor, and back')
  t.equal(process.cwd(), cwd)

  // Where the working directory cannot change, full paths give the same.
  process.chdir = (to: string): void => {
    if (to.startsWith('/proc/')) throw Object.assign(new Error('refused'), { code: 'EACCES' })
    chdir(to)
  }
  t.same(summary(await tree.listEntries(dirId('rel'), () => true)), want, 'the same through full paths')
  t.equal(process.cwd(), cwd)
})

t.test('evicted descriptors close once unused; none leak', async (t) => {
  // Directories no other test's tree has cached.
  const dirs = ['e1', 'e2', 'e3', 'e4', 'e5']
  for (const rel of dirs) mkdirSync(path.join(src, rel))
  const open = (): number => dirs.reduce((n, rel) => n + fdsOn(rel), 0)
  const tree = new SourceTree(Buffer.from(src), undefined, 2)
  let evicted!: () => void
  const held = tree.inDir(dirId('e1'), async (at) => {
    await new Promise<void>((resolve) => (evicted = resolve))
    return readdir(at) // still the walked directory, although evicted meanwhile
  })
  await new Promise((r) => setImmediate(r))
  for (const rel of dirs.slice(1)) await tree.listDir(dirId(rel))
  t.same([fdsOn('e1'), open()], [1, 3], 'two cached plus the one in use')
  evicted()
  t.same(await held, [])
  // The close of the evicted descriptor is not awaited by anyone.
  await waitFor('the evicted descriptor to close', () => fdsOn('e1') === 0)
  t.equal(open(), 2, "only the cache's two remain")
})
