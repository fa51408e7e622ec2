// Processes for fault tests, all children of the test process and killed by PID on teardown:
// a mount server in the foreground (ours or gocryptfs, optionally under a descriptor limit),
// whose exit code and output the test sees, and stream readers (stream-reader.ts).
import { spawn } from 'node:child_process'
import path from 'node:path'
import { BIN } from './cli.js'
import { isMounted, libDir, waitFor } from './mounts.js'

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
  return { pid: child.pid!, mnt, exited, output: () => out, alive }
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
