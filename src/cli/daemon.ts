// Running a mount: in the foreground, or gocryptfs-style as a background process whose parent
// returns once the file system is usable (spec 7.3). Differences from gocryptfs, all deliberate:
// the child is spawned already detached (Node cannot setsid later) and reports "ready" over an
// IPC channel instead of SIGUSR1, and its stdout/stderr are pipes the parent forwards until then,
// so `$(tsreverse ...)` returns even with -nosyslog (only stderr is the caller's then). Like
// gocryptfs, the child keeps the caller's stdin until ready (password prompts), then /dev/null.
import { execFile, spawn } from 'node:child_process'
import { closeSync, openSync, statSync } from 'node:fs'
import { isatty } from 'node:tty'
import type { Writable } from 'node:stream'
import { ExitCode, UserError } from '../exitcodes.js'
import type { MountHandle } from '../fuse/adapter.js'
import { hardenServerProcess } from './harden.js'
import { sys } from '../native/sys.js'
import { serverEnv, serverExecArgv } from './runtime.js'

const READY_MESSAGE = 'Filesystem mounted and ready.'
const CHILD_MARKER = 'TSREVERSE_DAEMON_CHILD'
const DEFAULT_READY_TIMEOUT_MS = 60_000
const FLUSH_LIMIT_MS = 1000
const SYSLOG_SOCKET = '/dev/log' // where logger(1) sends by default

export interface RunMountOptions {
  fg: boolean
  nosyslog: boolean
  /** -q: no "Filesystem mounted and ready." line, as gocryptfs. */
  quiet?: boolean
  /** -notifypid: gets SIGUSR1 once the mount is ready (how gocryptfs' test suite waits for it). */
  notifyPid?: number
  /**
   * Does all the work of a mount (password, config, view, mountView) and returns the handle.
   * Runs only in the process that will serve the mount: in daemon mode that is the background
   * child, which has the caller's stdin (for password prompts) and forwards its stdout/stderr
   * until ready. Errors propagate as usual (the CLI prints them; the parent mirrors the exit code).
   */
  mount: (log: (msg: string) => void) => Promise<MountHandle>
  /** How long the parent waits for "ready" when stdin is not a terminal (no one is typing). */
  readyTimeoutMs?: number
  /**
   * Arguments for the background child in place of the caller's, and what it reads on a pipe
   * as stdin in place of the caller's stdin: keeps a secret out of the daemon's command line.
   */
  handoff?: { argv: string[]; stdin: string }
}

/** Never resolves: the process exits when the mount ends. Rejects if mounting fails. */
export async function runMount(opts: RunMountOptions): Promise<never> {
  await hardenServerProcess((msg) => process.stderr.write(`tsreverse: ${msg}\n`))
  if (opts.fg) return serve(opts, false)
  if (process.env[CHILD_MARKER] === '1' && process.send) {
    delete process.env[CHILD_MARKER] // not for programs the mount itself runs (-extpass)
    return serve(opts, true)
  }
  return waitForDaemon(opts)
}

/** Where log lines go: stderr until the daemon is ready, then syslog through logger(1). */
class LogSink {
  private logger: Writable | undefined
  private pending: Promise<void> = Promise.resolve()

  write(msg: string): void {
    const line = msg.replace(/\n/g, ' ') + '\n'
    if (!this.logger) {
      process.stderr.write(line)
      return
    }
    const logger = this.logger
    this.pending = new Promise((resolve) => logger.write(line, () => resolve()))
  }

  /**
   * Switches to syslog, or says on stderr (which the caller still sees) why the daemon will not
   * be heard from: logger(1) exits at once without the socket, and nothing would tell.
   */
  async toSyslog(quiet: boolean): Promise<void> {
    const lost = (why: string): void => {
      if (!quiet) this.write(`tsreverse: ${why}: the background process cannot log once it is ready; -nosyslog keeps its messages on this stderr`)
    }
    if (!isSocket(SYSLOG_SOCKET)) return lost(`no syslog socket at ${SYSLOG_SOCKET}`)
    const child = spawn('logger', ['-t', `tsreverse-${process.pid}`], { stdio: ['pipe', 'ignore', 'ignore'] })
    const started = await new Promise<Error | undefined>((resolve) => {
      child.once('spawn', () => resolve(undefined))
      child.once('error', resolve)
    })
    // Out of file descriptors spawn leaves stdin null.
    if (started || !child.stdin) return lost(`could not run logger(1) (${started?.message ?? 'no stdin'})`)
    child.stdin.on('error', () => {})
    this.logger = child.stdin
  }

  /** Lets the last lines reach logger before the process exits (bounded: logger may hang). */
  flush(): Promise<void> {
    return Promise.race([this.pending, new Promise<void>((r) => setTimeout(r, FLUSH_LIMIT_MS).unref())])
  }
}

function isSocket(p: string): boolean {
  try {
    return statSync(p).isSocket()
  } catch {
    return false
  }
}

async function serve(opts: RunMountOptions, daemon: boolean): Promise<never> {
  const sink = new LogSink()
  const log = (msg: string): void => sink.write(msg)
  // A vanished reader (the daemon's parent, a closed terminal) makes writes fail with EPIPE;
  // unhandled, that error would take the file system down with it.
  process.stdout.on('error', () => {})
  process.stderr.on('error', () => {})
  // Until there is a handle to unmount, a signal ends the process with gocryptfs' code; a mount
  // that already appeared stays behind dead (ENOTCONN) until the next mount clears it.
  let onSignal = (_signal: NodeJS.Signals): void => process.exit(ExitCode.SigInt)
  process.on('SIGINT', (s) => onSignal(s))
  process.on('SIGTERM', (s) => onSignal(s))
  const handle = await opts.mount(log)

  // Once serving, the process ends without Node's teardown (sys.exitNow): see native/sys.c.
  const exit = async (code: number): Promise<never> => {
    await sink.flush()
    return sys.exitNow(code)
  }
  let stopping = false
  onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) return
    stopping = true
    log(`${signal} received, unmounting`)
    handle.unmount().then(
      () => exit(ExitCode.SigInt),
      (err: Error) => {
        log(`unmount failed: ${err.message}`)
        return exit(ExitCode.SigInt)
      },
    )
  }
  void handle.closed.then((how) => {
    if (how !== 'external') return
    log('filesystem was unmounted externally, exiting')
    return exit(ExitCode.Success)
  })
  let crashed = false
  process.on('uncaughtException', (err) => {
    if (crashed) return
    crashed = true
    // The mount stays behind dead (ENOTCONN, a failed pull, never an empty directory); the next
    // mount on the same directory clears it.
    log(`internal error: ${err.stack ?? err.message}`)
    void exit(ExitCode.Other)
  })

  // Out of the source tree, which the working directory often is (mount(8) from a shell in it):
  // a core dump lands there, and it would keep the source's file system busy. When the source
  // is / itself no directory is outside it; then only a disabled core dump keeps keys out of it.
  process.chdir('/')
  if (daemon) {
    if (!opts.nosyslog) await sink.toSyslog(!!opts.quiet)
    releaseStdin()
    await new Promise<void>((resolve) => process.send!({ type: 'ready' }, () => resolve()))
    process.disconnect()
  } else if (!opts.quiet) {
    process.stdout.write(READY_MESSAGE + '\n')
  }
  notifySystemd(log)
  if (opts.notifyPid !== undefined && opts.notifyPid > 0) {
    try {
      process.kill(opts.notifyPid, 'SIGUSR1')
    } catch (err) {
      log(`could not notify process ${opts.notifyPid}: ${(err as Error).message}`)
    }
  }
  return new Promise<never>(() => {})
}

/**
 * Points fd 0 at /dev/null, so the daemon does not hold the caller's terminal or pipe (an ssh
 * session would wait for it). Safe even if process.stdin was used: libuv never closes fds 0-2.
 */
function releaseStdin(): void {
  try {
    closeSync(0)
    const fd = openSync('/dev/null', 'r')
    if (fd !== 0) closeSync(fd) // another thread took fd 0 in between; it is theirs now
  } catch {
    // stdin was already closed
  }
}

/**
 * systemd readiness (Type=notify). Node has no unix datagram sockets, so systemd-notify sends
 * it; MAINPID names us because the message comes from another process, which systemd only
 * accepts with NotifyAccess=all.
 */
function notifySystemd(log: (msg: string) => void): void {
  if (!process.env.NOTIFY_SOCKET) return
  execFile('systemd-notify', ['--no-block', '--ready', `--pid=${process.pid}`], (err) => {
    if (err) log(`could not notify systemd (systemd-notify: ${err.message.trim()})`)
  })
}

async function waitForDaemon(opts: RunMountOptions): Promise<never> {
  const handoff = opts.handoff
  const args = handoff?.argv ?? process.argv.slice(2)
  const child = spawn(process.execPath, [...serverExecArgv(process.execArgv), process.argv[1]!, ...args], {
    detached: true,
    env: { ...serverEnv(process.env), [CHILD_MARKER]: '1' },
    // stdin stays the caller's (password prompts, -masterkey=stdin) unless a handoff replaces
    // it; stdout never is, so command substitution returns when we do.
    stdio: [handoff ? 'pipe' : 'inherit', 'pipe', opts.nosyslog ? 'inherit' : 'pipe', 'ipc'],
  })
  if (handoff) {
    child.stdin!.on('error', () => {}) // a child that died early is reported by 'exit'
    child.stdin!.end(handoff.stdin)
  }
  child.stdout!.on('data', (d: Buffer) => process.stdout.write(d))
  child.stderr?.on('data', (d: Buffer) => process.stderr.write(d))

  // The child is in its own session, so a Ctrl-C at a password prompt reaches only us.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => child.kill(sig))

  return new Promise<never>((_, reject) => {
    const timeoutMs = opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS
    const timer = isatty(0)
      ? undefined
      : setTimeout(() => {
          child.kill('SIGTERM')
          reject(new UserError(`the background process did not get ready within ${timeoutMs / 1000} s`, ExitCode.ForkChild))
        }, timeoutMs)

    child.on('error', (err) => {
      clearTimeout(timer)
      reject(new UserError(`could not start the background process: ${err.message}`, ExitCode.ForkChild))
    })
    child.on('message', (msg: { type?: string }) => {
      if (msg?.type !== 'ready') return
      clearTimeout(timer)
      // The child wrote its last stderr lines before sending "ready"; they are already
      // readable and get forwarded in this loop iteration, before setImmediate runs.
      setImmediate(() => process.stdout.write(opts.quiet ? '' : READY_MESSAGE + '\n', () => process.exit(ExitCode.Success)))
    })
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      // 'close' follows once the forwarded pipes are drained, unless a grandchild still holds
      // them: do not wait long for that.
      const done = (): never => {
        if (signal) process.stderr.write(`tsreverse: background process killed by ${signal}\n`)
        else if (code === 0) process.stderr.write('tsreverse: background process exited before the mount was ready\n')
        process.exit(code || ExitCode.ForkChild)
      }
      child.on('close', done)
      setTimeout(done, FLUSH_LIMIT_MS)
    })
  })
}
