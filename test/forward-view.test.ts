// ForwardView without FUSE: the vectors' copies walked with readdir/getattr/read/readlink give
// plaintext-tree.listing exactly and hide the format's files; damage gives EIO or a left-out
// name plus one log line (not one per read or listing); full all-zero blocks read as zeros;
// a file with another path's header is refused, also when the copy shows it as a hard link.
import t from 'tap'
import { createHash } from 'node:crypto'
import { copyFileSync, linkSync, readFileSync, renameSync, rmSync } from 'node:fs'
import path from 'node:path'
import { deriveKeys } from '../src/format/keys.js'
import { parseMasterKey } from '../src/format/masterkey.js'
import { CipherTree } from '../src/restore/cipher-tree.js'
import { bytesOf } from '../src/view/byte-string.js'
import { ForwardView } from '../src/restore/forward-view.js'
import { FsError } from '../src/view/fs.js'
import { blockOffset, flipBit, plainListing, vectorCopy, zeroBlock, type Copy } from './lib/restore-fixtures.js'
import { unpacked, asListed } from './lib/listing.js'

const S_IFMT = 0o170000
const TYPES: Record<number, string> = { 0o100000: 'f', 0o040000: 'd', 0o120000: 'l' }

async function forwardView(c: Copy, log: string[] = []): Promise<ForwardView> {
  const keys = deriveKeys(parseMasterKey(c.key), { hkdf: c.settings.hkdf })
  const tree = await CipherTree.create({ root: c.view, settings: c.settings, keys })
  return ForwardView.create({ tree, log: (m) => log.push(m) })
}

async function readAll(view: ForwardView, p: string, size: number): Promise<Buffer> {
  const h = await view.open(p)
  try {
    const buf = Buffer.alloc(size)
    const n = await view.read(h, buf, size, 0)
    return buf.subarray(0, n)
  } finally {
    await view.release(h)
  }
}

/** The listing format of the vectors (UTF-8), from the view's own answers (byte strings). */
async function listing(view: ForwardView): Promise<string[]> {
  const lines: string[] = []
  const utf8 = (s: string): string => bytesOf(s).toString('utf8')
  const walk = async (dir: string): Promise<void> => {
    const { names, attrs } = unpacked(await view.readdir(dir))
    for (const [i, name] of names.entries()) {
      const p = dir === '/' ? `/${name}` : `${dir}/${name}`
      const a = attrs[i]!
      t.same(asListed(await view.getattr(p)), a, `getattr ${utf8(p)} agrees with readdir`)
      const type = TYPES[a.mode & S_IFMT] ?? '?'
      const mode = (a.mode & 0o7777).toString(8)
      if (type === 'f') {
        const sha = createHash('sha256')
          .update(await readAll(view, p, a.size))
          .digest('hex')
        lines.push(`f ${mode} ${a.size} ${sha} .${utf8(p)}`)
      } else if (type === 'l') {
        lines.push(`l ${mode} ${a.size} ${utf8(await view.readlink(p))} .${utf8(p)}`)
      } else {
        lines.push(`d ${mode} - - .${utf8(p)}`)
        await walk(p)
      }
    }
  }
  await walk('/')
  return lines.sort()
}

const code = (e: unknown): string | undefined => (e instanceof FsError ? e.code : undefined)

for (const v of ['A', 'B', 'C']) {
  t.test(`vector ${v}`, async (t) => {
    const c = vectorCopy(t, v)
    const log: string[] = []
    const view = await forwardView(c, log)
    t.same(await listing(view), plainListing(), 'equals plaintext-tree.listing')
    t.same(log, [], 'nothing logged for an intact copy')
    const root = unpacked(await view.readdir('/')).names
    t.notOk(
      root.some((n) => n.startsWith('gocryptfs.')),
      'no gocryptfs.conf, diriv or .name files',
    )
    t.equal(code(await view.getattr('/gocryptfs.conf').catch((e) => e)), 'ENOENT')
    t.equal(code(await view.getattr('/nope').catch((e) => e)), 'ENOENT')
    t.equal(code(await view.getattr('/' + 'x'.repeat(256)).catch((e) => e)), 'ENAMETOOLONG')
    t.equal(code(await view.open('/a').catch((e) => e)), 'EISDIR')
    t.equal(code(await view.readlink('/file-1').catch((e) => e)), 'EINVAL')
    t.equal(code(await view.getattr('/file-1/x').catch((e) => e)), 'ENOTDIR')
    t.equal(code(await view.release(12345).catch((e) => e)), 'EBADF')
    t.ok((await view.statfs()).blocks > 0)
  })
}

t.test('damage: EIO and one log line', async (t) => {
  const c = vectorCopy(t, 'B')
  flipBit(path.join(c.view, c.cipherPath('file-100000')), blockOffset(5) + 7)
  renameSync(path.join(c.view, c.cipherPath('file-15')), path.join(c.view, 'AAAAAAAAAAAAAAAAAAAAAA'))
  rmSync(path.join(c.view, c.cipherPath('a'), 'gocryptfs.diriv'))
  const log: string[] = []
  const view = await forwardView(c, log)

  const h = await view.open('/file-100000')
  const buf = Buffer.alloc(8192)
  for (let i = 0; i < 3; i++) t.equal(code(await view.read(h, buf, 8192, 4 * 4096).catch((e) => e)), 'EIO', 'blocks 4-5: EIO')
  t.equal(await view.read(h, buf, 8192, 6 * 4096), 8192, 'blocks 6-7 read')
  t.ok(buf.equals(readFileSync(path.join(c.plain, 'file-100000')).subarray(6 * 4096, 8 * 4096)), 'with the right bytes')
  await view.release(h)
  const h2 = await view.open('/file-100000')
  t.equal(code(await view.read(h2, buf, 4096, 5 * 4096).catch((e) => e)), 'EIO')
  await view.release(h2)
  t.same(
    log.filter((l) => /file-100000/.test(l)),
    [`forward: file-100000: block 5 failed authentication [block, ciphertext ${c.cipherPath('file-100000')}]`],
    'one line naming file and block',
  )

  for (let i = 0; i < 2; i++) t.notOk(unpacked(await view.readdir('/')).names.includes('file-15'), 'undecryptable name left out')
  t.equal(log.filter((l) => /AAAAAAAAAAAAAAAAAAAAAA/.test(l) && /does not decrypt/.test(l)).length, 1, 'and logged once')
  t.same(unpacked(await view.readdir('/a')).names.sort(), ['at-level-1.txt', 'b', 'link-up'], 'missing diriv: still listed')
  t.equal(log.filter((l) => /^forward: a: gocryptfs\.diriv is missing/.test(l)).length, 1)
})

t.test('a full all-zero block is a hole and reads as zeros (format rule)', async (t) => {
  const c = vectorCopy(t, 'B')
  zeroBlock(path.join(c.view, c.cipherPath('file-8192')), 1)
  const view = await forwardView(c)
  const got = await readAll(view, '/file-8192', 8192)
  t.ok(got.subarray(0, 4096).equals(readFileSync(path.join(c.plain, 'file-8192')).subarray(0, 4096)))
  t.ok(got.subarray(4096).equals(Buffer.alloc(4096)))
})

t.test("another path's header is refused, hard link or not", async (t) => {
  const c = vectorCopy(t, 'B')
  const from = path.join(c.view, c.cipherPath('file-4096'))
  linkSync(from, path.join(c.view, c.cipherPath('hard-link')))
  copyFileSync(from, path.join(c.view, c.cipherPath('plain-copy')))
  const log: string[] = []
  const view = await forwardView(c, log)
  t.ok((await readAll(view, '/file-4096', 4096)).equals(readFileSync(path.join(c.plain, 'file-4096'))), 'the path the header belongs to')
  t.equal(code(await view.open('/hard-link').catch((e) => e)), 'EIO', 'a hard link of it (as cp -a keeps those of a gocryptfs view, and as a server can plant)')
  t.equal(code(await view.open('/plain-copy').catch((e) => e)), 'EIO', "a single file with another path's header")
  t.match(log.join('\n'), /hard-link: the file header belongs to another path .*\[misplaced/)
  t.match(log.join('\n'), /plain-copy: the file header belongs to another path .*\[misplaced/)
})
