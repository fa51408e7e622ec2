// -filter-from on a real mount: a PlanB-style include list without parent directories. The view,
// decrypted with -restore, must equal what rsync copies from the plaintext with the parents
// spelled out (the container rule); hidden entries are unreachable by their exact encrypted
// names, .name files of hashed names included; bad rule files stop the mount.
import t from 'tap'
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { ExitCode } from '../src/exitcodes.js'
import { runCli } from './lib/cli.js'
import { lstatCode } from './lib/mounts.js'
import { diffTrees, initSource, mountDir, mountOurs, run, scratchDir, viewPath } from './lib/reverse-mounts.js'

const dir = scratchDir(t)
const { src, passfile, masterKey } = initSource(t, dir, { empty: true })
const LONG = 'L'.repeat(200) // hashed in the view (gocryptfs.longname.*)

for (const f of [
  'etc/passwd',
  'etc/ssl/key.pem',
  'etc/old.tmp',
  'var/backups/db.gz',
  `var/backups/${LONG}.tar`,
  'var/backups/name with [brackets].txt',
  'var/log/syslog',
  `var/${LONG}`,
  'home/alice/.bashrc',
  'top.txt',
]) {
  mkdirSync(path.join(src, path.dirname(f)), { recursive: true })
  writeFileSync(path.join(src, f), `content of ${f}\n`)
}

const RULES = ['# PlanB-style: the parents of /var/backups are not spelled out', '- *.tmp', '+ /etc/***', '+ /var/backups/***', '- *']
const rulesFile = path.join(dir, 'rules')
writeFileSync(rulesFile, RULES.join('\n') + '\n')

const mnt = mountOurs(t, ['-filter-from', rulesFile, '-passfile', passfile, src, mountDir(dir, 'mnt')]).mnt
const enc = (...plain: string[]): string => path.join(mnt, ...viewPath(masterKey, plain))

t.test('the view holds what rsync copies with the parents spelled out', async (t) => {
  const restored = path.join(dir, 'restored')
  const r = runCli(['-q', '-restore', '-passfile', passfile, mnt, restored])
  t.equal(r.code, 0, `restore: ${r.stderr}`)
  const oracle = path.join(dir, 'oracle-rules')
  writeFileSync(oracle, ['+ /var/', ...RULES].join('\n') + '\n')
  const copy = path.join(dir, 'copy')
  const rs = run('rsync', ['-rl', `--filter=merge ${oracle}`, src + '/', copy + '/'])
  t.equal(rs.status, 0, `rsync: ${rs.stderr}`)
  t.equal(diffTrees(copy, restored), '')
  t.same(readdirSync(path.join(restored, 'var')), ['backups'], 'var is a container')
})

t.test('listings', async (t) => {
  const names = (...plain: string[]) => viewPath(masterKey, plain).pop()!
  t.same(readdirSync(mnt).sort(), [names('etc'), names('var'), 'gocryptfs.diriv'].sort(), 'the root (the config too is filtered)')
  t.same(readdirSync(enc('var')).sort(), [names('var', 'backups'), 'gocryptfs.diriv'].sort(), 'the container')
  const hashed = names('var', 'backups', `${LONG}.tar`)
  t.match(hashed, /^gocryptfs\.longname\./)
  t.ok(readdirSync(enc('var', 'backups')).includes(hashed + '.name'), 'a shown hashed name has its .name file')
})

t.test('hidden entries are unreachable by exact name (EPERM)', async (t) => {
  t.equal(lstatCode(enc('top.txt')), 'EPERM', 'a file at the root')
  t.equal(lstatCode(enc('etc', 'old.tmp')), 'EPERM', 'an excluded file in an included directory')
  t.equal(lstatCode(enc('var', 'log')), 'EPERM', 'a directory in a container')
  t.equal(lstatCode(enc('home')), 'EPERM', 'a directory at the root')
  const hashed = enc('var', LONG)
  t.match(path.basename(hashed), /^gocryptfs\.longname\./)
  t.equal(lstatCode(hashed), 'EPERM', 'a hashed name in a container')
  t.equal(lstatCode(hashed + '.name'), 'EPERM', 'its .name file')
  t.equal(lstatCode(path.join(mnt, 'gocryptfs.conf')), 'ok', 'the config stays reachable, as with -exclude')
  t.equal(lstatCode(enc('etc', 'ssl', 'key.pem')), 'ok')
  t.equal(lstatCode(enc('missing')), 'ENOENT')
})

t.test('-o filter_from= works like the flag', async (t) => {
  const other = mountOurs(t, ['-o', `filter_from=${rulesFile},passfile=${passfile}`, src, mountDir(scratchDir(t), 'mnt')]).mnt
  t.equal(diffTrees(mnt, other), '')
})

t.test('bad rule files stop the mount', async (t) => {
  const work = scratchDir(t)
  const bad = path.join(work, 'bad')
  writeFileSync(bad, '+ /etc/***\nhide other\n')
  const syntax = runCli(['-filter-from', bad, '-passfile', passfile, src, mountDir(work, 'a')])
  t.equal(syntax.code, ExitCode.Usage)
  t.match(syntax.stderr, /bad line 2: .*"hide" is not supported/)
  const missing = runCli(['-filter-from', path.join(work, 'missing'), '-passfile', passfile, src, mountDir(work, 'b')])
  t.equal(missing.code, ExitCode.ExcludeError)
  t.match(missing.stderr, /-filter-from: cannot read/)
  const marker = runCli(['-exclude-if-present', 'a/b', '-passfile', passfile, src, mountDir(work, 'c')])
  t.equal(marker.code, ExitCode.Usage)
  t.match(marker.stderr, /-exclude-if-present "a\/b": expected a file name without "\/"/)
})

t.test('per-directory rules on a mount: tags, markers, dir-merge files, changes within 3 s', async (t) => {
  const work = scratchDir(t)
  const s = initSource(t, work, { empty: true })
  const files: Record<string, string> = {
    'cache/CACHEDIR.TAG': 'Signature: 8a477f597d28d172789f06886806bc55\n',
    'cache/data': '',
    'nb/.nobackup': '',
    'nb/x': '',
    [`keep/${LONG}`]: '',
    'keep/a.tmp': '',
    'keep/b.txt': '',
    'keep/.rsync-filter': '- a.tmp\n- L*\n',
    'live/x': '',
  }
  for (const [f, content] of Object.entries(files)) {
    mkdirSync(path.join(s.src, path.dirname(f)), { recursive: true })
    writeFileSync(path.join(s.src, f), content, { mode: 0o644 })
  }
  const rules = path.join(work, 'rules')
  writeFileSync(rules, ':e .rsync-filter\n')
  const opts = `exclude_caches,exclude_if_present=.nobackup,filter_from=${rules},passfile=${s.passfile}`
  const m = mountOurs(t, ['-o', opts, s.src, mountDir(work, 'mnt')]).mnt
  const at = (...plain: string[]): string => path.join(m, ...viewPath(s.masterKey, plain))
  const name = (...plain: string[]): string => viewPath(s.masterKey, plain).pop()!
  t.same(readdirSync(m).sort(), [name('keep'), name('live'), 'gocryptfs.conf', 'gocryptfs.diriv'].sort())
  t.same(readdirSync(at('keep')).sort(), [name('keep', 'b.txt'), 'gocryptfs.diriv'].sort(), "the directory's own rules apply")
  for (const p of [['cache'], ['cache', 'data'], ['nb'], ['nb', 'x'], ['keep', 'a.tmp'], ['keep', '.rsync-filter']]) {
    t.equal(lstatCode(at(...p)), 'EPERM', `${p.join('/')} is unreachable by its exact name`)
  }
  const hashed = at('keep', LONG)
  t.match(path.basename(hashed), /^gocryptfs\.longname\./)
  t.equal(lstatCode(hashed), 'EPERM', 'a hashed name')
  t.equal(lstatCode(hashed + '.name'), 'EPERM', 'its .name file')

  // Decrypted, the view is what rsync copies with the same dir-merge rule (and the tagged and
  // marked directories left out by hand: rsync has no such options).
  const restored = path.join(work, 'restored')
  const r = runCli(['-q', '-restore', '-passfile', s.passfile, m, restored])
  t.equal(r.code, 0, `restore: ${r.stderr}`)
  const copy = path.join(work, 'copy')
  const rs = run('rsync', ['-rl', '--filter=:e .rsync-filter', '--filter=- /cache/', '--filter=- /nb/', s.src + '/', copy + '/'])
  t.equal(rs.status, 0, `rsync: ${rs.stderr}`)
  t.equal(diffTrees(copy, restored, ['-x', '.gocryptfs.reverse.conf', '-x', 'gocryptfs.conf']), '')

  /** Milliseconds until `done` holds (polled), at most 5 s. */
  const until = async (done: () => boolean): Promise<number> => {
    const start = Date.now()
    while (!done() && Date.now() - start < 5000) await new Promise((r) => setTimeout(r, 50))
    return Date.now() - start
  }
  t.equal(lstatCode(at('live', 'x')), 'ok')
  writeFileSync(path.join(s.src, 'live', '.nobackup'), '')
  const hid = await until(() => lstatCode(at('live', 'x')) === 'EPERM')
  t.ok(hid <= 3000, `a new marker hides within 3 s (${hid} ms)`)
  t.notOk(readdirSync(m).includes(name('live')), 'and unlists its directory')
  rmSync(path.join(s.src, 'live', '.nobackup'))
  const shown = await until(() => lstatCode(at('live', 'x')) === 'ok')
  t.ok(shown <= 3000, `a removed marker shows it again within 3 s (${shown} ms)`)
  writeFileSync(path.join(s.src, 'keep', '.rsync-filter'), '- b.txt\n', { mode: 0o644 })
  const edited = await until(() => lstatCode(at('keep', 'a.tmp')) === 'ok' && lstatCode(at('keep', 'b.txt')) === 'EPERM')
  t.ok(edited <= 3000, `an edited dir-merge file applies within 3 s (${edited} ms)`)
})
