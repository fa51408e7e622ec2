// The restore side against real gocryptfs: a varied tree encrypted by `gocryptfs -reverse` and
// copied out with `cp -a` must come back exactly (types, modes, sizes, contents, symlink
// targets, mtimes and atimes to the nanosecond, owners), through a -forward mount (with the
// password, and with -masterkey alone on a copy without config) and through -restore of the
// whole tree, of a subtree and of single entries; -encrypt-paths/-decrypt-paths name its
// entries. One exception everywhere: gocryptfs gives both links of a hard-linked file the
// ciphertext of the path opened first, so the other link holds another path's ciphertext,
// which -fsck reports and nothing serves.
import t from 'tap'
import { lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs'
import path from 'node:path'
import { parseHeader } from '../src/format/content.js'
import { derivePathIv } from '../src/format/pathiv.js'
import { HEADER_LEN } from '../src/format/sizes.js'
import { runCli } from './lib/cli.js'
import { diffTrees, listTree, mountOurs } from './lib/reverse-mounts.js'
import { OTHER_OWNER, cpA, gocryptfsCopy } from './lib/restore-fixtures.js'

const copy = await gocryptfsCopy(t)
const bound = (plain: string): boolean => {
  const cipher = copy.cipherPath(plain)
  const header = readFileSync(path.join(copy.view, cipher)).subarray(0, HEADER_LEN)
  return parseHeader(header).equals(derivePathIv(cipher, 'FILEID'))
}
const otherLink = ['docs/shared.bin', 'src/hardlink.bin'].find((p) => !bound(p))!
const skip = new Set([path.basename(otherLink)])
const exceptLink = ['--exclude', path.basename(otherLink)]
const FULL = { hash: true, mtime: true, atime: true, skip }
const expected = listTree(copy.plain, FULL)
/** `%.9Y %.9X` of one entry. */
const times = (p: string): string => {
  const st = lstatSync(p, { bigint: true })
  return `${st.mtimeNs} ${st.atimeNs}`
}
const sub = (name: string): string => {
  const p = path.join(copy.work, name)
  mkdirSync(p)
  return p
}

t.test('the copy is what gocryptfs showed', async (t) => {
  t.ok(expected.length > 60, `${expected.length} plaintext entries`)
  t.ok(lstatSync(path.join(copy.view, 'gocryptfs.conf')).isFile(), 'the virtual gocryptfs.conf was copied too')
  t.ok(lstatSync(path.join(copy.view, copy.cipherPath(copy.fifo))).isFIFO(), 'FIFO copied as a FIFO')
  t.equal(lstatSync(path.join(copy.view, copy.cipherPath('src/hardlink.bin'))).nlink, 2, 'hard link kept by cp -a')
  t.ok(otherLink, "one of the two links holds the other path's ciphertext")
})

t.test('-forward with the password reproduces the tree', async (t) => {
  const mnt = sub('mnt-password')
  mountOurs(t, ['-forward', '-passfile', copy.passfile, copy.view, mnt])
  t.same(listTree(mnt, FULL), expected, 'listing with hashes and mtimes')
  t.equal(diffTrees(copy.plain, mnt, ['--exclude', copy.fifo, ...exceptLink]), '', 'diff -r --no-dereference')
  t.throws(() => readFileSync(path.join(mnt, otherLink)), { code: 'EIO' }, "the other link: another path's ciphertext")
  t.equal(lstatSync(path.join(mnt, 'secret.txt')).uid, OTHER_OWNER.uid, 'owners shown')
})

t.test('-forward with -masterkey alone detects the settings', async (t) => {
  const view = path.join(copy.work, 'view-without-conf')
  cpA(copy.view, view)
  rmSync(path.join(view, 'gocryptfs.conf'))
  const mnt = sub('mnt-masterkey')
  mountOurs(t, ['-forward', '-masterkey', copy.key, view, mnt])
  t.same(listTree(mnt, FULL), expected)
  t.equal(diffTrees(copy.plain, mnt, ['--exclude', copy.fifo, ...exceptLink]), '')
})

t.test('-restore of the whole tree, with -restore-special', async (t) => {
  const dest = path.join(copy.work, 'restored-all')
  const rootTimes = times(copy.view) // before the restore reads it
  const r = runCli(['-restore', '-restore-special', '-passfile', copy.passfile, copy.view, dest])
  t.equal(r.code, 26, r.stderr)
  t.match(r.stderr, /^restored \d+ files .* 1 special file to /m)
  t.match(r.stderr, /^1 problem\(s\):\n {2}(\S+): the file header belongs to another path .*\[misplaced, /m)
  t.ok(r.stderr.includes(`  ${otherLink}: the file header`), 'the problem is the other link')
  t.notOk(lstatSync(path.join(dest, otherLink), { throwIfNoEntry: false }), 'which is not restored')
  t.same(listTree(dest, FULL), expected, 'types, modes, sizes, contents, targets, mtimes and atimes')
  t.equal(diffTrees(copy.plain, dest, ['--exclude', copy.fifo, ...exceptLink]), '', 'diff -r --no-dereference')
  const st = lstatSync(path.join(dest, 'secret.txt'))
  t.same([st.uid, st.gid], [OTHER_OWNER.uid, OTHER_OWNER.gid], 'owners restored (as root)')
  t.equal(lstatSync(path.join(dest, 'setuid-tool')).mode & 0o7777, 0o4755, 'set-uid bit survives the chown')
  t.equal(times(dest), rootTimes, 'the root directory gets the times of the copy root')
})

t.test('-restore of a subtree into an existing directory, with -masterkey', async (t) => {
  const dest = sub('restored-sub')
  const r = runCli(['-q', '-restore', '-masterkey', copy.key, path.join(copy.view, copy.cipherPath('docs/deeper')), dest])
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stderr, '', '-q: nothing on stderr')
  t.same(listTree(path.join(dest, 'deeper'), FULL), listTree(path.join(copy.plain, 'docs/deeper'), FULL))
  t.equal(times(path.join(dest, 'deeper')), times(path.join(copy.plain, 'docs/deeper')), 'times of the subtree root')
})

t.test('-restore of single entries', async (t) => {
  const dest = sub('restored-one')
  const cases: [string, string][] = [
    ['big.bin', 'a file of 12 restore chunks'],
    ['N'.repeat(200) + '.txt', 'a file with a hashed long name'],
    [path.join('L'.repeat(255), readdirSync(path.join(copy.plain, 'L'.repeat(255)))[0]!), 'a file below a hashed directory'],
    ['docs/link-to-long-name', 'a symlink'],
    ['readonly-dir', 'a read-only directory'],
  ]
  for (const [plain, what] of cases) {
    const r = runCli(['-q', '-restore', '-passfile', copy.passfile, path.join(copy.view, copy.cipherPath(plain)), dest])
    t.equal(r.code, 0, `${what}: ${r.stderr}`)
    const got = path.join(dest, path.basename(plain))
    const want = path.join(copy.plain, plain)
    const [a, b] = [lstatSync(got), lstatSync(want)]
    t.same([a.mode, a.size], [b.mode, b.size], `${what}: mode, size`)
    t.equal(times(got), times(want), `${what}: mtime and atime`)
    if (a.isFile()) t.ok(readFileSync(got).equals(readFileSync(want)), `${what}: content`)
    if (a.isSymbolicLink()) t.equal(readlinkSync(got), readlinkSync(want), `${what}: target`)
  }
  // DEST that is not a directory is the new name.
  const renamed = path.join(dest, 'renamed.bin')
  const r = runCli(['-q', '-restore', '-passfile', copy.passfile, path.join(copy.view, copy.cipherPath('tool.sh')), renamed])
  t.equal(r.code, 0, r.stderr)
  t.equal(readFileSync(renamed, 'utf8'), readFileSync(path.join(copy.plain, 'tool.sh'), 'utf8'))
})

t.test('-fsck reports the other link and nothing else', async (t) => {
  const r = runCli(['-fsck', '-passfile', copy.passfile, copy.view])
  t.equal(r.code, 26, r.stderr)
  const problems = r.stdout.split('\n').filter((l) => / \[\w+, ciphertext /.test(l) && !l.includes('[special, '))
  t.same(
    problems.map((l) => l.slice(0, l.indexOf(':'))),
    [otherLink],
  )
  t.match(r.stdout, /^setuid-tool: set-uid bit \(mode 4755\): .*\[special, /m, 'the set-uid file listed, not as a problem')
  t.match(r.stdout, /^fsck summary: 1 problem\(s\)/m)
})

t.test('-encrypt-paths names what gocryptfs shows; -decrypt-paths inverts it', async (t) => {
  // PATH is the last field and may contain spaces; every line has exactly one ' ./'.
  const all = listTree(copy.plain).map((l) => l.slice(l.indexOf(' ./') + 3))
  const enc = runCli(['-encrypt-paths', '-config', copy.conf, '-passfile', copy.passfile], { input: all.join('\n') + '\n' })
  t.equal(enc.code, 0, enc.stderr)
  const cipherPaths = enc.stdout.split('\n').slice(0, -1)
  t.equal(cipherPaths.length, all.length)
  const missing = cipherPaths.filter((c) => !lstatSync(path.join(copy.view, c), { throwIfNoEntry: false }))
  t.same(missing, [], 'every encrypted path exists in the copy')
  const dec = runCli(['-decrypt-paths', '-cipherdir', copy.view, '-masterkey', copy.key], { input: enc.stdout })
  t.equal(dec.code, 0, dec.stderr)
  t.same(dec.stdout.split('\n').slice(0, -1), all)
})
