import t from 'tap'
import { parseArgs, refusedFlag, sivBackend } from '../src/cli/args.js'
import { parseGoDuration } from '../src/cli/idle.js'
import { kernelOptions } from '../src/cli/mount.js'

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
    '/',
    '/home/remotebackup/rootfs',
    '-o',
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

t.test('every flag of gocryptfs 2.3 -hh parses; the ones that cannot apply are refused, never unknown', async (t) => {
  const bools = [
    'acl',
    'aessiv',
    'allow_other',
    'd',
    'debug',
    'deterministic-names',
    'dev',
    'devrandom',
    'exec',
    'f',
    'fg',
    'forcedecode',
    'fsck',
    'fusedebug',
    'hh',
    'hkdf',
    'info',
    'init',
    'kernel_cache',
    'longnames',
    'nodev',
    'noexec',
    'nofail',
    'nonempty',
    'noprealloc',
    'nosuid',
    'nosyslog',
    'passwd',
    'plaintextnames',
    'q',
    'quiet',
    'raw64',
    'reverse',
    'ro',
    'rw',
    'serialize_reads',
    'sharedstorage',
    'speed',
    'suid',
    'version',
    'wpanic',
    'xchacha',
    'zerokey',
  ]
  const valued = [
    'badname',
    'config',
    'cpuprofile',
    'ctlsock',
    'e',
    'ew',
    'exclude',
    'exclude-from',
    'exclude-wildcard',
    'extpass',
    'fido2',
    'force_owner',
    'fsname',
    'i',
    'idle',
    'ko',
    'longnamemax',
    'masterkey',
    'memprofile',
    'notifypid',
    'openssl',
    'passfile',
    'scryptn',
    'trace',
  ]
  for (const f of bools) t.doesNotThrow(() => parseArgs([`-${f}`]), f)
  for (const f of valued) t.doesNotThrow(() => parseArgs([`-${f}`, f === 'notifypid' || f === 'longnamemax' || f === 'scryptn' ? '100' : 'x']), f)
  for (const f of ['-xchacha', '-fido2=/dev/x', '-cpuprofile=p', '-memprofile=p', '-trace=p']) {
    const err = refusedFlag(parseArgs([f]).flags)
    t.equal(err?.exitCode, 1, `${f} refused with exit 1`)
    t.match(err?.message, new RegExp(`^${f.split('=')[0]}: `), `${f}: says which flag`)
  }
  t.equal(refusedFlag(parseArgs(['-init', '-xchacha']).flags)?.exitCode, 24, '-init -xchacha: exit 24, as gocryptfs')
  t.equal(refusedFlag(parseArgs(['-badname', '*']).flags), undefined, '-badname is accepted in reverse mode (no effect)')
  t.match(refusedFlag(parseArgs(['-forward', '-badname', '*']).flags)?.message, /-badname/)
  t.equal(refusedFlag(parseArgs(['-wpanic', '-notifypid=5', '-ko', 'noexec', '-i', '5s']).flags), undefined)
})

t.test('-idle takes Go durations; -ko takes kernel options tsreverse can pass', async (t) => {
  t.equal(parseGoDuration('0'), 0)
  t.equal(parseGoDuration('500s'), 500_000)
  t.equal(parseGoDuration('2h45m'), 9_900_000)
  t.equal(parseGoDuration('1.5h'), 5_400_000)
  t.equal(parseGoDuration('300ms'), 300)
  for (const bad of ['', '5', 'xyz', '1d', 's', '1h-1m']) t.throws(() => parseGoDuration(bad), { name: 'UserError', exitCode: 1 }, JSON.stringify(bad))
  t.same(kernelOptions('noexec,noatime,context=system_u:object_r:tmp_t:s0'), ['noexec', 'noatime', 'context=system_u:object_r:tmp_t:s0'])
  t.equal(kernelOptions(undefined), undefined)
  for (const bad of ['bogus', '', 'noexec,', 'rw', 'dev', 'suid', 'context=a,b']) t.throws(() => kernelOptions(bad), { name: 'UserError', exitCode: 19 }, bad)
})
