// -fsck: clean copies pass with exit 0; each kind of damage is reported on stdout (plaintext
// path, block, kind) with exit 26, every bad block of a file separately, and the copy is not
// modified. A wrong key is exit 12.
import t from 'tap'
import path from 'node:path'
import { runCli } from './lib/cli.js'
import { listTree } from './lib/reverse-mounts.js'
import { DAMAGES, blockOffset, flipBit, problemPattern, vectorCopy } from './lib/restore-fixtures.js'

const problemLines = (stdout: string): string[] => stdout.split('\n').filter((l) => / \[\w+, ciphertext /.test(l))

for (const v of ['A', 'B', 'C']) {
  t.test(`vector ${v} is clean`, async (t) => {
    const c = vectorCopy(t, v)
    const r = runCli(['-fsck', '-passfile', c.passfile, c.view])
    t.equal(r.code, 0, r.stderr)
    t.match(r.stdout, /^fsck summary: no problems found \(6 directories, 19 files \(127\.3 KiB authenticated\), 4 symlinks\)$/m)
  })
}

for (const d of DAMAGES) {
  t.test(d.name, async (t) => {
    const c = vectorCopy(t, d.vector)
    d.damage(c)
    const before = listTree(c.view, { hash: true, mtime: true })
    const r = runCli(['-fsck', '-masterkey', c.key, c.view])
    t.equal(r.code, 26, 'exit code 26')
    const problems = [...d.problems, ...(d.moreInFsck ?? [])]
    for (const p of problems) t.match(r.stdout, problemPattern(p), `names ${p.kind} at ${p.path || '/'}${p.block === undefined ? '' : ` block ${p.block}`}`)
    t.equal(problemLines(r.stdout).length, problems.length, 'one line per problem')
    t.match(r.stdout, new RegExp(`^fsck summary: ${problems.length} problem\\(s\\)`, 'm'))
    t.same(listTree(c.view, { hash: true, mtime: true }), before, 'the copy is not modified')
  })
}

t.test('every bad block of a file is reported', async (t) => {
  const c = vectorCopy(t, 'B')
  const file = path.join(c.view, c.cipherPath('file-100000'))
  for (const n of [2, 3, 17, 24]) flipBit(file, blockOffset(n) + 40)
  const r = runCli(['-fsck', '-masterkey', c.key, c.view])
  t.equal(r.code, 26)
  t.same(
    problemLines(r.stdout).map((l) => /block (\d+) failed/.exec(l)?.[1]),
    ['2', '3', '17', '24'],
  )
})

t.test('a wrong key', async (t) => {
  const c = vectorCopy(t, 'C', { withoutConf: true })
  const wrong = c.key.replace(/^./, (ch) => (ch === '0' ? '1' : '0'))
  const r = runCli(['-fsck', '-masterkey', wrong, c.view])
  t.equal(r.code, 12)
  t.match(r.stderr, /master key does not decrypt/)
  t.equal(r.stdout, '')
})
