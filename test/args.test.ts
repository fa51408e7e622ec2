import t from 'tap'
import { parseArgs, sivBackend } from '../src/cli/args.js'

t.test('one or two dashes, = or separate value, mixed positionals', async (t) => {
  const { flags, positional } = parseArgs(['/src', '--config=/c', '-passfile', '/p', '-fg', '/mnt', '-q'])
  t.same(positional, ['/src', '/mnt'])
  t.equal(flags.config, '/c')
  t.same(flags.passfile, ['/p'])
  t.equal(flags.fg, true)
  t.equal(flags.quiet, true)
})

t.test('aliases and bool values', async (t) => {
  const { flags } = parseArgs(['-e', 'a', '-exclude', 'b', '-ew', '*.tmp', '-f', '-raw64=false', '-hkdf=1'])
  t.same(flags.exclude, ['a', 'b'])
  t.same(flags['exclude-wildcard'], ['*.tmp'])
  t.equal(flags.fg, true)
  t.equal(flags.raw64, false)
  t.equal(flags.hkdf, true)
})

t.test('values are kept whole here (exclusions split theirs, src/view/exclude.ts)', async (t) => {
  t.same(parseArgs(['-exclude', 'a,b']).flags.exclude, ['a,b'])
})

t.test('-o list as passed by mount.fuse', async (t) => {
  const { flags, positional } = parseArgs([
    '/', '/home/remotebackup/rootfs', '-o',
    'rw,reverse,config=/.nobackup/r.conf,passfile=/.nobackup/r.pass,exclude=.nobackup,exclude=home/remotebackup/rootfs,force_owner=1000:1000,fsname=tsreverse-/,noatime,nofail,_netdev,x-systemd.automount,dev,suid',
  ])
  t.same(positional, ['/', '/home/remotebackup/rootfs'])
  t.equal(flags.reverse, true)
  t.equal(flags.rw, true)
  t.equal(flags.config, '/.nobackup/r.conf')
  t.same(flags.passfile, ['/.nobackup/r.pass'])
  t.same(flags.exclude, ['.nobackup', 'home/remotebackup/rootfs'])
  t.equal(flags.force_owner, '1000:1000')
  t.equal(flags.fsname, 'tsreverse-/')
  t.equal(flags.dev, true)
  t.equal(flags.suid, true)
})

t.test('per-directory exclusions, also as fstab mount options', async (t) => {
  const { flags } = parseArgs(['-o', 'exclude_caches,exclude_if_present=.nobackup,exclude-if-present=.no,reverse', 'S', 'M'])
  t.equal(flags['exclude-caches'], true)
  t.same(flags['exclude-if-present'], ['.nobackup', '.no'])
  t.equal(parseArgs(['-exclude-caches=false']).flags['exclude-caches'], false)
  t.same(parseArgs(['-exclude-if-present', 'a,b']).flags['exclude-if-present'], ['a,b'], 'a name is never split')
})

t.test('only the last -o counts; -- disables -o and flags', async (t) => {
  t.same(parseArgs(['-o', 'fg', 'a', 'b', '-o=allow_other']).flags, { allow_other: true })
  const r = parseArgs(['-fg', '--', '-o', '-weird-dir'])
  t.same(r.flags, { fg: true })
  t.same(r.positional, ['-o', '-weird-dir'])
})

t.test('errors are usage errors (exit 1)', async (t) => {
  for (const argv of [['-nosuchflag'], ['-o', 'nosuchoption'], ['-config'], ['-scryptn', 'x'], ['-fg=maybe'], ['-o', 'o'], ['-o']]) {
    t.throws(() => parseArgs(argv), { name: 'UserError', exitCode: 1 }, argv.join(' '))
  }
})

t.test('-openssl as gocryptfs spells it: auto or a boolean; false picks the pure-TypeScript backend', async (t) => {
  const backend = (...argv: string[]): string => sivBackend(parseArgs(argv).flags)
  t.equal(backend(), 'fast')
  t.equal(backend('-openssl=auto'), 'fast')
  t.equal(backend('-openssl', 'true'), 'fast')
  t.equal(backend('-o', 'openssl=false'), 'noble')
  t.equal(backend('-openssl=0'), 'noble')
  t.throws(() => backend('-openssl=maybe'), { name: 'UserError', exitCode: 1 })
})
