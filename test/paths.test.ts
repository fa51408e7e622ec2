// -encrypt-paths gives, for every plaintext path of the vectors' tree, the path gocryptfs
// -reverse showed (view.listing: same entry type, matching size), one to one; -decrypt-paths
// inverts it, reading .name files from -cipherdir for hashed names. Plus the ways in: a source
// directory's config, -config, -masterkey with flags or with detection, and the error lines.
import t from 'tap'
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { deriveKeys } from '../src/format/keys.js'
import { settingsFromFlags } from '../src/format/settings.js'
import { plainToCipherSize } from '../src/format/sizes.js'
import { PathMapper, components } from '../src/restore/paths.js'
import { runCli } from './lib/cli.js'
import { untar } from './lib/restore-fixtures.js'
import { scratchDir } from './lib/reverse-mounts.js'
import { VECTORS } from './lib/vectors.js'

interface Entry {
  type: string
  size: string
  path: string
}

function readListing(file: string): Entry[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [type, , size] = l.split(' ')
      return { type: type!, size: size!, path: l.slice(l.indexOf(' ./') + 3) }
    })
}

const FORMAT_FILES = /(^|\/)(gocryptfs\.diriv|gocryptfs\.conf|gocryptfs\.longname\.[^/]*\.name)$/
const plain = readListing(path.join(VECTORS, 'plaintext-tree.listing'))
const input = plain.map((e) => e.path).join('\n') + '\n'
const lines = (stdout: string): string[] => stdout.split('\n').slice(0, -1)

for (const v of ['A', 'B', 'C']) {
  t.test(`vector ${v}`, async (t) => {
    const dir = path.join(VECTORS, v)
    const conf = path.join(dir, 'gocryptfs.conf')
    const passfile = path.join(dir, 'passfile.txt')
    const key = readFileSync(path.join(dir, 'masterkey.txt'), 'ascii').trim()
    const work = scratchDir(t, 'tsreverse-paths-')
    const src = path.join(work, 'src')
    mkdirSync(src)
    copyFileSync(conf, path.join(src, '.gocryptfs.reverse.conf'))
    const view = path.join(work, 'view')
    untar(path.join(dir, 'view.tar'), view)
    const viewEntries = readListing(path.join(dir, 'view.listing')).filter((e) => !FORMAT_FILES.test(e.path))
    const byPath = new Map(viewEntries.map((e) => [e.path, e]))

    const enc = runCli(['-q', '-encrypt-paths', '-passfile', passfile, src], { input })
    t.equal(enc.code, 0, enc.stderr)
    const cipher = lines(enc.stdout)
    t.equal(cipher.length, plain.length)
    const mismatched = plain.filter((p, i) => {
      const c = byPath.get(cipher[i]!)
      if (!c || c.type !== p.type) return true
      return p.type === 'f' && Number(c.size) !== plainToCipherSize(Number(p.size))
    })
    t.same(mismatched, [], 'each path names a view entry of the same type and matching size')
    t.same([...cipher].sort(), viewEntries.map((e) => e.path).sort(), 'one to one with view.listing')

    const dec = runCli(['-q', '-decrypt-paths', '-cipherdir', view, '-config', conf, '-passfile', passfile], { input: enc.stdout })
    t.equal(dec.code, 0, dec.stderr)
    t.same(
      lines(dec.stdout),
      plain.map((e) => e.path),
      '-decrypt-paths inverts it',
    )

    // Without a config: C's settings are detected from the copy (its -longnamemax 100 included).
    const flags = v === 'A' ? ['-plaintextnames'] : []
    const bare = runCli(['-q', '-encrypt-paths', '-masterkey', key, ...(v === 'C' ? ['-cipherdir', view] : flags)], { input })
    t.equal(bare.code, 0, bare.stderr)
    t.same(lines(bare.stdout), cipher, '-masterkey without a config gives the same')
  })
}

t.test('plaintext names need no password', async (t) => {
  const r = runCli(['-encrypt-paths', '-config', path.join(VECTORS, 'A', 'gocryptfs.conf')], { input: 'a/b/c\n' })
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stdout, 'a/b/c\n')
})

t.test('error lines keep the output aligned', async (t) => {
  const conf = path.join(VECTORS, 'B', 'gocryptfs.conf')
  const auth = ['-config', conf, '-passfile', path.join(VECTORS, 'B', 'passfile.txt')]
  const enc = runCli(['-q', '-encrypt-paths', ...auth], { input: './a/b/\nx/../y\n/file-1\n' })
  t.equal(enc.code, 11)
  const out = lines(enc.stdout)
  t.equal(out.length, 3)
  t.equal(out[1], '', 'the failed line is empty')
  t.match(enc.stderr, /^line 2: /m)
  t.equal(out[0]!.split('/').length, 2, './a/b/ is a/b')
  t.equal(out[2]!.split('/').length, 1, '/file-1 is file-1')
  const hashed = lines(runCli(['-q', '-encrypt-paths', ...auth], { input: 'L255-' + '0'.repeat(250) + '\nfile-1\n' }).stdout)
  t.match(hashed[0], /^gocryptfs\.longname\./)
  const dec = runCli(['-q', '-decrypt-paths', ...auth], { input: hashed.join('\n') + '\n' })
  t.equal(dec.code, 11)
  t.same(lines(dec.stdout), ['', 'file-1'])
  t.match(dec.stderr, /^line 1: .*give -cipherdir/m)
  t.equal(runCli(['-encrypt-paths'], { input: 'x\n' }).code, 1, 'no config and no key')
})

t.test('PathMapper keeps raw bytes', async (t) => {
  const m = new PathMapper(settingsFromFlags({ aessiv: true }), deriveKeys(Buffer.alloc(32, 1), { hkdf: true }).eme)
  const p = Buffer.from([0x61, 0xff, 0x2f, 0xfe, 0x0a, 0x62])
  const c = m.encryptPath(p)
  t.equal(components(c).length, 2)
  t.ok((await m.decryptPath(c)).equals(p))
  t.same(components(Buffer.from('/./a//b/')).map(String), ['a', 'b'])
  t.throws(() => m.encryptPath(Buffer.from('a/../b')), RangeError)
})
