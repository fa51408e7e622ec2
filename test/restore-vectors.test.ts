// -restore on the golden vectors' captured views: the whole tree (config + password), a subtree
// and single entries (-masterkey alone, no config in the copy) come back as plaintext-tree.listing
// says, with modes, symlinks and the copy's mtimes; the tree root is found from any path inside;
// stderr carries only the summary, or a progress bar when it is a terminal.
import t from 'tap'
import { lstatSync, mkdirSync, readFileSync, readlinkSync } from 'node:fs'
import path from 'node:path'
import { formatBytes } from '../src/restore/progress.js'
import { BIN, runCli } from './lib/cli.js'
import { diffTrees, listTree, run } from './lib/reverse-mounts.js'
import { plainListing, vectorCopy } from './lib/restore-fixtures.js'

const listing = plainListing()
const count = (type: string): number => listing.filter((l) => l.startsWith(type + ' ')).length
const plainBytes = listing.filter((l) => l.startsWith('f ')).reduce((n, l) => n + Number(l.split(' ')[2]), 0)

for (const v of ['A', 'B', 'C']) {
  t.test(`vector ${v}`, async (t) => {
    const c = vectorCopy(t, v)
    const dest = path.join(c.work, 'all')
    const r = runCli(['-restore', '-passfile', c.passfile, c.view, dest])
    t.equal(r.code, 0, r.stderr)
    t.equal(
      r.stderr,
      `restored ${count('f')} files (${formatBytes(plainBytes)}), ${count('d') + 1} directories, ${count('l')} symlinks to ${dest}\n`,
      'stderr (not a terminal): the summary line only',
    )
    t.same(listTree(dest, { hash: true }), listing, 'whole tree: types, modes, sizes, contents, symlink targets')
    t.equal(diffTrees(c.plain, dest), '', 'diff -r --no-dereference')
    // view.tar was made with --mtime=@0: the copy's times, not the restore's.
    t.same(
      listTree(dest, { mtime: true }).filter((l) => !/ 0 \.\//.test(l)),
      [],
      "every mtime is the copy's",
    )

    const bare = vectorCopy(t, v, { withoutConf: true })
    const into = path.join(bare.work, 'into')
    mkdirSync(into)
    const sub = runCli(['-q', '-restore', '-masterkey', bare.key, path.join(bare.view, bare.cipherPath('a')), into])
    if (v !== 'B') {
      // No config and no gocryptfs.diriv (plaintext or deterministic names): nothing marks the root.
      t.equal(sub.code, 1, 'the root cannot be found')
      t.match(sub.stderr, /add -cipherdir DIR/)
    } else {
      t.equal(sub.code, 0, sub.stderr)
      t.equal(diffTrees(path.join(c.plain, 'a'), path.join(into, 'a')), '', 'subtree a/ (root found from inside)')
    }
    const withRoot = ['-q', '-restore', '-masterkey', bare.key, '-cipherdir', bare.view]
    const sub2 = runCli([...withRoot, path.join(bare.view, bare.cipherPath('a/b')), path.join(into, 'b-renamed')])
    t.equal(sub2.code, 0, sub2.stderr)
    t.equal(diffTrees(path.join(c.plain, 'a/b'), path.join(into, 'b-renamed')), '', 'subtree a/b/ under a new name')
    t.equal(lstatSync(path.join(into, 'b-renamed')).mode & 0o777, 0o700, 'its mode')

    for (const p of ['a/b/c/deep.txt', 'D200-' + '0'.repeat(195) + '/inner.txt', 'file-16', 'file-0']) {
      const one = runCli([...withRoot, path.join(bare.view, bare.cipherPath(p)), into])
      t.equal(one.code, 0, one.stderr)
      const got = path.join(into, path.basename(p))
      t.ok(readFileSync(got).equals(readFileSync(path.join(c.plain, p))), `${p}: content`)
      t.equal(lstatSync(got).mode, lstatSync(path.join(c.plain, p)).mode, `${p}: mode`)
    }
    const link = runCli([...withRoot, path.join(bare.view, bare.cipherPath('D200-' + '0'.repeat(195) + '/inner-link')), into])
    t.equal(link.code, 0, link.stderr)
    t.equal(readlinkSync(path.join(into, 'inner-link')), '../file-1', 'a symlink below a hashed directory')
  })
}

t.test('a progress bar on a terminal', async (t) => {
  const c = vectorCopy(t, 'B')
  const dest = path.join(c.work, 'all')
  // script(1) gives the command a pseudo-terminal and copies what it writes.
  const cmd = [process.execPath, BIN, '-restore', '-passfile', c.passfile, c.view, dest].map((a) => `'${a}'`).join(' ')
  const r = run('script', ['-qec', cmd, '/dev/null'])
  t.equal(r.status, 0, r.stdout)
  t.match(r.stdout, /\r\x1b\[K\d+\/19 files, [\d.]+ \S+\/127\.3 KiB, [\d.]+ \S+\/s, ETA /, 'files, bytes, rate, ETA')
  t.match(r.stdout, /restored 19 files/)
  t.equal(diffTrees(c.plain, dest), '')
})

t.test('usage errors', async (t) => {
  const c = vectorCopy(t, 'B')
  t.equal(runCli(['-restore', '-passfile', c.passfile, c.view]).code, 1, 'DEST missing')
  t.equal(runCli(['-restore', '-passfile', c.passfile, path.join(c.view, 'nonexistent'), c.work]).code, 6, 'CIPHERPATH missing')
  const inside = runCli(['-restore', '-passfile', c.passfile, c.view, path.join(c.view, 'out')])
  t.equal(inside.code, 1, 'DEST inside the ciphertext tree')
  const noParent = runCli(['-restore', '-passfile', c.passfile, c.view, path.join(c.work, 'no/such/dir')])
  t.equal(noParent.code, 1, "DEST's directory must exist")
  const hidden = runCli(['-restore', '-passfile', c.passfile, path.join(c.view, 'gocryptfs.diriv'), c.work])
  t.equal(hidden.code, 26, 'a format file is not an entry')
  t.match(hidden.stderr, /not an entry of the tree/)
})
