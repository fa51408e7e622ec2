// What the mount benchmarks share: `gocryptfs -reverse` and tsreverse started as our own
// children (so their PIDs, CPU time and peak RSS are known exactly), commands run to completion,
// and an orderly unmount. Not part of the test suite.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { findMount, parseMountinfo } from '../src/fuse/mountinfo.js'

export const BIN = fileURLToPath(new URL('../../bin/tsreverse', import.meta.url))
const MOUNT_WAIT_MS = 30_000
const EXIT_WAIT_MS = 5_000

export type Tool = 'gocryptfs' | 'tsreverse'
export const TOOLS: readonly Tool[] = ['gocryptfs', 'tsreverse']

export interface Server {
  tool: Tool
  mnt: string
  child: ChildProcess
  output: string
  exited: Promise<void>
}

/** Every server started and not yet stopped, for cleanup on any exit path. */
const running = new Set<Server>()
/** Every --busy-core spinner started and not yet killed. */
const spinners = new Set<ChildProcess>()

/** Why a mount benchmark cannot run here, or undefined. */
export function missingPrerequisite(): string | undefined {
  if (spawnSync('gocryptfs', ['-version']).error) return 'gocryptfs not found in PATH'
  if (spawnSync('fusermount', ['-V']).error) return 'fusermount not found in PATH'
  if (!existsSync('/dev/fuse')) return '/dev/fuse does not exist'
  return undefined
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export function isMounted(mnt: string): boolean {
  return findMount(parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')), mnt) !== undefined
}

/** Runs a command to completion; rejects with its stderr on a non-zero exit. */
export function run(cmd: string, args: string[], stdout: 'ignore' | number = 'ignore'): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', stdout, 'pipe'] })
    let err = ''
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s))
    child.on('error', reject)
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')}: ${err.trim() || `exit ${code}`}`))))
  })
}

/**
 * Starts a server in the foreground as our child (so its PID is known exactly) in its own
 * session (so a Ctrl-C reaches only us and we unmount in order), and waits for its mount.
 */
export async function startServer(tool: Tool, cmd: string, args: string[], mnt: string, env?: NodeJS.ProcessEnv): Promise<Server> {
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env })
  const exited = new Promise<void>((resolve) => {
    child.on('exit', () => resolve())
    child.on('error', () => resolve())
  })
  const server: Server = { tool, mnt, child, output: '', exited }
  running.add(server)
  for (const s of [child.stdout!, child.stderr!]) s.setEncoding('utf8').on('data', (d: string) => (server.output += d))
  const deadline = Date.now() + MOUNT_WAIT_MS
  while (!isMounted(mnt)) {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
      throw new Error(`${tool} exited before mounting: ${server.output.trim()}`)
    }
    if (Date.now() > deadline) throw new Error(`${tool} did not mount within ${MOUNT_WAIT_MS / 1000} s: ${server.output.trim()}`)
    await sleep(50)
  }
  return server
}

/** Unmounts (lazily if busy) and waits for the server to exit, killing it after 5 s. */
export async function stopServer(s: Server): Promise<void> {
  if (isMounted(s.mnt) && spawnSync('fusermount', ['-u', s.mnt]).status !== 0) spawnSync('fusermount', ['-u', '-z', s.mnt])
  const gone = await Promise.race([s.exited.then(() => true), sleep(EXIT_WAIT_MS).then(() => false)])
  if (!gone) {
    process.stderr.write(`${s.tool} (pid ${s.child.pid}) still running after unmount; killing it\n`)
    s.child.kill('SIGKILL')
  }
  running.delete(s)
}

/**
 * Runs a benchmark with cleanup on every way out (success, error, SIGINT/SIGTERM/SIGHUP): every
 * server is stopped, then the directories `scratch()` names at that time are removed.
 */
export async function runBenchmark(name: string, main: () => Promise<void>, scratch: () => (string | undefined)[]): Promise<void> {
  let interrupted = false
  let cleaning: Promise<void> | undefined
  const cleanup = (): Promise<void> =>
    (cleaning ??= (async () => {
      for (const c of [...spinners]) stopBusyCore(c)
      for (const s of [...running]) await stopServer(s)
      for (const d of scratch()) if (d) rmSync(d, { recursive: true, force: true })
    })())
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      interrupted = true
      process.stderr.write(`\n${sig}: cleaning up\n`)
      void cleanup().finally(() => process.exit(128 + os.constants.signals[sig]))
    })
  }
  try {
    await main()
  } catch (err) {
    process.exitCode = 1
    // Failures because the mounts went away on a signal are expected.
    if (!interrupted) process.stderr.write(`${name} benchmark failed: ${(err as Error).message}\n`)
  } finally {
    await cleanup()
  }
}

/** user + system CPU seconds the process has used so far (all its threads). */
export function cpuSeconds(pid: number, ticksPerSecond: number): number {
  return cpuTicks(pid) / ticksPerSecond
}

export function clockTicks(): number {
  return Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100
}

/**
 * The busy-host case: a process at normal priority that keeps one core busy until stopBusyCore
 * kills it (by its PID, as our own child).
 */
export function startBusyCore(): ChildProcess {
  const child = spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' })
  child.on('error', (e) => process.stderr.write(`--busy-core: ${e.message}\n`))
  spinners.add(child)
  return child
}

export function stopBusyCore(child: ChildProcess): void {
  child.kill('SIGKILL')
  spinners.delete(child)
}

export function statusField(pid: number, field: string): string {
  const m = new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m?.[1]?.trim() ?? '?'
}

/** Resident set size now, in kB. */
export const rssKb = (pid: number): number => parseInt(statusField(pid, 'VmRSS'), 10)

/** CPU clock ticks (user + system, all threads) the process has used so far. */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after the ")" that ends the command name start at field 3; utime and stime are 14, 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(fields[11]) + Number(fields[12])
}

/**
 * A freshly mounted server left alone for `waitS` seconds: its RSS then and the CPU ticks it
 * used meanwhile (zero for a server that does nothing at idle).
 */
export async function freshIdle(pid: number, waitS: number): Promise<{ rssKb: number; ticks: number }> {
  const t0 = cpuTicks(pid)
  await sleep(waitS * 1000)
  return { rssKb: rssKb(pid), ticks: cpuTicks(pid) - t0 }
}

/**
 * Peak RSS so far in kB, then resets the peak (clear_refs 5), so the next reading covers only
 * what follows: a server's start-up peak (the key derivation: scrypt takes 64 MiB for a moment)
 * is then reported apart from its peak while serving.
 */
export function takePeakKb(pid: number): number {
  const kb = parseInt(statusField(pid, 'VmHWM'), 10)
  writeFileSync(`/proc/${pid}/clear_refs`, '5')
  return kb
}

export function gocryptfsVersion(): string {
  return spawnSync('gocryptfs', ['-version'], { encoding: 'utf8' }).stdout.split(';')[0]!.trim()
}

/** Resident share of the files' pages in the page cache per fincore(1), or a note that it is unavailable. */
export function pageCacheShare(files: string[]): string {
  const page = 4096
  let resident = 0
  let pages = 0
  // Batches keep the argument list within the kernel's limit on big trees.
  for (let i = 0; i < files.length; i += 2000) {
    const r = spawnSync('fincore', ['--bytes', '--noheadings', '--raw', '--output', 'PAGES,SIZE', ...files.slice(i, i + 2000)], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    })
    if (r.status !== 0) return 'fincore unavailable'
    for (const line of r.stdout.trim().split('\n')) {
      const [p, size] = line.split(' ').map(Number)
      resident += p!
      pages += Math.ceil(size! / page)
    }
  }
  return `${((100 * resident) / (pages || 1)).toFixed(1)}% of pages resident per fincore`
}
