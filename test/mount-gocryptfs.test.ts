// A large generated tree (thousands of files, deep and long names, non-UTF-8 names, sparse and
// block-edge files, every kind of symlink, hard links, special files) with a config made by
// `tsreverse -init`: our mount and real `gocryptfs -reverse` on the same source must show the
// same view, and real gocryptfs in forward mode must decrypt a copy of our view back to the
// source.
import t from 'tap'
import { createHash } from 'node:crypto'
import {
  chmodSync,
  closeSync,
  ftruncateSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import { lstat } from 'node:fs/promises'
import { spawn } from 'node:child_process'
import path from 'node:path'
import { EDGE_TIMES, diffTrees, initSource, listTree, mountDir, mountGocryptfs, mountOurs, run, scratchDir, viewPath } from './lib/reverse-mounts.js'
import { statTree } from './lib/mounts.js'

const MANY_DIRS = 30
const FILES_PER_DIR = 100
const EDGE_SIZES = [0, 1, 4095, 4096, 4097, 131071, 131072, 131073, 3 * 1024 * 1024 + 17]
const SPARSE_SIZE = 100 * 1024 * 1024

/** Deterministic bytes that differ per seed and per 16-byte chunk (no two blocks alike). */
function bytes(seed: string, size: number): Buffer {
  const out = Buffer.allocUnsafe(size)
  for (let off = 0, i = 0; off < size; off += 32, i++) {
    createHash('sha256')
      .update(`${seed}/${i}`)
      .digest()
      .copy(out, off, 0, Math.min(32, size - off))
  }
  return out
}

function name(prefix: string, length: number): string {
  return prefix + 'x'.repeat(length - prefix.length)
}

// Entries gocryptfs shows differently by design or that diff cannot compare: see below.
const HARD = 'hardlinks'
const SPECIAL = 'special'

function makeTree(src: string): void {
  const file = (rel: string | Buffer, data: Buffer | string): void =>
    writeFileSync(typeof rel === 'string' ? path.join(src, rel) : Buffer.concat([Buffer.from(src + '/'), rel]), data)
  const dir = (rel: string): void => void mkdirSync(path.join(src, rel), { recursive: true })

  // Thousands of small files, several directories deep.
  for (let d = 0; d < MANY_DIRS; d++) {
    const rel = `many/g${d % 5}/d${d}`
    dir(rel)
    for (let f = 0; f < FILES_PER_DIR; f++) file(`${rel}/f${f}`, bytes(`${d}.${f}`, (d * 37 + f * 11) % 300))
  }
  let deep = 'deep'
  for (let i = 0; i < 14; i++) {
    deep += `/level-${i}`
    dir(deep)
    file(`${deep}/at-${i}.txt`, `level ${i}\n`)
  }

  // Long names (the encrypted names are hashed above 175 bytes) in files, dirs and symlinks.
  dir('long')
  for (const n of [175, 176, 200, 254, 255]) file(`long/${name(`F${n}-`, n)}`, bytes(`long${n}`, n * 10))
  const longDir = `long/${name('D230-', 230)}`
  dir(longDir)
  file(`${longDir}/${name('inner255-', 255)}`, bytes('inner', 5000))
  symlinkSync('../' + name('F200-', 200), path.join(src, longDir, name('S240-', 240)))
  dir(`${longDir}/${name('D255-', 255)}`)
  file(`${longDir}/${name('D255-', 255)}/short`, 'deep inside two long names\n')

  // Spaces, UTF-8, bytes that are not UTF-8.
  dir('names')
  file('names/with  two spaces ', 'spaces\n')
  file('names/héllo wörld 名前 😀', 'utf-8\n')
  file(Buffer.from([...Buffer.from('names/'), 0x66, 0xff, 0xfe, 0x80, 0x41]), 'not utf-8\n')
  mkdirSync(Buffer.from([...Buffer.from(src + '/names/'), 0xe9, 0x64, 0x69, 0x72]))
  file(Buffer.from([...Buffer.from('names/'), 0xe9, 0x64, 0x69, 0x72, 0x2f, 0xc0, 0xaf]), 'overlong slash\n')
  file('names/0123456789abcdef', '16-byte name\n')

  // Sizes around block and read-size edges, and a sparse file with a few written blocks.
  dir('sizes')
  for (const n of EDGE_SIZES) file(`sizes/s${n}`, bytes(`size${n}`, n))
  const fd = openSync(path.join(src, 'sizes/sparse'), 'w')
  ftruncateSync(fd, SPARSE_SIZE)
  for (const at of [0, 4096 * 1000 + 123, 50 * 1024 * 1024, SPARSE_SIZE - 4096]) writeSync(fd, bytes(`sparse${at}`, 4096), 0, 4096, at)
  closeSync(fd)

  // Symlinks: relative, absolute, dangling, long target, non-UTF-8 target.
  dir('links')
  symlinkSync('../sizes/s4096', path.join(src, 'links/relative'))
  symlinkSync('/etc/hostname', path.join(src, 'links/absolute'))
  symlinkSync('does/not/exist', path.join(src, 'links/dangling'))
  symlinkSync('t/'.repeat(1500), path.join(src, 'links/long-target'))
  symlinkSync(Buffer.from([0x62, 0x61, 0x64, 0xff]), path.join(src, 'links/binary-target'))
  symlinkSync('..', path.join(src, 'links/up'))

  // Hard links: gocryptfs encrypts every link with the IVs of the path opened first.
  dir(HARD)
  file(`${HARD}/h1`, bytes('hard', 10000))
  linkSync(path.join(src, HARD, 'h1'), path.join(src, HARD, 'h2'))

  // Special files: the kernel serves them; only their attributes are comparable.
  dir(SPECIAL)
  const mk = (cmd: string, args: string[]): void => {
    const r = run(cmd, args)
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`)
  }
  mk('mkfifo', [path.join(src, SPECIAL, 'fifo')])
  mk('mknod', [path.join(src, SPECIAL, 'null'), 'c', '1', '3'])
  mk('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', path.join(src, SPECIAL, 'sock')])

  // Permissions.
  dir('private/inner')
  file('private/inner/secret', 'only root\n')
  chmodSync(path.join(src, 'private'), 0o700)
  file('unreadable', 'mode 000\n')
  chmodSync(path.join(src, 'unreadable'), 0o000)
  file('executable', '#!/bin/sh\n')
  chmodSync(path.join(src, 'executable'), 0o755)
}

t.test('a generated tree: our view equals gocryptfs -reverse and decrypts with gocryptfs', async (t) => {
  const work = scratchDir(t)
  const { src, passfile, masterKey: key } = initSource(t, work, { empty: true })
  makeTree(src)
  const mnt = (n: string): string => mountDir(work, n)
  const ours = mountOurs(t, ['-passfile', passfile, src, mnt('ours')]).mnt
  const theirs = mountGocryptfs(t, ['-reverse', '-passfile', passfile, src, mnt('gocryptfs')]).mnt

  // Open h1 first through gocryptfs, so its table holds h1's IVs; h2 then shows h1's bytes there.
  const [hardDir, h1, h2] = viewPath(key, [HARD, 'h1']).concat(viewPath(key, [HARD, 'h2'])[1]!)
  const oursH1 = readFileSync(path.join(ours, hardDir!, h1!))
  t.same(readFileSync(path.join(theirs, hardDir!, h1!)), oursH1, 'hard link opened first: same bytes')
  t.ok(!readFileSync(path.join(ours, hardDir!, h2!)).equals(oursH1), 'ours encrypts each link with its own path')
  t.same(readFileSync(path.join(theirs, hardDir!, h2!)), oursH1, 'gocryptfs shows the first-opened bytes for the other link')

  const special = viewPath(key, [SPECIAL])[0]!
  t.equal(diffTrees(ours, theirs, ['-x', special, '-x', h2!]), '', 'diff -r ours gocryptfs (special files and the second hard link aside)')
  // Eight readers at once: handles, caches and the event loop shared between requests.
  const parallelSums = (root: string): string => {
    const r = run('sh', ['-c', `cd '${root}' && find . -type f ! -name '${h2}' -print0 | xargs -0 -P8 -n64 sha256sum | LC_ALL=C sort -k2`])
    if (r.status !== 0) throw new Error(`parallel sha256sum in ${root}: ${r.stderr}`)
    return r.stdout
  }
  t.equal(parallelSums(ours), parallelSums(theirs), 'parallel reads give the same bytes')
  const fields = { mtime: true, nlink: true, dirSize: true }
  const oursList = listTree(ours, fields)
  t.same(oursList, listTree(theirs, fields), 'listings (type, mode, size, mtime, nlink, rdev, link targets) are equal')
  t.ok(oursList.length > MANY_DIRS * FILES_PER_DIR, `${oursList.length} entries compared`)
  t.ok(
    oursList.some((l) => l.startsWith('p ')) && oursList.some((l) => l.startsWith('s ')) && oursList.some((l) => l.startsWith('c ')),
    'the fifo, socket and char device are listed',
  )

  // Inode numbers: unique (find, du and rsync -H rely on it) except that hard links share one.
  const inodes = run('find', [ours, '-mindepth', '1', '-printf', '%i\n']).stdout.trim().split('\n')
  t.equal(inodes.length - new Set(inodes).size, 1, 'only the two hard links share an inode number')
  t.equal(lstatSync(path.join(ours, hardDir!, h1!)).ino, lstatSync(path.join(ours, hardDir!, h2!)).ino, 'hard links keep equal inode numbers')

  // A copy of our view (rsync -a keeps no hard links: each link keeps its own ciphertext)
  // decrypted by gocryptfs in forward mode; the copy holds gocryptfs.conf from the view.
  const copy = mnt('copy')
  const rsync = run('rsync', ['-a', `${ours}/`, `${copy}/`], { timeoutMs: 120_000 })
  t.equal(rsync.status, 0, `rsync -a of the view: ${rsync.stderr}`)
  const plain = mountGocryptfs(t, ['-ro', '-passfile', passfile, copy, mnt('plain')]).mnt
  t.equal(diffTrees(src, plain, ['-x', '.gocryptfs.reverse.conf', '-x', SPECIAL]), '', 'diff -r source against the decrypted copy')
  const skip = { skip: new Set(['.gocryptfs.reverse.conf']), mtime: true }
  t.same(listTree(plain, skip), listTree(src, skip), 'decrypted listing (incl. special files) equals the source')
})

t.test("inode numbers equal gocryptfs 2.3's, virtual files included", async (t) => {
  const work = scratchDir(t)
  const { src, passfile, masterKey } = initSource(t, work)
  const oursMnt = mountOurs(t, ['-passfile', passfile, src, mountDir(work, 'ours')]).mnt
  const theirsMnt = mountGocryptfs(t, ['-reverse', '-passfile', passfile, src, mountDir(work, 'gocryptfs')]).mnt
  const ours = statTree(oursMnt, (st) => st.ino)
  const theirs = statTree(theirsMnt, (st) => st.ino)
  // The one difference: go-fuse shows the root as inode 0; ours keeps the source root's number.
  t.equal(lstatSync(theirsMnt, { bigint: true }).ino, 0n, 'gocryptfs: the root is inode 0')
  t.equal(lstatSync(oursMnt, { bigint: true }).ino, lstatSync(src, { bigint: true }).ino, "ours: the source root's")
  const names = [...ours.keys()].map((p) => path.basename(p))
  t.ok(
    names.includes('gocryptfs.conf') && names.includes('gocryptfs.diriv') && names.some((n) => n.endsWith('.name')),
    'conf, diriv and .name files among them',
  )
  t.same(Object.fromEntries(ours), Object.fromEntries(theirs), `${ours.size} entries`)

  // Namespaces go to virtual files in the order they are first seen: here a .name file first.
  const firstSeen = (mnt: string): bigint[] => {
    const long = readdirSync(src).find((n) => n.startsWith('L176-'))!
    const hashed = viewPath(masterKey, [long])[0]!
    return [`${hashed}.name`, 'gocryptfs.diriv', hashed].map((n) => lstatSync(path.join(mnt, n), { bigint: true }).ino)
  }
  t.same(
    firstSeen(mountOurs(t, ['-passfile', passfile, src, mountDir(work, 'ours-2')]).mnt),
    firstSeen(mountGocryptfs(t, ['-reverse', '-passfile', passfile, src, mountDir(work, 'gocryptfs-2')]).mnt),
    'a .name file looked up before any diriv',
  )
})

t.test('times to the nanosecond, as gocryptfs shows them', async (t) => {
  const work = scratchDir(t)
  const { src, passfile, masterKey } = initSource(t, work)
  const ours = mountOurs(t, ['-passfile', passfile, src, mountDir(work, 'ours')]).mnt
  const theirs = mountGocryptfs(t, ['-reverse', '-passfile', passfile, src, mountDir(work, 'gocryptfs')]).mnt
  for (const [at, rel] of EDGE_TIMES) {
    const want = BigInt(at.slice(1).replace('.', ''))
    const name = path.join(...viewPath(masterKey, rel.split('/')))
    const mtime = (mnt: string): bigint => lstatSync(path.join(mnt, name), { bigint: true }).mtimeNs
    t.equal(mtime(ours), want, `${rel}: ${at}`)
    t.equal(mtime(theirs), want, `${rel}: gocryptfs too`)
  }
})

t.test('offsets beyond 4 GiB read the same as gocryptfs', async (t) => {
  const work = scratchDir(t)
  const { src, passfile, masterKey } = initSource(t, work, { empty: true })
  const size = 5 * 1024 ** 3
  const fd = openSync(path.join(src, 'huge'), 'w')
  ftruncateSync(fd, size)
  for (const at of [2 ** 32 - 3, 2 ** 32 + 4096 * 7 + 5, size - 100]) writeSync(fd, bytes(`huge${at}`, 100), 0, 100, at)
  closeSync(fd)
  const ours = mountOurs(t, ['-passfile', passfile, src, mountDir(work, 'ours')]).mnt
  const theirs = mountGocryptfs(t, ['-reverse', '-passfile', passfile, src, mountDir(work, 'gocryptfs')]).mnt
  const name = viewPath(masterKey, ['huge'])[0]!
  const read = (mnt: string, at: number, length: number): Buffer => {
    const f = openSync(path.join(mnt, name), 'r')
    try {
      const buf = Buffer.alloc(length)
      return buf.subarray(0, readSync(f, buf, 0, length, at))
    } finally {
      closeSync(f)
    }
  }
  const cipherSize = lstatSync(path.join(ours, name)).size
  t.equal(cipherSize, lstatSync(path.join(theirs, name)).size, 'same size')
  for (const at of [2 ** 32 - 4096 * 3, 2 ** 32 + 4096 * 7, 2 ** 32 + 12345, cipherSize - 70_000, cipherSize - 10]) {
    t.same(read(ours, at, 65_536), read(theirs, at, 65_536), `64 KiB at ${at}`)
  }
})

t.test('after the source changes, a live mount shows what a fresh gocryptfs mount shows', async (t) => {
  const work = scratchDir(t)
  const { src, passfile } = initSource(t, work)
  const ours = mountOurs(t, ['-passfile', passfile, src, mountDir(work, 'ours')]).mnt
  const fields = { hash: true, mtime: true, nlink: true }
  const before = listTree(ours, fields) // fills every cache: the kernel's and the view's
  const long = (prefix: string): string =>
    path.join(
      src,
      readdirSync(src).find((n) => n.startsWith(prefix))!,
    )
  renameSync(path.join(src, 'a'), path.join(src, 'a-moved'))
  mkdirSync(path.join(src, 'a/b2'), { recursive: true })
  writeFileSync(path.join(src, 'a/at-level-1.txt'), 'a new file where the old one was\n')
  renameSync(long('D200-'), path.join(src, 'a/b2', path.basename(long('D200-'))))
  renameSync(long('L176-'), long('L176-') + 'X')
  writeFileSync(long('L255-'), 'rewritten in place, shorter\n')
  rmSync(path.join(src, 'file-1'))
  mkdirSync(path.join(src, 'file-1'))
  rmSync(path.join(src, 'link-relative'))
  symlinkSync('a-moved/b/c/deep.txt', path.join(src, 'link-relative'))
  await new Promise((r) => setTimeout(r, 1500)) // past the kernel's 1 s attribute and entry timeouts
  const theirs = mountGocryptfs(t, ['-reverse', '-passfile', passfile, src, mountDir(work, 'gocryptfs')]).mnt
  const after = listTree(ours, fields)
  t.not(after.join('\n'), before.join('\n'), 'the view changed')
  t.same(after, listTree(theirs, fields), 'listing equals a fresh gocryptfs mount')
  t.equal(diffTrees(ours, theirs), '', 'diff -r equals a fresh gocryptfs mount')
})

t.test('a directory of 50,000 entries: listed as gocryptfs lists it, other requests answered meanwhile', async (t) => {
  const work = scratchDir(t)
  const { src, passfile, masterKey } = initSource(t, work, { empty: true })
  mkdirSync(path.join(src, 'big'))
  for (let i = 0; i < 50_000; i++) writeFileSync(path.join(src, 'big', `entry-${String(i).padStart(14, '0')}`), '')
  const ours = mountOurs(t, ['-passfile', passfile, src, mountDir(work, 'ours')]).mnt
  const theirs = mountGocryptfs(t, ['-reverse', '-passfile', passfile, src, mountDir(work, 'gocryptfs')]).mnt
  const big = viewPath(masterKey, ['big'])[0]!

  // Lookups of names that do not exist reach the daemon every time (each name is new).
  let listing = true
  let answeredDuring = 0
  const stats = (async () => {
    for (let i = 0; listing; i++) {
      await lstat(path.join(ours, `absent-${i}`)).catch(() => {})
      if (listing) answeredDuring++
    }
  })()
  const lsOurs = await new Promise<string>((resolve, reject) => {
    const ls = spawn('ls', ['-li', '--time-style=full-iso', path.join(ours, big)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    ls.stdout.setEncoding('utf8').on('data', (s: string) => (out += s))
    ls.on('error', reject)
    ls.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`ls exited with ${code}`))))
  })
  listing = false
  await stats
  t.ok(answeredDuring > 0, `lookups answered while the listing ran (${answeredDuring})`)
  const lsTheirs = run('ls', ['-li', '--time-style=full-iso', path.join(theirs, big)], { timeoutMs: 300_000 })
  t.equal(lsTheirs.status, 0)
  t.equal(lsOurs.split('\n').length, 50_000 + 3, 'every entry, gocryptfs.diriv and the total')
  t.ok(lsOurs === lsTheirs.stdout, 'the same names, inode numbers and attributes as gocryptfs')
})
