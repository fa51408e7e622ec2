// One huge directory through real mounts: `gocryptfs -reverse` and tsreverse serve the same
// source with the same config, and each listing command runs through both views. Measures what
// a root daemon must keep bounded whatever the tree: the server's peak RSS while it lists, its
// RSS a while after, the wall time, and how long a `stat` of another path waits meanwhile.
// Every (case, command) gets freshly started servers. Not part of the test suite.
// Usage: node dist/native-bench/listing.js [--entries 300000] [--cases plain,encrypted,long]
//        [--commands ls-l,ls-f,find,rsync] [--after 30] [--runs 1] [--timeout 300]
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import * as mounts from './servers.js'
import { BIN, type Server, type Tool } from './servers.js'
import { median, spread } from './stats.js'

const BASE_PARENT = '/var/tmp'
/** Files in the directory the prober stats, one after another: each stat reaches the server. */
const PROBE_FILES = 2000
const PROBE_PAUSE_MS = 5
/** A long name: past gocryptfs' 175-byte limit once encrypted, so it is hashed (longname + .name). */
const LONG_NAME_BYTES = 200

type Case = 'plain' | 'encrypted' | 'long'
type Command = 'ls-l' | 'ls-f' | 'find' | 'rsync'
const CASES: Record<Case, string> = {
  plain: 'short names, -plaintextnames',
  encrypted: 'short names, encrypted',
  long: `${LONG_NAME_BYTES}-byte names, encrypted (gocryptfs.longname.* + .name: twice the entries)`,
}
const COMMANDS: Record<Command, string> = {
  'ls-l': 'ls -l DIR > /dev/null',
  'ls-f': 'ls -f DIR | wc -l',
  find: 'find DIR | wc -l',
  rsync: 'rsync -a --dry-run DIR/ EMPTY/',
}

interface Options {
  entries: number
  cases: Case[]
  commands: Command[]
  afterS: number
  runs: number
  timeoutS: number
}

interface Sample {
  secs: number
  cpuS: number
  /** RSS just before the command (the idle floor of a fresh server). */
  idleKb: number
  /** Peak RSS while the command ran. */
  hwmKb: number
  /** RSS `afterS` seconds after the command ended. */
  afterKb: number
  /** What the command printed (the entry count of the counting commands). */
  out: string
  /** Slowest and 99th-percentile stat of another path meanwhile, ms, and how many ran. */
  probeMaxMs: number
  probeP99Ms: number
  probes: number
  load1: number
}

interface Context {
  base: string
  srcShort: string
  srcLong: string
  confs: { plain: string; encrypted: string }
  pass: string
  empty: string
  mnts: Record<Tool, string>
  ticks: number
  opts: Options
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      entries: { type: 'string', default: '300000' },
      cases: { type: 'string', default: 'plain,encrypted,long' },
      commands: { type: 'string', default: 'ls-l,ls-f,find,rsync' },
      after: { type: 'string', default: '30' },
      runs: { type: 'string', default: '1' },
      timeout: { type: 'string', default: '300' },
    },
  })
  const list = <T extends string>(s: string, known: Record<T, string>, what: string): T[] =>
    s.split(',').map((x) => {
      if (!(x in known)) throw new Error(`unknown ${what} ${x} (known: ${Object.keys(known).join(', ')})`)
      return x as T
    })
  const int = (s: string, what: string): number => {
    const n = Number(s)
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${what} must be a whole number`)
    return n
  }
  return {
    entries: int(values.entries, 'entries'),
    cases: list(values.cases, CASES, 'case'),
    commands: list(values.commands, COMMANDS, 'command'),
    afterS: int(values.after, 'after'),
    runs: Math.max(1, int(values.runs, 'runs')),
    timeoutS: Math.max(1, int(values.timeout, 'timeout')),
  }
}

const loadavg = (): number => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0])

/** `count` empty files named by `name(i)` in dir (made if missing). */
function fill(dir: string, count: number, name: (i: number) => string): void {
  mkdirSync(dir, { recursive: true })
  for (let i = 0; i < count; i++) closeSync(openSync(path.join(dir, name(i)), 'w'))
}

const shortName = (i: number): string => `file-${String(i).padStart(7, '0')}.dat`
const longName = (i: number): string => `${String(i).padStart(7, '0')}-`.padEnd(LONG_NAME_BYTES, 'x')

function startTool(ctx: Context, c: Case, tool: Tool): Promise<Server> {
  const mnt = ctx.mnts[tool]
  const src = c === 'long' ? ctx.srcLong : ctx.srcShort
  const common = ['-config', c === 'plain' ? ctx.confs.plain : ctx.confs.encrypted, '-passfile', ctx.pass]
  if (tool === 'gocryptfs') return mounts.startServer(tool, 'gocryptfs', ['-fg', '-reverse', ...common, src, mnt], mnt)
  // As a program: its #! line sets node's flags as for users.
  return mounts.startServer(tool, BIN, ['-fg', ...common, src, mnt], mnt)
}

/**
 * The view paths of the root's two directories, `big` and `other`, told apart by their size
 * (the plaintext directory's): listing `big` here would be a run of its own.
 */
function viewDirs(mnt: string): { big: string; other: string } {
  const dirs = readdirSync(mnt)
    .map((n) => path.join(mnt, n))
    .filter((p) => statSync(p).isDirectory())
    .sort((a, b) => statSync(b).size - statSync(a).size)
  if (dirs.length !== 2) throw new Error(`expected two directories in ${mnt}, found ${dirs.length}`)
  return { big: dirs[0]!, other: dirs[1]! }
}

// Stats each path in turn (a different one each time, so each reaches the server), pausing
// between them, until SIGTERM; then prints the count, the slowest and the 99th percentile in ms.
const PROBE_SCRIPT = `
const fs = require('fs')
const paths = fs.readFileSync(process.argv[1], 'utf8').split('\\n').filter(Boolean)
const pause = Number(process.argv[2])
const lat = []
let stop = false
process.on('SIGTERM', () => (stop = true))
process.stdout.write('ready\\n')
;(async () => {
  for (let i = 0; !stop; i++) {
    const t = process.hrtime.bigint()
    try { fs.statSync(paths[i % paths.length]) } catch {}
    lat.push(Number(process.hrtime.bigint() - t) / 1e6)
    await new Promise((r) => setTimeout(r, pause))
  }
  lat.sort((a, b) => a - b)
  process.stdout.write('\\n' + JSON.stringify({ n: lat.length, max: lat[lat.length - 1] ?? 0, p99: lat[Math.floor(lat.length * 0.99)] ?? 0 }))
})()
`

interface Prober {
  stop(): Promise<{ n: number; max: number; p99: number }>
}

/** Starts the prober and resolves once it is stat'ing. */
async function startProber(listFile: string): Promise<Prober> {
  const child = spawn(process.execPath, ['-e', PROBE_SCRIPT, listFile, String(PROBE_PAUSE_MS)], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  let ready!: () => void
  const started = new Promise<void>((resolve) => (ready = resolve))
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    out += s
    if (out.includes('\n')) ready()
  })
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()))
  await Promise.race([started, closed])
  return {
    async stop() {
      child.kill('SIGTERM')
      await closed
      const result = out.trim().split('\n').pop()!
      if (!result.startsWith('{')) throw new Error('the stat prober ended without its figures')
      return JSON.parse(result) as { n: number; max: number; p99: number }
    },
  }
}

/** What the command printed, or undefined when it ran past `timeoutS` (then it is killed). */
function runShell(script: string, dir: string, empty: string, timeoutS: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    // Its own process group, so the whole pipeline goes on a timeout.
    const child = spawn('sh', ['-c', script, 'sh', dir, empty], { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    let out = ''
    let err = ''
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      process.kill(-child.pid!, 'SIGKILL')
    }, timeoutS * 1000)
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s))
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s))
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      if (timedOut) resolve(undefined)
      else if (code === 0) resolve(out.trim())
      else reject(new Error(`${script}: ${err.trim() || `exit ${code}`}`))
    })
  })
}

const SCRIPTS: Record<Command, string> = {
  'ls-l': 'ls -l "$1" > /dev/null',
  'ls-f': 'ls -f "$1" | wc -l',
  find: 'find "$1" | wc -l',
  rsync: 'rsync -a --dry-run "$1"/ "$2"/',
}

const rssKb = (pid: number): number => parseInt(mounts.statusField(pid, 'VmRSS'), 10)

function rssOrNaN(pid: number): number {
  try {
    return rssKb(pid)
  } catch {
    return NaN
  }
}

/** One command through each view, on freshly started servers; the first tool alternates by `turn`. */
async function measure(ctx: Context, c: Case, cmd: Command, turn: number): Promise<Record<Tool, Sample>> {
  const tools: Tool[] = turn % 2 === 0 ? ['gocryptfs', 'tsreverse'] : ['tsreverse', 'gocryptfs']
  const servers = {} as Record<Tool, Server>
  try {
    for (const t of tools) servers[t] = await startTool(ctx, c, t)
    // Found before the runs (a short listing of the root and of the probe directory), then left to expire.
    const dirs = {} as Record<Tool, { big: string; probeList: string }>
    for (const t of tools) {
      const { big, other } = viewDirs(servers[t].mnt)
      const probeList = path.join(ctx.base, `probe-${t}`)
      writeFileSync(
        probeList,
        readdirSync(other)
          .map((n) => path.join(other, n))
          .join('\n'),
      )
      dirs[t] = { big, probeList }
    }
    await mounts.sleep(1500) // past the entry and attribute timeouts (1 s)
    const samples = {} as Record<Tool, Sample>
    const later: Promise<void>[] = []
    for (const t of tools) {
      const pid = servers[t].child.pid!
      mounts.takePeakKb(pid)
      const idleKb = rssKb(pid)
      const cpu0 = mounts.cpuSeconds(pid, ctx.ticks)
      const prober = await startProber(dirs[t].probeList)
      const start = performance.now()
      const out = await runShell(SCRIPTS[cmd], dirs[t].big, ctx.empty, ctx.opts.timeoutS)
      const secs = (performance.now() - start) / 1000
      const probe = await prober.stop()
      const sample: Sample = {
        secs,
        cpuS: mounts.cpuSeconds(pid, ctx.ticks) - cpu0,
        idleKb,
        hwmKb: mounts.takePeakKb(pid),
        afterKb: 0,
        out: out === undefined ? `TIMED OUT after ${ctx.opts.timeoutS} s` : cmd === 'ls-f' || cmd === 'find' ? out : '',
        probeMaxMs: probe.max,
        probeP99Ms: probe.p99,
        probes: probe.n,
        load1: loadavg(),
      }
      samples[t] = sample
      // NaN when the server is gone by then (a failed run stopped it).
      later.push(mounts.sleep(ctx.opts.afterS * 1000).then(() => void (sample.afterKb = rssOrNaN(pid))))
    }
    await Promise.all(later)
    return samples
  } finally {
    for (const t of tools) if (servers[t]) await mounts.stopServer(servers[t])
  }
}

const mb = (kb: number): string => (kb / 1024).toFixed(0)

function line(c: Case, cmd: Command, t: Tool, s: Sample): string {
  return (
    `${c.padEnd(9)} ${cmd.padEnd(5)} ${t.padEnd(9)} ${s.secs.toFixed(2).padStart(7)} s  cpu ${s.cpuS.toFixed(2).padStart(6)} s  ` +
    `idle ${mb(s.idleKb).padStart(4)}  peak ${mb(s.hwmKb).padStart(4)}  after ${mb(s.afterKb).padStart(4)} MB  ` +
    `stat max ${s.probeMaxMs.toFixed(1).padStart(7)} ms p99 ${s.probeP99Ms.toFixed(1).padStart(6)} ms (${s.probes})  ` +
    `load ${s.load1.toFixed(1)}${s.out ? `  out ${s.out}` : ''}`
  )
}

async function main(ctx: Context): Promise<void> {
  const { opts } = ctx
  mkdirSync(ctx.empty)
  for (const m of Object.values(ctx.mnts)) mkdirSync(m)
  writeFileSync(ctx.pass, randomBytes(16).toString('hex') + '\n', { mode: 0o600 })
  for (const [kind, conf] of Object.entries(ctx.confs)) {
    mkdirSync(path.dirname(conf))
    const flags = kind === 'plain' ? ['-plaintextnames'] : []
    const init = spawnSync(process.execPath, [BIN, '-init', '-q', '-scryptn', '10', ...flags, '-passfile', ctx.pass, path.dirname(conf)], { encoding: 'utf8' })
    if (init.status !== 0) throw new Error(`tsreverse -init failed: ${init.stderr.trim()}`)
  }
  process.stderr.write(`creating ${opts.entries} files per big directory under ${ctx.base} ...\n`)
  const needShort = opts.cases.some((c) => c !== 'long')
  const needLong = opts.cases.includes('long')
  for (const [need, src, name] of [
    [needShort, ctx.srcShort, shortName],
    [needLong, ctx.srcLong, longName],
  ] as const) {
    if (!need) continue
    fill(path.join(src, 'big'), opts.entries, name)
    fill(path.join(src, 'other'), PROBE_FILES, shortName)
    spawnSync('ls', ['-f', path.join(src, 'big')], { stdio: 'ignore' }) // into the dentry and inode caches
  }
  console.log(`${os.cpus().length} cores, node ${process.version}, ${mounts.gocryptfsVersion()}, tsreverse from ${path.dirname(BIN)}`)
  console.log(`one directory of ${opts.entries} empty files; fresh servers for each case and command; RSS ${opts.afterS} s after the command`)
  console.log(`a command still running after ${opts.timeoutS} s is killed and reported as timed out`)
  console.log(`stat prober: one stat every ${PROBE_PAUSE_MS} ms of the next of ${PROBE_FILES} files in another directory of the same mount`)
  for (const c of opts.cases) console.log(`case ${c}: ${CASES[c]}`)
  for (const cmd of opts.commands) console.log(`command ${cmd}: ${COMMANDS[cmd]}`)
  console.log(`load average at start: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`)
  const all = new Map<string, Sample[]>()
  let turn = 0
  for (let run = 0; run < opts.runs; run++) {
    for (const c of opts.cases) {
      for (const cmd of opts.commands) {
        const samples = await measure(ctx, c, cmd, turn++)
        for (const t of ['gocryptfs', 'tsreverse'] as const) {
          console.log(line(c, cmd, t, samples[t]))
          const key = `${c}/${cmd}/${t}`
          all.set(key, [...(all.get(key) ?? []), samples[t]])
        }
        if (samples.gocryptfs.out !== samples.tsreverse.out)
          console.log(`  MISMATCH: gocryptfs printed ${samples.gocryptfs.out}, tsreverse ${samples.tsreverse.out}`)
      }
    }
  }
  if (opts.runs > 1) {
    console.log('\nmedians (spread) over the runs, tsreverse / gocryptfs:')
    for (const c of opts.cases) {
      for (const cmd of opts.commands) {
        const g = all.get(`${c}/${cmd}/gocryptfs`)!
        const s = all.get(`${c}/${cmd}/tsreverse`)!
        const f = (xs: Sample[], k: keyof Sample, d = 0): string =>
          `${median(xs.map((x) => x[k] as number)).toFixed(d)} ${spread(
            xs.map((x) => x[k] as number),
            d,
          )}`
        console.log(
          `${c}/${cmd}: secs ${f(s, 'secs', 2)} / ${f(g, 'secs', 2)}; peak kB ${f(s, 'hwmKb')} / ${f(g, 'hwmKb')}; ` +
            `after kB ${f(s, 'afterKb')} / ${f(g, 'afterKb')}; stat max ms ${f(s, 'probeMaxMs', 1)} / ${f(g, 'probeMaxMs', 1)}`,
        )
      }
    }
  }
}

const opts = parseOptions()
const prereq = mounts.missingPrerequisite()
if (prereq) {
  console.log(`listing benchmark skipped: ${prereq}`)
} else {
  const base = realpathSync(mkdtempSync(path.join(BASE_PARENT, 'tsreverse-listing-')))
  const ctx: Context = {
    base,
    srcShort: path.join(base, 'src'),
    srcLong: path.join(base, 'src-long'),
    confs: { plain: path.join(base, 'conf-plain', '.gocryptfs.reverse.conf'), encrypted: path.join(base, 'conf', '.gocryptfs.reverse.conf') },
    pass: path.join(base, 'pass'),
    empty: path.join(base, 'empty'),
    mnts: { gocryptfs: path.join(base, 'mnt-gocryptfs'), tsreverse: path.join(base, 'mnt-tsreverse') },
    ticks: mounts.clockTicks(),
    opts,
  }
  await mounts.runBenchmark(
    'listing',
    () => main(ctx),
    () => [base],
  )
}
