import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { closeSync, openSync, readFileSync, readlinkSync, statSync } from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { ExitCode } from '../src/exitcodes.js'
import { childPids, cmdline, isMounted, libDir, processGone, sh, tempMountpoint, waitFor, type Result } from './lib/mounts.js'

const script = path.join(libDir, 'daemon-script.js')

/** logger(1) needs this socket; without it the daemon says it cannot log. */
const hasSyslog = ((): boolean => {
  try {
    return statSync('/dev/log').isSocket()
  } catch {
    return false
  }
})()
const NO_SYSLOG_NOTE = /no syslog socket at \/dev\/log: the background process cannot log once it is ready; -nosyslog keeps/

/** Whether pid has a listening TCP socket (an open inspector). */
async function listens(pid: number): Promise<boolean> {
  const r = await sh('ss -Hltnp')
  if (r.code !== 0) throw new Error(`ss failed: ${r.stderr}`)
  return r.stdout.includes(`pid=${pid},`)
}

/** The NODE_* variables in the environment of pid. */
const nodeVariables = (pid: number): string[] =>
  readFileSync(`/proc/${pid}/environ`, 'utf8')
    .split('\0')
    .filter((v) => v.startsWith('NODE_'))

/** Like `out=$(daemon-script MNT ...)`: resolves only once stdout and stderr are closed. */
function capture(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [script, ...args], { timeout: 15_000, env }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr })
    })
  })
}

/** The daemon's PID, read from the mount it serves; killed by PID on teardown if still there. */
function daemonPid(t: Test, mnt: string): number {
  const pid = Number(readFileSync(path.join(mnt, 'pid'), 'utf8'))
  t.teardown(() => {
    if (!processGone(pid) && cmdline(pid).includes(script)) process.kill(pid, 'SIGKILL')
  })
  return pid
}

t.test('daemon: the parent returns ready, $(...) does not hang, SIGTERM unmounts', async (t) => {
  const mnt = tempMountpoint(t)
  const started = Date.now()
  const r = await capture([mnt])
  t.equal(r.code, 0, 'parent exits 0')
  t.equal(r.stdout, 'Filesystem mounted and ready.\n', 'and prints the ready line on stdout')
  t.match(r.stderr, /mounting memview/, 'log lines before ready reach the caller')
  t.ok(Date.now() - started < 10_000, 'command substitution returned promptly')
  t.ok(isMounted(mnt), 'mounted when the parent returns')

  const pid = daemonPid(t, mnt)
  t.not(pid, process.pid)
  t.equal(readlinkSync(`/proc/${pid}/cwd`), '/', 'the daemon left its working directory')
  t.equal(readlinkSync(`/proc/${pid}/fd/0`), '/dev/null', "and let go of the caller's stdin")
  const loggers = childPids(pid)
    .map(cmdline)
    .filter((c) => c[0] === 'logger')
  if (hasSyslog) {
    t.same(loggers, [['logger', '-t', `tsreverse-${pid}`]], 'logs go to syslog through logger')
  } else {
    t.same(loggers, [], 'no syslog socket: no logger')
    t.match(r.stderr, NO_SYSLOG_NOTE, 'and the caller is told the daemon cannot log')
  }

  process.kill(pid, 'SIGTERM')
  await waitFor('unmount', () => !isMounted(mnt))
  await waitFor('daemon exit', () => processGone(pid))
  t.pass('SIGTERM unmounted and ended the daemon')
})

t.test('daemon -q: nothing on stderr about syslog', async (t) => {
  const mnt = tempMountpoint(t)
  const r = await capture([mnt, '-q'])
  t.equal(r.code, 0)
  daemonPid(t, mnt)
  t.notMatch(r.stderr, /syslog|logger/)
})

t.test('daemon: without logger(1) the caller is told the daemon cannot log', { skip: !hasSyslog && 'no syslog socket here' }, async (t) => {
  const mnt = tempMountpoint(t)
  const r = await capture([mnt], { ...process.env, PATH: '/nonexistent' })
  t.equal(r.code, 0)
  daemonPid(t, mnt)
  t.match(r.stderr, /could not run logger\(1\) \(.*ENOENT.*\): the background process cannot log once it is ready/)
})

t.test('daemon: SIGUSR1 opens no debugger, the mount goes on', async (t) => {
  const mnt = tempMountpoint(t)
  t.equal((await capture([mnt])).code, 0)
  const pid = daemonPid(t, mnt)
  process.kill(pid, 'SIGUSR1')
  await new Promise((r) => setTimeout(r, 500))
  t.notOk(await listens(pid), 'nothing listens (node would open its inspector on 127.0.0.1:9229)')
  t.notOk(processGone(pid), 'still running')
  t.equal(Number(readFileSync(path.join(mnt, 'pid'), 'utf8')), pid, 'still serving')
})

t.test("daemon: the caller's NODE_OPTIONS and inspector do not reach the daemon", async (t) => {
  const mnt = tempMountpoint(t)
  // Through env(1), without tap's hooks: tap puts them into the NODE_OPTIONS of every child it
  // sees spawned, and in the parent they would do the same for the daemon.
  const options = 'NODE_OPTIONS=--inspect=127.0.0.1:0 NODE_DEBUG=fs'
  const r = await sh(`env -u NODE_OPTIONS ${options} '${process.execPath}' '${script}' '${mnt}'`)
  t.equal(r.code, 0, r.stderr)
  t.match(r.stderr, /closed the debugger that node was started with/, 'the parent closed its own inspector')
  t.equal(r.stderr.match(/Debugger listening/g)?.length, 1, 'the daemon never opened one')
  const pid = daemonPid(t, mnt)
  t.same(
    nodeVariables(pid).filter((v) => !v.startsWith('NODE_CHANNEL_')),
    [],
    "no NODE_* variable but the IPC channel's",
  )
  t.notOk(await listens(pid), 'no debugger in the daemon')
})

t.test('daemon: an external unmount ends the daemon', async (t) => {
  const mnt = tempMountpoint(t)
  t.equal((await capture([mnt])).code, 0)
  const pid = daemonPid(t, mnt)
  t.equal((await sh(`fusermount -u '${mnt}'`)).code, 0)
  await waitFor('daemon exit', () => processGone(pid), 5000)
  t.pass('daemon exited')
})

t.test('daemon: SIGKILL leaves a dead mount, not one kept alive by a child (the logger)', async (t) => {
  const mnt = tempMountpoint(t)
  t.equal((await capture([mnt])).code, 0)
  const pid = daemonPid(t, mnt)
  process.kill(pid, 'SIGKILL')
  // A child holding the FUSE descriptor would keep the connection up, unserved: readers hang.
  await waitFor('the mount to be dead', async () => (await sh(`stat '${mnt}/pid'`)).stderr.includes('not connected'), 5000)
  t.ok(isMounted(mnt), 'still listed, dead: readers get an error, not the directory under it')
})

t.test("daemon: a failing mount makes the parent exit with the child's code and message", async (t) => {
  const mnt = tempMountpoint(t)
  const r = await capture([path.join(mnt, 'missing')])
  t.equal(r.code, ExitCode.MountPoint)
  t.equal(r.stdout, '', 'no ready line')
  t.match(r.stderr, /daemon-script: invalid mountpoint .*missing/, "the child's error text is forwarded")
})

t.test('daemon: a child that never gets ready is stopped after the timeout', async (t) => {
  const mnt = tempMountpoint(t)
  const r = await capture([mnt, '-hang'], { ...process.env, READY_TIMEOUT_MS: '300' })
  t.equal(r.code, ExitCode.ForkChild)
  t.match(r.stderr, /did not get ready within 0.3 s/)
  // The bracket keeps pgrep from matching the shell that runs it.
  await waitFor('child gone', () => sh(`pgrep -f '[d]aemon-script.js ${mnt} -hang'`).then((p) => p.code === 1))
  t.pass('the child was terminated')
})

t.test("daemon -nosyslog: the daemon keeps logging to the caller's stderr", async (t) => {
  const mnt = tempMountpoint(t)
  const logFile = path.join(path.dirname(mnt), 'stderr.log')
  const fd = openSync(logFile, 'w')
  const parent = spawn(process.execPath, [script, mnt, '-nosyslog'], { stdio: ['ignore', 'pipe', fd] })
  closeSync(fd)
  let out = ''
  parent.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s))
  const code = await new Promise((r) => parent.on('close', r))
  t.equal(code, 0)
  t.equal(out, 'Filesystem mounted and ready.\n')
  const pid = daemonPid(t, mnt)
  t.same(
    childPids(pid)
      .map(cmdline)
      .filter((c) => c[0] === 'logger'),
    [],
    'no logger',
  )
  process.kill(pid, 'SIGTERM')
  await waitFor('daemon exit', () => processGone(pid))
  t.match(readFileSync(logFile, 'utf8'), /mounting memview\n(.|\n)*SIGTERM received, unmounting\n/)
})

function foreground(t: Test, mnt: string, env: NodeJS.ProcessEnv = process.env): Promise<{ child: ChildProcess; exit: Promise<number | null> }> {
  const child = spawn(process.execPath, [script, mnt, '-fg'], { stdio: ['ignore', 'pipe', 'pipe'], env })
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
  let out = ''
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s))
  return waitFor('ready', () => out === 'Filesystem mounted and ready.\n').then(() => ({ child, exit }))
}

t.test('foreground: SIGTERM unmounts and exits 15, an external unmount exits 0', async (t) => {
  const mnt = tempMountpoint(t)
  const a = await foreground(t, mnt)
  t.equal(Number(readFileSync(path.join(mnt, 'pid'), 'utf8')), a.child.pid, 'served by the foreground process')
  t.equal(readlinkSync(`/proc/${a.child.pid}/cwd`), '/', 'which left its working directory')
  a.child.kill('SIGTERM')
  t.equal(await a.exit, ExitCode.SigInt)
  t.notOk(isMounted(mnt), 'unmounted')

  const b = await foreground(t, mnt)
  t.equal((await sh(`fusermount -u '${mnt}'`)).code, 0)
  t.equal(await b.exit, ExitCode.Success)
})

t.test('foreground: readiness is sent to NOTIFY_SOCKET', async (t) => {
  if ((await sh('command -v python3 && command -v systemd-notify')).code !== 0) {
    t.comment('python3 or systemd-notify missing: skipped')
    return
  }
  const mnt = tempMountpoint(t)
  const sock = path.join(path.dirname(mnt), 'notify.sock')
  const receiver = spawn(
    'python3',
    [
      '-c',
      [
        'import socket, sys',
        's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
        `s.bind(${JSON.stringify(sock)})`,
        's.settimeout(10)',
        'print("bound", flush=True)',
        'print(s.recv(4096).decode(), flush=True)',
      ].join('\n'),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  t.teardown(() => {
    if (receiver.exitCode === null) receiver.kill('SIGKILL')
  })
  let got = ''
  receiver.stdout!.setEncoding('utf8').on('data', (s: string) => (got += s))
  await waitFor('receiver', () => got.startsWith('bound\n'))
  const { child } = await foreground(t, mnt, { ...process.env, NOTIFY_SOCKET: sock })
  await waitFor('notification', () => got.includes('READY=1'))
  t.match(got, new RegExp(`READY=1\\nMAINPID=${child.pid}\\b`))
  child.kill('SIGTERM')
})

t.test('foreground: an inspector opened by NODE_OPTIONS is closed, SIGUSR1 opens none', async (t) => {
  const mnt = tempMountpoint(t)
  const { child, exit } = await foreground(t, mnt, { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --inspect=127.0.0.1:0` })
  t.notOk(await listens(child.pid!), 'closed before the mount was ready')
  child.kill('SIGUSR1')
  await new Promise((r) => setTimeout(r, 500))
  t.notOk(await listens(child.pid!), 'not reopened by SIGUSR1')
  t.equal(child.exitCode, null, 'still running')
  child.kill('SIGTERM')
  t.equal(await exit, ExitCode.SigInt)
})
