// Malformed invocations and configs, one table row each: the exit code is gocryptfs's (checked
// against real gocryptfs 2.3 where it behaves the same), stderr holds one line saying what is
// wrong (after known warnings), no stack trace, nothing is mounted, no process is left behind,
// and nothing in the work directory (source, configs, mount points) is created, changed or
// removed.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { ExitCode } from '../src/exitcodes.js'
import { formatMasterKey } from '../src/format/masterkey.js'
import { parseMountinfo } from '../src/fuse/mountinfo.js'
import { BIN, runCli } from './lib/cli.js'
import { processGone } from './lib/mounts.js'
import { initSource, listTree, mountDir, mountOurs, scratchDir } from './lib/reverse-mounts.js'
import { untar } from './lib/restore-fixtures.js'
import { VECTORS } from './lib/vectors.js'

const W = scratchDir(t, 'tsreverse-table-')
const { src: S, passfile: P, masterKey } = initSource(t, W)
const KEY = formatMasterKey(masterKey)
const M = mountDir(W, 'mnt')
const at = (name: string): string => path.join(W, name)

// ---- fixtures ----
const good = JSON.parse(readFileSync(path.join(S, '.gocryptfs.reverse.conf'), 'utf8')) as Record<string, any>
const CONFS = path.join(W, 'confs')
mkdirSync(CONFS)
/** A config variant in confs/, from literal text or as a change to the good config. */
function conf(name: string, body: string | ((c: Record<string, any>) => void)): string {
  const p = path.join(CONFS, `${name}.conf`)
  let text: string
  if (typeof body === 'string') text = body
  else {
    const c = structuredClone(good)
    body(c)
    text = JSON.stringify(c, null, '\t') + '\n'
  }
  writeFileSync(p, text, { mode: 0o600 })
  return p
}
const goodText = readFileSync(path.join(S, '.gocryptfs.reverse.conf'), 'utf8')
mkdirSync(path.join(CONFS, 'dir.conf'))
const NOCONF = mountDir(W, 'noconf')
writeFileSync(path.join(NOCONF, 'file'), 'plain\n')
const AFILE = at('afile')
writeFileSync(AFILE, 'not a directory\n')
const FULL = mountDir(W, 'full')
writeFileSync(path.join(FULL, 'x'), 'x\n')
const secretFile = (name: string, text: string): string => {
  writeFileSync(at(name), text, { mode: 0o600 })
  return at(name)
}
const WRONG = secretFile('pass-wrong', 'not the password\n')
const EMPTY = secretFile('pass-empty', '')
const VIEW = at('view')
untar(path.join(VECTORS, 'B', 'view.tar'), VIEW)
const BUSY = mountOurs(t, ['-passfile', P, S, mountDir(W, 'busy')])

interface Row {
  what: string
  args: string[]
  code: number
  /** The error line (after "tsreverse: "). */
  message: RegExp
  /** Warning lines before it. */
  warnings?: number
  input?: string
  /** Compared with gocryptfs 2.3 given the same arguments (plus -reverse for 'reverse'). */
  go?: 'reverse' | 'forward'
}

const mountWith = (config: string, ...extra: string[]): string[] => ['-config', config, ...extra, '-passfile', P, S, M]
const MASTERKEY_WARNING = 1

const ROWS: Row[] = [
  // configs that cannot be read
  { what: 'config missing in its default place', args: ['-passfile', P, NOCONF, M], code: ExitCode.Other, message: /config file .* not found/, go: 'reverse' },
  { what: '-config names a missing file', args: mountWith(path.join(CONFS, 'missing.conf')), code: ExitCode.Other, message: /not found/, go: 'reverse' },
  { what: 'config is empty', args: mountWith(conf('empty', '')), code: ExitCode.Other, message: /is empty/, go: 'reverse' },
  {
    what: 'config is truncated JSON',
    args: mountWith(conf('truncated', goodText.slice(0, 100))),
    code: ExitCode.Other,
    message: /not a valid gocryptfs config/,
    go: 'reverse',
  },
  { what: 'config is not JSON', args: mountWith(conf('not-json', 'hello\n')), code: ExitCode.Other, message: /not a valid gocryptfs config/, go: 'reverse' },
  { what: 'config is a JSON array', args: mountWith(conf('array', '[]\n')), code: ExitCode.Other, message: /must be an object/, go: 'reverse' },
  { what: 'config is a directory', args: mountWith(path.join(CONFS, 'dir.conf')), code: ExitCode.Other, message: /EISDIR/, go: 'reverse' },
  {
    what: 'ScryptObject.N is a string',
    args: mountWith(conf('n-string', (c) => (c.ScryptObject.N = '1024'))),
    code: ExitCode.Other,
    message: /N must be an integer/,
    go: 'reverse',
  },
  {
    what: 'FeatureFlags is a string',
    args: mountWith(conf('flags-string', (c) => (c.FeatureFlags = 'AESSIV'))),
    code: ExitCode.Other,
    message: /FeatureFlags must be an array/,
    go: 'reverse',
  },
  {
    what: 'EncryptedKey is a number',
    args: mountWith(conf('key-number', (c) => (c.EncryptedKey = 5))),
    code: ExitCode.Other,
    message: /EncryptedKey must be a string/,
    go: 'reverse',
  },
  {
    what: 'EncryptedKey is not base64',
    args: mountWith(conf('key-b64', (c) => (c.EncryptedKey = 'not base64!!'))),
    code: ExitCode.Other,
    message: /base64/,
    go: 'reverse',
  },
  // configs that fail validation
  { what: 'config is JSON null', args: mountWith(conf('null', 'null\n')), code: ExitCode.DeprecatedFS, message: /version 0/, go: 'reverse' },
  {
    what: 'unknown feature flag',
    args: mountWith(conf('unknown-flag', (c) => c.FeatureFlags.push('Bogus'))),
    code: ExitCode.DeprecatedFS,
    message: /unknown feature flag "Bogus"/,
    go: 'reverse',
  },
  { what: 'Version 1', args: mountWith(conf('version-1', (c) => (c.Version = 1))), code: ExitCode.DeprecatedFS, message: /version 1/, go: 'reverse' },
  { what: 'Version 3', args: mountWith(conf('version-3', (c) => (c.Version = 3))), code: ExitCode.DeprecatedFS, message: /version 3/, go: 'reverse' },
  { what: 'Version missing', args: mountWith(conf('version-none', (c) => delete c.Version)), code: ExitCode.DeprecatedFS, message: /version 0/, go: 'reverse' },
  {
    what: 'weak scrypt N=512',
    args: mountWith(conf('scrypt-512', (c) => (c.ScryptObject.N = 512))),
    code: ExitCode.DeprecatedFS,
    message: /N=512/,
    go: 'reverse',
  },
  {
    what: 'scrypt N=1000',
    args: mountWith(conf('scrypt-1000', (c) => (c.ScryptObject.N = 1000))),
    code: ExitCode.DeprecatedFS,
    message: /N=1000/,
    go: 'reverse',
  },
  { what: 'scrypt R=4', args: mountWith(conf('scrypt-r4', (c) => (c.ScryptObject.R = 4))), code: ExitCode.DeprecatedFS, message: /R=4/, go: 'reverse' },
  {
    what: 'scrypt salt of 3 bytes',
    args: mountWith(conf('salt-3', (c) => (c.ScryptObject.Salt = 'AAAA'))),
    code: ExitCode.DeprecatedFS,
    message: /salt/,
    go: 'reverse',
  },
  {
    what: 'scrypt KeyLen 16',
    args: mountWith(conf('keylen-16', (c) => (c.ScryptObject.KeyLen = 16))),
    code: ExitCode.DeprecatedFS,
    message: /KeyLen=16/,
    go: 'reverse',
  },
  {
    what: 'ScryptObject missing',
    args: mountWith(conf('scrypt-none', (c) => delete c.ScryptObject)),
    code: ExitCode.DeprecatedFS,
    message: /N=0/,
    go: 'reverse',
  },
  {
    what: 'PlaintextNames with EMENames',
    args: mountWith(conf('ptn-eme', (c) => c.FeatureFlags.push('PlaintextNames'))),
    code: ExitCode.DeprecatedFS,
    message: /PlaintextNames conflicts/,
    go: 'reverse',
  },
  {
    what: 'LongNameMax flag without a value',
    args: mountWith(conf('lnm-flag', (c) => c.FeatureFlags.push('LongNameMax'))),
    code: ExitCode.DeprecatedFS,
    message: /LongNameMax/,
    go: 'reverse',
  },
  {
    what: 'FeatureFlags missing',
    args: mountWith(conf('flags-none', (c) => delete c.FeatureFlags)),
    code: ExitCode.DeprecatedFS,
    message: /GCMIV128/,
    go: 'reverse',
  },
  // gocryptfs 2.3 mounts this and then hashes names above 10 characters it cannot encrypt.
  {
    what: 'LongNameMax 10',
    args: mountWith(
      conf('lnm-10', (c) => {
        c.FeatureFlags.push('LongNameMax')
        c.LongNameMax = 10
      }),
    ),
    code: ExitCode.DeprecatedFS,
    message: /LongNameMax=10/,
  },
  // configs that load but do not unlock or do not fit
  {
    what: 'EncryptedKey truncated',
    args: mountWith(conf('key-short', (c) => (c.EncryptedKey = c.EncryptedKey.slice(0, 40)))),
    code: ExitCode.PasswordIncorrect,
    message: /Password incorrect/,
    go: 'reverse',
  },
  // gocryptfs 2.3 panics here (exit 2).
  {
    what: 'EncryptedKey missing',
    args: mountWith(conf('key-none', (c) => delete c.EncryptedKey)),
    code: ExitCode.PasswordIncorrect,
    message: /Password incorrect/,
  },
  {
    what: 'config without AESSIV',
    args: mountWith(conf('gcm', (c) => (c.FeatureFlags = c.FeatureFlags.filter((f: string) => f !== 'AESSIV')))),
    code: ExitCode.Usage,
    message: /AES-SIV is required/,
    go: 'reverse',
  },
  // passwords
  { what: 'wrong password', args: ['-passfile', WRONG, S, M], code: ExitCode.PasswordIncorrect, message: /Password incorrect/, go: 'reverse' },
  { what: 'empty passfile', args: ['-passfile', EMPTY, S, M], code: ExitCode.ReadPassword, message: /passfile.*empty/, go: 'reverse' },
  { what: 'missing passfile', args: ['-passfile', at('pass-missing'), S, M], code: ExitCode.ReadPassword, message: /passfile.*ENOENT/, go: 'reverse' },
  { what: 'passfile is a directory', args: ['-passfile', NOCONF, S, M], code: ExitCode.ReadPassword, message: /passfile.*EISDIR/, go: 'reverse' },
  { what: '-extpass fails', args: ['-extpass', 'false', S, M], code: ExitCode.ReadPassword, message: /extpass.*status 1/, go: 'reverse' },
  { what: '-extpass prints nothing', args: ['-extpass', 'true', S, M], code: ExitCode.ReadPassword, message: /extpass.*empty/, go: 'reverse' },
  {
    what: '-extpass program missing',
    args: ['-extpass', at('no-such-program'), S, M],
    code: ExitCode.ReadPassword,
    message: /extpass.*could not start/,
    go: 'reverse',
  },
  { what: 'no password on stdin', args: [S, M], code: ExitCode.ReadPassword, message: /empty|password/i, go: 'reverse' },
  // master keys
  {
    what: '-masterkey with a non-hex digit',
    args: ['-masterkey', KEY.replace(/[0-9a-f]/, 'g'), S, M],
    code: ExitCode.MasterKey,
    message: /not a hex digit/,
    warnings: MASTERKEY_WARNING,
    go: 'reverse',
  },
  {
    what: '-masterkey of 27 bytes',
    args: ['-masterkey', KEY.slice(0, 60), S, M],
    code: ExitCode.MasterKey,
    message: /27 bytes/,
    warnings: MASTERKEY_WARNING,
    go: 'reverse',
  },
  {
    what: '-masterkey with an odd number of digits',
    args: ['-masterkey', KEY + 'f', S, M],
    code: ExitCode.MasterKey,
    message: /odd number/,
    warnings: MASTERKEY_WARNING,
    go: 'reverse',
  },
  {
    what: '-masterkey of 33 bytes',
    args: ['-masterkey', KEY + 'ff', S, M],
    code: ExitCode.MasterKey,
    message: /33 bytes/,
    warnings: MASTERKEY_WARNING,
    go: 'reverse',
  },
  { what: '-masterkey=stdin, empty stdin', args: ['-masterkey=stdin', S, M], code: ExitCode.ReadPassword, message: /empty/, go: 'reverse' },
  {
    what: '-masterkey=stdin, garbage on stdin',
    args: ['-masterkey=stdin', S, M],
    input: 'xyz\n',
    code: ExitCode.MasterKey,
    message: /master key/,
    go: 'reverse',
  },
  // source and mount point
  { what: 'SRC missing', args: ['-passfile', P, at('no-src'), M], code: ExitCode.CipherDir, message: /source directory/, go: 'reverse' },
  {
    what: 'SRC missing, its name with a newline and an escape sequence',
    args: ['-passfile', P, at('no\nsrc\x1b[31m'), M],
    code: ExitCode.CipherDir,
    message: /no\\x0asrc\\x1b\[31m/,
    go: 'reverse',
  },
  { what: 'SRC is a file', args: ['-passfile', P, AFILE, M], code: ExitCode.CipherDir, message: /source directory/, go: 'reverse' },
  { what: 'MNT missing', args: ['-passfile', P, S, at('no-mnt')], code: ExitCode.MountPoint, message: /mountpoint/, go: 'reverse' },
  { what: 'MNT is a file', args: ['-passfile', P, S, AFILE], code: ExitCode.MountPoint, message: /mountpoint/, go: 'reverse' },
  { what: 'MNT not empty', args: ['-passfile', P, S, FULL], code: ExitCode.MountPoint, message: /not empty/, go: 'reverse' },
  { what: 'MNT already mounted', args: ['-passfile', P, S, BUSY.mnt], code: ExitCode.MountPoint, message: /already a mount point/, go: 'reverse' },
  { what: 'MNT is SRC', args: ['-passfile', P, S, S], code: ExitCode.MountPoint, message: /shadow/, go: 'reverse' },
  { what: 'MNT above SRC', args: ['-passfile', P, S, W], code: ExitCode.MountPoint, message: /shadow/, go: 'reverse' },
  // the command line
  { what: 'unknown -o option', args: ['-o', 'ro,bogus', '-passfile', P, S, M], code: ExitCode.Usage, message: /unknown flag -bogus/, go: 'reverse' },
  { what: '-o o', args: ['-o', 'o', '-passfile', P, S, M], code: ExitCode.Usage, message: /-o o/, go: 'reverse' },
  { what: 'unknown flag', args: ['-bogus', '-passfile', P, S, M], code: ExitCode.Usage, message: /unknown flag -bogus/, go: 'reverse' },
  { what: 'flag without its value', args: [S, M, '-passfile'], code: ExitCode.Usage, message: /needs a value/, go: 'reverse' },
  { what: 'bad boolean value', args: ['-fg=maybe', '-passfile', P, S, M], code: ExitCode.Usage, message: /invalid boolean/, go: 'reverse' },
  { what: 'three positional arguments', args: ['-passfile', P, S, M, FULL], code: ExitCode.Usage, message: /got 3 arguments/, go: 'reverse' },
  { what: 'one positional argument', args: ['-passfile', P, S], code: ExitCode.Usage, message: /got 1 argument\b/, go: 'reverse' },
  { what: 'two actions', args: ['-init', '-info', S], code: ExitCode.Usage, message: /only one of -init, -info/, go: 'reverse' },
  {
    what: '-passfile with -extpass',
    args: ['-passfile', P, '-extpass', 'echo x', S, M],
    code: ExitCode.Usage,
    message: /-passfile and -extpass/,
    go: 'reverse',
  },
  { what: '-masterkey with -passfile', args: ['-masterkey', KEY, '-passfile', P, S, M], code: ExitCode.Usage, message: /cannot be combined/, go: 'reverse' },
  // gocryptfs 2.3 ignores -extpass here and mounts with the zero key.
  { what: '-zerokey with -extpass', args: ['-zerokey', '-extpass', 'echo x', S, M], code: ExitCode.Usage, message: /cannot be combined/ },
  {
    what: '-ko with an unknown option',
    args: ['-ko', 'bogus', '-passfile', P, S, M],
    code: ExitCode.FuseNewServer,
    message: /-ko bogus: "bogus"/,
    go: 'reverse',
  },
  { what: '-idle that is not a duration', args: ['-idle', 'xyz', '-passfile', P, S, M], code: ExitCode.Usage, message: /-idle/, go: 'reverse' },
  {
    what: '-ctlsock in a missing directory',
    args: ['-ctlsock', at('no-dir/ctl'), '-passfile', P, S, M],
    code: ExitCode.CtlSock,
    message: /ctlsock/,
    go: 'reverse',
  },
  {
    what: '-ctlsock over an existing file',
    args: ['-ctlsock', AFILE, '-passfile', P, S, M],
    code: ExitCode.CtlSock,
    message: /ctlsock: .*EADDRINUSE/,
    go: 'reverse',
  },
  // gocryptfs 2.3 ignores these when mounting an existing config; tsreverse cannot honour them.
  { what: '-fido2', args: ['-fido2', '/dev/null', '-passfile', P, S, M], code: ExitCode.Usage, message: /-fido2: FIDO2 tokens are not supported/ },
  { what: '-xchacha', args: ['-xchacha', '-passfile', P, S, M], code: ExitCode.Usage, message: /-xchacha: .*always use AES-SIV/ },
  { what: '-cpuprofile', args: ['-cpuprofile', at('cpu'), '-passfile', P, S, M], code: ExitCode.Usage, message: /-cpuprofile: Go profiling/ },
  { what: '-badname in forward mode', args: ['-forward', '-badname', '*', '-passfile', P, VIEW, M], code: ExitCode.Usage, message: /-badname/ },
  { what: '-longnamemax 61', args: ['-longnamemax', '61', '-passfile', P, S, M], code: ExitCode.Usage, message: /outside the allowed range/, go: 'reverse' },
  { what: '-longnamemax 256', args: ['-longnamemax', '256', '-passfile', P, S, M], code: ExitCode.Usage, message: /outside the allowed range/, go: 'reverse' },
  { what: '-longnamemax abc', args: ['-longnamemax', 'abc', '-passfile', P, S, M], code: ExitCode.Usage, message: /invalid number/, go: 'reverse' },
  ...['abc', '1000', '1:2:3', '-1:0', '4294967296:0', '0x:1'].map((v): Row => ({
    what: `-force_owner ${v}`,
    args: [`-force_owner=${v}`, '-passfile', P, S, M],
    code: ExitCode.Usage,
    message: /-force_owner/,
    go: 'reverse',
  })),
  {
    what: '-exclude-from a missing file',
    args: ['-exclude-from', at('no-list'), '-passfile', P, S, M],
    code: ExitCode.ExcludeError,
    message: /-exclude-from.*ENOENT/,
    go: 'reverse',
  },
  {
    what: '-exclude-from a directory',
    args: ['-exclude-from', NOCONF, '-passfile', P, S, M],
    code: ExitCode.ExcludeError,
    message: /-exclude-from.*EISDIR/,
    go: 'reverse',
  },
  {
    what: '-exclude in forward mode',
    args: ['-forward', '-exclude', 'x', '-passfile', P, VIEW, M],
    code: ExitCode.ExcludeError,
    message: /only work in reverse mode/,
    go: 'forward',
  },
  {
    what: '-forward with a wrong password',
    args: ['-forward', '-passfile', WRONG, VIEW, M],
    code: ExitCode.PasswordIncorrect,
    message: /Password incorrect/,
    go: 'forward',
  },
  // actions
  {
    what: '-init over an existing config',
    args: ['-init', '-scryptn', '10', '-passfile', P, S],
    code: ExitCode.Init,
    message: /already exists/,
    go: 'reverse',
  },
  { what: '-init -scryptn 9', args: ['-init', '-scryptn', '9', '-passfile', P, NOCONF], code: ExitCode.WriteConf, message: /-scryptn 9/, go: 'reverse' },
  {
    what: '-init -xchacha',
    args: ['-init', '-xchacha', '-scryptn', '10', '-passfile', P, NOCONF],
    code: ExitCode.WriteConf,
    message: /-xchacha/,
    go: 'reverse',
  },
  {
    what: '-init in a missing directory',
    args: ['-init', '-scryptn', '10', '-passfile', P, at('no-dir')],
    code: ExitCode.CipherDir,
    message: /not a directory/,
    go: 'reverse',
  },
  {
    what: '-info on garbage',
    args: ['-info', '-config', path.join(CONFS, 'not-json.conf'), S],
    code: ExitCode.LoadConf,
    message: /Loading config file failed/,
    go: 'reverse',
  },
  { what: '-info on an empty config', args: ['-info', '-config', path.join(CONFS, 'empty.conf'), S], code: ExitCode.LoadConf, message: /empty/, go: 'reverse' },
  { what: '-info without a config', args: ['-info', NOCONF], code: ExitCode.LoadConf, message: /Loading config file failed/, go: 'reverse' },
  {
    what: '-passwd with a wrong password',
    args: ['-passwd', '-passfile', WRONG, S],
    code: ExitCode.PasswordIncorrect,
    message: /Password incorrect/,
    go: 'reverse',
  },
  // gocryptfs 2.3 has no -dumpmasterkey (gocryptfs-xray does that).
  {
    what: '-dumpmasterkey with a wrong password',
    args: ['-dumpmasterkey', '-passfile', WRONG, S],
    code: ExitCode.PasswordIncorrect,
    message: /Password incorrect/,
  },
  { what: '-fsck of a missing directory', args: ['-fsck', '-passfile', P, at('no-dir')], code: ExitCode.CipherDir, message: /does not exist/, go: 'forward' },
]

/** Everything below W that a command could have written: names, types, modes, sizes, content, mtimes. */
const snapshot = (): string[] => listTree(W, { hash: true, mtime: true, skip: new Set(['busy']) })
const mountsUnderW = (): string[] =>
  parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'))
    .filter((m) => m.mountPoint === W || m.mountPoint.startsWith(W + '/'))
    .map((m) => m.mountPoint)
    .sort()
/** Our processes that mention W (the busy mount's daemon aside). */
const ourProcesses = (): number[] =>
  readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n) && Number(n) !== process.pid && Number(n) !== BUSY.pid)
    .filter((n) => {
      try {
        const argv = readFileSync(`/proc/${n}/cmdline`, 'utf8').split('\0')
        return argv.includes(BIN) && argv.some((a) => a.includes(W)) && !processGone(Number(n))
      } catch {
        return false
      }
    })
    .map(Number)

/** gocryptfs with the row's arguments; stderr to a file so that a daemon cannot hold us. */
function gocryptfsCode(row: Row): number | null {
  const args = ['-q', '-nosyslog', ...(row.go === 'reverse' ? ['-reverse'] : []), ...row.args.filter((a) => a !== '-forward')]
  const log = path.join(os.tmpdir(), `tsreverse-table-go-${process.pid}`)
  const fd = openSync(log, 'w')
  try {
    return spawnSync('gocryptfs', args, { input: row.input ?? '', stdio: ['pipe', 'ignore', fd], timeout: 30_000 }).status
  } finally {
    closeSync(fd)
    rmSync(log, { force: true })
  }
}

t.test(`${ROWS.length} malformed invocations`, async (t) => {
  t.ok(ROWS.length >= 40, `${ROWS.length} rows`)
  const mountsBefore = mountsUnderW()
  t.same(mountsBefore, [BUSY.mnt], 'only the busy mount point is mounted')
  let compared = 0
  const started = Date.now()
  for (const row of ROWS) {
    const before = snapshot()
    const r = runCli(row.args, { input: row.input ?? '' })
    const lines = r.stderr.split('\n').filter((l) => l !== '')
    const last = lines[lines.length - 1] ?? ''
    t.equal(r.code, row.code, `${row.what}: exit ${row.code}`)
    t.equal(lines.length, 1 + (row.warnings ?? 0), `${row.what}: one error line${row.warnings ? ' after the warning' : ''} (${JSON.stringify(r.stderr)})`)
    t.ok(last.startsWith('tsreverse: ') && row.message.test(last), `${row.what}: says what is wrong (${last})`)
    t.notMatch(r.stderr, /internal error|^\s+at /m, `${row.what}: no stack trace`)
    t.same(mountsUnderW(), mountsBefore, `${row.what}: nothing mounted`)
    t.same(ourProcesses(), [], `${row.what}: no process left`)
    t.same(snapshot(), before, `${row.what}: nothing written`)
    if (row.go) {
      compared++
      t.equal(gocryptfsCode(row), row.code, `${row.what}: gocryptfs 2.3 exits ${row.code} too`)
      for (const m of mountsUnderW()) if (!mountsBefore.includes(m)) spawnSync('fusermount', ['-u', '-z', m])
    }
  }
  t.comment(`cli-table: ${ROWS.length} rows, ${compared} compared with gocryptfs 2.3, ${((Date.now() - started) / 1000).toFixed(1)} s`)
})
