// -filter-from rules: parsing and errors, rsync's pattern semantics case by case, the container
// rule, and a differential check of whole trees against rsync itself (rsync -n lists what a
// transfer with the same merge file would copy).
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from '../src/cli/args.js'
import { ExitCode, UserError } from '../src/exitcodes.js'
import { Filter, type Visibility } from '../src/view/filter.js'

const rules = (...lines: string[]) => Filter.parse(lines.join('\n'))

/** Visibility of a path whose ancestors are all shown as `parent`. */
function vis(f: Filter, rel: string, isDir = false, parent: Visibility = 'included'): Visibility | undefined {
  return f.visibility(rel, isDir, parent)
}

/** Checks an exclude pattern: `hit` paths are hidden, `miss` paths shown (`dir:` marks directories). */
function excludes(t: Test, pattern: string, hit: string[], miss: string[]): void {
  const f = rules(`- ${pattern}`)
  const check = (p: string, want: Visibility | undefined) => {
    const isDir = p.startsWith('dir:')
    const rel = isDir ? p.slice(4) : p
    t.equal(vis(f, rel, isDir), want, `- ${pattern} ${want ? 'keeps' : 'hides'} ${p}`)
  }
  for (const p of hit) check(p, undefined)
  for (const p of miss) check(p, 'included')
}

function userError(t: Test, fn: () => unknown, exitCode: number, re: RegExp): void {
  try {
    fn()
    t.ok(false, `expected a UserError matching ${re}`)
  } catch (e) {
    t.ok(e instanceof UserError && e.exitCode === exitCode, `UserError with exit code ${exitCode}: ${(e as Error).message}`)
    t.match((e as Error).message, re)
  }
}

t.test('syntax', async (t) => {
  const f = Filter.parse('# comment\r\n; comment\r\n\r\n   \rexclude a\n- b\ninclude_c\n-_d\n-, e\nexclude, f\n- g \n')
  for (const name of ['a', 'b', 'd', 'e', 'f']) t.equal(vis(f, name), undefined, `${name} excluded`)
  t.equal(vis(f, 'c'), 'included', 'include_c')
  t.equal(vis(f, 'g'), 'included', 'trailing spaces belong to the pattern, as in rsync')
  t.equal(vis(f, 'g '), undefined)
  t.equal(vis(f, '#x'), 'included', 'comments are not rules')
  t.equal(vis(Filter.parse(''), 'anything'), 'included', 'no rules: everything shown')

  const bad: [string, RegExp][] = [
    ['+foo', /modifiers \("foo"\)/],
    ['-! x', /modifiers \("!"\)/],
    ['+s x', /modifiers/],
    ['exclude,s x', /modifiers/],
    [':s .rsync-filter', /modifiers \("s"\) are not supported \(merge rules take -\+en\)/],
    ['dir-merge,C .cvsignore', /modifiers \("C"\)/],
    [':+- x', /both "\+" and "-"/],
    [': sub/.rsync-filter', /plain name/],
    ['dir-merge', /no file name/],
    ['.e', /no file name/],
    ['P x', /"P" is not supported/],
    ['H x', /"H" is not supported/],
    ['hide x', /"hide" is not supported/],
    ['!', /"!" is not supported/],
    ['clear', /"clear" is not supported/],
    ['+ ', /no pattern/],
    ['include', /no pattern/],
    ['  + x', /unknown rule/],
    ['includes x', /unknown rule/],
    ['x', /unknown rule/],
    ['- [abc', /no closing \]/],
    ['- *[[:nope:]]', /unknown character class \[:nope:\]/],
    ['- a*\\', /lone backslash/],
  ]
  for (const [line, re] of bad) {
    userError(t, () => Filter.parse(`+ ok\n\n${line}\n`, 'F'), ExitCode.Usage, new RegExp(`^F line 3: .*${re.source}`))
  }
})

t.test('-filter-from files', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tsreverse-filter-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(path.join(dir, 'one'), '+ keep.tmp\n')
  writeFileSync(path.join(dir, 'two'), '- *.tmp\n')
  writeFileSync(path.join(dir, 'bad'), '- ok\n+nope\n')
  const f = Filter.fromFiles([path.join(dir, 'one'), path.join(dir, 'two')])
  t.equal(vis(f, 'keep.tmp'), 'included', 'the first file comes first')
  t.equal(vis(f, 'other.tmp'), undefined)
  userError(t, () => Filter.fromFiles([path.join(dir, 'missing')]), ExitCode.ExcludeError, /-filter-from: cannot read .*missing/)
  userError(t, () => Filter.fromFiles([path.join(dir, 'bad')]), ExitCode.Usage, /^-filter-from .*bad line 2: /)
  const many = Array.from({ length: 200_000 }, (_, i) => `+ /keep-${i}`)
  writeFileSync(path.join(dir, 'long'), `${many.join('\n')}\n- *\n`)
  const long = Filter.fromFiles([path.join(dir, 'long')])
  t.equal(vis(long, 'keep-199999'), 'included', 'an include list of 200,000 rules')
  t.equal(vis(long, 'other'), undefined)
  const parsed = parseArgs(['-o', 'filter_from=a,filter-from=b', '-filter-from', 'c', 'SRC', 'MNT'])
  t.same(parsed.flags['filter-from'], ['a', 'b', 'c'], 'both spellings, also as mount options; the files add up')
})

t.test('merge and dir-merge rules', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tsreverse-filter-merge-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  mkdirSync(path.join(dir, 'sub'))
  writeFileSync(path.join(dir, 'sub', 'inc'), '+ keep.tmp\n')
  writeFileSync(path.join(dir, 'sub', 'words'), '# a comment\nplain.tmp\n- dash\n')
  writeFileSync(path.join(dir, 'loop'), '. loop\n')
  writeFileSync(path.join(dir, 'main'), '. sub/inc\n.- sub/words\n.e sub/inc\n- *.tmp\n')
  const f = Filter.fromFiles([path.join(dir, 'main')])
  t.equal(vis(f, 'keep.tmp'), 'included', 'merged rules stand where the merge rule is; the name is relative to the file holding it')
  t.equal(vis(f, 'other.tmp'), undefined)
  t.equal(vis(f, 'plain.tmp'), undefined, '"-": every line is an exclude pattern')
  t.equal(vis(f, '- dash'), undefined, '... taken as it stands')
  t.equal(vis(f, 'x/inc'), undefined, '"e" excludes the merge file\'s name')
  t.same(f.dirMerges, [], 'no dir-merge rule')
  userError(t, () => Filter.fromFiles([path.join(dir, 'loop')]), ExitCode.Usage, /nest deeper than 16/)
  userError(t, () => Filter.parse('. missing', 'F', dir), ExitCode.ExcludeError, /^F line 1: merge: cannot read .*missing/)

  const d = Filter.parse('- *.bak\n:n- .excl\ndir-merge,e .rsync-filter\n- *.tmp')
  t.same(
    d.dirMerges.map((m) => [m.name.toString(), m.only, m.noInherit]),
    [
      ['.excl', 'exclude', true],
      ['.rsync-filter', undefined, false],
    ],
  )
  t.equal(vis(d, 'a/.rsync-filter'), undefined, '"e": the dir-merge file is hidden everywhere')
  t.equal(vis(d, 'a/.excl'), 'included', 'without "e" it is shown')
  // The root holds `.rsync-filter` with `+ keep.tmp`, `- /top`; its directory `a` holds `.excl`.
  const root = d.localRules(1, Buffer.alloc(0), Buffer.from('+ keep.tmp\n- /top\nmerge x\n'))
  t.equal(root.errors.length, 1, 'merge rules are not read from per-directory files')
  t.match(root.errors[0], /line 3: merge and dir-merge rules are not read/)
  const atRoot = d.scope(d.base, [undefined, root.rules])
  t.equal(d.visibility('keep.tmp', false, 'included', atRoot), 'included', "a dir-merge file's rules stand where the rule is")
  t.equal(d.visibility('keep.bak', false, 'included', atRoot), undefined, 'after the rules before it')
  t.equal(d.visibility('top', false, 'included', atRoot), undefined, '/ anchors at the directory of the file')
  const a = d.localRules(0, Buffer.from('a'), Buffer.from('sub.txt\n/anch\n'))
  const inA = d.scope(atRoot, [a.rules, undefined])
  t.equal(inA.parts.length, d.scope(atRoot, [undefined, undefined]).parts.length + 1)
  t.equal(d.scope(atRoot, [undefined, undefined]), atRoot, "a directory without files shares its parent's scope")
  t.equal(d.visibility('a/keep.tmp', false, 'included', inA), 'included', "the root's rules are inherited")
  t.equal(d.visibility('a/top', false, 'included', inA), 'included', '... anchored where they were')
  t.equal(d.visibility('a/anch', false, 'included', inA), undefined, '/anch in a/.excl is a/anch')
  t.equal(d.visibility('a/sub.txt', false, 'included', inA), undefined)
  const below = d.scope(inA, [undefined, undefined])
  t.equal(d.visibility('a/b/sub.txt', false, 'included', below), 'included', '"n": a\'s rules are for its own entries only')
  const inB = d.scope(inA, [undefined, d.localRules(1, Buffer.from('a/b'), Buffer.from('- keep.tmp\n')).rules])
  t.equal(d.visibility('a/b/keep.tmp', false, 'included', inB), undefined, "a subdirectory's rules come before inherited ones")
  t.equal(d.visibility('a/b/x.tmp', false, 'included', inB), undefined)
})

t.test('pattern semantics', async (t) => {
  excludes(t, '*.tmp', ['a.tmp', 'x/y/a.tmp', 'dir:d.tmp'], ['a.tmpx', 'tmp', 'a.tmp.x'])
  excludes(t, '/etc', ['etc', 'dir:etc'], ['x/etc', 'etcx'])
  excludes(t, 'etc', ['etc', 'x/y/etc'], ['etc.d', 'xetc'])
  excludes(t, 'etc/passwd', ['etc/passwd', 'x/etc/passwd'], ['xetc/passwd', 'etc/passwd2', 'passwd'])
  excludes(t, '/etc/passwd', ['etc/passwd'], ['x/etc/passwd'])
  excludes(t, 'foo/', ['dir:foo', 'dir:a/foo'], ['foo', 'a/foo'])
  excludes(t, 'a/*/c', ['a/b/c', 'x/a/b/c'], ['a/b/b/c', 'a/c'])
  excludes(t, 'a/**/z', ['a/b/z', 'a/b/c/z', 'x/a/b/z'], ['a/z', 'a/bz'])
  excludes(t, '/a/**', ['a/b', 'a/b/c'], ['a', 'x/a/b'])
  excludes(t, '**/c', ['c', 'a/c', 'a/b/c'], ['ac'])
  excludes(t, '**', ['a', 'a/b'], [])
  excludes(t, '/d/***', ['dir:d', 'd/x', 'd/x/y'], ['d', 'x/d/y', 'dd/x'])
  excludes(t, '?.txt', ['a.txt', 'x/b.txt'], ['ab.txt', '.txt', 'é.txt'])
  excludes(t, '??.txt', ['é.txt'], [])
  excludes(t, 'a?b', ['a.b'], ['a/b', 'ab'])
  excludes(t, '[ab]x', ['ax', 'bx'], ['cx', '/x'])
  excludes(t, '[!ab]x', ['cx', '.x'], ['ax', 'bx'])
  excludes(t, '[^a]x', ['bx'], ['ax'])
  excludes(t, '[a-c]x', ['bx'], ['dx', '-x'])
  excludes(t, '[c-a]x', ['cx'], ['ax', 'bx'])
  excludes(t, '[a-]x', ['ax', '-x'], ['bx'])
  excludes(t, '[]a]x', [']x', 'ax'], ['bx'])
  excludes(t, '[!]]x', ['ax'], [']x'])
  excludes(t, '[\\]]x', [']x'], ['\\x'])
  excludes(t, '[[:upper:]]*', ['README', 'Makefile'], ['readme', 'Élan'])
  excludes(t, '[[:digit:][:space:]]*', ['1a', ' a'], ['a1'])
  excludes(t, '[[:x]y', ['[y', ':y', 'xy'], ['ay'])
  excludes(t, '[!a]', ['b', 'a/b'], ['a', 'ab'])
  excludes(t, 'a[/]b', [], ['a/b'])
  excludes(t, '\\*.txt', ['*.txt'], ['a.txt'])
  excludes(t, '*\\[draft\\].txt', ['notes [draft].txt'], ['notes d.txt'])
  excludes(t, 'a\\b', ['a\\b'], ['ab'])
  excludes(t, 'name with spaces', ['name with spaces', 'x/name with spaces'], ['name'])
  excludes(t, 'a*', ['abc', 'x/abc'], ['xa'])
  excludes(t, 'x/a*', ['x/abc'], ['x/a/b'])
  const latin = Buffer.from([0xff, 0x2e, 0x74])
  t.equal(rules('- *').visibility(latin, false, 'included'), undefined, 'names that are not UTF-8')
  t.equal(rules('- ?.t').visibility(latin, false, 'included'), undefined, '? is one byte')
  t.equal(Filter.parse(Buffer.from([0x2d, 0x20, 0xff, 0x2a])).visibility(latin, false, 'included'), undefined, 'byte patterns')
  t.equal(vis(rules('+ *.txt', '- *'), 'a.txt'), 'included', 'first match wins')
  t.equal(vis(rules('- *', '+ *.txt'), 'a.txt'), undefined, 'first match wins')
})

t.test('containers', async (t) => {
  const planb = rules('+ /etc/***', '+ /var/backups/***', '- *')
  t.equal(vis(planb, 'var', true), 'container', 'the parent of an included path')
  t.equal(vis(planb, 'var', false), undefined, 'a file is never a container')
  t.equal(vis(planb, 'var/backups', true, 'container'), 'included')
  t.equal(vis(planb, 'var/backups/db.gz', false), 'included')
  t.equal(vis(planb, 'var/log', true, 'container'), undefined, 'a sibling of the included path')
  t.equal(vis(planb, 'var/x', false, 'container'), undefined)
  t.equal(vis(planb, 'usr', true), undefined, 'nothing included below')
  t.equal(vis(planb, 'top', false), undefined)

  const plain = rules('+ /etc', '+ /var/backups', '- *')
  t.equal(vis(plain, 'var', true), 'container')
  t.equal(vis(plain, 'var/backups', true, 'container'), 'included')
  t.equal(vis(plain, 'var/backups/x', false), undefined, 'as in rsync, - * hides what is inside')
  t.equal(vis(plain, 'etc/passwd', false), undefined)

  t.equal(vis(rules('+ var/backups/***', '- *'), 'var', true), 'container', 'unanchored: read from the root')
  t.equal(vis(rules('+ var/backups/***', '- *'), 'x/var', true, 'container'), undefined, '... only from the root')
  t.equal(vis(rules('+ *.txt', '- *'), 'docs', true), undefined, 'a pattern without / opens nothing')
  t.equal(vis(rules('+ /var/backups/', '- *'), 'var', true), 'container', 'directory-only include')

  const cache = rules('- .cache/', '+ /home/***', '- *')
  t.equal(vis(cache, 'home/a/.cache', true), undefined, 'an exclude before the include wins')
  t.equal(vis(cache, 'home/a/.cachex', true), 'included')
  t.equal(vis(rules('- *', '+ /var/backups/***'), 'var', true), undefined, 'an include after the deciding exclude opens nothing')
  t.equal(vis(rules('- /var/', '+ /var/backups/***', '- *'), 'var', true), undefined)
  t.equal(vis(rules('+ /var/backups/***', '- /var/'), 'var', true), 'container', 'an include before the exclude does')

  const inherit = rules('+ /var/backups/***', '- /var/')
  t.equal(vis(inherit, 'etc', true), 'included', 'unmatched at the root: included')
  t.equal(vis(inherit, 'var/log', true, 'container'), undefined, 'unmatched inside a container: hidden')
  t.equal(vis(inherit, 'var/x', false, 'container'), undefined)
  t.equal(vis(inherit, 'var/backups', true, 'container'), 'included')

  const star = rules('+ /home/*/.ssh/***', '- *')
  t.equal(vis(star, 'home', true), 'container')
  t.equal(vis(star, 'home/alice', true, 'container'), 'container')
  t.equal(vis(star, 'home/alice/docs', true, 'container'), undefined)
  t.equal(vis(star, 'home/alice/.ssh', true, 'container'), 'included')

  const deep = rules('+ /home/**/*.pdf', '- *')
  t.equal(vis(deep, 'home/a/b/c', true, 'container'), 'container', '** may cross any directory')
  t.equal(vis(deep, 'usr', true), undefined)
  t.equal(vis(rules('+ **/keep', '- *'), 'any/dir', true, 'container'), 'container')
  t.equal(vis(rules('+ /a\\*b/c', '- *'), 'a*b', true), 'container', 'escaped characters are literal')
  t.equal(vis(rules('+ /a\\*b/c', '- *'), 'axb', true), undefined)
})

// ---- differential check against rsync ----

/** A tree with names rsync and the filter must agree on: dots, spaces, brackets, UTF-8. */
function makeTree(root: string): void {
  const files = [
    'etc/passwd',
    'etc/hosts',
    'etc/app.conf.tmp',
    'etc/ssl/private/key.pem',
    'etc/ssl/certs/ca.crt',
    'home/alice/.bashrc',
    'home/alice/.cache/thumb.db',
    'home/alice/notes [draft].txt',
    'home/alice/docs/report 2024.pdf',
    'home/alice/docs/old.tmp',
    'home/bob/.ssh/id_rsa',
    'home/bob/.cache/x',
    'home/bob/music/song.mp3',
    'home/bob/music/héllo.mp3',
    'var/backups/db.sql.gz',
    'var/backups/old/db-1.sql.gz',
    'var/log/syslog',
    'var/log/app/app.log',
    'var/lib/dpkg/status',
    'var/lib/dpkg/status-old',
    'var/spool/cron/crontabs/root',
    'srv/www/index.html',
    'srv/www/cache.tmp/page',
    'usr/local/etc/tool.conf',
    'usr/share/doc/README',
    'top.tmp',
    'README',
    '[brackets]/file',
    'a b/c d.txt',
    'x.y.z/.hidden',
    'Makefile',
    '1st.txt',
  ]
  for (const f of files) {
    mkdirSync(path.join(root, path.dirname(f)), { recursive: true })
    writeFileSync(path.join(root, f), f)
  }
  mkdirSync(path.join(root, 'home/carol'))
  symlinkSync('../bob', path.join(root, 'home/alice/link'))
  symlinkSync('etc', path.join(root, 'etc-link'))
}

/** What the filter shows, as rsync's %n prints it (directories end in /), sorted. */
function shownPaths(root: string, f: Filter): string[] {
  const out: string[] = []
  const walk = (rel: string, parent: Visibility): void => {
    for (const name of readdirSync(path.join(root, rel))) {
      const child = rel === '' ? name : `${rel}/${name}`
      const isDir = lstatSync(path.join(root, child)).isDirectory()
      const shown = f.visibility(child, isDir, parent)
      if (shown === undefined) continue
      out.push(isDir ? child + '/' : child)
      if (isDir) walk(child, shown)
    }
  }
  walk('', 'included')
  return out.sort()
}

function rsyncPaths(root: string, rulesFile: string, dest: string): string[] {
  const r = spawnSync('rsync', ['-r', '-l', '-n', '-8', '--out-format=%n', `--filter=merge ${rulesFile}`, root + '/', dest + '/'], {
    encoding: 'utf8',
    env: { ...process.env, LC_ALL: 'C.UTF-8' },
  })
  if (r.status !== 0) throw new Error(`rsync failed: ${r.stderr}`)
  return r.stdout
    .split('\n')
    .filter((l) => l !== '' && l !== './')
    .sort()
}

interface Case {
  name: string
  rules: string[]
  /** Rules for rsync when ours differ by design (containers): the parents spelled out. */
  rsync?: string[]
}

const CASES: Case[] = [
  { name: 'exclude by suffix', rules: ['- *.tmp'] },
  { name: 'PlanB list with parents, anchored', rules: ['+ /etc/***', '+ /home/***', '+ /var/', '+ /var/backups/***', '- *'] },
  {
    name: 'PlanB list as PlanB generates it (unanchored)',
    rules: ['+ etc/***', '+ home/***', '+ var/', '+ var/backups/***', '+ var/lib/', '+ var/lib/dpkg/', '+ var/lib/dpkg/status*', '- *'],
  },
  { name: 'dir-only exclude before an include', rules: ['- .cache/', '+ /home/***', '- *'] },
  { name: 'anchored', rules: ['- /etc', '- /README'] },
  { name: 'unanchored', rules: ['- etc', '- README'] },
  { name: 'dir-only', rules: ['- docs/', '- README/', '- cache.tmp/'] },
  { name: 'inner slash matches the tail', rules: ['- ssl/private', '- music/*.mp3', '- local/etc/'] },
  { name: '**', rules: ['- home/**/*.tmp', '- /var/**/*.gz', '- **/crontabs', '- /srv/**'] },
  { name: '***', rules: ['+ /var/', '+ /var/backups/***', '- /var/*', '- /home/alice/***'] },
  { name: 'wildcards and classes', rules: ['- *.[tT][mM][pP]', '- [[]brackets]', '- ?.y.z', '- [!a-z]*', '- *[[:digit:]]*'] },
  { name: 'escapes and spaces', rules: ['- *\\[draft\\].txt', '- a b/c d.txt', '- h?llo.mp3'] },
  { name: 'bytes, not characters', rules: ['- h??llo.mp3'] },
  { name: 'every directory, some files', rules: ['+ */', '+ *.txt', '+ *.pdf', '- *'] },
  { name: 'long forms, comments, separators', rules: ['# keep configs', 'include /etc/***', '; and nothing else', 'exclude_*'] },
  { name: 'first match wins', rules: ['+ old.tmp', '- *.tmp', '+ *.tmp'] },
  { name: 'symlinks are files', rules: ['- link/', '- etc-link/', '- etc-link*'] },
  {
    name: 'containers: PlanB list without parents',
    rules: ['+ /etc/***', '+ /var/backups/***', '+ /var/lib/dpkg/status*', '- *'],
    rsync: ['+ /var/', '+ /var/lib/', '+ /var/lib/dpkg/', '+ /etc/***', '+ /var/backups/***', '+ /var/lib/dpkg/status*', '- *'],
  },
  {
    name: 'containers: unanchored include read from the root',
    rules: ['+ var/backups/***', '- *'],
    rsync: ['+ /var/', '+ var/backups/***', '- *'],
  },
  {
    name: 'containers: wildcard parents',
    rules: ['+ /home/*/.ssh/***', '- *'],
    rsync: ['+ /home/', '+ /home/*/', '+ /home/*/.ssh/***', '- *'],
  },
  {
    name: 'containers: an exclude before the include wins',
    rules: ['- /var/backups/old/', '+ /var/backups/***', '- *'],
    rsync: ['+ /var/', '- /var/backups/old/', '+ /var/backups/***', '- *'],
  },
  {
    name: 'containers: ** keeps every directory it may cross',
    rules: ['+ /home/**/*.pdf', '- *'],
    rsync: ['+ /home/', '+ /home/**/', '+ /home/**/*.pdf', '- *'],
  },
  {
    name: 'containers: unmatched entries inside stay hidden',
    rules: ['+ /var/backups/***', '- /var/'],
    rsync: ['+ /var/', '+ /var/backups/***', '- /var/*'],
  },
]

t.test('same paths as rsync', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tsreverse-filter-rsync-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const tree = path.join(dir, 'tree')
  const dest = path.join(dir, 'dest')
  mkdirSync(tree)
  mkdirSync(dest)
  makeTree(tree)
  const file = path.join(dir, 'rules')
  for (const c of CASES) {
    writeFileSync(file, (c.rsync ?? c.rules).join('\n') + '\n')
    const expected = rsyncPaths(tree, file, dest)
    const ours = shownPaths(tree, Filter.parse(c.rules.join('\n')))
    t.same(ours, expected, c.name)
    if (c.rsync) {
      writeFileSync(file, c.rules.join('\n') + '\n')
      t.notSame(rsyncPaths(tree, file, dest), ours, `${c.name}: rsync itself would show less`)
    }
    t.ok(ours.length > 0 && ours.length < shownPaths(tree, Filter.parse('')).length, `${c.name}: shows some, hides some`)
  }
})
