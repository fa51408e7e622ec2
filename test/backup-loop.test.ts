// The backup loop as docs/backup-server.md sets it up, with a real OpenSSH server and rsync:
// a dedicated account whose key may only run `rrsync -ro MNT`, the view mounted with
// -force_owner for it, and a backup side pulling over ssh. Proves that the first pull
// decrypts to the source, that later pulls send only what changed (whole files with PlanB's
// flags, a few KiB of literal data with rsync's delta transfer), that an unchanged tree sends
// nothing, that the account can reach nothing else, that one file comes back from the copy
// alone, and that the server can tell an unmounted view from an empty one. Needs root: it creates the account (removed again) and runs sshd on 127.0.0.1.
import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import {
  appendFileSync,
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import net, { type AddressInfo } from 'node:net'
import path from 'node:path'
import { sys } from '../src/native/sys.js'
import { runCli } from './lib/cli.js'
import { processGone, statTree, waitFor } from './lib/mounts.js'
import { diffTrees, initSource, listTree, mountDir, mountGocryptfs, mountOurs, run, scratchDir, stopMount } from './lib/reverse-mounts.js'

const USER = 'tsrbackup-test'
const SSHD = '/usr/sbin/sshd'
const RRSYNC = '/usr/bin/rrsync'
const BIG_SIZE = 64 * 1024 * 1024 + 100 // ends in a partial block, which an append re-encrypts
const EXCLUDED = '.nobackup'
/** Plaintext entries that are not part of the view's tree (the config is shown as gocryptfs.conf). */
const NOT_IN_VIEW = new Set(['.gocryptfs.reverse.conf', EXCLUDED])

/** A free TCP port on 127.0.0.1 (closed again; sshd binds it right after). */
async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

function check(what: string, r: ReturnType<typeof run>): void {
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status}): ${r.stderr}${r.error?.message ?? ''}`)
}

/** The account, created with its home in dir unless it exists; deleted on teardown only if created here. */
function ensureAccount(t: Test, dir: string): { uid: number; gid: number } {
  if (run('id', ['-u', USER]).status !== 0) {
    // '*' instead of useradd's locked '!': with UsePAM no, sshd refuses locked accounts even for keys.
    check('useradd', run('useradd', ['--system', '--create-home', '--home-dir', path.join(dir, 'home'), '--shell', '/bin/sh', '--password', '*', USER]))
    t.teardown(() => {
      const r = run('userdel', [USER])
      if (r.status !== 0) t.comment(`userdel ${USER}: ${r.stderr}`)
    })
  }
  return { uid: Number(run('id', ['-u', USER]).stdout), gid: Number(run('id', ['-g', USER]).stdout) }
}

interface Sshd {
  port: number
  /** The ssh command for rsync -e and for direct calls. */
  ssh: string[]
  log: string
}

/** An sshd on a free loopback port that lets only USER in, with keyOptions on its one authorized key. */
async function startSshd(t: Test, dir: string, keyOptions: string): Promise<Sshd> {
  for (const [file, what] of [
    [SSHD, 'openssh-server'],
    [RRSYNC, 'rsync (rrsync)'],
    ['/usr/bin/python3', 'python3 (rrsync)'],
  ] as const) {
    if (!existsSync(file)) throw new Error(`${file} is missing: apt-get install ${what}`)
  }
  // Privilege separation directory; normally made by the init script or systemd unit.
  if (!existsSync('/run/sshd')) {
    mkdirSync('/run/sshd', { mode: 0o755 })
    t.teardown(() => {
      try {
        rmdirSync('/run/sshd')
      } catch {
        // someone else's sshd uses it now
      }
    })
  }
  const hostKey = path.join(dir, 'ssh_host_ed25519_key')
  const clientKey = path.join(dir, 'client_ed25519_key')
  check('ssh-keygen', run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]))
  check('ssh-keygen', run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'backup-server', '-f', clientKey]))
  const keys = path.join(dir, 'authorized_keys')
  mkdirSync(keys)
  writeFileSync(path.join(keys, USER), `${keyOptions} ${readFileSync(`${clientKey}.pub`, 'utf8')}`)
  const port = await freePort()
  const config = path.join(dir, 'sshd_config')
  // StrictModes no: the key file lies below /tmp, which is world-writable.
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${keys}/%u`,
      'UsePAM no',
      'StrictModes no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      `AllowUsers ${USER}`,
      'LogLevel VERBOSE',
      '',
    ].join('\n'),
  )
  const log = path.join(dir, 'sshd.log')
  const logFd = openSync(log, 'w')
  let sshd: ChildProcess
  try {
    // A file, not a pipe: the test blocks in spawnSync while sshd logs.
    sshd = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', logFd, logFd] })
  } finally {
    closeSync(logFd)
  }
  const pid = sshd.pid
  if (pid === undefined) throw new Error(`could not start ${SSHD}`)
  // Fallback for an abrupt end of the test process, where teardowns do not run.
  const killOnExit = (): void => void sshd.kill('SIGKILL')
  process.once('exit', killOnExit)
  // ChildProcess.kill never throws (a throwing teardown would skip the ones after it).
  t.teardown(async () => {
    process.off('exit', killOnExit)
    sshd.kill('SIGTERM')
    try {
      await waitFor('sshd to exit', () => processGone(pid), 5000)
    } catch {
      sshd.kill('SIGKILL')
    }
  })
  let exited = false
  sshd.once('exit', () => (exited = true))
  await waitFor(`sshd on port ${port}`, async () => {
    if (exited) throw new Error(`sshd exited: ${readFileSync(log, 'utf8')}`)
    return canConnect(port)
  })
  const ssh = [
    'ssh',
    '-F',
    '/dev/null',
    '-p',
    String(port),
    '-i',
    clientKey,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'LogLevel=ERROR',
  ]
  return { port, ssh, log }
}

/** Counters of `rsync --stats`, digit grouping removed. */
function stats(out: string): Record<'files' | 'size' | 'literal' | 'matched', number> {
  const field = (label: string): number => {
    const m = new RegExp(`^${label}: ([\\d,.']+)`, 'm').exec(out)
    if (!m) throw new Error(`no "${label}" in rsync output:\n${out}`)
    return Number(m[1]!.replace(/[,.']/g, ''))
  }
  return {
    files: field('Number of regular files transferred'),
    size: field('Total transferred file size'),
    literal: field('Literal data'),
    matched: field('Matched data'),
  }
}

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex')

t.test('backup over ssh: rrsync-restricted account, -force_owner view, rsync pulls, restore', async (t) => {
  if (process.getuid?.() !== 0) {
    t.plan(0, 'needs root: creates an account and runs sshd')
    return
  }
  const started = Date.now()
  const work = scratchDir(t, 'tsreverse-backup-loop-')
  chmodSync(work, 0o755) // the account must reach the mount point below it
  const { src, passfile } = initSource(t, work)
  const account = ensureAccount(t, work)

  // The source: the vectors' tree, a 64 MiB file, a small file that will change, and a
  // directory that the mount excludes. file-15 (0600) and a/b (0700) are root's only.
  const big = path.join(src, 'big.bin')
  writeFileSync(big, randomBytes(BIG_SIZE))
  const notes = path.join(src, 'notes.txt')
  writeFileSync(notes, 'first version of the notes\n')
  sys.utimens(Buffer.from(notes), 1_650_000_000, 999_999_999, 1_650_000_000, 999_999_999) // beyond a double of seconds
  mkdirSync(path.join(src, EXCLUDED))
  writeFileSync(path.join(src, EXCLUDED, 'backup.pass'), 'not for the backup server\n', { mode: 0o600 })
  for (const p of ['file-15', 'a/b', 'a/b/at-level-2.txt']) chownSync(path.join(src, p), 0, 0)

  const mnt = mountDir(work, 'view')
  const view = mountOurs(t, ['-passfile', passfile, '-force_owner', `${account.uid}:${account.gid}`, '-exclude', EXCLUDED, src, mnt])
  const sshd = await startSshd(t, mountDir(work, 'ssh'), `command="${RRSYNC} -ro ${mnt}",restrict`)
  const remote = (p: string): string => `${USER}@127.0.0.1:${p}`
  const rsync = (args: string[]): ReturnType<typeof run> => run('rsync', ['-e', sshd.ssh.join(' '), ...args], { timeoutMs: 120_000 })
  const PLANB = ['-rlpt', '-D', '--whole-file', '--stats']
  const DELTA = ['-a', '--stats']
  const wholeCopy = mountDir(work, 'backup-planb')
  const deltaCopy = mountDir(work, 'backup-delta')
  /** Ciphertext path of a plaintext path, computed from the copy's config alone. */
  const cipherPath = (plain: string): string => {
    const r = runCli(['-encrypt-paths', '-config', path.join(wholeCopy, 'gocryptfs.conf'), '-passfile', passfile], { input: plain + '\n' })
    if (r.code !== 0) throw new Error(`-encrypt-paths: ${r.stderr}`)
    return r.stdout.trim()
  }

  await t.test('the first pull copies everything, and the copy decrypts to the source', async (t) => {
    const whole = rsync([...PLANB, remote('/'), wholeCopy + '/'])
    t.equal(whole.status, 0, 'pull with PlanB flags', { stderr: whole.stderr })
    const delta = rsync([...DELTA, remote('/'), deltaCopy + '/'])
    t.equal(delta.status, 0, 'pull with -a', { stderr: delta.stderr })
    const regular = listTree(mnt).filter((l) => l.startsWith('f ')).length
    t.equal(stats(whole.stdout).files, regular, `all ${regular} regular files of the view sent`)
    t.equal(diffTrees(mnt, wholeCopy), '', 'the copy is the view')
    t.equal(diffTrees(wholeCopy, deltaCopy), '', 'both pulls got the same ciphertext')
    t.ok(existsSync(path.join(wholeCopy, 'gocryptfs.conf')), 'the config travelled with the copy')
    const names = (root: string): string[] => readdirSync(root, { recursive: true, encoding: 'utf8' }).map((p) => path.basename(p))
    const plainNames = new Set(names(src))
    t.same(
      names(wholeCopy).filter((n) => plainNames.has(n)),
      [],
      'no plaintext name in the copy',
    )

    const plain = mountDir(work, 'plain')
    const m = mountGocryptfs(t, ['-ro', '-passfile', passfile, wholeCopy, plain])
    const exclude = [...NOT_IN_VIEW].flatMap((n) => ['-x', n])
    t.equal(diffTrees(src, plain, exclude), '', 'gocryptfs -ro of the copy equals the source (diff -r --no-dereference)')
    t.notOk(existsSync(path.join(plain, EXCLUDED)), 'the excluded directory is not in the copy')
    await stopMount(m)

    const restored = mountDir(work, 'restored')
    const r = runCli(['-restore', '-passfile', passfile, wholeCopy, restored])
    t.equal(r.code, 0, 'tsreverse -restore of the whole copy', { stderr: r.stderr })
    t.same(listTree(restored, { hash: true }), listTree(src, { hash: true, skip: NOT_IN_VIEW }), 'tsreverse -restore gives the source: contents, modes')
    const want = statTree(src, (st) => st.mtimeNs, NOT_IN_VIEW)
    const got = statTree(restored, (st) => st.mtimeNs, NOT_IN_VIEW)
    t.same([...got.keys()].sort(), [...want.keys()].sort(), 'the same entries')
    const off = [...want].filter(([p, ns]) => got.get(p) !== ns).map(([p]) => p)
    t.same(off, [], 'and their mtimes, to the nanosecond')
  })

  await t.test('after a change, PlanB flags re-send the two changed files, delta flags a few KiB', async (t) => {
    writeFileSync(notes, 'second version of the notes\n')
    utimesSync(notes, 1_650_000_100, 1_650_000_100)
    appendFileSync(big, 'x')
    // The view's attributes are cached for 1 s (attr_timeout, as gocryptfs).
    await new Promise((r) => setTimeout(r, 1200))

    const whole = rsync([...PLANB, remote('/'), wholeCopy + '/'])
    t.equal(whole.status, 0, 'pull with PlanB flags', { stderr: whole.stderr })
    const changed = [cipherPath('notes.txt'), cipherPath('big.bin')].map((p) => statSync(path.join(wholeCopy, p)).size)
    const s = stats(whole.stdout)
    t.equal(s.files, 2, 'Number of regular files transferred: 2')
    t.equal(s.size, changed[0]! + changed[1]!, `Total transferred file size is the two ciphertexts (${s.size} bytes)`)
    t.equal(s.literal, s.size, '--whole-file sends them whole')

    const delta = rsync([...DELTA, remote('/'), deltaCopy + '/'])
    t.equal(delta.status, 0, 'pull with -a', { stderr: delta.stderr })
    const d = stats(delta.stdout)
    t.equal(d.files, 2, 'the same two files')
    t.ok(d.literal < 64 * 1024, `Literal data ${d.literal} bytes < 64 KiB for a ${d.size}-byte change set`)
    t.ok(d.matched > BIG_SIZE - 64 * 1024, `the rest of the big file matched (${d.matched} bytes)`)
    t.equal(diffTrees(wholeCopy, deltaCopy), '', 'both copies hold the new ciphertext')
    t.equal(diffTrees(mnt, deltaCopy), '', 'and equal the view')
  })

  await t.test('a pull of an unchanged tree sends no file data', async (t) => {
    for (const [name, flags, dest] of [
      ['PlanB flags', PLANB, wholeCopy],
      ['-a', DELTA, deltaCopy],
    ] as const) {
      const r = rsync([...flags, remote('/'), dest + '/'])
      t.equal(r.status, 0, `pull with ${name}`, { stderr: r.stderr })
      const s = stats(r.stdout)
      t.equal(s.files, 0, `${name}: Number of regular files transferred: 0`)
      t.equal(s.literal, 0, `${name}: no literal data`)
    }
  })

  await t.test('the account reaches nothing but the view, and writes nothing', async (t) => {
    const escape = mountDir(work, 'escape')
    const empty = (): boolean => readdirSync(escape).length === 0
    const parent = rsync(['-r', remote('/../'), escape + '/'])
    t.not(parent.status, 0, 'rsync of /../ is refused')
    t.ok(empty(), 'nothing copied')
    const abs = rsync([remote(passfile), escape + '/'])
    t.not(abs.status, 0, 'an absolute path outside the mount is not found (it is taken below the mount)')
    t.ok(empty(), 'nothing copied')
    const excluded = rsync(['-r', remote(`/${cipherPath(EXCLUDED)}/`), escape + '/'])
    t.not(excluded.status, 0, 'the excluded directory cannot be fetched by its ciphertext name')
    t.ok(empty(), 'nothing copied')

    const shadow = run(sshd.ssh[0]!, [...sshd.ssh.slice(1), `${USER}@127.0.0.1`, 'cat /etc/shadow'])
    t.not(shadow.status, 0, 'a shell command is refused by the forced command')
    t.notMatch(shadow.stdout, /root:/, 'and prints nothing of /etc/shadow')
    t.match(readFileSync(sshd.log, 'utf8'), /forced-command/, 'sshd ran the forced command instead')

    const forward = run(sshd.ssh[0]!, [...sshd.ssh.slice(1), '-W', `127.0.0.1:${sshd.port}`, `${USER}@127.0.0.1`], { timeoutMs: 20_000 })
    t.not(forward.status, 0, 'port forwarding is refused (restrict)')

    const local = path.join(work, 'upload.txt')
    writeFileSync(local, 'uploaded\n')
    const upload = rsync([local, remote('/x')])
    t.not(upload.status, 0, 'an upload is refused (rrsync -ro)')
    t.notOk(existsSync(path.join(src, 'x')), 'the source is unchanged')

    const direct = run('runuser', ['-u', USER, '--', 'cat', path.join(src, 'file-15')])
    t.not(direct.status, 0, 'the account cannot read the plaintext of a 0600 file directly')
    const viaView = run('runuser', ['-u', USER, '--', 'cat', path.join(mnt, cipherPath('file-15'))])
    t.equal(viaView.status, 0, 'but reads its ciphertext through the view (-force_owner)', { stderr: viaView.stderr })
  })

  await t.test('one file comes back from the copy with -encrypt-paths and -restore', async (t) => {
    const dest = mountDir(work, 'one')
    for (const [plain, copy] of [
      ['notes.txt', wholeCopy],
      ['a/b/at-level-2.txt', wholeCopy],
      ['big.bin', deltaCopy],
    ] as const) {
      const cipher = cipherPath(plain)
      t.ok(lstatSync(path.join(copy, cipher)).isFile(), `${plain} is ${cipher} in the copy`)
      const r = runCli(['-restore', '-passfile', passfile, path.join(copy, cipher), dest])
      t.equal(r.code, 0, `-restore ${plain}`, { stderr: r.stderr })
      const out = path.join(dest, path.basename(plain))
      t.equal(sha256(out), sha256(path.join(src, plain)), `${plain}: same bytes`)
      t.equal(lstatSync(out).mode, lstatSync(path.join(src, plain)).mode, `${plain}: same mode`)
      const times = [out, path.join(src, plain)].map((f) => lstatSync(f, { bigint: true }).mtimeNs) as [bigint, bigint]
      t.equal(times[0], times[1], `${plain}: same mtime, to the nanosecond`)
    }
  })

  await t.test('an unmounted view is an empty directory; the documented check catches it', async (t) => {
    const probe = (): number | null => rsync(['--list-only', remote('/gocryptfs.diriv')]).status
    t.equal(probe(), 0, 'the check passes while the view is mounted')
    await stopMount(view)
    t.not(probe(), 0, 'and fails once it is not')
    const dest = mountDir(work, 'pull-of-nothing')
    const r = rsync([...PLANB, remote('/'), dest + '/'])
    t.equal(r.status, 0, 'a pull without the check succeeds', { stderr: r.stderr })
    t.same(readdirSync(dest), [], 'and gets an empty tree')
  })

  t.comment(`backup loop took ${((Date.now() - started) / 1000).toFixed(1)} s`)
})
