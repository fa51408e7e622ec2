// The mount as users drive it: view options (excludes, -force_owner, -fsname,
// -one-file-system), read-only behaviour, the daemon's life cycle (signals, external unmounts,
// command substitution, -fg), exit codes, a mount point inside the source, and /etc/fstab-style
// mounting through mount(8). Where gocryptfs 2.3 has the same feature it is the reference.
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { findMount, parseMountinfo } from '../src/fuse/mountinfo.js'
import { ExitCode } from '../src/exitcodes.js'
import { BIN, runCli } from './lib/cli.js'
import { cmdline, isMounted, lstatCode, processGone, waitFor } from './lib/mounts.js'
import { SERVER_ENV, SERVER_NODE_FLAGS } from '../src/cli/runtime.js'
import {
  diffTrees,
  initSource,
  isTsreverse,
  listTree,
  mountDir,
  mountGocryptfs,
  mountOurs,
  run,
  scratchDir,
  serverPid,
  stopMount,
  viewPath,
} from './lib/reverse-mounts.js'

const base = initSource(t, scratchDir(t))
const { src, passfile } = base

/** A fresh empty mount point, inside a scratch dir of the subtest. */
function mountpoint(t: Test): string {
  return mountDir(scratchDir(t), 'mnt')
}

/** The server at pid got node's memory flags (before the script) and malloc setting (src/cli/runtime.ts). */
function checkServerRuntime(t: Test, pid: number): void {
  const argv = cmdline(pid)
  const script = argv.findIndex((a) => path.basename(a) === 'tsreverse')
  for (const f of SERVER_NODE_FLAGS) t.ok(argv.indexOf(f) > 0 && argv.indexOf(f) < script, `node runs with ${f}: ${argv.join(' ')}`)
  const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')
  for (const [k, v] of Object.entries(SERVER_ENV)) t.ok(env.includes(`${k}=${v}`), `with ${k}=${v} in its environment`)
}

const inView = (mnt: string, plain: string[]): string => path.join(mnt, ...viewPath(base.masterKey, plain))

/** Mounts ours and gocryptfs with the same flags, checks the listings agree, returns our mount. */
function mountBoth(t: Test, flags: string[]): string {
  const ours = mountOurs(t, [...flags, '-passfile', passfile, src, mountpoint(t)]).mnt
  const theirs = mountGocryptfs(t, ['-reverse', ...flags, '-passfile', passfile, src, mountpoint(t)]).mnt
  const fields = { hash: true, nlink: true, mtime: true }
  t.same(listTree(ours, fields), listTree(theirs, fields), `same view as gocryptfs ${flags.join(' ')}`)
  return ours
}

// gocryptfs 2.3 keeps only the values of the spelling used last when a flag and its alias
// are mixed (`-exclude a -e b` excludes only b); tsreverse keeps all, so the gocryptfs
// comparisons use one spelling and the mixed form is compared with our own view.
t.test('-exclude / -e hide paths (EPERM on lookup), as gocryptfs', async (t) => {
  const mnt = mountBoth(t, ['-exclude', 'file-15', '-exclude', 'a/b'])
  const root = readdirSync(mnt)
  t.notOk(root.includes(viewPath(base.masterKey, ['file-15'])[0]!), 'file-15 is not listed')
  t.ok(root.includes(viewPath(base.masterKey, ['file-16'])[0]!), 'file-16 is listed')
  t.equal(lstatCode(inView(mnt, ['file-15'])), 'EPERM')
  t.notOk(readdirSync(inView(mnt, ['a'])).includes(viewPath(base.masterKey, ['a', 'b'])[1]!), 'a/b is not listed')
  t.equal(lstatCode(inView(mnt, ['a', 'b'])), 'EPERM')
  t.equal(lstatCode(inView(mnt, ['a', 'b', 'c'])), 'EPERM', 'below an excluded dir')
  t.equal(lstatCode(inView(mnt, ['a', 'at-level-1.txt'])), 'ok')
  const mixed = mountOurs(t, ['-e', 'file-15', '-exclude', 'a/b', '-passfile', passfile, src, mountpoint(t)]).mnt
  t.equal(diffTrees(mixed, mnt), '', '-e and -exclude add up')
})

t.test('-exclude-wildcard / -ew hide matches at any depth, as gocryptfs', async (t) => {
  const mnt = mountBoth(t, ['-ew', '*.txt', '-ew', 'file-4*'])
  for (const hidden of [['a', 'at-level-1.txt'], ['a', 'b', 'c', 'deep.txt'], ['héllo-wörld-😀.txt'], ['file-4095'], ['file-4097']]) {
    t.equal(lstatCode(inView(mnt, hidden)), 'EPERM', hidden.join('/'))
  }
  t.equal(lstatCode(inView(mnt, ['file-8192'])), 'ok')
  t.equal(lstatCode(inView(mnt, ['a', 'b', 'c'])), 'ok')
  const mixed = mountOurs(t, ['-exclude-wildcard', '*.txt', '-ew', 'file-4*', '-passfile', passfile, src, mountpoint(t)]).mnt
  t.equal(diffTrees(mixed, mnt), '', '-exclude-wildcard and -ew add up')
})

t.test('-exclude-from reads patterns from a file, as gocryptfs', async (t) => {
  const list = path.join(scratchDir(t), 'excludes')
  const long = readdirSync(src).find((n) => n.startsWith('L176-'))!
  const longDir = readdirSync(src).find((n) => n.startsWith('D200-'))!
  // With some of go-gitignore's peculiarities (spec 6.8): `dir/` hides only the contents, an
  // inner slash does not anchor, `?` is literal, `+` is a regex operator, `!` negates.
  const patterns = [
    '# a comment',
    'L176-*',
    '/link-absolute',
    '',
    'D200-*/',
    'b/c/deep.txt',
    '**/at-level-2.txt',
    'file-1?',
    'file-40+97',
    'file-8*',
    '!file-8192',
  ]
  writeFileSync(list, patterns.join('\n') + '\n')
  const mnt = mountBoth(t, ['-exclude-from', list])
  const hashed = viewPath(base.masterKey, [long])[0]!
  t.match(hashed, /^gocryptfs\.longname\./, 'the excluded long name is a hashed one')
  t.notOk(
    readdirSync(mnt).some((n) => n.startsWith(hashed)),
    'neither the hashed entry nor its .name file is listed',
  )
  t.equal(lstatCode(path.join(mnt, hashed)), 'EPERM')
  t.equal(lstatCode(inView(mnt, ['link-absolute'])), 'EPERM')
  t.equal(lstatCode(inView(mnt, ['link-relative'])), 'ok')
  t.equal(lstatCode(inView(mnt, ['a', 'b', 'c', 'deep.txt'])), 'EPERM', 'an inner slash does not anchor')
  t.equal(lstatCode(inView(mnt, [longDir])), 'ok', '`dir/` leaves the directory itself')
  t.equal(lstatCode(inView(mnt, [longDir, 'inner.txt'])), 'EPERM', '`dir/` hides its contents')
  t.equal(lstatCode(inView(mnt, ['file-15'])), 'ok', '`?` is literal')
  t.equal(lstatCode(inView(mnt, ['file-4097'])), 'EPERM', '`+` is a regex operator')
  t.equal(lstatCode(inView(mnt, ['file-8192'])), 'ok', 'excluded, then negated')
})

t.test('-force_owner applies to every entry, virtual files included', async (t) => {
  const mnt = mountOurs(t, ['-force_owner', '1234:5678', '-passfile', passfile, src, mountpoint(t)]).mnt
  const r = run('find', [mnt, '-printf', '%U:%G %f\n'])
  t.equal(r.status, 0, r.stderr)
  const lines = r.stdout.trim().split('\n')
  t.ok(lines.some((l) => l.endsWith(' gocryptfs.diriv')) && lines.some((l) => l.endsWith('.name')), 'diriv and .name files are among them')
  t.same([...new Set(lines.map((l) => l.split(' ')[0]))], ['1234:5678'], `all ${lines.length} entries`)
  const mount = findMount(parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')), mnt)
  t.ok(mount?.superOptions.includes('allow_other'), 'implies allow_other')
})

t.test('-fsname sets the source column of /proc/mounts', async (t) => {
  const mnt = mountOurs(t, ['-fsname', 'backup-view-1', '-passfile', passfile, src, mountpoint(t)]).mnt
  const line = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .find((l) => l.split(' ')[1] === mnt)
  t.equal(line?.split(' ')[0], 'backup-view-1')
  t.equal(line?.split(' ')[2], 'fuse.tsreverse')
})

t.test('-readahead sets the kernel read-ahead of the mount; unasked, root gets 1024 KiB', async (t) => {
  if (process.geteuid?.() !== 0) {
    t.plan(0, 'only root may set a read-ahead')
    return
  }
  const readAheadOf = (mnt: string): string => {
    const device = findMount(parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')), mnt)?.device
    return readFileSync(`/sys/class/bdi/${device}/read_ahead_kb`, 'utf8').trim()
  }
  const cases: [string[], string][] = [
    [[], '1024'],
    [['-readahead', '512'], '512'],
    [['-o', 'readahead=256'], '256'],
    [['-readahead', '0'], '128'], // the kernel's own
  ]
  for (const [flags, kb] of cases) {
    const mnt = mountOurs(t, [...flags, '-passfile', passfile, src, mountpoint(t)]).mnt
    t.equal(readAheadOf(mnt), kb, `${flags.join(' ') || 'no flag'}: ${kb} KiB`)
  }
  const mnt = mountpoint(t)
  const r = runCli(['-readahead', '99999', '-passfile', passfile, src, mnt])
  t.equal(r.code, ExitCode.Usage, `out of range: ${r.stderr.trim()}`)
  t.notOk(isMounted(mnt))
})

/** User plus system CPU time of a process, in clock ticks (/proc/PID/stat fields 14 and 15). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(fields[11]) + Number(fields[12])
}

t.test('-busypoll: the server polls for requests only while they come, and sleeps when idle', async (t) => {
  for (const flags of [[], ['-busypoll', '5000'], ['-o', 'busypoll=0']]) {
    const { mnt, pid } = mountOurs(t, [...flags, '-passfile', passfile, src, mountpoint(t)])
    // Listings always reach the server: each one starts a polling window.
    for (let i = 0; i < 300; i++) readdirSync(mnt)
    await sleep(200)
    const before = cpuTicks(pid)
    await sleep(1000)
    // Polling that never stopped would take a whole CPU: about 100 ticks a second.
    const idle = cpuTicks(pid) - before
    t.ok(idle < 20, `${flags.join(' ') || 'no flag'}: ${idle} ticks of CPU in an idle second`)
  }
  const mnt = mountpoint(t)
  const r = runCli(['-busypoll', '2000000', '-passfile', passfile, src, mnt])
  t.equal(r.code, ExitCode.Usage, `out of range: ${r.stderr.trim()}`)
  t.notOk(isMounted(mnt))
})

t.test('-one-file-system shows another file system inside the source as empty, as gocryptfs', async (t) => {
  const own = initSource(t, scratchDir(t))
  const inner = path.join(own.src, 'other-fs')
  mkdirSync(inner)
  if (run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tsreverse-test', inner]).status !== 0) {
    t.plan(0, 'cannot mount a tmpfs here')
    return
  }
  t.teardown(() => void run('umount', ['-l', inner]))
  writeFileSync(path.join(inner, 'on-tmpfs'), 'other file system\n')
  const key = own.masterKey
  const viewOf = (mnt: string, p: string[]): string => path.join(mnt, ...viewPath(key, p))
  const flags = ['-passfile', own.passfile]
  const plain = mountOurs(t, [...flags, own.src, mountpoint(t)]).mnt
  t.equal(lstatCode(viewOf(plain, ['other-fs', 'on-tmpfs'])), 'ok', 'without the flag the tmpfs is traversed')
  const ours = mountOurs(t, ['-one-file-system', ...flags, own.src, mountpoint(t)]).mnt
  const theirs = mountGocryptfs(t, ['-reverse', '-one-file-system', ...flags, own.src, mountpoint(t)]).mnt
  t.same(readdirSync(viewOf(ours, ['other-fs'])), ['gocryptfs.diriv'], 'only the diriv file is listed')
  t.equal(lstatCode(viewOf(ours, ['other-fs', 'on-tmpfs'])), 'ENOENT')
  const fields = { hash: true, nlink: true, mtime: true }
  t.same(listTree(ours, fields), listTree(theirs, fields), 'same view as gocryptfs -one-file-system')
})

t.test('writes fail with EROFS and leave the source untouched', async (t) => {
  const mnt = mountOurs(t, ['-passfile', passfile, src, mountpoint(t)]).mnt
  const before = listTree(src, { hash: true, mtime: true })
  const file = inView(mnt, ['file-4096'])
  const dir = inView(mnt, ['a'])
  const cmds = [
    `touch '${file}'`,
    `echo x > '${mnt}/new-file'`,
    `echo x >> '${file}'`,
    `mkdir '${mnt}/new-dir'`,
    `rm -f '${file}'`,
    `rm -rf '${dir}'`,
    `mv '${file}' '${mnt}/renamed'`,
    `chmod 600 '${file}'`,
    `ln -s x '${mnt}/new-link'`,
  ]
  for (const cmd of cmds) {
    const r = run('sh', ['-c', cmd])
    t.not(r.status, 0, cmd)
    t.match(r.stderr, 'Read-only file system', cmd)
  }
  t.same(listTree(src, { hash: true, mtime: true }), before, 'source unchanged')
})

t.test('SIGTERM to the daemon unmounts cleanly and ends it', async (t) => {
  const m = mountOurs(t, ['-passfile', passfile, src, mountpoint(t)])
  process.kill(m.pid, 'SIGTERM')
  await waitFor('the daemon to exit', () => processGone(m.pid))
  t.notOk(isMounted(m.mnt), 'unmounted')
})

t.test('SIGTERM while the mount is busy still detaches it and ends the daemon', async (t) => {
  const m = mountOurs(t, ['-passfile', passfile, src, mountpoint(t)])
  const dir = inView(m.mnt, ['a'])
  const holder = spawn('sleep', ['60'], { cwd: dir, stdio: 'ignore' })
  t.teardown(() => void holder.kill('SIGKILL'))
  await waitFor('the holder to sit in the mount', () => {
    try {
      return readlinkSync(`/proc/${holder.pid}/cwd`) === dir
    } catch {
      return false
    }
  })
  process.kill(m.pid, 'SIGTERM')
  await waitFor('the daemon to exit', () => processGone(m.pid))
  t.notOk(isMounted(m.mnt), 'detached')
})

t.test('after SIGKILL of the daemon the mount point can be mounted again', async (t) => {
  const first = mountOurs(t, ['-passfile', passfile, src, mountpoint(t)])
  process.kill(first.pid, 'SIGKILL')
  await waitFor('the daemon to die', () => processGone(first.pid))
  // The dead mount stays: a pull fails rather than copy the empty directory under it.
  const code = lstatCode(path.join(first.mnt, 'gocryptfs.conf'))
  t.ok(['ENOTCONN', 'ECONNABORTED'].includes(code), `dead (${code})`)
  t.ok(isMounted(first.mnt), 'and still there')
  const second = mountOurs(t, ['-passfile', passfile, src, first.mnt])
  t.not(second.pid, first.pid)
  t.equal(lstatCode(path.join(second.mnt, 'gocryptfs.conf')), 'ok', 'the new mount serves')
})

t.test('-check exits 0 only while a live tsreverse mount serves MNT, and never hangs', async (t) => {
  const m = mountOurs(t, ['-passfile', passfile, src, mountpoint(t)])
  const check = (mnt: string): { code: number | null; stderr: string; ms: number } => {
    const started = Date.now()
    const r = runCli(['-check', mnt], { timeout: 30_000 })
    return { code: r.code, stderr: r.stderr.trim(), ms: Date.now() - started }
  }
  t.equal(check(m.mnt).code, 0, 'live')
  const plain = check(mountpoint(t))
  t.equal(plain.code, ExitCode.MountPoint, `the bare directory: ${plain.stderr}`)
  const theirs = mountGocryptfs(t, ['-reverse', '-passfile', passfile, src, mountpoint(t)]).mnt
  const other = check(theirs)
  t.equal(other.code, ExitCode.MountPoint, `another file system: ${other.stderr}`)

  process.kill(m.pid, 'SIGSTOP')
  let hung
  try {
    hung = check(m.mnt)
  } finally {
    process.kill(m.pid, 'SIGCONT')
  }
  t.equal(hung.code, ExitCode.MountPoint, `hung: ${hung.stderr}`)
  t.ok(hung.ms < 25_000, `bounded (${hung.ms} ms)`)
  t.equal(check(m.mnt).code, 0, 'live again')

  process.kill(m.pid, 'SIGKILL')
  await waitFor('the daemon to die', () => processGone(m.pid))
  const dead = check(m.mnt)
  t.equal(dead.code, ExitCode.MountPoint, `dead: ${dead.stderr}`)
  t.match(dead.stderr, /not connected/)
  t.ok(dead.ms < 10_000, `at once (${dead.ms} ms)`)
})

t.test('-force_owner: a warning when its user can read the directory under the mount point', async (t) => {
  const mountWarning = (mode: number): string => {
    const mnt = mountpoint(t)
    chmodSync(mnt, mode)
    const logFile = path.join(path.dirname(mnt), 'stderr')
    mountOurs(t, ['-force_owner', '1234:5678', '-passfile', passfile, src, mnt], { logFile })
    return readFileSync(logFile, 'utf8')
  }
  t.match(mountWarning(0o755), /warning: .* itself is readable by 1234:5678 \(mode 755, owner 0:0\)/, 'mode 755')
  t.notMatch(mountWarning(0o700), /itself is readable/, 'mode 700: none')
})

for (const [how, cmd] of [
  ['fusermount -u', ['fusermount', '-u']],
  ['umount', ['umount']],
] as const) {
  t.test(`an external ${how} ends the daemon`, async (t) => {
    const m = mountOurs(t, ['-passfile', passfile, src, mountpoint(t)])
    const r = run(cmd[0], [...cmd.slice(1), m.mnt])
    t.equal(r.status, 0, r.stderr)
    await waitFor('the daemon to exit', () => processGone(m.pid))
    t.notOk(isMounted(m.mnt))
  })
}

for (const extra of [[], ['-nosyslog']]) {
  t.test(`$(tsreverse ${extra.join(' ')} ...) returns once mounted`, async (t) => {
    const mnt = mountpoint(t)
    const log = path.join(path.dirname(mnt), 'stderr')
    const args = [BIN, ...extra, '-passfile', passfile, src, mnt].map((a) => `'${a}'`).join(' ')
    // Only stdout is captured here; stderr goes to a file, which a -nosyslog daemon keeps.
    const r = run('sh', ['-c', `{ out=$('${process.execPath}' ${args}); echo "rc=$? out=$out"; } 2>'${log}'`], { timeoutMs: 20_000 })
    const pid = serverPid(mnt, isTsreverse)
    if (pid !== undefined) t.teardown(() => stopMount({ mnt, pid }))
    t.notOk(r.error, 'returned before the timeout')
    t.match(r.stdout, /^rc=0 out=/, readFileSync(log, 'utf8'))
    t.ok(isMounted(mnt), 'mounted')
    t.ok(pid !== undefined, 'served by the daemon')
  })
}

t.test('-fg stays in the foreground; SIGINT unmounts and exits with 15', async (t) => {
  const mnt = mountpoint(t)
  const child = spawn(process.execPath, [BIN, '-fg', '-passfile', passfile, src, mnt], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s))
  child.stdout.resume()
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  await waitFor('the -fg mount', () => isMounted(mnt) || child.exitCode !== null)
  t.ok(isMounted(mnt), `mounted (${stderr})`)
  t.equal(child.exitCode, null, 'still running')
  child.kill('SIGINT')
  t.equal(await exited, ExitCode.SigInt)
  t.notOk(isMounted(mnt), 'unmounted')
})

t.test('exit codes match gocryptfs', async (t) => {
  const dir = scratchDir(t)
  const wrong = path.join(dir, 'wrong')
  writeFileSync(wrong, 'not the password\n')
  const noConf = path.join(dir, 'no-conf')
  mkdirSync(noConf)
  const nonEmpty = path.join(dir, 'non-empty')
  mkdirSync(nonEmpty)
  writeFileSync(path.join(nonEmpty, 'x'), '')
  const notDir = path.join(dir, 'file')
  writeFileSync(notDir, '')
  const cases: [string, string[], number][] = [
    ['wrong password', ['-passfile', wrong, src, mountpoint(t)], ExitCode.PasswordIncorrect],
    ['missing config', ['-passfile', passfile, noConf, mountpoint(t)], ExitCode.Other],
    ['SRC missing', ['-passfile', passfile, path.join(dir, 'nonexistent'), mountpoint(t)], ExitCode.CipherDir],
    ['MNT not empty', ['-passfile', passfile, src, nonEmpty], ExitCode.MountPoint],
    ['MNT not a directory', ['-passfile', passfile, src, notDir], ExitCode.MountPoint],
    ['unknown -o option', ['-o', 'bogus', '-passfile', passfile, src, mountpoint(t)], ExitCode.Usage],
    ['MNT equal to SRC', ['-passfile', passfile, src, src], ExitCode.MountPoint],
    ['-longnamemax out of range, config used', ['-longnamemax', '10', '-passfile', passfile, src, mountpoint(t)], ExitCode.Usage],
  ]
  for (const [what, args, code] of cases) {
    const mnt = args[args.length - 1]!
    const ours = runCli(args)
    t.equal(ours.code, code, `${what}: tsreverse exits ${code} (${ours.stderr.trim()})`)
    t.notOk(isMounted(mnt), `${what}: nothing mounted`)
    const theirs = run('gocryptfs', ['-q', '-nosyslog', '-reverse', ...args])
    t.equal(theirs.status, code, `${what}: gocryptfs exits ${code} too`)
  }
})

t.test('a mount the kernel refuses: its reason is printed, exit 19 as gocryptfs', async (t) => {
  // In a private mount namespace /dev/fuse is /dev/null: the kernel refuses the mount (EINVAL).
  const refused = (cmd: string[]): ReturnType<typeof run> => run('unshare', ['-m', 'sh', '-c', 'mount --bind /dev/null /dev/fuse && exec "$@"', 'sh', ...cmd])
  const mnt = mountpoint(t)
  const ours = refused([process.execPath, BIN, '-fg', '-passfile', passfile, src, mnt])
  t.equal(ours.status, ExitCode.FuseNewServer, `exits 19 (${ours.stderr.trim()})`)
  t.match(ours.stderr, /tsreverse: cannot mount: fuse: mount failed: Invalid argument\n/, "the kernel's reason")
  t.notOk(isMounted(mnt), 'nothing mounted')
  const theirs = refused(['gocryptfs', '-q', '-nosyslog', '-fg', '-reverse', '-passfile', passfile, src, mnt])
  t.equal(theirs.status, ExitCode.FuseNewServer, 'gocryptfs exits 19 too')
})

t.test('a mount point inside the source: the view leaves itself out', async (t) => {
  const dir = scratchDir(t)
  const inner = path.join(dir, 'x')
  t.equal(run('cp', ['-a', src, inner]).status, 0)
  const mnt = path.join(inner, 'mnt')
  mkdirSync(mnt)
  mountOurs(t, ['-passfile', passfile, inner, mnt])
  const mntName = viewPath(base.masterKey, ['mnt'])[0]!
  t.notOk(readdirSync(mnt).includes(mntName), 'the mount point is not listed')
  t.equal(lstatCode(path.join(mnt, mntName)), 'EPERM')
  // Everything else is the view of the same tree without the mount point.
  const reference = mountOurs(t, ['-passfile', passfile, src, mountpoint(t)]).mnt
  t.equal(diffTrees(mnt, reference), '', 'same as the view of the tree without it')
})

t.test('the daemon runs with the memory settings, started as a program or as `node bin/tsreverse`', async (t) => {
  checkServerRuntime(t, mountOurs(t, ['-passfile', passfile, src, mountpoint(t)]).pid)
  const mnt = mountpoint(t)
  const r = run(BIN, ['-passfile', passfile, src, mnt])
  const pid = serverPid(mnt, isTsreverse)
  if (pid !== undefined) t.teardown(() => stopMount({ mnt, pid }))
  t.equal(r.status, 0, r.stderr)
  t.ok(pid !== undefined, 'served by tsreverse')
  if (pid !== undefined) checkServerRuntime(t, pid)
})

t.test('mount(8) with an fstab line of type fuse.tsreverse; umount ends the daemon', async (t) => {
  // mount.fuse finds the program through PATH; /usr/local/sbin is on it.
  const link = '/usr/local/sbin/tsreverse'
  if (lstatCode(link) === 'ENOENT') {
    symlinkSync(BIN, link)
    t.teardown(() => rmSync(link, { force: true }))
  } else if (!lstatSync(link).isSymbolicLink() || readlinkSync(link) !== BIN) {
    t.plan(0, `${link} exists and is not ours; not replacing it`)
    return
  }
  const dir = scratchDir(t)
  const mnt = mountpoint(t)
  const fstab = path.join(dir, 'fstab')
  writeFileSync(fstab, `${src} ${mnt} fuse.tsreverse reverse,passfile=${passfile},exclude=file-15,fsname=from-fstab 0 0\n`)
  const r = run('mount', ['--fstab', fstab, mnt], { timeoutMs: 30_000 })
  const pid = serverPid(mnt, (argv) => argv.includes(link))
  if (pid !== undefined) t.teardown(() => stopMount({ mnt, pid }))
  t.equal(r.status, 0, `mount: ${r.stderr}`)
  t.ok(pid !== undefined, 'served by tsreverse')
  if (pid !== undefined) checkServerRuntime(t, pid)
  const line = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .find((l) => l.split(' ')[1] === mnt)
  t.match(line ?? '', /^from-fstab \S+ fuse\.tsreverse ro,/, 'fsname and type')
  t.equal(lstatCode(inView(mnt, ['file-15'])), 'EPERM', 'exclude= applies')
  t.equal(lstatCode(inView(mnt, ['file-16'])), 'ok')
  const u = run('umount', [mnt])
  t.equal(u.status, 0, u.stderr)
  if (pid !== undefined) await waitFor('the daemon to exit', () => processGone(pid))
  t.notOk(isMounted(mnt))
})
