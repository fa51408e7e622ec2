// `tsreverse -forward` through the real CLI (daemonized) and FUSE on the golden vectors'
// captured views: with config + password and with -masterkey alone on a copy without config,
// the mount shows exactly the plaintext tree. On a damaged copy every damaged part gives EIO
// (or is left out) while the rest reads back intact; a wrong master key refuses to mount.
import t from 'tap'
import { closeSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, readlinkSync, renameSync, rmSync, truncateSync } from 'node:fs'
import path from 'node:path'
import { runCli } from './lib/cli.js'
import { isMounted } from './lib/mounts.js'
import { diffTrees, listTree, mountOurs } from './lib/reverse-mounts.js'
import { blockOffset, cpA, flipBit, moveBlock, plainListing, swapBlocks, swapWithHardLinks, vectorCopy, type Copy } from './lib/restore-fixtures.js'

function mountpoint(c: Copy, name: string): string {
  const p = path.join(c.work, name)
  mkdirSync(p)
  return p
}

for (const name of ['A', 'B', 'C']) {
  t.test(`vector ${name}`, async (t) => {
    const c = vectorCopy(t, name)
    const withPassword = mountpoint(c, 'mnt-password')
    // Vector A mounts the way an fstab line (fuse./usr/bin/tsreverse forward,passfile=...) does.
    const args = name === 'A' ? ['-o', `rw,forward,passfile=${c.passfile}`] : ['-forward', '-passfile', c.passfile]
    mountOurs(t, [...args, c.view, withPassword])
    t.same(listTree(withPassword, { hash: true }), plainListing(), 'password: listing equals plaintext-tree.listing')
    t.equal(diffTrees(c.plain, withPassword), '', 'password: diff -r --no-dereference')
    const mounts = readFileSync('/proc/mounts', 'utf8').split('\n')
    t.ok(
      mounts.includes(`${c.view} ${withPassword} fuse.tsreverse ro,nosuid,nodev,relatime,user_id=0,group_id=0,max_read=524288 0 0`),
      'fsname CIPHERDIR, subtype tsreverse, read-only',
    )

    const bare = path.join(c.work, 'view-without-conf')
    cpA(c.view, bare)
    rmSync(path.join(bare, 'gocryptfs.conf'))
    const withKey = mountpoint(c, 'mnt-masterkey')
    mountOurs(t, ['-forward', '-masterkey', c.key, bare, withKey])
    t.same(listTree(withKey, { hash: true }), plainListing(), '-masterkey alone: listing equals plaintext-tree.listing')
    t.equal(diffTrees(c.plain, withKey), '', '-masterkey alone: diff -r --no-dereference')
  })
}

/** Reads [offset, offset+length) of a file (short only at the end): the bytes, or the error code. */
function readRange(file: string, offset: number, length: number): Buffer | string {
  let fd: number | undefined
  try {
    fd = openSync(file, 'r')
    const buf = Buffer.alloc(length)
    let got = 0
    for (let n = 1; n > 0 && got < length; got += n) n = readSync(fd, buf, got, length - got, offset + got)
    return buf.subarray(0, got)
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e)
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

const plainBlock = (c: Copy, file: string, n: number): Buffer => readFileSync(path.join(c.plain, file)).subarray(n * 4096, (n + 1) * 4096)

t.test('a damaged copy: EIO on the damaged parts, the rest readable', async (t) => {
  const c = vectorCopy(t, 'B')
  const cipher = (p: string): string => path.join(c.view, c.cipherPath(p))
  flipBit(cipher('file-100000'), blockOffset(3) + 100)
  truncateSync(cipher('file-4097'), blockOffset(1) + 20)
  swapBlocks(cipher('file-8192'), 0, 1)
  moveBlock(cipher('file-4096'), 0, cipher('a/b/c/deep.txt'), 0)
  rmSync(path.join(c.view, c.cipherPath('a'), 'gocryptfs.diriv'))
  renameSync(cipher('file-1'), cipher('renamed-file'))
  renameSync(cipher('file-15'), path.join(c.view, 'not-a-ciphertext-name'))
  const mnt = mountpoint(c, 'mnt')
  mountOurs(t, ['-forward', '-passfile', c.passfile, c.view, mnt])
  const at = (p: string): string => path.join(mnt, p)

  t.test('one bit flipped', async (t) => {
    t.equal(readRange(at('file-100000'), 3 * 4096, 4096), 'EIO', 'the damaged block')
    t.equal(readRange(at('file-100000'), 0, 100_000), 'EIO', 'a read that covers it')
    for (const n of [0, 2, 4, 24]) t.same(readRange(at('file-100000'), n * 4096, 4096), plainBlock(c, 'file-100000', n), `block ${n} intact`)
  })
  t.test('a truncated file', async (t) => {
    t.equal(readRange(at('file-4097'), 4096, 10), 'EIO', 'the cut block')
    t.same(readRange(at('file-4097'), 0, 4096), plainBlock(c, 'file-4097', 0), 'the block before it')
  })
  t.test('two blocks swapped', async (t) => {
    t.equal(readRange(at('file-8192'), 0, 4096), 'EIO')
    t.equal(readRange(at('file-8192'), 4096, 4096), 'EIO')
  })
  t.test('a block moved in from another file', async (t) => {
    t.equal(readRange(at('a/b/c/deep.txt'), 0, 4096), 'EIO')
    t.same(readRange(at('a/b/c/deep.txt'), 4096, 4096), plainBlock(c, 'a/b/c/deep.txt', 1), 'the next block intact')
    t.same(readRange(at('file-4096'), 0, 4096), plainBlock(c, 'file-4096', 0), 'the source file intact')
  })
  t.test('a missing gocryptfs.diriv', async (t) => {
    t.same(readdirSync(at('a')).sort(), ['at-level-1.txt', 'b', 'link-up'], 'the directory still lists (path-derived IV)')
    t.same(readFileSync(at('a/at-level-1.txt')), readFileSync(path.join(c.plain, 'a/at-level-1.txt')))
  })
  t.test('a renamed ciphertext file', async (t) => {
    const root = readdirSync(mnt)
    t.notOk(root.includes('file-1'), 'gone under its old name')
    t.ok(root.includes('renamed-file'), 'the new name decrypts...')
    t.equal(readRange(at('renamed-file'), 0, 1), 'EIO', '...but its content belongs to another path')
    t.notOk(root.includes('file-15'), 'a name that does not decrypt is left out')
  })
  t.test('everything else reads back intact', async (t) => {
    const damaged = ['file-100000', 'file-4097', 'file-8192', 'deep.txt', 'file-1', 'file-15', 'renamed-file']
    const exclude = damaged.flatMap((f) => ['--exclude', f])
    t.equal(diffTrees(c.plain, mnt, exclude), '')
  })
})

t.test('files and symlinks swapped, each with a hard link outside the copy: EIO', async (t) => {
  const c = vectorCopy(t, 'B')
  swapWithHardLinks(c, 'file-1', 'file-15')
  swapWithHardLinks(c, 'link-relative', 'link-absolute')
  const mnt = mountpoint(c, 'mnt')
  mountOurs(t, ['-forward', '-passfile', c.passfile, c.view, mnt])
  for (const f of ['file-1', 'file-15']) t.equal(readRange(path.join(mnt, f), 0, 16), 'EIO', `${f}: another path's content`)
  for (const l of ['link-relative', 'link-absolute']) {
    t.throws(() => readlinkSync(path.join(mnt, l)), { code: 'EIO' }, `${l}: another path's target`)
  }
})

t.test('a wrong master key does not mount', async (t) => {
  const c = vectorCopy(t, 'B', { withoutConf: true })
  const mnt = mountpoint(c, 'mnt')
  const wrong = c.key.replace(/^./, (ch) => (ch === '0' ? '1' : '0'))
  const r = runCli(['-forward', '-masterkey', wrong, c.view, mnt])
  t.equal(r.code, 12, 'exit code 12 (as a wrong password)')
  t.match(r.stderr, /master key does not decrypt/)
  t.notOk(isMounted(mnt))
  const withConf = vectorCopy(t, 'C')
  const r2 = runCli(['-forward', '-masterkey', wrong, withConf.view, mountpoint(withConf, 'mnt')])
  t.equal(r2.code, 12, 'also when the config is there (it cannot check a -masterkey)')
})
