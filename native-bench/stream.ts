// Streaming-read benchmark through real mounts: `gocryptfs -reverse` and tsreverse serve the same
// source with the same config side by side, and `cat` reads the same view file through each in
// alternating order (ABBA), so load from other processes on the machine hits both alike.
// Not part of the test suite. Needs root or a working fusermount, and gocryptfs (else it skips).
// Usage: node dist/native-bench/stream.js [--size-mib 512] [--runs 5] [--parallel 4] [--tsreverse-flags '-threads 0']
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes, randomFillSync } from 'node:crypto'
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { cpuLine } from '../src/cli/speed.js'
import { plainToCipherSize } from '../src/format/sizes.js'
import { findMount, parseMountinfo } from '../src/fuse/mountinfo.js'
import { median, spread } from './stats.js'

const BIN = fileURLToPath(new URL('../../bin/tsreverse', import.meta.url))
const MIB = 1 << 20
const WRITE_CHUNK = 8 * MIB
const MOUNT_WAIT_MS = 30_000
const EXIT_WAIT_MS = 5_000
// Page cache, not tmpfs: the plaintext is read the way a backup reads a real disk.
const BASE_PARENT = '/var/tmp'

type Tool = 'gocryptfs' | 'tsreverse'
const TOOLS: readonly Tool[] = ['gocryptfs', 'tsreverse']

interface Server {
  tool: Tool
  mnt: string
  child: ChildProcess
  output: string
  exited: Promise<void>
}

/** One timed read pass per tool. */
interface Sample {
  mbs: number
  cpuS: number
}

const servers: Server[] = []
let base: string | undefined
let cleaning: Promise<void> | undefined
/** Set on SIGINT/SIGTERM/SIGHUP: reads failing because the mounts went away are then expected. */
let interrupted = false

function parseOptions(): { sizeMib: number; runs: number; parallel: number; tsFlags: string[] } {
  const { values } = parseArgs({
    options: {
      'size-mib': { type: 'string', default: '512' },
      runs: { type: 'string', default: '5' },
      parallel: { type: 'string', default: '4' },
      // Extra flags for the tsreverse server, e.g. '-threads 1', to compare its settings.
      'tsreverse-flags': { type: 'string', default: '' },
    },
  })
  const int = (name: string, v: string, min: number): number => {
    const n = Number(v)
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}`)
    return n
  }
  const sizeMib = int('size-mib', values['size-mib']!, 1)
  const runs = int('runs', values.runs!, 1)
  const parallel = int('parallel', values.parallel!, 0)
  if (parallel === 1) throw new Error('--parallel must be 0 (off) or at least 2')
  if (parallel > 0 && sizeMib % parallel !== 0) throw new Error('--size-mib must be a multiple of --parallel')
  const tsFlags = values['tsreverse-flags']!.split(/\s+/).filter((f) => f !== '')
  return { sizeMib, runs, parallel, tsFlags }
}

/** Why the benchmark cannot run here, or undefined. */
function missingPrerequisite(): string | undefined {
  if (spawnSync('gocryptfs', ['-version']).error) return 'gocryptfs not found in PATH'
  if (spawnSync('fusermount', ['-V']).error) return 'fusermount not found in PATH'
  if (!existsSync('/dev/fuse')) return '/dev/fuse does not exist'
  return undefined
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

function isMounted(mnt: string): boolean {
  return findMount(parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')), mnt) !== undefined
}

/** Runs a command to completion; rejects with its stderr on a non-zero exit. */
function run(cmd: string, args: string[], stdout: 'ignore' | number = 'ignore'): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', stdout, 'pipe'] })
    let err = ''
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s))
    child.on('error', reject)
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')}: ${err.trim() || `exit ${code}`}`))))
  })
}

function writeRandomFile(file: string, bytes: number): void {
  const fd = openSync(file, 'w')
  const chunk = Buffer.allocUnsafe(WRITE_CHUNK)
  try {
    for (let left = bytes; left > 0; left -= WRITE_CHUNK) {
      const n = Math.min(left, WRITE_CHUNK)
      randomFillSync(chunk, 0, n)
      writeSync(fd, chunk, 0, n)
    }
  } finally {
    closeSync(fd)
  }
}

/**
 * Starts a server in the foreground as our child (so its PID is known exactly) in its own
 * session (so a Ctrl-C reaches only us and we unmount in order), and waits for its mount.
 */
async function startServer(tool: Tool, cmd: string, args: string[], mnt: string): Promise<Server> {
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<void>((resolve) => {
    child.on('exit', () => resolve())
    child.on('error', () => resolve())
  })
  const server: Server = { tool, mnt, child, output: '', exited }
  servers.push(server)
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

/** user + system CPU seconds the process has used so far (all its threads). */
function cpuSeconds(pid: number, ticksPerSecond: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after the ")" that ends the command name start at field 3; utime and stime are 14, 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond
}

function statusField(pid: number, field: string): string {
  const m = new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m?.[1]?.trim() ?? '?'
}

/** The kernel read-ahead of a FUSE mount: its backing device info is named after st_dev. */
function readAheadKb(mnt: string): string {
  const dev = statSync(mnt).dev
  const major = (dev >> 8) & 0xfff
  const minor = (dev & 0xff) | ((dev >> 12) & 0xfff00)
  try {
    return readFileSync(`/sys/class/bdi/${major}:${minor}/read_ahead_kb`, 'utf8').trim()
  } catch {
    return '?'
  }
}

/** Resident share of files in the page cache per fincore(1), or a note that it is unavailable. */
function pageCacheShare(files: string[]): string {
  const r = spawnSync('fincore', ['--bytes', '--noheadings', '--raw', '--output', 'RES,SIZE', ...files], { encoding: 'utf8' })
  if (r.status !== 0) return 'fincore unavailable'
  let res = 0
  let size = 0
  for (const line of r.stdout.trim().split('\n')) {
    const [a, b] = line.split(' ').map(Number)
    res += a!
    size += b!
  }
  return `${((100 * res) / size).toFixed(1)}% resident per fincore`
}

/** View file names by size; the views must list the same names. */
function viewFilesBySize(mnts: string[]): Map<number, string[]> {
  const listings = mnts.map((m) => readdirSync(m).sort())
  const [first, ...rest] = listings
  for (const [i, l] of rest.entries()) {
    if (l.join('\n') !== first!.join('\n')) throw new Error(`views list different names: ${mnts[0]} and ${mnts[i + 1]}`)
  }
  const bySize = new Map<number, string[]>()
  for (const name of first!) {
    const st = statSync(path.join(mnts[0]!, name))
    if (!st.isFile()) continue
    bySize.set(st.size, [...(bySize.get(st.size) ?? []), name])
  }
  return bySize
}

/** Reads every file concurrently with one cat each; returns the wall-clock seconds. */
async function timeCats(files: string[], devNull: number): Promise<number> {
  const start = performance.now()
  await Promise.all(files.map((f) => run('cat', [f], devNull)))
  return (performance.now() - start) / 1000
}

async function measure(
  label: string,
  names: string[],
  viewBytes: number,
  runs: number,
  byTool: Map<Tool, Server>,
  devNull: number,
  ticks: number,
): Promise<Map<Tool, Sample[]>> {
  const samples = new Map<Tool, Sample[]>(TOOLS.map((t) => [t, []]))
  console.log(`\n${label}`)
  console.log(`run  first      ${TOOLS.map((t) => `${t} MB/s`.padStart(16)).join('')}${TOOLS.map((t) => `${t} CPU s`.padStart(17)).join('')}`)
  for (let r = 0; r < runs; r++) {
    const order = r % 2 === 0 ? TOOLS : [...TOOLS].reverse()
    for (const tool of order) {
      const s = byTool.get(tool)!
      const cpu0 = cpuSeconds(s.child.pid!, ticks)
      const secs = await timeCats(names.map((n) => path.join(s.mnt, n)), devNull)
      const cpuS = cpuSeconds(s.child.pid!, ticks) - cpu0
      samples.get(tool)!.push({ mbs: viewBytes / secs / 1e6, cpuS })
    }
    const cell = (t: Tool, f: (x: Sample) => string, w: number): string => f(samples.get(t)![r]!).padStart(w)
    console.log(
      `${String(r + 1).padEnd(5)}${order[0]!.padEnd(11)}` +
        TOOLS.map((t) => cell(t, (x) => x.mbs.toFixed(1), 16)).join('') +
        TOOLS.map((t) => cell(t, (x) => x.cpuS.toFixed(2), 17)).join(''),
    )
  }
  const med = (t: Tool): number => median(samples.get(t)!.map((x) => x.mbs))
  for (const t of TOOLS) {
    const mbs = samples.get(t)!.map((x) => x.mbs)
    const cpuPerGb = median(samples.get(t)!.map((x) => x.cpuS / (viewBytes / 1e9)))
    console.log(`median ${t.padEnd(10)} ${med(t).toFixed(1).padStart(7)} MB/s ${spread(mbs)}, daemon CPU ${cpuPerGb.toFixed(2)} s per GB read`)
  }
  console.log(`ratio tsreverse/gocryptfs (medians): ${(med('tsreverse') / med('gocryptfs')).toFixed(2)}`)
  return samples
}

async function main(): Promise<void> {
  const opts = parseOptions()
  const missing = missingPrerequisite()
  if (missing) {
    console.log(`stream benchmark skipped: ${missing}`)
    return
  }
  const ticks = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100
  // mountinfo shows canonical paths; /var/tmp may be a symlink elsewhere.
  base = realpathSync(mkdtempSync(path.join(BASE_PARENT, 'tsreverse-stream-')))
  const src = path.join(base, 'src')
  const pass = path.join(base, 'pass')
  const mnts = { gocryptfs: path.join(base, 'mnt-gocryptfs'), tsreverse: path.join(base, 'mnt-tsreverse') }
  for (const d of [src, mnts.gocryptfs, mnts.tsreverse]) mkdirSync(d)
  writeFileSync(pass, randomBytes(16).toString('hex') + '\n', { mode: 0o600 })

  const bigBytes = opts.sizeMib * MIB
  const partBytes = opts.parallel ? bigBytes / opts.parallel : 0
  const plainFiles = [path.join(src, 'stream.bin')]
  for (let i = 0; i < opts.parallel; i++) plainFiles.push(path.join(src, `part-${i}.bin`))
  process.stderr.write(`writing ${plainFiles.length} random files under ${src} ...\n`)
  writeRandomFile(plainFiles[0]!, bigBytes)
  for (const f of plainFiles.slice(1)) writeRandomFile(f, partBytes)

  const init = spawnSync(BIN, ['-init', '-scryptn', '10', '-passfile', pass, src], { encoding: 'utf8' })
  if (init.status !== 0) throw new Error(`tsreverse -init failed: ${init.stderr.trim()}`)

  const go = await startServer('gocryptfs', 'gocryptfs', ['-fg', '-reverse', '-passfile', pass, src, mnts.gocryptfs], mnts.gocryptfs)
  // Run as a program, so that its #! line sets node's flags as for users (src/cli/runtime.ts).
  const ts = await startServer('tsreverse', BIN, ['-fg', ...opts.tsFlags, '-passfile', pass, src, mnts.tsreverse], mnts.tsreverse)
  const byTool = new Map<Tool, Server>([['gocryptfs', go], ['tsreverse', ts]])

  // Comparing every view file byte for byte also warms both servers (JIT, caches) before timing.
  process.stderr.write('comparing the two views with cmp ...\n')
  const bySize = viewFilesBySize([go.mnt, ts.mnt])
  let compared = 0
  for (const names of bySize.values()) {
    for (const n of names) {
      await run('cmp', [path.join(go.mnt, n), path.join(ts.mnt, n)])
      compared++
    }
  }
  const bigView = plainToCipherSize(bigBytes)
  const bigName = bySize.get(bigView)
  const partNames = opts.parallel ? bySize.get(plainToCipherSize(partBytes)) : []
  if (bigName?.length !== 1 || partNames?.length !== opts.parallel) throw new Error('view files do not have the expected sizes')

  const devNull = openSync('/dev/null', 'w')
  for (const f of plainFiles) await run('cat', [f], devNull)

  const gocryptfsVersion = spawnSync('gocryptfs', ['-version'], { encoding: 'utf8' }).stdout.split(';')[0]!.trim()
  console.log(cpuLine())
  console.log(`${os.cpus().length} cores, node ${process.version}, ${gocryptfsVersion}, tsreverse from ${path.dirname(BIN)}`)
  console.log(`source ${src}: ${opts.sizeMib} MiB random in stream.bin${opts.parallel ? `, ${opts.parallel} x ${opts.sizeMib / opts.parallel} MiB in part-*.bin` : ''}`)
  console.log(`plaintext read once before the runs: ${pageCacheShare(plainFiles)}`)
  console.log(`servers: gocryptfs -fg -reverse (pid ${go.child.pid}), tsreverse -fg${opts.tsFlags.map((f) => ` ${f}`).join('')} (pid ${ts.child.pid}); same config`)
  console.log(`kernel read_ahead_kb: gocryptfs ${readAheadKb(go.mnt)}, tsreverse ${readAheadKb(ts.mnt)}; views opened without keep_cache, so every run reads through FUSE`)
  console.log(`views byte-identical: ${compared} files compared with cmp`)
  console.log('MB/s = 10^6 bytes of view (ciphertext) per second; CPU s = user+system time of the server process during the run')

  await measure(`single reader: cat VIEW/stream.bin > /dev/null, ${(bigView / 1e6).toFixed(1)} MB per run`, bigName, bigView, opts.runs, byTool, devNull, ticks)
  if (opts.parallel) {
    const total = plainToCipherSize(partBytes) * opts.parallel
    await measure(`${opts.parallel} parallel readers: one cat per part-*.bin, ${(total / 1e6).toFixed(1)} MB per run`, partNames, total, opts.runs, byTool, devNull, ticks)
  }
  console.log('\npeak RSS (VmHWM) over the whole session, including the cmp pass:')
  for (const s of servers) console.log(`  ${s.tool.padEnd(10)} ${statusField(s.child.pid!, 'VmHWM')} (VmRSS now ${statusField(s.child.pid!, 'VmRSS')})`)
  closeSync(devNull)
}

/** Unmounts both views, waits for the servers, removes the source. Safe to call more than once. */
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const s of servers) {
      if (!isMounted(s.mnt)) continue
      if (spawnSync('fusermount', ['-u', s.mnt]).status !== 0) spawnSync('fusermount', ['-u', '-z', s.mnt])
    }
    for (const s of servers) {
      const gone = await Promise.race([s.exited.then(() => true), sleep(EXIT_WAIT_MS).then(() => false)])
      if (!gone) {
        process.stderr.write(`${s.tool} (pid ${s.child.pid}) still running after unmount; killing it\n`)
        s.child.kill('SIGKILL')
      }
    }
    if (base) rmSync(base, { recursive: true, force: true })
  })()
  return cleaning
}

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
  if (!interrupted) process.stderr.write(`stream benchmark failed: ${(err as Error).message}\n`)
} finally {
  await cleanup()
}
