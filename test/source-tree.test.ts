// SourceTree: the walk refuses a symlink in any directory component, answers ENOENT when the
// directory found is not the one the caller resolved, and its cached descriptors are closed
// when evicted, but never while a caller still uses one. A walk may start from a cached ancestor.
import t from 'tap'
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { listAt, unpackNames } from '../src/view/source-io.js'
import { DIR_MOVED, SourceTree, type DirId, type ListedEntry } from '../src/view/source-tree.js'
import { waitFor } from './lib/mounts.js'
import { lstatNow, type SourceStats } from '../src/view/stat.js'

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
// count those that other parts of Node open and close meanwhile.
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

const newTree = (): SourceTree => new SourceTree(Buffer.from(src))

{
  t.test(`a symlink in a middle or last directory component is refused`, async (t) => {
    const tree = newTree()
    const ab = dirId('a/b')
    const f = Buffer.from('a/b/f')
    const opened = await tree.openRegular(ab, f, lstatNow(path.join(src, 'a/b/f')), 0)
    if (!('fd' in opened)) throw new Error('read whole although not asked to')
    t.equal(readFileSync(opened.fd, 'utf8'), 'inside')
    await tree.release(opened.fd)

    renameSync(path.join(src, 'a'), path.join(src, 'a.real'))
    symlinkSync(path.join(outside, 'a'), path.join(src, 'a'))
    t.teardown(() => {
      rmSync(path.join(src, 'a'))
      renameSync(path.join(src, 'a.real'), path.join(src, 'a'))
    })
    // The cached descriptor still names the real directory: inside content, whatever the path says.
    t.same((await tree.listDir(ab)).names.map(String), ['f'])
    t.equal((await tree.lstat(ab, f)).size, 'inside'.length)
    // A fresh walk meets the symlink.
    const fresh = newTree()
    t.equal(await code(fresh.lstat(ab, f)), 'ENOTDIR', 'middle component')
    t.equal(await code(fresh.listDir(dirId('a.real'))), 'ok')
    const a = { ...dirId('a.real'), rel: Buffer.from('a') }
    t.equal(await code(fresh.listDir(a)), 'ENOTDIR', 'last component')
  })

  t.test(`a directory check that fails gives ${DIR_MOVED}, before the entry is touched`, async (t) => {
    const tree = newTree()
    const d1 = dirId('d1')
    writeFileSync(path.join(src, 'd1/f'), 'x')
    const f = Buffer.from('d1/f')
    const expected = lstatNow(path.join(src, 'd1/f'))
    const check = { path: Buffer.from(path.join(src, 'd1')), dev: d1.dev, ino: d1.ino, birth: d1.birth }
    t.equal((await tree.lstat(d1, f, check)).ino, expected.ino)
    const opened = await tree.openRegular(d1, f, expected, 0, check)
    if (!('fd' in opened)) throw new Error('read whole although not asked to')
    t.equal((await tree.release(opened.fd)).size, 1, 'release answers the fstat')
    renameSync(path.join(src, 'd1'), path.join(src, 'd1.old'))
    mkdirSync(path.join(src, 'd1'))
    t.teardown(() => {
      rmSync(path.join(src, 'd1'), { recursive: true })
      renameSync(path.join(src, 'd1.old'), path.join(src, 'd1'))
      rmSync(path.join(src, 'd1/f'))
    })
    t.equal(await code(tree.lstat(d1, f, check)), DIR_MOVED)
    t.equal(await code(tree.openRegular(d1, f, expected, 0, check)), DIR_MOVED)
    const fresh = newTree()
    t.equal(await code(fresh.lstat(d1, f, check)), DIR_MOVED, 'also when a walk meets the other directory first')
    t.equal(await code(fresh.lstat(d1, f)), 'ENOENT', 'which, without a check, is ENOENT')
    t.equal(await code(tree.lstat(d1, f)), 'ok', 'without a check, the walked directory still answers')
  })
}

{
  t.test(`a directory other than the one resolved gives ENOENT`, async (t) => {
    const tree = newTree()
    const d1 = dirId('d1')
    t.equal(await code(tree.listDir({ ...d1, ino: dirId('d2').ino })), 'ENOENT')
    t.equal(await code(tree.listDir({ ...d1, birth: d1.birth + 1 })), 'ENOENT', 'same inode number, other birth time')
    t.equal(await code(tree.listDir(d1)), 'ok')
  })

  t.test(`a walk starts from a cached ancestor, and from SOURCE when that ancestor was renamed`, async (t) => {
    mkdirSync(path.join(src, 'p/q'), { recursive: true })
    t.teardown(() => rmSync(path.join(src, 'p'), { recursive: true, force: true }))
    const tree = newTree()
    await tree.listDir(dirId('p'))
    t.same((await tree.listDir(dirId('p/q'))).names.map(String), [], 'found from the cached p')

    // p moves away with its q; a new p gets a q of its own. The cached descriptor of p now names
    // the moved directory, whose q is not the one resolved.
    renameSync(path.join(src, 'p'), path.join(src, 'p.old'))
    t.teardown(() => rmSync(path.join(src, 'p.old'), { recursive: true, force: true }))
    mkdirSync(path.join(src, 'p/q'), { recursive: true })
    writeFileSync(path.join(src, 'p/q/new'), '')
    t.same((await tree.listDir(dirId('p/q'))).names.map(String), ['new'], 'the new p/q, walked from SOURCE')
    mkdirSync(path.join(src, 'p/r'))
    rmSync(path.join(src, 'p.old'), { recursive: true })
    t.same((await tree.listDir(dirId('p/r'))).names.map(String), [], 'the stale p gives ENOENT, then SOURCE finds p/r')
  })

  t.test(`isDirStill tells whether a directory is still at its path`, async (t) => {
    mkdirSync(path.join(src, 's1'))
    t.teardown(() => rmSync(path.join(src, 's1'), { recursive: true, force: true }))
    const tree = newTree()
    const s1 = dirId('s1')
    const check = { path: Buffer.from(path.join(src, 's1')), dev: s1.dev, ino: s1.ino, birth: s1.birth }
    t.equal(await tree.isDirStill(check), true)
    rmSync(path.join(src, 's1'), { recursive: true })
    t.equal(await tree.isDirStill(check), false, 'gone')
    writeFileSync(path.join(src, 's1'), '')
    t.equal(await tree.isDirStill(check), false, 'a file there now')
    rmSync(path.join(src, 's1'))
    mkdirSync(path.join(src, 's1'))
    t.equal(await tree.isDirStill(check), false, 'another directory there now')
  })

  t.test(`a listing walks to the directory, lists it and stats it`, async (t) => {
    mkdirSync(path.join(src, 'l/m'), { recursive: true })
    writeFileSync(path.join(src, 'l/m/x'), 'xx')
    mkdirSync(path.join(src, 'l/m/sub'))
    writeFileSync(path.join(src, 'l/m/skipped'), '')
    t.teardown(() => rmSync(path.join(src, 'l'), { recursive: true, force: true }))
    const tree = newTree()
    const chunks: ListedEntry[][] = []
    const listed = (d: DirId, wanted: (name: Buffer) => boolean, chunk?: number): Promise<SourceStats> =>
      tree.listEntries(d, wanted, (entries) => void chunks.push(entries), chunk)
    const st = await listed(dirId('l/m'), (name) => String(name) !== 'skipped')
    t.equal(st.ino, lstatNow(path.join(src, 'l/m')).ino, 'the stat of the directory listed')
    const got = Object.fromEntries(chunks.flat().map((e) => [String(e.name), e.st?.size ?? 'none']))
    t.same(got, { x: 2, sub: lstatNow(path.join(src, 'l/m/sub')).size, skipped: 'none' }, 'lstat of the wanted entries only')
    t.same([fdsOn('l/m'), fdsOn('l')], [1, 0], 'the walked descriptor is cached, no other stays open')
    rmSync(path.join(src, 'l/m/x'))
    chunks.length = 0
    await listed(dirId('l/m'), () => true, 1)
    t.same(
      chunks.map((c) => c.length),
      [1, 1],
      'a chunk at a time',
    )
    t.same(
      chunks
        .flat()
        .map((e) => String(e.name))
        .sort(),
      ['skipped', 'sub'],
      'listed afresh from the cached descriptor',
    )
    const other = { ...dirId('l/m'), rel: Buffer.from('l') }
    t.equal(await code(listed(other, () => true)), 'ENOENT', 'another directory at the path')
    t.same([fdsOn('l/m'), fdsOn('l')], [1, 0], 'whose descriptor is closed')
  })
}

t.test('evicted descriptors close once unused; none leak', async (t) => {
  // Directories no other test's tree has cached.
  const dirs = ['e1', 'e2', 'e3', 'e4', 'e5']
  for (const rel of dirs) mkdirSync(path.join(src, rel))
  const open = (): number => dirs.reduce((n, rel) => n + fdsOn(rel), 0)
  const tree = new SourceTree(Buffer.from(src), 2)
  let evicted!: () => void
  const held = tree.inDir(dirId('e1'), async (fd) => {
    await new Promise<void>((resolve) => (evicted = resolve))
    return unpackNames((await listAt(fd)).names) // still the walked directory, although evicted meanwhile
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
