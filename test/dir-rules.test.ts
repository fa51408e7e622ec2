// Per-directory rules on the view itself (plaintext names, no mount): -exclude-caches and its
// signature check, -exclude-if-present, whose files count (owners, modes), changes made after the
// view started, and dir-merge rules checked against rsync itself on generated trees.
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { chmodSync, chownSync, lchownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { settingsFromFlags } from '../src/format/settings.js'
import { Filter } from '../src/view/filter.js'
import { ReverseView, type ReverseViewOptions } from '../src/view/reverse.js'
import { Prng, seedFrom } from './lib/prng.js'
import { viewPaths } from './lib/view-walk.js'
import { unpacked } from './lib/listing.js'

const TAG = 'Signature: 8a477f597d28d172789f06886806bc55'
const settings = settingsFromFlags({ plaintextNames: true, aessiv: true })
const masterKey = Buffer.alloc(32, 7)
// Past the view's freshness window (1 s): what a change must wait for at most.
const SETTLE_MS = 1100
const isRoot = process.getuid?.() === 0
const USER = 1001

function scratch(t: Test): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'tsreverse-dir-rules-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Writes each file (mode 0644; a trailing / makes a directory) below root. */
function tree(root: string, files: Record<string, string>): void {
  for (const [f, content] of Object.entries(files)) {
    const p = path.join(root, f)
    if (f.endsWith('/')) {
      mkdirSync(p, { recursive: true })
      continue
    }
    mkdirSync(path.dirname(p), { recursive: true })
    writeFileSync(p, content, { mode: 0o644 })
    chmodSync(p, 0o644)
  }
}

async function view(src: string, opts: Partial<ReverseViewOptions>, logs: string[] = []): Promise<ReverseView> {
  return ReverseView.create({ source: src, settings, masterKey, log: (m) => logs.push(m), ...opts })
}

/** getattr's outcome: 'ok' or the error code. */
const code = (v: ReverseView, p: string): Promise<string> =>
  v.getattr(p).then(
    () => 'ok',
    (e: NodeJS.ErrnoException) => e.code ?? String(e),
  )

t.test('-exclude-caches and -exclude-if-present', async (t) => {
  const src = path.join(scratch(t), 'src')
  tree(src, {
    'CACHEDIR.TAG': TAG,
    'keep/a': '',
    'cache/CACHEDIR.TAG': `${TAG}\n# made by some tool\n`,
    'cache/deep/x': '',
    'fake/CACHEDIR.TAG': 'not a tag',
    'short/CACHEDIR.TAG': TAG.slice(0, -1),
    'linked/x': '',
    'marked/.nobackup': '',
    'marked/y': '',
    'dirmarker/.nobackup/': '',
  })
  symlinkSync('../cache/CACHEDIR.TAG', path.join(src, 'linked', 'CACHEDIR.TAG'))
  const logs: string[] = []
  const v = await view(src, { excludeCaches: true, excludeIfPresent: ['.nobackup'] }, logs)
  const shown = await viewPaths(v)
  t.same(
    shown,
    ['CACHEDIR.TAG', 'fake', 'fake/CACHEDIR.TAG', 'keep', 'keep/a', 'linked', 'linked/CACHEDIR.TAG', 'linked/x', 'short', 'short/CACHEDIR.TAG'],
    'tagged and marked directories are hidden; the root never is',
  )
  for (const p of ['/cache', '/cache/deep', '/cache/deep/x', '/cache/CACHEDIR.TAG', '/marked', '/marked/y', '/dirmarker']) {
    t.equal(await code(v, p), 'EPERM', `${p} is unreachable by its exact name`)
  }
  await t.rejects(v.readdir('/cache'), { code: 'EPERM' })
  t.equal(await code(v, '/missing'), 'ENOENT')
  t.match(logs.join('\n'), /ignoring linked\/CACHEDIR\.TAG \(uid \d+\): not a regular file/)
  t.same(
    await viewPaths(await view(src, {})),
    [
      ...shown,
      'cache',
      'cache/CACHEDIR.TAG',
      'cache/deep',
      'cache/deep/x',
      'dirmarker',
      'dirmarker/.nobackup',
      'marked',
      'marked/.nobackup',
      'marked/y',
    ].sort(),
    'without the flags nothing is hidden',
  )
})

t.test("files count only when root or the directory's owner owns them", { skip: !isRoot && 'needs root (chown)' }, async (t) => {
  const src = path.join(scratch(t), 'src')
  tree(src, {
    'tmp/.rsync-filter': '- *\n',
    'tmp/root-file': '',
    'tmp/victim/.nobackup': '',
    'tmp/victim/data': '',
    'tmp/victim/CACHEDIR.TAG': TAG,
    'tmp/own/.nobackup': '',
    'home/alice/.rsync-filter': '- secret\n',
    'home/alice/secret': '',
    'home/alice/notes': '',
    'home/alice/loose/.rsync-filter': '- *\n',
    'home/alice/loose/kept': '',
    'home/alice/byroot/.rsync-filter': '- *\n',
    'home/alice/byroot/gone': '',
    'home/bad/.rsync-filter': 'merge elsewhere\n- gone\n',
    'home/bad/gone': '',
  })
  chmodSync(path.join(src, 'tmp'), 0o1777)
  for (const f of ['tmp/.rsync-filter', 'tmp/victim/.nobackup', 'tmp/victim/CACHEDIR.TAG', 'tmp/own', 'tmp/own/.nobackup']) {
    lchownSync(path.join(src, f), USER, USER)
  }
  for (const f of ['home/alice', 'home/alice/.rsync-filter', 'home/alice/loose', 'home/alice/loose/.rsync-filter', 'home/alice/byroot']) {
    chownSync(path.join(src, f), USER, USER)
  }
  chmodSync(path.join(src, 'home/alice/loose/.rsync-filter'), 0o664)
  const logs: string[] = []
  const v = await view(src, { excludeCaches: true, excludeIfPresent: ['.nobackup'], filter: Filter.parse(': .rsync-filter') }, logs)
  const shown = await viewPaths(v)
  t.same(shown, [
    'home',
    'home/alice',
    'home/alice/.rsync-filter',
    'home/alice/byroot',
    'home/alice/loose',
    'home/alice/loose/.rsync-filter',
    'home/alice/loose/kept',
    'home/alice/notes',
    'home/bad',
    'home/bad/.rsync-filter',
    'tmp',
    'tmp/.rsync-filter',
    'tmp/root-file',
    'tmp/victim',
    'tmp/victim/.nobackup',
    'tmp/victim/CACHEDIR.TAG',
    'tmp/victim/data',
  ])
  t.equal(await code(v, '/tmp/own'), 'EPERM', "a user's marker hides the user's own directory")
  t.equal(await code(v, '/home/alice/secret'), 'EPERM', "a user's rules apply in the user's home")
  t.equal(await code(v, '/home/alice/byroot/gone'), 'EPERM', "root's rules apply anywhere")
  t.equal(await code(v, '/tmp/root-file'), 'ok', "a user's rules in a root-owned sticky directory do not")
  await viewPaths(v)
  const log = logs.join('\n')
  t.match(log, /ignoring tmp\/\.rsync-filter \(uid 1001\): owned by uid 1001, neither root nor the owner of its directory \(uid 0\)/)
  t.match(log, /ignoring tmp\/victim\/\.nobackup \(uid 1001\)/)
  t.match(log, /ignoring tmp\/victim\/CACHEDIR\.TAG \(uid 1001\)/)
  t.match(log, /ignoring home\/alice\/loose\/\.rsync-filter \(uid 1001\): writable by its group or by others/)
  t.match(log, /home\/bad\/\.rsync-filter line 1: merge and dir-merge rules are not read from per-directory files; the line is left out/)
  t.equal(logs.length, 5, 'each file is logged once, however often it is seen')
})

t.test('changes show without a new view', async (t) => {
  const src = path.join(scratch(t), 'src')
  tree(src, { 'd/x': '', 'd/sub/y': '', 'e/a.txt': '', 'e/b.txt': '', 'e/.rsync-filter': '- a.txt\n' })
  const opts = { excludeCaches: true, excludeIfPresent: ['.nobackup'], filter: Filter.parse(': .rsync-filter') }
  const v = await view(src, opts)
  t.same(await viewPaths(v), ['d', 'd/sub', 'd/sub/y', 'd/x', 'e', 'e/.rsync-filter', 'e/b.txt'])
  t.equal(await code(v, '/d/sub/y'), 'ok', 'd is cached as a directory of the view')
  // With encrypted names, each directory also has a gocryptfs.diriv, looked up here to cache both.
  const encrypted = await view(src, { ...opts, settings: settingsFromFlags({ aessiv: true }) })
  const dirivs = unpacked(await encrypted.readdir('/'))
    .names.filter((n) => n !== 'gocryptfs.diriv')
    .map((n) => `/${n}/gocryptfs.diriv`)
  t.same(await Promise.all(dirivs.map((p) => code(encrypted, p))), ['ok', 'ok'])

  writeFileSync(path.join(src, 'd', 'CACHEDIR.TAG'), TAG)
  // Edited in place to the same size: only the file's stamp tells.
  writeFileSync(path.join(src, 'e', '.rsync-filter'), '- b.txt\n')
  await sleep(SETTLE_MS)
  t.same(await viewPaths(v), ['e', 'e/.rsync-filter', 'e/a.txt'], 'a new tag hides, an edited file applies')
  t.equal(await code(v, '/d/sub/y'), 'EPERM', 'lookups below the tagged directory fail too')
  t.equal(await code(v, '/e/b.txt'), 'EPERM')
  t.same((await Promise.all(dirivs.map((p) => code(encrypted, p)))).sort(), ['EPERM', 'ok'], "and the tagged directory's gocryptfs.diriv")

  writeFileSync(path.join(src, 'd', 'CACHEDIR.TAG'), 'no longer a tag.......................')
  await sleep(SETTLE_MS)
  t.same(await viewPaths(v, 'd'), ['d/CACHEDIR.TAG', 'd/sub', 'd/sub/y', 'd/x'], 'a tag that lost its signature hides nothing')
  writeFileSync(path.join(src, 'd', 'sub', '.nobackup'), '')
  unlinkSync(path.join(src, 'e', '.rsync-filter'))
  await sleep(SETTLE_MS)
  t.equal(await code(v, '/d/sub/y'), 'EPERM', 'a new marker, seen by a lookup alone')
  t.same(await viewPaths(v), ['d', 'd/CACHEDIR.TAG', 'd/x', 'e', 'e/a.txt', 'e/b.txt'], 'a removed dir-merge file hides nothing')
  unlinkSync(path.join(src, 'd', 'sub', '.nobackup'))
  await sleep(SETTLE_MS)
  t.equal(await code(v, '/d/sub/y'), 'ok', 'a removed marker shows the directory again')
})

// ---- dir-merge rules against rsync ----

const NAMES = ['a', 'b', 'keep', 'keep.txt', 'x.tmp', 'y.txt', 'sub', 't1', 'z z', '- b']
// Includes without "/" or "**": nothing becomes a container, which rsync would not enter.
const LOCAL_RULES = [
  '- *.tmp',
  '- /sub',
  '- sub/',
  '- a',
  '- /keep*',
  '- **/t1',
  '- a/*.txt',
  '- *',
  '- [ab]',
  '- z z',
  '- b/',
  '+ keep*',
  '+ *.txt',
  '+ /a',
  '+ sub/',
  '+ t?',
]
const WORDS = ['*.txt', 'b', '/sub', 'keep', 't*', '- b']
const GLOBALS = [
  [': .rsync-filter'],
  [':e .rsync-filter'],
  [':n .rsync-filter'],
  ['dir-merge,e .rsync-filter', '- *.tmp'],
  ['- b', ': .rsync-filter', '+ *.txt', '- x*'],
  [':-n .excl', ': .rsync-filter'],
  [':+ .incl', '- *.txt', ': .rsync-filter'],
]

function generate(rng: Prng, dir: string, depth: number): void {
  mkdirSync(dir, { recursive: true })
  for (const name of NAMES) {
    const roll = rng.float()
    if (roll < 0.3 && depth < 3) generate(rng, path.join(dir, name), depth + 1)
    else if (roll < 0.7) writeFileSync(path.join(dir, name), name, { mode: 0o644 })
  }
  const lines = (pool: string[], n: number) => Array.from({ length: n }, () => rng.pick(pool)).join('\n') + '\n'
  const files = { '.rsync-filter': () => lines(LOCAL_RULES, rng.range(1, 3)), '.excl': () => lines(WORDS, 1), '.incl': () => lines(WORDS, 1) }
  for (const [name, content] of Object.entries(files)) {
    if (rng.float() < 0.4) writeFileSync(path.join(dir, name), content(), { mode: 0o644 })
  }
}

function rsyncPaths(src: string, rulesFile: string, dest: string): string[] {
  const r = spawnSync('rsync', ['-r', '-l', '-n', '--out-format=%n', `--filter=merge ${rulesFile}`, src + '/', dest + '/'], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`rsync failed: ${r.stderr}`)
  return r.stdout
    .split('\n')
    .filter((l) => l !== '' && l !== './')
    .sort()
}

t.test('dir-merge rules select what rsync selects', async (t) => {
  const seed = seedFrom('DIR_RULES_SEED')
  t.comment(`seed ${seed} (DIR_RULES_SEED=${seed} replays it)`)
  const rng = new Prng(seed)
  const work = scratch(t)
  const dest = path.join(work, 'dest')
  mkdirSync(dest)
  const rulesFile = path.join(work, 'rules')
  let differ = 0
  for (let i = 0; i < 12; i++) {
    const src = path.join(work, `src${i}`)
    generate(rng, src, 0)
    for (const global of GLOBALS) {
      writeFileSync(rulesFile, global.join('\n') + '\n')
      const want = rsyncPaths(src, rulesFile, dest)
      const got = await viewPaths(await view(src, { filter: Filter.parse(global.join('\n')) }), '', true)
      if (JSON.stringify(got) !== JSON.stringify(want)) differ++
      t.same(got, want, `tree ${i}, ${global.join(' | ')}`)
    }
  }
  t.equal(differ, 0)
})
