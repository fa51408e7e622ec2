// Processes for fault tests, all children of the test process and killed by PID on teardown:
// a mount server in the foreground (ours or gocryptfs, optionally under a descriptor limit),
// whose exit code and output the test sees, stream readers (stream-reader.ts) and probes (any
// command that may hang in the kernel, so it never runs in the test process itself).
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { findMount, parseMountinfo } from '../../src/fuse/mountinfo.js'
import { BIN } from './cli.js'
import { isMounted, libDir, processGone, waitFor } from './mounts.js'

interface Teardown {
  teardown(fn: () => void | Promise<void>): void
}

/** How long a fault may take to settle before the test calls it a hang. */
export const BOUND_MS = 30_000

const READER = path.join(libDir, 'stream-reader.js')

/** Rejects when p has not settled within ms: the thing waited for hangs. */
export function within<T>(what: string, p: Promise<T>, ms = BOUND_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still pending after ${ms / 1000} s`)), ms)
  })
  return Promise.race([p, limit]).finally(() => clearTimeout(timer))
}

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface Server {
  pid: number
  mnt: string
  /** The FUSE connection's number (/sys/fs/fuse/connections/N): the minor of the mount's device. */
  connection: number
  exited: Promise<Exit>
  /** stdout and stderr so far. */
  output(): string
  alive(): boolean
}

export interface ServerOptions {
  /** Serve with gocryptfs -reverse instead of ours. */
  gocryptfs?: boolean
  /** RLIMIT_NOFILE, soft and hard, through prlimit(1), which execs the server (same PID). */
  nofile?: number
  /** Starts the server with RLIMIT_CORE unlimited (prlimit(1) too). */
  coreUnlimited?: boolean
  extra?: string[]
}

/** A foreground server of src at mnt (-fg -nosyslog); resolves once the mount is there. */
export async function startServer(t: Teardown, src: string, passfile: string, mnt: string, opts: ServerOptions = {}): Promise<Server> {
  const args = ['-fg', '-nosyslog', '-passfile', passfile, ...(opts.extra ?? []), src, mnt]
  // Run as a program, as users and mount(8) do: its #! line brings the server's memory settings.
  let argv = opts.gocryptfs ? ['gocryptfs', '-reverse', '-q', ...args] : [BIN, ...args]
  if (opts.nofile !== undefined) argv = ['prlimit', `--nofile=${opts.nofile}:${opts.nofile}`, ...argv]
  if (opts.coreUnlimited) argv = ['prlimit', '--core=unlimited', ...argv]
  // tap puts its hooks into NODE_OPTIONS of every child it sees spawned; they load modules in
  // the server's workers and write a file when it exits, which is not what users run.
  argv = ['env', '-u', 'NODE_OPTIONS', ...argv]
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s))
  child.stderr.setEncoding('utf8').on('data', (s: string) => (out += s))
  const exited = new Promise<Exit>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
  const alive = (): boolean => child.exitCode === null && child.signalCode === null
  t.teardown(() => {
    if (alive()) child.kill('SIGKILL')
  })
  // tsreverse says when it serves: a dead mount left on mnt by a killed server looks mounted too.
  const ready = (): boolean => (opts.gocryptfs ? isMounted(mnt) : out.includes('Filesystem mounted and ready.'))
  await waitFor(`${argv[3]} to mount ${mnt}`, () => ready() || !alive(), BOUND_MS)
  if (!alive()) throw new Error(`${argv.join(' ')} exited before mounting: ${out}`)
  const device = findMount(parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')), mnt)!.device
  const server = { pid: child.pid!, mnt, connection: Number(device.split(':')[1]), exited, output: () => out, alive }
  t.teardown(() => abortIfStuck(server))
  return server
}

/**
 * The last resort when a server outlives SIGKILL (its threads stuck in requests to a FUSE
 * mount, possibly its own): abort its connection. Only while the process lives, so the
 * connection number cannot have been reused by someone else's mount meanwhile.
 */
async function abortIfStuck(server: Pick<Server, 'pid' | 'connection'>): Promise<void> {
  try {
    process.kill(server.pid, 'SIGCONT') // SIGKILL does end a stopped process, but not one in D state
    process.kill(server.pid, 'SIGKILL')
  } catch {
    return // gone
  }
  if (
    await waitFor(`server ${server.pid} to exit`, () => processGone(server.pid), 5000).then(
      () => true,
      () => false,
    )
  )
    return
  // fusectl is not always mounted (containers): without it there is nothing to write to.
  if (readdirSync('/sys/fs/fuse/connections').length === 0) {
    spawnSync('mount', ['-t', 'fusectl', 'fusectl', '/sys/fs/fuse/connections'])
  }
  const abort = `/sys/fs/fuse/connections/${server.connection}/abort`
  if (existsSync(abort)) writeFileSync(abort, '1')
  await waitFor(`server ${server.pid} to exit after the abort`, () => processGone(server.pid), 5000).catch(() => {})
}

export interface ProbeResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

export interface Probe {
  pid: number
  done: Promise<ProbeResult>
}

/** Runs argv in a child process, killed (by PID, with SIGKILL) on teardown if still running. */
export function startProbe(t: Teardown, argv: string[]): Probe {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s))
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s))
  const done = new Promise<ProbeResult>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })))
  return { pid: child.pid!, done }
}

/** How long a request that should answer may take (the machine may be busy with other tests). */
export const ANSWER_MS = 10_000

/** argv's result, run in a child process; rejects when it has not ended within ms. */
export function answer(t: Teardown, argv: string[], ms = ANSWER_MS): Promise<ProbeResult> {
  return within(argv.join(' '), startProbe(t, argv).done, ms)
}

/** True when p is still pending after ms. */
export function pendingAfter(p: Promise<unknown>, ms: number): Promise<boolean> {
  return Promise.race([
    p.then(
      () => false,
      () => false,
    ),
    new Promise<boolean>((r) => setTimeout(() => r(true), ms)),
  ])
}

/** What a reader got: all of the file, or an error after `bytes` bytes; sha256 of what it read. */
export type ReadResult = { ok: true; bytes: number; sha256: string } | { ok: false; code: string; bytes: number; sha256: string }

export interface Reader {
  /** Resolves after the first chunk (or when the reader ended before one). */
  started: Promise<void>
  done: Promise<ReadResult>
}

/** Streams file to its end in a child process, pausing pauseMs after each MiB. */
export function startReader(t: Teardown, file: string, pauseMs = 0): Reader {
  const child = spawn(process.execPath, [READER, file, String(pauseMs)], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  let out = ''
  let err = ''
  let onStart!: () => void
  const started = new Promise<void>((resolve) => (onStart = resolve))
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    out += s
    if (out.startsWith('started\n')) onStart()
  })
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s))
  const done = new Promise<ReadResult>((resolve, reject) => {
    child.on('close', (code, signal) => {
      onStart()
      const last = out.trim().split('\n').pop() ?? ''
      const ok = /^ok (\d+) ([0-9a-f]{64})$/.exec(last)
      const failed = /^error (\S+) (\d+) ([0-9a-f]{64})$/.exec(last)
      if (ok && code === 0) resolve({ ok: true, bytes: Number(ok[1]), sha256: ok[2]! })
      else if (failed && code === 1) resolve({ ok: false, code: failed[1]!, bytes: Number(failed[2]), sha256: failed[3]! })
      else reject(new Error(`reader of ${file} ended oddly (exit ${code}, signal ${signal}): ${out}${err}`))
    })
  })
  return { started, done }
}
