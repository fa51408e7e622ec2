// ReverseView without FUSE: the view of plaintext-tree.tar for vectors A, B and C, walked with
// readdir/getattr/read/readlink, must equal what gocryptfs 2.3 produced (view.tar and
// view.listing); then lookup errors, exclusion, changes of the source, special files, inode
// numbers, -force_owner, -one-file-system and the mount point inside the source.
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  appendFileSync,
  chmodSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { lstatNow } from '../src/view/stat.js'
import { ExitCode, UserError } from '../src/exitcodes.js'
import { parseConfig } from '../src/format/config.js'
import { deriveKeys } from '../src/format/keys.js'
import { parseMasterKey } from '../src/format/masterkey.js'
import { NameCipher } from '../src/format/names.js'
import { derivePathIv } from '../src/format/pathiv.js'
import { settingsFromConfig, type FormatSettings } from '../src/format/settings.js'
import { byteString, bytesOf } from '../src/view/byte-string.js'
import { Excluder } from '../src/view/exclude.js'
import type { Attr } from '../src/view/fs.js'
import { ReverseView, type ReverseViewOptions } from '../src/view/reverse.js'
import { SourceTree } from '../src/view/source-tree.js'
import type { Ino } from '../src/view/inomap.js'
import { Prng } from './lib/prng.js'
import { VECTORS } from './lib/vectors.js'
import { asListed, unpacked } from './lib/listing.js'

const S_IFMT = 0o170000
const S_IFDIR = 0o040000
const S_IFREG = 0o100000
const S_IFLNK = 0o120000
const S_IFIFO = 0o010000

interface Vector {
  dir: string
  settings: FormatSettings
  masterKey: Buffer
}

function loadVector(name: string): Vector {
  const dir = join(VECTORS, name)
  const confPath = join(dir, 'gocryptfs.conf')
  return {
    dir,
    settings: settingsFromConfig(parseConfig(readFileSync(confPath, 'utf8'), confPath)),
    masterKey: parseMasterKey(readFileSync(join(dir, 'masterkey.txt'), 'ascii').trim()),
  }
}

/** A temp dir with SRC = plaintext tree + the vector's config, removed on teardown. */
function makeSource(t: { teardown(fn: () => void): void }, v: Vector): { work: string; src: string } {
  const work = mkdtempSync(join(tmpdir(), 'tsreverse-view-'))
  t.teardown(() => rmSync(work, { recursive: true, force: true }))
  const src = join(work, 'src')
  mkdirSync(src)
  execFileSync('tar', ['-C', src, '-xf', join(VECTORS, 'plaintext-tree.tar')])
  copyFileSync(join(v.dir, 'gocryptfs.conf'), join(src, '.gocryptfs.reverse.conf'))
  chmodSync(join(src, '.gocryptfs.reverse.conf'), 0o400)
  return { work, src }
}

function makeView(v: Vector, src: string, extra: Partial<ReverseViewOptions> = {}, logs: string[] = []): Promise<ReverseView> {
  return ReverseView.create({ source: src, settings: v.settings, masterKey: v.masterKey, log: (m) => logs.push(m), ...extra })
}

function childPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`
}

/** Every path of the view with the attributes readdir gave for it. */
async function walk(view: ReverseView, dir = '/', out = new Map<string, Attr>()): Promise<Map<string, Attr>> {
  const { names, attrs } = unpacked(await view.readdir(dir))
  names.forEach((name, i) => {
    const p = childPath(dir, name)
    out.set(p, attrs[i]!)
  })
  for (const [i, name] of names.entries()) {
    if ((attrs[i]!.mode & S_IFMT) === S_IFDIR) await walk(view, childPath(dir, name), out)
  }
  return out
}

async function readAll(view: ReverseView, p: string, chunk = 131072): Promise<Buffer> {
  const h = await view.open(p)
  try {
    const parts: Buffer[] = []
    for (let pos = 0; ;) {
      const buf = Buffer.alloc(chunk)
      const n = await view.read(h, buf, chunk, pos)
      if (n === 0) break
      parts.push(buf.subarray(0, n))
      pos += n
    }
    return Buffer.concat(parts)
  } finally {
    await view.release(h)
  }
}

/** A view path (a byte string) below a directory on disk. */
const onDisk = (root: string, p: string): Buffer => Buffer.concat([Buffer.from(root), bytesOf(p)])
/** A view path as the vectors' listings spell it. */
const utf8 = (p: string): string => bytesOf(p).toString('utf8')

/** The whole filesystem subtree of an extracted view.tar, as view paths. */
function extractedPaths(root: string, dir = ''): string[] {
  const out: string[] = []
  for (const name of readdirSync(onDisk(root, dir), { encoding: 'buffer' })) {
    const p = `${dir}/${byteString(name)}`
    out.push(p)
    if (lstatSync(onDisk(root, p)).isDirectory()) out.push(...extractedPaths(root, p))
  }
  return out
}

// Where reads are sealed: on this thread (TypeScript), or on the native pool thread that reads them.
const sealedAt = ['main', 'pool'] as const
for (const [name, at] of ['A', 'B', 'C'].flatMap((n) => sealedAt.map((a) => [n, a] as const))) {
  t.test(`vector ${name}, reads sealed on ${at}: the view equals gocryptfs 2.3's`, async (t) => {
    const v = loadVector(name)
    const { work, src } = makeSource(t, v)
    const expected = join(work, 'view')
    mkdirSync(expected)
    execFileSync('tar', ['-C', expected, '-xf', join(v.dir, 'view.tar')])
    const view = await makeView(v, src, { nativeSeal: at === 'pool' })

    const entries = await walk(view)
    t.same([...entries.keys()].sort(), extractedPaths(expected).sort(), 'same set of paths as view.tar')

    // getattr agrees with readdir. Listing a directory updates its atime, and the diriv and
    // .name files copy the attributes of directories.
    for (const [p, attr] of entries) {
      const again = asListed(await view.getattr(p))
      if ((attr.mode & S_IFMT) === S_IFDIR || /\/gocryptfs\.(diriv|longname\..*\.name)$/.test(p))
        Object.assign(again, { atimeMs: attr.atimeMs, atimeNsPart: attr.atimeNsPart })
      t.same(again, attr, `getattr ${p}`)
    }

    const listing: string[] = []
    const prng = new Prng(name.charCodeAt(0))
    const rand = (): number => prng.float()
    for (const [p, attr] of entries) {
      const want = lstatSync(onDisk(expected, p))
      const type = attr.mode & S_IFMT
      t.equal(type, want.mode & S_IFMT, `type of ${p}`)
      t.equal(attr.mode & 0o7777, want.mode & 0o7777, `mode of ${p}`)
      const perm = (attr.mode & 0o7777).toString(8)
      if (type === S_IFDIR) {
        listing.push(`d ${perm} - - .${utf8(p)}`)
        continue
      }
      t.equal(attr.size, want.size, `size of ${p}`)
      if (type === S_IFLNK) {
        const target = await view.readlink(p)
        t.equal(target, byteString(readlinkSync(onDisk(expected, p), { encoding: 'buffer' })), `target of ${p}`)
        listing.push(`l ${perm} ${attr.size} ${utf8(target)} .${utf8(p)}`)
        continue
      }
      const content = await readAll(view, p)
      t.ok(content.equals(readFileSync(onDisk(expected, p))), `content of ${p}`)
      listing.push(`f ${perm} ${attr.size} ${createHash('sha256').update(content).digest('hex')} .${utf8(p)}`)
      // Random ranges, including ones across block boundaries and past the end.
      const h = await view.open(p)
      for (let i = 0; i < 6; i++) {
        const pos = Math.floor(rand() * (content.length + 100))
        const len = 1 + Math.floor(rand() * 9000)
        const buf = Buffer.alloc(len)
        const n = await view.read(h, buf, len, pos)
        if (!buf.subarray(0, n).equals(content.subarray(pos, pos + len))) {
          t.fail(`read ${p} at ${pos} length ${len}`)
        }
      }
      await view.release(h)
    }
    // The same walk through caches of one entry (every lookup evicts).
    const tiny = await makeView(v, src, { cacheSize: 1 })
    t.same([...(await walk(tiny)).keys()].sort(), [...entries.keys()].sort(), 'same view with cacheSize 1')

    const wantListing = readFileSync(join(v.dir, 'view.listing'), 'utf8')
      .split('\n')
      .filter((l) => l !== '')
    t.same(listing.sort(), wantListing.sort(), 'view.listing')
  })
}

t.test('lookups, exclusion and changes of the source (vector B)', async (t) => {
  const v = loadVector('B')
  const { work, src } = makeSource(t, v)
  const keys = deriveKeys(v.masterKey, { hkdf: true })
  const names = new NameCipher(keys.eme, { raw64: true, longNameMax: 255, longNames: true })
  const rootIv = derivePathIv('', 'DIRIV')
  const enc = (plain: string, iv = rootIv) => names.viewName(Buffer.from(plain), iv).name
  const L255 = 'L255-' + '0'.repeat(250)

  t.test('unknown and undecodable names give ENOENT', async (t) => {
    const view = await makeView(v, src)
    for (const p of [
      '/nonexistent',
      '/' + enc('nonexistent'),
      '/QlJdkRUR8yk7JpkC5wsvPx', // a lenient-base64 alias of file-1 (2.3 accepted it)
      '/AAAAAAAAAAAAAAAAAAAAAA',
      '/gocryptfs.longname.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      '/gocryptfs.longname.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.name',
      '/' + names.encryptName(Buffer.from(L255), rootIv), // full spelling of a hashed name
    ]) {
      await t.rejects(view.getattr(p), { code: 'ENOENT' }, p)
    }
    // A hashed name looked up without a listing first (directory scan), and its .name file.
    const L176 = 'L176-' + '0'.repeat(171)
    const hashed = '/' + enc(L176)
    t.equal((await view.getattr(hashed)).size, 18 + 176 + 32)
    const full = names.encryptName(Buffer.from(L176), rootIv)
    t.equal((await view.getattr(hashed + '.name')).size, full.length)
    const h = await view.open(hashed + '.name')
    const buf = Buffer.alloc(400)
    t.equal(buf.subarray(0, await view.read(h, buf, 400, 0)).toString(), full)
    await view.release(h)
    await t.rejects(view.getattr(`/${enc('file-1')}/x`), { code: 'ENOTDIR' })
    await t.rejects(view.getattr('/gocryptfs.conf/x'), { code: 'ENOTDIR' })
    t.equal((await view.getattr('/' + enc('file-1'))).size, 51)
  })

  t.test('excluded paths: hidden, EPERM, .name files too', async (t) => {
    const exclude = Excluder.fromOptions({ exclude: ['a'], excludeWildcard: ['L255-*'], excludeFrom: [] })
    const view = await makeView(v, src, { exclude })
    const root = unpacked(await view.readdir('/'))
    const hashed = enc(L255)
    t.notOk(root.names.includes(enc('a')), 'excluded dir not listed')
    t.notOk(root.names.includes(hashed), 'excluded long name not listed')
    t.notOk(root.names.includes(hashed + '.name'), 'nor its .name file')
    t.ok(root.names.includes(enc('L176-' + '0'.repeat(171))), 'other long names still listed')
    await t.rejects(view.getattr('/' + enc('a')), { code: 'EPERM' })
    const aIv = derivePathIv(enc('a'), 'DIRIV')
    await t.rejects(view.getattr(`/${enc('a')}/${enc('at-level-1.txt', aIv)}`), { code: 'EPERM' })
    await t.rejects(view.readdir('/' + enc('a')), { code: 'EPERM' })
    await t.rejects(view.getattr('/' + hashed), { code: 'EPERM' })
    await t.rejects(view.getattr(`/${hashed}.name`), { code: 'EPERM' })
    await t.rejects(view.open(`/${hashed}.name`), { code: 'EPERM' })
  })

  t.test('a plaintext change never serves a stale mapping', async (t) => {
    const view = await makeView(v, src)
    const aName = '/' + enc('a')
    const aIv = derivePathIv(enc('a'), 'DIRIV')
    const inA = (plain: string) => `${aName}/${enc(plain, aIv)}`
    t.ok(unpacked(await view.readdir(aName)).names.includes(enc('at-level-1.txt', aIv)))
    const before = await view.getattr(inA('at-level-1.txt'))

    // The directory is replaced by another one of the same name.
    renameSync(join(src, 'a'), join(src, 'a-old'))
    mkdirSync(join(src, 'a'))
    writeFileSync(join(src, 'a', 'new.txt'), 'new')
    await t.rejects(view.getattr(inA('at-level-1.txt')), { code: 'ENOENT' })
    const listing = unpacked(await view.readdir(aName))
    t.ok(listing.names.includes(enc('new.txt', aIv)), 'new content listed')
    t.notOk(listing.names.includes(enc('at-level-1.txt', aIv)))
    t.not((await view.getattr(aName)).ino, before.ino)

    // A file removed after listing.
    const root = unpacked(await view.readdir('/'))
    t.ok(root.names.includes(enc('file-4095')))
    unlinkSync(join(src, 'file-4095'))
    await t.rejects(view.getattr('/' + enc('file-4095')), { code: 'ENOENT' })
    await t.rejects(view.open('/' + enc('file-4095')), { code: 'ENOENT' })

    // An open file keeps its bytes when the plaintext is unlinked; a replaced file is not served
    // under the old lookup.
    const p = '/' + enc('file-8192')
    const whole = (await view.getattr(p)).size
    const h = await view.open(p)
    unlinkSync(join(src, 'file-8192'))
    const buf = Buffer.alloc(whole)
    t.equal(await view.read(h, buf, whole, 0), whole)
    await view.release(h)
    await t.rejects(view.getattr(p), { code: 'ENOENT' })
    writeFileSync(join(src, 'file-8192'), 'short')
    t.equal((await view.getattr(p)).size, 18 + 5 + 32)

    // A directory that became a file.
    rmSync(join(src, 'empty-dir'), { recursive: true })
    await view.readdir('/' + enc('empty-dir')).then(
      () => t.fail('readdir of a removed directory'),
      (e: { code: string }) => t.equal(e.code, 'ENOENT'),
    )
    writeFileSync(join(src, 'empty-dir'), 'x')
    await t.rejects(view.readdir('/' + enc('empty-dir')), { code: 'ENOTDIR' })

    // Open right after a listing starts from the listing's lstat: a file replaced meanwhile
    // (the old one kept, so its inode number cannot be reused) is served as it is now.
    const readAll = async (fs: ReverseView, p: string, size: number): Promise<Buffer> => {
      const h = await fs.open(p)
      const buf = Buffer.alloc(size + 1)
      const n = await fs.read(h, buf, buf.length, 0)
      await fs.release(h)
      return buf.subarray(0, n)
    }
    const q = '/' + enc('file-0')
    t.ok(unpacked(await view.readdir('/')).names.includes(enc('file-0')))
    renameSync(join(src, 'file-0'), join(work, 'file-0-old'))
    writeFileSync(join(src, 'file-0'), 'replaced after the listing')
    const uncached = await makeView(v, src)
    const size = (await uncached.getattr(q)).size
    const got = await readAll(view, q, size)
    t.equal(got.length, size, 'the new file is served, not the listed one')
    t.same(got, await readAll(uncached, q, size), 'same bytes as a view without caches')
    t.ok(unpacked(await view.readdir('/')).names.includes(enc('file-0')))
    rmSync(join(src, 'file-0'))
    mkdirSync(join(src, 'file-0'))
    await t.rejects(view.open(q), { code: 'EISDIR' }, 'a file that became a directory after the listing')
  })

  t.test('special files, symlink limits, bad handles', async (t) => {
    spawnSync('mkfifo', [join(src, 'fifo')])
    symlinkSync('x'.repeat(3041), join(src, 'long-link'))
    symlinkSync('y'.repeat(3039), join(src, 'ok-link'))
    const view = await makeView(v, src)
    const fifo = await view.getattr('/' + enc('fifo'))
    t.equal(fifo.mode & S_IFMT, S_IFIFO, 'FIFO listed as FIFO')
    t.equal(fifo.size, 0)
    await t.rejects(view.open('/' + enc('fifo')), { code: 'EACCES' }, 'FIFO not opened (and no hang)')
    await t.rejects(view.open('/' + enc('a')), { code: 'EISDIR' })
    await t.rejects(view.readlink('/' + enc('file-1')), { code: 'EINVAL' })
    await t.rejects(view.readlink('/' + enc('long-link')), { code: 'ENAMETOOLONG' })
    t.equal((await view.getattr('/' + enc('long-link'))).size, 0)
    const ok = await view.readlink('/' + enc('ok-link'))
    t.equal((await view.getattr('/' + enc('ok-link'))).size, ok.length)
    t.ok(ok.length <= 4096)
    await t.rejects(view.read(999, Buffer.alloc(1), 1, 0), { code: 'EBADF' })
  })

  t.test('inode numbers, force_owner, statfs', async (t) => {
    const view = await makeView(v, src, { forceOwner: { uid: 4321, gid: 8765 } })
    const entries = await walk(view)
    entries.set('/', await view.getattr('/'))
    const inos = new Set<Ino>()
    for (const [p, a] of entries) {
      t.same([a.uid, a.gid], [4321, 8765], `owner of ${p}`)
      t.notOk(inos.has(a.ino), `unique inode number for ${p}`)
      inos.add(a.ino)
    }
    t.equal((await view.getattr('/')).ino, lstatSync(src).ino, 'root keeps its plaintext inode number')
    const f1 = await view.getattr('/' + enc('file-1'))
    t.equal(f1.ino, lstatSync(join(src, 'file-1')).ino, 'real entries keep theirs')
    const diriv = await view.getattr('/gocryptfs.diriv')
    t.equal(diriv.mode, S_IFREG | 0o444)
    const srcSt = lstatNow(src)
    t.same([diriv.mtimeMs, diriv.mtimeNsPart], [srcSt.mtimeMs, srcSt.mtimeNsPart], 'diriv carries the directory times')
    t.equal((await view.getattr('/gocryptfs.diriv')).ino, diriv.ino, 'stable')
    const conf = await view.getattr('/gocryptfs.conf')
    t.same([conf.uid, conf.gid, conf.mode & 0o777], [4321, 8765, 0o400], 'config file too')
    const fs = await view.statfs()
    t.ok(fs.blocks > 0 && fs.bsize > 0)
  })

  t.test('the mount point inside the source is never entered', async (t) => {
    mkdirSync(join(src, 'mnt'))
    writeFileSync(join(src, 'mnt', 'inside'), 'x')
    const view = await makeView(v, src, { mountpoint: join(src, 'mnt') })
    t.notOk(unpacked(await view.readdir('/')).names.includes(enc('mnt')))
    await t.rejects(view.getattr('/' + enc('mnt')), { code: 'EPERM' })
  })

  t.test('-config elsewhere: no virtual gocryptfs.conf', async (t) => {
    const view = await makeView(v, src, { configPath: join(v.dir, 'gocryptfs.conf') })
    const root = unpacked(await view.readdir('/'))
    t.notOk(root.names.includes('gocryptfs.conf'))
    t.ok(root.names.includes(enc('.gocryptfs.reverse.conf')), 'the file is an ordinary entry')
    await t.rejects(view.getattr('/gocryptfs.conf'), { code: 'ENOENT' })
  })
})

t.test('-one-file-system (tmpfs mounted inside the source)', async (t) => {
  const v = loadVector('B')
  const { src } = makeSource(t, v)
  const other = join(src, 'other')
  mkdirSync(other)
  if (spawnSync('mount', ['-t', 'tmpfs', 'tsreverse-test', other]).status !== 0) {
    t.plan(0, 'cannot mount a tmpfs here')
    return
  }
  // Unmounted here rather than in a teardown, which might run after the source is removed.
  try {
    writeFileSync(join(other, 'f'), 'on tmpfs')
    const keys = deriveKeys(v.masterKey, { hkdf: true })
    const names = new NameCipher(keys.eme, { raw64: true, longNameMax: 255, longNames: true })
    const otherName = '/' + names.viewName(Buffer.from('other'), derivePathIv('', 'DIRIV')).name
    const fName = names.viewName(Buffer.from('f'), derivePathIv(otherName.slice(1), 'DIRIV')).name

    const crossing = await makeView(v, src)
    t.same(unpacked(await crossing.readdir(otherName)).names.sort(), [fName, 'gocryptfs.diriv'].sort())
    const fAttr = await crossing.getattr(`${otherName}/${fName}`)
    t.not(fAttr.ino, lstatSync(join(other, 'f')).ino, 'another device gets its own inode namespace')

    const single = await makeView(v, src, { oneFileSystem: true })
    t.same(unpacked(await single.readdir(otherName)).names, ['gocryptfs.diriv'])
    await t.rejects(single.getattr(`${otherName}/${fName}`), { code: 'ENOENT' })
    t.equal((await single.getattr(`${otherName}/gocryptfs.diriv`)).size, 16)
    const attr = await single.getattr(otherName)
    t.equal(attr.mode & 0o7777, lstatSync(other).mode & 0o7777, 'shows the mounted root attributes')
  } finally {
    spawnSync('umount', ['-l', other])
  }
})

t.test('plaintext names: a real gocryptfs.conf in the root yields to the config', async (t) => {
  const v = loadVector('A')
  const { src } = makeSource(t, v)
  writeFileSync(join(src, 'gocryptfs.conf'), 'not the config')
  const logs: string[] = []
  const view = await ReverseView.create({ source: src, settings: v.settings, masterKey: v.masterKey, log: (m) => logs.push(m) })
  const root = unpacked(await view.readdir('/'))
  t.equal(root.names.filter((n) => n === 'gocryptfs.conf').length, 1, 'listed once')
  t.equal((await view.getattr('/gocryptfs.conf')).size, readFileSync(join(v.dir, 'gocryptfs.conf')).length)
  t.equal(logs.length, 1, 'the collision is logged')
})

t.test('gocryptfs.conf is the config found at mount, never a symlink swapped in later', async (t) => {
  const v = loadVector('B')
  const { work, src } = makeSource(t, v)
  const conf = join(src, '.gocryptfs.reverse.conf')
  const config = readFileSync(conf)
  const secret = join(work, 'secret')
  writeFileSync(secret, 'readable by the daemon only', { mode: 0o600 })
  const logs: string[] = []
  const view = await makeView(v, src, {}, logs)
  t.same(await readAll(view, '/gocryptfs.conf'), config, 'the config, served unencrypted')

  renameSync(conf, join(work, 'conf.moved'))
  symlinkSync(secret, conf)
  t.notOk(unpacked(await view.readdir('/')).names.includes('gocryptfs.conf'), 'a symlink in its place is not listed')
  await t.rejects(view.getattr('/gocryptfs.conf'), { code: 'ENOENT' }, 'nor looked up')
  t.equal(logs.filter((l) => l.includes('no longer a regular file')).length, 1, 'logged once')

  // An admin's symlink at mount time is followed then (the mount read the config through it).
  rmSync(conf)
  symlinkSync(join(work, 'conf.moved'), conf)
  const admin = await makeView(v, src)
  t.same(await readAll(admin, '/gocryptfs.conf'), config, 'a config reached by a symlink at mount')
  rmSync(conf)
  symlinkSync(secret, conf)
  t.same(await readAll(admin, '/gocryptfs.conf'), config, 'still that file when the link is repointed')
})

t.test('a directory of 200,000 entries lists whole', async (t) => {
  const v = loadVector('B')
  const src = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'tsreverse-huge-dir-'))
  t.teardown(() => rmSync(src, { recursive: true, force: true }))
  const n = 200_000
  for (let i = 0; i < n; i++) writeFileSync(join(src, `f${i}`), '')
  const view = await makeView(v, src)
  const { names, attrs } = unpacked(await view.readdir('/'))
  t.equal(names.filter((name) => name !== 'gocryptfs.diriv').length, n, 'every file')
  t.equal(new Set(names).size, names.length, 'no name twice')
  t.equal(attrs.length, names.length)
})

t.test('6,000 long names in one directory: one scan resolves every hashed name', async (t) => {
  const v = loadVector('B')
  const src = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'tsreverse-long-names-'))
  t.teardown(() => rmSync(src, { recursive: true, force: true }))
  const n = 6000
  const long = (i: number): string => `long-${i}-`.padEnd(200, 'x')
  for (let i = 0; i < n; i++) writeFileSync(join(src, long(i)), '')
  const names = new NameCipher(deriveKeys(v.masterKey, { hkdf: true }).eme, { raw64: true, longNameMax: 255, longNames: true })
  const hashed = (plain: string): string => '/' + names.viewName(Buffer.from(plain), derivePathIv('', 'DIRIV')).name
  let scans = 0
  const listDir = SourceTree.prototype.listDir
  SourceTree.prototype.listDir = function (this: SourceTree, ...args) {
    scans++
    return listDir.apply(this, args)
  }
  t.teardown(() => void (SourceTree.prototype.listDir = listDir))
  // Until its times are older than the timestamp granularity, a miss in the directory rescans it.
  await new Promise((resolve) => setTimeout(resolve, 2100))

  const view = await makeView(v, src)
  let found = 0
  for (let i = 0; i < n; i++) if ((await view.getattr(hashed(long(i)))).size === 0) found++ // an empty file has no header
  t.equal(found, n, 'every hashed name')
  t.equal(scans, 1, 'from one scan')
  await t.rejects(view.getattr(hashed(long(n))), { code: 'ENOENT' })
  t.equal(scans, 1, 'a miss in an unchanged directory needs no scan')

  writeFileSync(join(src, long(n)), '')
  t.equal((await view.getattr(hashed(long(n)))).size, 0, 'a name created after the scan is found')
  t.equal(scans, 2, 'by one more scan')
  unlinkSync(join(src, long(0)))
  await t.rejects(view.getattr(hashed(long(0))), { code: 'ENOENT' }, 'a removed name is gone')
  t.equal(scans, 2, 'which its lstat tells')

  const fresh = await makeView(v, src)
  const all = await Promise.all(Array.from({ length: 100 }, (_, i) => fresh.getattr(hashed(long(i + 1)))))
  t.equal(all.length, 100)
  t.equal(scans, 3, 'concurrent lookups share one scan')
})

t.test('a small file read whole at open: consistent with its lookup, checked at each read', async (t) => {
  const v = loadVector('B')
  const { src } = makeSource(t, v)
  const keys = deriveKeys(v.masterKey, { hkdf: true })
  const names = new NameCipher(keys.eme, { raw64: true, longNameMax: 255, longNames: true })
  const p = '/' + names.viewName(Buffer.from('file-8192'), derivePathIv('', 'DIRIV')).name
  const file = join(src, 'file-8192')
  const logs: string[] = []
  const view = await makeView(v, src, { nativeSeal: true, strictConsistency: true }, logs)
  const size = (await view.getattr(p)).size
  const read = async (h: number): Promise<Buffer> => {
    const buf = Buffer.alloc(size + 100)
    return buf.subarray(0, await view.read(h, buf, buf.length, 0))
  }
  const h = await view.open(p)
  const before = await read(h)
  t.equal(before.length, size)
  writeFileSync(file, 'changed after the open')
  t.same(await read(h), before, 'a change after the open does not reach the handle')
  await view.release(h)
  t.same(logs, [])

  // Changed between the lookup and the open: the open succeeds, every read fails (strict).
  const size2 = (await view.getattr(p)).size
  appendFileSync(file, '!')
  const h2 = await view.open(p)
  await t.rejects(view.read(h2, Buffer.alloc(size2), size2, 0), { code: 'EIO' })
  await t.rejects(view.read(h2, Buffer.alloc(size2), size2, 0), { code: 'EIO' }, 'and again')
  await view.release(h2)
  t.equal(logs.length, 1, 'logged once')
  t.match(logs[0] ?? '', /source file changed while it was read \(size .*\); reads fail with EIO/)

  // Handed over (takeData, as the mount does): the bytes go with the handle, once.
  const size3 = (await view.getattr(p)).size
  const h3 = await view.open(p)
  const taken = view.takeData(h3)
  t.equal(taken?.length, size3, 'the whole view file')
  t.same(taken, Buffer.concat([await read(await view.open(p))]), 'the bytes a read gives')
  t.equal(view.takeData(h3), undefined, 'the handle went with them')
  await t.rejects(view.release(h3), { code: 'EBADF' })
  // Changed before the hand-over: the handle stays, so its reads keep failing (strict).
  appendFileSync(file, '!')
  const h4 = await view.open(p)
  t.equal(view.takeData(h4), undefined, 'a changed file is not handed over')
  await t.rejects(view.read(h4, Buffer.alloc(size3), size3, 0), { code: 'EIO' })
  await view.release(h4)
})

t.test('a source that is not a directory', async (t) => {
  const v = loadVector('B')
  for (const source of ['/nonexistent/source', join(VECTORS, 'README.md')]) {
    await ReverseView.create({ source, settings: v.settings, masterKey: v.masterKey }).then(
      () => t.fail(source),
      (e: unknown) => t.ok(e instanceof UserError && e.exitCode === ExitCode.CipherDir, source),
    )
  }
})
