// -filter-from on a real mount: a PlanB-style include list without parent directories. The view,
// decrypted with -restore, must equal what rsync copies from the plaintext with the parents
// spelled out (the container rule); hidden entries are unreachable by their exact encrypted
// names, .name files of hashed names included; bad rule files stop the mount.
import t from 'tap'
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { ExitCode } from '../src/exitcodes.js'
import { runCli } from './lib/cli.js'
import { lstatCode } from './lib/mounts.js'
import { diffTrees, initSource, mountDir, mountOurs, run, scratchDir, viewPath } from './lib/reverse-mounts.js'

const dir = scratchDir(t)
const { src, passfile, masterKey } = initSource(t, dir, { empty: true })
const LONG = 'L'.repeat(200) // hashed in the view (gocryptfs.longname.*)

for (const f of [
  'etc/passwd', 'etc/ssl/key.pem', 'etc/old.tmp', 'var/backups/db.gz', `var/backups/${LONG}.tar`,
  'var/backups/name with [brackets].txt', 'var/log/syslog', `var/${LONG}`, 'home/alice/.bashrc', 'top.txt',
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
  writeFileSync(bad, '+ /etc/***\nmerge other\n')
  const syntax = runCli(['-filter-from', bad, '-passfile', passfile, src, mountDir(work, 'a')])
  t.equal(syntax.code, ExitCode.Usage)
  t.match(syntax.stderr, /bad line 2: .*"merge" is not supported/)
  const missing = runCli(['-filter-from', path.join(work, 'missing'), '-passfile', passfile, src, mountDir(work, 'b')])
  t.equal(missing.code, ExitCode.ExcludeError)
  t.match(missing.stderr, /-filter-from: cannot read/)
})
