// -restore of damaged copies: every kind of damage is named (plaintext path, kind, block),
// everything else is restored exactly, nothing truncated or temporary is left under any name,
// and the exit code is 26. A wrong master key restores nothing.
import t from 'tap'
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { ReverseView } from '../src/view/reverse.js'
import { settingsFromFlags } from '../src/format/settings.js'
import { runCli } from './lib/cli.js'
import { diffTrees, listTree, scratchDir } from './lib/reverse-mounts.js'
import { DAMAGES, blockOffset, flipBit, materialize, problemPattern, vectorCopy } from './lib/restore-fixtures.js'

/** Every path below dir whose name marks a restore temporary. */
function temporaries(dir: string): string[] {
  return listTree(dir).filter((l) => l.includes('.tsreverse-restore-'))
}

for (const d of DAMAGES) {
  t.test(d.name, async (t) => {
    const c = vectorCopy(t, d.vector)
    d.damage(c)
    const dest = path.join(c.work, 'restored')
    const r = runCli(['-restore', '-masterkey', c.key, c.view, dest])
    t.equal(r.code, 26, 'exit code 26')
    for (const p of d.problems) t.match(r.stderr, problemPattern(p), `names ${p.kind} at ${p.path || '/'}`)
    t.match(r.stderr, new RegExp(`^${d.problems.length} problem\\(s\\):$`, 'm'), 'summary counts every problem once')
    const exclude = d.lost.flatMap((f) => ['--exclude', f])
    t.equal(diffTrees(c.plain, dest, exclude), '', 'everything else restored exactly')
    for (const f of d.lost) t.notOk(lstatSync(path.join(dest, f), { throwIfNoEntry: false }), `${f} not restored`)
    t.same(temporaries(dest), [], 'no temporary files left')
  })
}

t.test('a file that fails after some chunks were written leaves nothing, not even over an old copy', async (t) => {
  const work = scratchDir(t, 'tsreverse-restore-')
  const src = path.join(work, 'src')
  mkdirSync(src)
  const big = Buffer.alloc(300_000, 'x') // 74 blocks: three restore chunks
  writeFileSync(path.join(src, 'big'), big)
  writeFileSync(path.join(src, 'small'), 'small\n')
  const masterKey = Buffer.alloc(32, 7)
  const view = await ReverseView.create({ source: src, settings: settingsFromFlags({ aessiv: true }), masterKey })
  const copy = path.join(work, 'copy')
  mkdirSync(copy)
  await materialize(view, copy)
  const bigCipher = readdirSync(copy).find((n) => n !== 'gocryptfs.diriv' && readFileSync(path.join(copy, n)).length > 300_000)!
  flipBit(path.join(copy, bigCipher), blockOffset(70))
  const dest = path.join(work, 'dest')
  mkdirSync(dest)
  writeFileSync(path.join(dest, 'big'), 'the old copy\n')
  const r = runCli(['-restore', '-masterkey', '07'.repeat(32), '-cipherdir', copy, copy, dest])
  t.equal(r.code, 26, r.stderr)
  t.match(r.stderr, /^\s*big: block 70 failed authentication \[block/m)
  t.equal(readFileSync(path.join(dest, 'big'), 'utf8'), 'the old copy\n', 'the old file is untouched')
  t.equal(readFileSync(path.join(dest, 'small'), 'utf8'), 'small\n')
  t.same(temporaries(dest), [])
})

t.test('a wrong master key restores nothing', async (t) => {
  const c = vectorCopy(t, 'B', { withoutConf: true })
  const wrong = c.key.replace(/^./, (ch) => (ch === '0' ? '1' : '0'))
  const dest = path.join(c.work, 'restored')
  const r = runCli(['-restore', '-masterkey', wrong, c.view, dest])
  t.equal(r.code, 12)
  t.match(r.stderr, /master key does not decrypt/)
  t.notOk(existsSync(dest))
  const withConf = vectorCopy(t, 'A')
  const r2 = runCli(['-restore', '-masterkey', wrong, withConf.view, dest])
  t.equal(r2.code, 12, 'also with a config (plaintext names: only the contents can tell)')
  const r3 = runCli(['-restore', '-passfile', withConf.passfile, '-config', path.join(withConf.view, 'gocryptfs.conf'), c.view, dest])
  t.equal(r3.code, 12, "another tree's config with its password: the key unwraps but is not this tree's")
})
