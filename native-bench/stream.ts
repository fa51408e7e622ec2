// Streaming-read benchmark through real mounts: `gocryptfs -reverse` and tsreverse serve the same
// source with the same config side by side, and `cat` reads the same view file through each in
// alternating order (ABBA), so load from other processes on the machine hits both alike.
// Memory and cost at idle are measured in the same run: RSS of the freshly mounted servers left
// alone, peak RSS per phase, RSS some time after the last read, and FUSE requests per small file
// by opcode, counted from both servers' -fusedebug output in a separate pass.
// Not part of the test suite. Needs root or a working fusermount, and gocryptfs (else it skips).
// Usage: node dist/native-bench/stream.js [--size-mib 512] [--runs 5] [--parallel 4] [--tsreverse-flags='-threads 0']
//        [--idle-wait 3] [--settle 30] [--count-files 100] [--busy-core]
import { spawnSync } from 'node:child_process'
import { randomBytes, randomFillSync } from 'node:crypto'
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, realpathSync, statSync, writeFileSync, writeSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { cpuLine } from '../src/cli/speed.js'
import { plainToCipherSize } from '../src/format/sizes.js'
import {
  BIN,
  TOOLS,
  clockTicks,
  cpuSeconds,
  freshIdle,
  gocryptfsVersion,
  missingPrerequisite,
  pageCacheShare,
  run,
  rssKb,
  runBenchmark,
  sleep,
  startBusyCore,
  startServer,
  stopBusyCore,
  stopServer,
  takePeakKb,
  type Server,
  type Tool,
} from './servers.js'
import { countRequests, perFileLine } from './requests.js'
import { median, spread } from './stats.js'

const MIB = 1 << 20
const WRITE_CHUNK = 8 * MIB
// Page cache, not tmpfs: the plaintext is read the way a backup reads a real disk.
const BASE_PARENT = '/var/tmp'
// The counting pass reads SMALL_DIR: --count-files files of 0..SMALL_MAX_BYTES random bytes.
const SMALL_DIR = 'small'
const SMALL_MAX_BYTES = 2048

/** One timed read pass per tool. */
interface Sample {
  mbs: number
  cpuS: number
}

const servers: Server[] = []
let base: string | undefined

interface Options {
  sizeMib: number
  runs: number
  parallel: number
  tsFlags: string[]
  idleWait: number
  settle: number
  countFiles: number
  busyCore: boolean
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      'size-mib': { type: 'string', default: '512' },
      runs: { type: 'string', default: '5' },
      parallel: { type: 'string', default: '4' },
      // Extra flags for the tsreverse server, e.g. '-threads 1', to compare its settings.
      'tsreverse-flags': { type: 'string', default: '' },
      'idle-wait': { type: 'string', default: '3' },
      settle: { type: 'string', default: '30' },
      'count-files': { type: 'string', default: '100' },
      // One core kept busy during the timed runs: the busy-host case.
      'busy-core': { type: 'boolean', default: false },
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
  const idleWait = Number(values['idle-wait'])
  const settle = Number(values.settle)
  if (!(idleWait >= 0) || !(settle >= 0)) throw new Error('--idle-wait and --settle must be seconds >= 0')
  const countFiles = int('count-files', values['count-files']!, 0)
  return { sizeMib, runs, parallel, tsFlags, idleWait, settle, countFiles, busyCore: values['busy-core']! }
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
      const secs = await timeCats(
        names.map((n) => path.join(s.mnt, n)),
        devNull,
      )
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

/** Small files of random content for the counting pass. */
function writeSmallFiles(dir: string, n: number): void {
  mkdirSync(dir)
  const buf = Buffer.allocUnsafe(SMALL_MAX_BYTES)
  for (let i = 0; i < n; i++) {
    const size = (i * 7919) % (SMALL_MAX_BYTES + 1)
    randomFillSync(buf, 0, size)
    writeFileSync(path.join(dir, `small-${String(i).padStart(5, '0')}`), buf.subarray(0, size))
  }
}

/**
 * FUSE requests per small file by opcode: `cat` of every file in SMALL_DIR through a fresh server
 * with -fusedebug, counting only the requests the command caused.
 */
async function countingPass(start: (tool: Tool, debug: boolean) => Promise<Server>, files: number, devNull: number): Promise<void> {
  console.log(`\nFUSE requests per file by opcode: find DIR -type f -exec cat {} + on ${files} files of 0..${SMALL_MAX_BYTES} bytes,`)
  console.log('a fresh server per tool, counted from its -fusedebug output (one line per request)')
  for (const tool of TOOLS) {
    const server = await start(tool, true)
    try {
      // go-fuse's own start-up requests come just after the mount appears.
      await sleep(1000)
      // The one directory in the view's root is SMALL_DIR's; finding it lists only the root.
      const dir = readdirSync(server.mnt, { withFileTypes: true }).find((e) => e.isDirectory())
      if (!dir) throw new Error(`no directory in the view ${server.mnt}`)
      const from = server.output.length
      await run('find', [path.join(server.mnt, dir.name), '-type', 'f', '-exec', 'cat', '{}', '+'], devNull)
      // The last replies' lines may still be on their way.
      await sleep(200)
      console.log(`cat  ${tool.padEnd(11)}${perFileLine(countRequests(tool, server.output.slice(from)), files)}`)
    } finally {
      await stopServer(server)
    }
  }
}

interface Memory {
  idleKb: number
  idleTicks: number
  /** Peak RSS per phase, in the order of `phases`. */
  peaks: number[]
  settleKb?: number
}

function reportMemory(phases: string[], memory: Map<Tool, Memory>, opts: Options): void {
  const mb = (kb: number): string => (kb / 1000).toFixed(1)
  console.log(`\nmemory in MB (10^6 bytes): idle = RSS of the fresh server left alone ${opts.idleWait} s, idle-ticks = its CPU ticks then;`)
  console.log(`peaks = VmHWM while each phase ran (reset between phases); after-reads = RSS ${opts.settle} s after the last read (- when not measured)`)
  const head = ['tool', 'idle', 'idle-ticks', ...phases, 'peak', 'after-reads']
  const widths = head.map((h) => Math.max(h.length, 6) + 2)
  console.log(head.map((h, i) => (i === 0 ? h.padEnd(12) : h.padStart(widths[i]!))).join(''))
  for (const [tool, m] of memory) {
    const row = [mb(m.idleKb), String(m.idleTicks), ...m.peaks.map(mb), mb(Math.max(...m.peaks)), m.settleKb === undefined ? '-' : mb(m.settleKb)]
    console.log(tool.padEnd(12) + row.map((c, i) => c.padStart(widths[i + 1]!)).join(''))
  }
}

async function main(): Promise<void> {
  const opts = parseOptions()
  const missing = missingPrerequisite()
  if (missing) {
    console.log(`stream benchmark skipped: ${missing}`)
    return
  }
  const ticks = clockTicks()
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
  if (opts.countFiles > 0) writeSmallFiles(path.join(src, SMALL_DIR), opts.countFiles)

  const init = spawnSync(BIN, ['-init', '-scryptn', '10', '-passfile', pass, src], { encoding: 'utf8' })
  if (init.status !== 0) throw new Error(`tsreverse -init failed: ${init.stderr.trim()}`)

  const start = (tool: Tool, debug: boolean): Promise<Server> => {
    const common = ['-fg', ...(debug ? ['-fusedebug'] : []), '-passfile', pass]
    if (tool === 'gocryptfs') return startServer(tool, 'gocryptfs', [...common, '-reverse', src, mnts.gocryptfs], mnts.gocryptfs)
    // Run as a program, so that its #! line sets node's flags as for users (src/cli/runtime.ts).
    return startServer(tool, BIN, [...common, ...opts.tsFlags, src, mnts.tsreverse], mnts.tsreverse)
  }
  const go = await start('gocryptfs', false)
  const ts = await start('tsreverse', false)
  servers.push(go, ts)
  const byTool = new Map<Tool, Server>([
    ['gocryptfs', go],
    ['tsreverse', ts],
  ])
  // Both left alone together; the start-up peak (unlocking the key) is not a phase's.
  const idle = await Promise.all(servers.map((s) => freshIdle(s.child.pid!, opts.idleWait)))
  const memory = new Map<Tool, Memory>(servers.map((s, i) => [s.tool, { idleKb: idle[i]!.rssKb, idleTicks: idle[i]!.ticks, peaks: [] }]))
  const phaseEnd = (): void => {
    for (const s of servers) memory.get(s.tool)!.peaks.push(takePeakKb(s.child.pid!))
  }
  for (const s of servers) takePeakKb(s.child.pid!)

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
  phaseEnd()

  const devNull = openSync('/dev/null', 'w')
  for (const f of plainFiles) await run('cat', [f], devNull)

  console.log(cpuLine())
  console.log(`${os.cpus().length} cores, node ${process.version}, ${gocryptfsVersion()}, tsreverse from ${path.dirname(BIN)}`)
  console.log(
    `source ${src}: ${opts.sizeMib} MiB random in stream.bin${opts.parallel ? `, ${opts.parallel} x ${opts.sizeMib / opts.parallel} MiB in part-*.bin` : ''}`,
  )
  console.log(`plaintext read once before the runs: ${pageCacheShare(plainFiles)}`)
  console.log(
    `servers: gocryptfs -fg -reverse (pid ${go.child.pid}), tsreverse -fg${opts.tsFlags.map((f) => ` ${f}`).join('')} (pid ${ts.child.pid}); same config`,
  )
  console.log(
    `kernel read_ahead_kb: gocryptfs ${readAheadKb(go.mnt)}, tsreverse ${readAheadKb(ts.mnt)}; views opened without keep_cache, so every run reads through FUSE`,
  )
  console.log(`views byte-identical: ${compared} files compared with cmp`)
  console.log('MB/s = 10^6 bytes of view (ciphertext) per second; CPU s = user+system time of the server process during the run')
  if (opts.busyCore) console.log('busy host: one process spins on a core at normal priority during the timed runs (--busy-core)')

  const phases = ['cmp']
  const spinner = opts.busyCore ? startBusyCore() : undefined
  try {
    await measure(
      `single reader: cat VIEW/stream.bin > /dev/null, ${(bigView / 1e6).toFixed(1)} MB per run`,
      bigName,
      bigView,
      opts.runs,
      byTool,
      devNull,
      ticks,
    )
    phaseEnd()
    phases.push('single')
    if (opts.parallel) {
      const total = plainToCipherSize(partBytes) * opts.parallel
      await measure(
        `${opts.parallel} parallel readers: one cat per part-*.bin, ${(total / 1e6).toFixed(1)} MB per run`,
        partNames,
        total,
        opts.runs,
        byTool,
        devNull,
        ticks,
      )
      phaseEnd()
      phases.push('parallel')
    }
  } finally {
    if (spinner) stopBusyCore(spinner)
  }
  if (opts.settle > 0) {
    await sleep(opts.settle * 1000)
    for (const s of servers) memory.get(s.tool)!.settleKb = rssKb(s.child.pid!)
  }
  reportMemory(phases, memory, opts)
  for (const s of servers.splice(0)) await stopServer(s)
  if (opts.countFiles > 0) await countingPass(start, opts.countFiles, devNull)
  closeSync(devNull)
}

await runBenchmark('stream', main, () => [base])
