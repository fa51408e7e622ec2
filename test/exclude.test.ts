// Exclusion: the observable consequences of go-gitignore's translation listed in spec 6.8, the
// option plumbing (values split at commas as 2.3 splits them), and a differential check of whole listings against real gocryptfs 2.3
// (plaintext names, so paths compare directly).
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { ExitCode, UserError } from '../src/exitcodes.js'
import { settingsFromFlags } from '../src/format/settings.js'
import { Excluder, patternFromLine, splitOptionValue, type ExcludeOptions } from '../src/view/exclude.js'
import { ReverseView } from '../src/view/reverse.js'
import { viewPaths } from './lib/view-walk.js'

const ew = (...patterns: string[]) => Excluder.fromOptions({ exclude: [], excludeWildcard: patterns, excludeFrom: [] })

interface Asserts {
  ok(value: unknown, message: string): void
  notOk(value: unknown, message: string): void
}

function check(t: Asserts, ex: Excluder, yes: string[], no: string[]): void {
  for (const p of yes) t.ok(ex.isExcluded(p), `excludes ${p}`)
  for (const p of no) t.notOk(ex.isExcluded(p), `keeps ${p}`)
}

t.test('observable consequences (spec 6.8)', async (t) => {
  check(t, ew('*.mp3'), ['song.mp3', 'a/b/song.mp3', 'd.mp3/inside'], ['song.mp3x', 'mp3', 'a/songmp3'])
  check(t, ew('/dir2'), ['dir2', 'dir2/x'], ['a/dir2', 'dir22'])
  check(t, ew('dir2/'), ['dir2/x', 'a/dir2/x'], ['dir2', 'a/dir2'])
  check(t, ew('sub/d.txt'), ['sub/d.txt', 'dir1/sub/d.txt'], ['sub/dxtxt', 'sub'])
  check(t, ew('q?.txt'), ['q?.txt', 'a/q?.txt'], ['qx.txt', 'q.txt'])
  check(t, ew('x+y.txt'), ['xxy.txt', 'xy.txt'], ['x+y.txt'])
  check(t, Excluder.fromOptions({ exclude: ['/a.txt'], excludeWildcard: [], excludeFrom: [] }), [], ['a.txt', 'x/a.txt'])
  check(t, Excluder.fromOptions({ exclude: ['a.txt'], excludeWildcard: [], excludeFrom: [] }), ['a.txt'], ['x/a.txt'])
  check(t, ew('*', '!/keepdir'), ['other', 'other/keepdir', 'x.txt'], ['keepdir', 'keepdir/k.txt', 'keepdir/sub/z'])
  check(t, ew('dir/*.txt'), ['dir/a.txt'], ['x/dir/a.txt', 'dir/sub/a.txt'])
  check(t, ew('**/deep'), ['deep', 'a/deep', 'a/b/deep/x'], ['deeper'])
  check(t, ew('a/**/b'), ['a/b', 'a/x/b', 'a/x/y/b'], ['a/xb'])
  check(t, ew('\\*.txt'), ['*.txt'], ['a.txt'])
  t.notOk(ew('*').isExcluded(''), 'the root is never excluded')
})

t.test('line handling', async (t) => {
  t.equal(patternFromLine('# comment'), undefined)
  t.equal(patternFromLine('   '), undefined)
  t.equal(patternFromLine('\r\r'), undefined)
  t.equal(patternFromLine('x{1001}'), undefined, 'a pattern Go cannot compile is dropped')
  check(t, ew('  a.txt  \r'), ['a.txt'], [' a.txt'])
  check(t, ew('\\#x'), ['#x'], ['x'])
  check(t, ew('!#x'), [], ['#x'])
  check(t, ew('*.txt', '!keep.txt'), ['a.txt'], ['keep.txt'])
  check(t, ew('!a.txt', 'a.txt'), ['a.txt'], [])
  // go-gitignore's placeholder for the stars it generates turns a typed "#$~" into a regex star.
  check(t, ew('a#$~b'), ['b', 'ab', 'aaab'], ['a#$~b', 'axb'])
  // Non-UTF-8 bytes count as one U+FFFD each, as in Go: three here, where Node's decoder sees one.
  const path = Buffer.from([0x61, 0xf0, 0x9f, 0x98, 0x62])
  t.ok(ew('a[^/][^/][^/]b').isExcluded(path))
  t.notOk(ew('a[^/]b').isExcluded(path))
  t.ok(ew('*.mp3').isExcluded(Buffer.from([0xff, 0x2e, 0x6d, 0x70, 0x33])))
})

t.test('-exclude-from', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsreverse-excl-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'list')
  writeFileSync(file, Buffer.concat([Buffer.from('# photos\r\n*.jpg\r\n\n/top\n'), Buffer.from([0xff, 0x0a]), Buffer.from('last')]))
  const ex = Excluder.fromOptions({ exclude: ['e1'], excludeWildcard: ['w1'], excludeFrom: [file] })
  check(t, ex, ['a/b.jpg', 'top', 'e1', 'x/w1', 'last'], ['x/top', 'x/e1'])
  const opts: ExcludeOptions = { exclude: [], excludeWildcard: [], excludeFrom: [join(dir, 'missing')] }
  try {
    Excluder.fromOptions(opts)
    t.fail('an unreadable -exclude-from file must fail')
  } catch (e) {
    t.ok(e instanceof UserError && e.exitCode === ExitCode.ExcludeError, 'UserError with exit code 29')
  }
  t.ok(ew().empty)
})

t.test('option values are split at commas as gocryptfs 2.3 splits them', async (t) => {
  const warnings: string[] = []
  const split = (value: string): string[] => splitOptionValue('-exclude', value, (m) => warnings.push(m))
  t.same(split('.nobackup,var'), ['.nobackup', 'var'])
  t.match(warnings, [/^warning: -exclude "\.nobackup,var" means "\.nobackup", "var" as in gocryptfs 2\.3, not the one value "\.nobackup,var"/])
  warnings.length = 0
  t.same(split('plain'), ['plain'])
  t.same(split(''), [], 'an empty value is no value')
  t.same(split('"a,b"'), ['a,b'], 'quotes keep a comma')
  t.same(split('"say ""hi""",x'), ['say "hi"', 'x'])
  t.same(split('a, b'), ['a', ' b'], 'spaces are kept')
  t.same(split('a,'), ['a', ''], 'a trailing comma gives an empty name')
  t.equal(warnings.length, 3, 'a warning for each value that splits')
  t.same(split('\r\nvar\r\nkeep'), ['var'], 'the first non-blank line only')
  for (const bad of ['a"b', '"a', '"a"b', '\n']) {
    let err: unknown
    try {
      split(bad)
    } catch (e) {
      err = e
    }
    t.ok(err instanceof UserError && err.exitCode === ExitCode.Usage, `${JSON.stringify(bad)} is a usage error (exit 1), as in gocryptfs`)
  }
  const dir = mkdtempSync(join(tmpdir(), 'tsreverse-excl-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'one'), 'x\n')
  writeFileSync(join(dir, 'two'), 'y\n')
  const ex = Excluder.fromOptions({ exclude: ['a,b'], excludeWildcard: ['*.tmp,*.bak'], excludeFrom: [`${join(dir, 'one')},${join(dir, 'two')}`] })
  check(t, ex, ['a', 'b', 'c.tmp', 'd.bak', 'x', 'y'], ['a,b'])
})

// ---- differential check against gocryptfs 2.3 ----

const TREE = [
  'a.txt',
  'b.txt',
  'ab.txt',
  'A.TXT',
  'song.mp3',
  'dir1/song.mp3',
  'dir1/sub/d.txt',
  'sub/d.txt',
  'dir2/x.txt',
  'dir1/dir2/y.txt',
  'q?.txt',
  'qx.txt',
  'x+y.txt',
  'xxy.txt',
  'keepdir/k.txt',
  'keepdir/sub/z',
  'other/o.txt',
  'deep/z',
  'dir1/deep/w',
  '#hash',
  '!bang',
  'sp ace.txt',
  'dir1/x.txt',
  'dir/a.txt',
  'dir/sub/a.txt',
  'x/dir/a.txt',
  'a#$~b',
  'ab',
]

const CASES: string[][] = [
  ['-ew', '*.mp3'],
  ['-ew', '/dir2'],
  ['-ew', 'dir2/'],
  ['-ew', 'sub/d.txt'],
  ['-ew', 'q?.txt'],
  ['-ew', 'x+y.txt'],
  ['-exclude', '/a.txt'],
  ['-ew', '*', '-ew', '!/keepdir'],
  ['-e', 'dir1/sub', '-ew', '**/deep'],
  ['-ew', 'dir1/**', '-ew', '!dir1/x.txt'],
  ['-ew', '[ab].txt', '-ew', '(?i)A.TXT'],
  ['-ew', 'dir/*.txt'],
  ['-ew', '\\!bang', '-ew', '#hash', '-ew', ' sp ace.txt '],
  ['-ew', 'a#$~b', '-ew', 'x{1001}'],
  // gocryptfs 2.3 splits values at commas, with quotes as in CSV
  ['-e', 'dir1/sub,dir2'],
  ['-ew', '*.mp3,q?.txt', '-exclude', 'ab.txt'],
  ['-e', '"b.txt"', '-ew', '"x+y.txt",xxy.txt'],
  ['-ew', 'song.mp3,'],
  ['-e', 'ab,'],
]

function gocryptfsAvailable(): boolean {
  return spawnSync('gocryptfs', ['-version']).status === 0
}

function findPaths(root: string): string[] {
  const out = execFileSync('find', ['.', '-mindepth', '1'], { cwd: root, encoding: 'utf8' })
  return out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.slice(2))
    .sort()
}

/** Turns gocryptfs flags back into our options (values as given: the Excluder splits them). */
function toOptions(args: string[]): ExcludeOptions {
  const opts: ExcludeOptions = { exclude: [], excludeWildcard: [], excludeFrom: [] }
  for (let i = 0; i < args.length; i += 2) {
    const list = args[i] === '-ew' ? opts.excludeWildcard : args[i] === '-exclude-from' ? opts.excludeFrom : opts.exclude
    list.push(args[i + 1]!)
  }
  return opts
}

t.test('listings equal gocryptfs -reverse with the same patterns', { skip: !gocryptfsAvailable() && 'gocryptfs not installed' }, async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'tsreverse-excl-diff-'))
  const src = join(work, 'src')
  const mnt = join(work, 'mnt')
  mkdirSync(mnt)
  for (const p of TREE) {
    mkdirSync(dirname(join(src, p)), { recursive: true })
    writeFileSync(join(src, p), p)
  }
  t.teardown(() => {
    spawnSync('fusermount', ['-u', '-z', mnt])
    rmSync(work, { recursive: true, force: true })
  })
  const masterKey = Buffer.alloc(32, 7)
  const settings = settingsFromFlags({ plaintextNames: true, aessiv: true })
  for (const args of CASES) {
    const mount = spawnSync('gocryptfs', ['-q', '-reverse', '-aessiv', '-plaintextnames', `-masterkey=${masterKey.toString('hex')}`, ...args, src, mnt], {
      encoding: 'utf8',
      timeout: 20_000,
    })
    if (mount.status !== 0) {
      t.fail(`gocryptfs ${args.join(' ')} did not mount: ${mount.stderr}`)
      continue
    }
    let want: string[]
    try {
      want = findPaths(mnt)
    } finally {
      spawnSync('fusermount', ['-u', mnt])
    }
    const view = await ReverseView.create({ source: src, settings, masterKey, exclude: Excluder.fromOptions(toOptions(args)) })
    t.same(await viewPaths(view), want, args.join(' '))
  }
})
