// Whole-tree benchmark through real mounts: `gocryptfs -reverse` and tsreverse serve the same
// source tree with the same config, and the same commands walk each view in alternating order.
// The commands are gocryptfs' own reverse-mode benchmark (ls -lR, find -exec cat) plus the
// backup it is for (rsync -a into an empty directory, then again with nothing changed).
// Every timed run gets a freshly started server, so neither the kernel's dentry/attribute
// caches of the mount nor the server's own caches carry over from an earlier run.
// Not part of the test suite. Needs root or a working fusermount, gocryptfs and a source tree.
// Usage: node dist/native-bench/tree.js [--source DIR | --generate N] [--runs 3] [--phases ls,cat,rsync]
//        [--tools gocryptfs,tsreverse] [--dest DIR] [--tsreverse-flags='...'] [--node-flags='...']
import { spawnSync } from 'node:child_process'
import { randomBytes, randomFillSync } from 'node:crypto'
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { serverEnv, serverExecArgv } from '../src/cli/runtime.js'
import { cpuLine } from '../src/cli/speed.js'
import * as mounts from './servers.js'
import { BIN, TOOLS, type Server, type Tool } from './servers.js'
import { median, spread } from './stats.js'

const BASE_PARENT = '/var/tmp'
const KERNEL_TREE = '/var/tmp/linux-source-6.1'
const KERNEL_TAR = '/usr/src/linux-source-6.1.tar.xz'
// The generated tree: FILES_PER_DIR files per leaf directory, FANOUT leaf directories per top one.
const FILES_PER_DIR = 50
const FANOUT = 128
const GENERATED_MAX_BYTES = 2048

type Phase = 'ls' | 'cat' | 'rsync' | 'rsync-nochange'
/** tsreverse/gocryptfs time ratios the project aims for (issue #6). */
const TARGETS: Record<Phase, number> = { ls: 1.0, cat: 0.6, rsync: 0.7, 'rsync-nochange': 1.0 }
const RSS_TARGET_KB = 150 * 1000
const COMMANDS: Record<Phase, string> = {
  ls: 'ls -lR MNT > /dev/null',
  cat: 'find MNT -type f -exec cat {} + > /dev/null',
  rsync: 'rsync -a MNT/ DEST/  (DEST empty)',
  'rsync-nochange': 'rsync -a MNT/ DEST/  (again, nothing changed)',
}

interface Options {
  source: string | undefined
  generate: number
  runs: number
  phases: Phase[]
  tools: Tool[]
  dest: string
  tsFlags: string[]
  nodeFlags: string[]
}

interface Sample {
  secs: number
  cpuS: number
  /** Peak RSS while the command ran. */
  hwmKb: number
  /** Peak RSS from the server's start to its mount being ready. */
  startKb: number
  load1: number
}

interface Context {
  src: string
  conf: string
  pass: string
  mnts: Record<Tool, string>
  dests: Record<Tool, string>
  opts: Options
  ticks: number
  devNull: number
  samples: Map<string, Sample[]> // `${phase}/${tool}`
}

let base: string | undefined
const cleanupDirs: string[] = []

const words = (s: string): string[] => s.split(/[\s,]+/).filter((w) => w !== '')

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      source: { type: 'string' },
      generate: { type: 'string', default: '0' },
      runs: { type: 'string', default: '3' },
      phases: { type: 'string', default: 'ls,cat,rsync' },
      tools: { type: 'string', default: TOOLS.join(',') },
      // tmpfs by default: the destination's disk is not what is measured.
      dest: { type: 'string', default: existsSync('/dev/shm') ? '/dev/shm' : BASE_PARENT },
      'tsreverse-flags': { type: 'string', default: '' },
      // Flags for node running tsreverse, e.g. '--cpu-prof', on top of the server's own.
      'node-flags': { type: 'string', default: '' },
    },
  })
  const runs = Number(values.runs)
  const generate = Number(values.generate)
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be an integer >= 1')
  if (!Number.isInteger(generate) || generate < 0) throw new Error('--generate must be an integer >= 0')
  if (generate > 0 && values.source !== undefined) throw new Error('--source and --generate exclude each other')
  const phases: Phase[] = []
  for (const p of words(values.phases!)) {
    if (p === 'rsync') phases.push('rsync', 'rsync-nochange')
    else if (p === 'ls' || p === 'cat') phases.push(p)
    else throw new Error(`unknown phase ${p} (ls, cat, rsync)`)
  }
  const tools = words(values.tools!).map((t) => {
    if (!(TOOLS as string[]).includes(t)) throw new Error(`unknown tool ${t}`)
    return t as Tool
  })
  return {
    source: values.source,
    generate,
    runs,
    phases,
    tools,
    dest: values.dest!,
    tsFlags: words(values['tsreverse-flags']!),
    nodeFlags: words(values['node-flags']!),
  }
}

/** The tree to serve, or why there is none. */
function sourceTree(opts: Options): { dir: string } | { skip: string } {
  if (opts.source !== undefined) {
    return existsSync(opts.source) && statSync(opts.source).isDirectory() ? { dir: realpathSync(opts.source) } : { skip: `${opts.source} is not a directory` }
  }
  if (existsSync(KERNEL_TREE)) return { dir: KERNEL_TREE }
  const how = existsSync(KERNEL_TAR)
    ? `extract it: tar xJf ${KERNEL_TAR} -C ${BASE_PARENT}`
    : `apt-get install linux-source-6.1, then tar xJf ${KERNEL_TAR} -C ${BASE_PARENT}`
  return { skip: `no kernel tree at ${KERNEL_TREE} (${how}), and neither --source nor --generate given` }
}

/** N small files of random content (0..2 KiB) in directories of 50, two levels deep. */
function generateTree(dir: string, files: number): void {
  const buf = Buffer.allocUnsafe(GENERATED_MAX_BYTES)
  let n = 0
  for (let top = 0; n < files; top++) {
    for (let leaf = 0; leaf < FANOUT && n < files; leaf++) {
      const d = path.join(dir, `dir-${String(top).padStart(4, '0')}`, `sub-${String(leaf).padStart(4, '0')}`)
      mkdirSync(d, { recursive: true })
      for (let i = 0; i < FILES_PER_DIR && n < files; i++, n++) {
        const size = (n * 7919) % (GENERATED_MAX_BYTES + 1)
        randomFillSync(buf, 0, size)
        writeFileSync(path.join(d, `file-${String(i).padStart(6, '0')}.c`), buf.subarray(0, size))
      }
    }
  }
}

/** Regular files under dir, for the page-cache report. */
function plainFiles(dir: string): string[] {
  const out: string[] = []
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name))
  }
  return out
}

function treeCounts(dir: string): string {
  const r = spawnSync('sh', ['-c', 'find "$1" -type f | wc -l; find "$1" -type d | wc -l; du -sh --apparent-size "$1" | cut -f1', 'sh', dir], {
    encoding: 'utf8',
  })
  const [files, dirs, size] = r.stdout.trim().split('\n')
  return `${files} files, ${dirs} directories, ${size}B apparent size`
}

const loadavg = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')

function startTool(ctx: Context, tool: Tool): Promise<Server> {
  const mnt = ctx.mnts[tool]
  const common = ['-config', ctx.conf, '-passfile', ctx.pass]
  if (tool === 'gocryptfs') return mounts.startServer(tool, 'gocryptfs', ['-fg', '-reverse', ...common, ctx.src, mnt], mnt)
  const args = ['-fg', ...common, ...ctx.opts.tsFlags, ctx.src, mnt]
  // As a program, its #! line sets node's flags as for users; extra node flags keep those too.
  if (ctx.opts.nodeFlags.length === 0) return mounts.startServer(tool, BIN, args, mnt)
  return mounts.startServer(tool, process.execPath, [...serverExecArgv(ctx.opts.nodeFlags), BIN, ...args], mnt, serverEnv(process.env))
}

/** The command of a phase as [cmd, args]. */
function command(phase: Phase, mnt: string, dest: string): [string, string[]] {
  switch (phase) {
    case 'ls':
      return ['ls', ['-lR', mnt]]
    case 'cat':
      return ['find', [mnt, '-type', 'f', '-exec', 'cat', '{}', '+']]
    case 'rsync':
    case 'rsync-nochange':
      return ['rsync', ['-a', `${mnt}/`, `${dest}/`]]
  }
}

/** One timed run on a freshly mounted server, which is stopped afterwards. */
async function timedRun(ctx: Context, phase: Phase, tool: Tool, stdout: number): Promise<Sample> {
  const server = await startTool(ctx, tool)
  try {
    const pid = server.child.pid!
    const startKb = mounts.takePeakKb(pid)
    const [cmd, args] = command(phase, server.mnt, ctx.dests[tool])
    const cpu0 = mounts.cpuSeconds(pid, ctx.ticks)
    const start = performance.now()
    await mounts.run(cmd, args, stdout)
    const secs = (performance.now() - start) / 1000
    const cpuS = mounts.cpuSeconds(pid, ctx.ticks) - cpu0
    const hwmKb = mounts.takePeakKb(pid)
    return { secs, cpuS, hwmKb, startKb, load1: Number(loadavg().split(' ')[0]) }
  } finally {
    await mounts.stopServer(server)
  }
}

/** Phases run per round in this order; the tool that goes first alternates between rounds. */
async function round(ctx: Context, r: number): Promise<void> {
  const order = r % 2 === 0 ? ctx.opts.tools : [...ctx.opts.tools].reverse()
  const verify = r === 0 && ctx.opts.tools.length === 2
  for (const phase of ctx.opts.phases) {
    if (phase === 'rsync') for (const t of order) rmSync(ctx.dests[t], { recursive: true, force: true })
    for (const tool of order) {
      if (phase === 'rsync') mkdirSync(ctx.dests[tool])
      let out = ctx.devNull
      const listing = path.join(base!, `ls-${tool}.txt`)
      if (verify && phase === 'ls') out = openSync(listing, 'w')
      const s = await timedRun(ctx, phase, tool, out)
      if (out !== ctx.devNull) closeSync(out)
      ctx.samples.get(`${phase}/${tool}`)!.push(s)
      process.stderr.write(`round ${r + 1} ${phase} ${tool}: ${s.secs.toFixed(2)} s, server CPU ${s.cpuS.toFixed(2)} s, VmHWM ${(s.hwmKb / 1000).toFixed(1)} MB, load ${s.load1}\n`)
    }
    if (verify && phase === 'ls') console.log(`identity: ls -lR of the two views ${compareFiles('ls')}`)
    if (verify && phase === 'rsync') console.log(`identity: rsync copies of the two views ${compareTrees(ctx)}`)
  }
  for (const t of ctx.opts.tools) rmSync(ctx.dests[t], { recursive: true, force: true })
}

function compareFiles(prefix: string): string {
  const [a, b] = TOOLS.map((t) => path.join(base!, `${prefix}-${t}.txt`))
  // Each listing names its own mount point in the directory headers.
  const norm = (f: string, t: Tool): string => readFileSync(f, 'utf8').replaceAll(`mnt-${t}`, 'MNT')
  const same = norm(a!, 'gocryptfs') === norm(b!, 'tsreverse')
  for (const f of [a!, b!]) rmSync(f)
  return same ? 'are identical' : 'DIFFER'
}

function compareTrees(ctx: Context): string {
  const r = spawnSync('diff', ['-r', '--no-dereference', '-q', ctx.dests.gocryptfs, ctx.dests.tsreverse], { encoding: 'utf8', maxBuffer: 64 << 20 })
  if (r.status === 0) return 'are identical (diff -r)'
  return `DIFFER (diff -r): ${r.stdout.split('\n').slice(0, 3).join('; ')}`
}

function report(ctx: Context): void {
  const tools = ctx.opts.tools
  const both = tools.length === 2
  for (const phase of ctx.opts.phases) {
    console.log(`\n${phase}: ${COMMANDS[phase]}`)
    console.log(`run  first      ${tools.map((t) => `${t} s`.padStart(13)).join('')}${tools.map((t) => `${t} CPU s`.padStart(17)).join('')}${tools.map((t) => `${t} MB`.padStart(14)).join('')}  load`)
    for (let r = 0; r < ctx.opts.runs; r++) {
      const first = r % 2 === 0 ? tools[0]! : tools[tools.length - 1]!
      const at = (t: Tool): Sample => ctx.samples.get(`${phase}/${t}`)![r]!
      console.log(
        `${String(r + 1).padEnd(5)}${first.padEnd(11)}` +
          tools.map((t) => at(t).secs.toFixed(2).padStart(13)).join('') +
          tools.map((t) => at(t).cpuS.toFixed(2).padStart(17)).join('') +
          tools.map((t) => (at(t).hwmKb / 1000).toFixed(1).padStart(14)).join('') +
          `  ${Math.max(...tools.map((t) => at(t).load1)).toFixed(2)}`,
      )
    }
    const secs = (t: Tool): number[] => ctx.samples.get(`${phase}/${t}`)!.map((s) => s.secs)
    for (const t of tools) {
      const cpu = median(ctx.samples.get(`${phase}/${t}`)!.map((s) => s.cpuS))
      console.log(`median ${t.padEnd(10)} ${median(secs(t)).toFixed(2).padStart(8)} s ${spread(secs(t), 2)}, server CPU ${cpu.toFixed(2)} s`)
    }
    if (both) {
      const ratio = median(secs('tsreverse')) / median(secs('gocryptfs'))
      const target = TARGETS[phase]
      console.log(`ratio tsreverse/gocryptfs (medians): ${ratio.toFixed(2)}  target <= ${target.toFixed(1)}: ${ratio <= target ? 'met' : 'NOT met'}`)
    }
  }
  console.log('\npeak RSS (VmHWM) of each server while the commands ran, the highest over its runs of each phase (MB = 10^6 bytes);')
  console.log('the start-up peak (unlocking the key, before the mount is ready) is reset then and shown apart:')
  for (const t of tools) {
    const peaks = ctx.opts.phases.map((p) => `${p} ${(Math.max(...ctx.samples.get(`${p}/${t}`)!.map((s) => s.hwmKb)) / 1000).toFixed(1)}`)
    const worst = Math.max(...ctx.opts.phases.flatMap((p) => ctx.samples.get(`${p}/${t}`)!.map((s) => s.hwmKb)))
    const verdict = t === 'tsreverse' ? `  target <= ${RSS_TARGET_KB / 1000} MB: ${worst <= RSS_TARGET_KB ? 'met' : 'NOT met'}` : ''
    const startup = Math.max(...ctx.opts.phases.flatMap((p) => ctx.samples.get(`${p}/${t}`)!.map((s) => s.startKb)))
    console.log(`  ${t.padEnd(10)} ${peaks.join(', ')}${verdict}; start-up ${(startup / 1000).toFixed(1)}`)
  }
}

async function main(): Promise<void> {
  const opts = parseOptions()
  const missing = mounts.missingPrerequisite() ?? (spawnSync('rsync', ['--version']).error && opts.phases.includes('rsync') ? 'rsync not found in PATH' : undefined)
  if (missing) {
    console.log(`tree benchmark skipped: ${missing}`)
    return
  }
  const found = opts.generate > 0 ? undefined : sourceTree(opts)
  if (found && 'skip' in found) {
    console.log(`tree benchmark skipped: ${found.skip}`)
    return
  }
  // mountinfo shows canonical paths; /var/tmp may be a symlink elsewhere.
  base = realpathSync(mkdtempSync(path.join(BASE_PARENT, 'tsreverse-tree-')))
  const destBase = realpathSync(mkdtempSync(path.join(opts.dest, 'tsreverse-tree-dest-')))
  const ctx: Context = {
    src: found?.dir ?? path.join(base, 'src'),
    conf: path.join(base, 'conf', '.gocryptfs.reverse.conf'),
    pass: path.join(base, 'pass'),
    mnts: { gocryptfs: path.join(base, 'mnt-gocryptfs'), tsreverse: path.join(base, 'mnt-tsreverse') },
    dests: { gocryptfs: path.join(destBase, 'gocryptfs'), tsreverse: path.join(destBase, 'tsreverse') },
    opts,
    ticks: mounts.clockTicks(),
    devNull: openSync('/dev/null', 'w'),
    samples: new Map(opts.phases.flatMap((p) => opts.tools.map((t) => [`${p}/${t}`, []] as [string, Sample[]]))),
  }
  cleanupDirs.push(destBase)
  for (const d of [path.dirname(ctx.conf), ctx.mnts.gocryptfs, ctx.mnts.tsreverse]) mkdirSync(d)
  writeFileSync(ctx.pass, randomBytes(16).toString('hex') + '\n', { mode: 0o600 })
  if (opts.generate > 0) {
    process.stderr.write(`generating ${opts.generate} small files under ${ctx.src} ...\n`)
    generateTree(ctx.src, opts.generate)
  }
  // The config lives outside the source, which stays untouched; both tools get it by -config.
  const init = spawnSync(process.execPath, [BIN, '-init', '-scryptn', '10', '-passfile', ctx.pass, path.dirname(ctx.conf)], { encoding: 'utf8' })
  if (init.status !== 0) throw new Error(`tsreverse -init failed: ${init.stderr.trim()}`)

  process.stderr.write('reading the plaintext once (ls -lR, then every file) ...\n')
  await mounts.run('ls', ['-lR', ctx.src], ctx.devNull)
  const t0 = performance.now()
  await mounts.run('find', [ctx.src, '-type', 'f', '-exec', 'cat', '{}', '+'], ctx.devNull)
  const plainCat = (performance.now() - t0) / 1000
  const t1 = performance.now()
  await mounts.run('ls', ['-lR', ctx.src], ctx.devNull)
  const plainLs = (performance.now() - t1) / 1000

  console.log(cpuLine())
  console.log(`${os.cpus().length} cores, node ${process.version}, ${mounts.gocryptfsVersion()}, tsreverse from ${path.dirname(BIN)}`)
  console.log(`load average at start: ${loadavg()}`)
  console.log(`source ${ctx.src}${opts.generate > 0 ? ` (generated: ${FILES_PER_DIR} files of 0..${GENERATED_MAX_BYTES} random bytes per directory)` : ''}: ${treeCounts(ctx.src)}`)
  console.log(`plaintext read once before the runs: ${mounts.pageCacheShare(plainFiles(ctx.src))}; on the plaintext itself ls -lR took ${plainLs.toFixed(2)} s, find -exec cat ${plainCat.toFixed(2)} s`)
  console.log(
    `servers: gocryptfs -fg -reverse, tsreverse -fg${opts.tsFlags.map((f) => ` ${f}`).join('')}` +
      `${opts.nodeFlags.length ? ` (node ${serverExecArgv(opts.nodeFlags).join(' ')})` : ' (bin/tsreverse with its own node settings)'}; same config by -config, encrypted names`,
  )
  console.log('cache state: every timed run starts a fresh server on a fresh mount (no dentry/attribute/page cache of the view, no server cache carries over); the plaintext stays in the page cache')
  console.log(`rsync destination: ${destBase} (emptied before each first pull); times are wall-clock seconds of the command, CPU s = user+system of the server process during it`)
  console.log(`order: phases ${opts.phases.join(', ')} per round; the tool that runs first alternates between rounds`)

  for (let r = 0; r < opts.runs; r++) await round(ctx, r)
  report(ctx)
  console.log(`\nload average at end: ${loadavg()}`)
  closeSync(ctx.devNull)
}

await mounts.runBenchmark('tree', main, () => [base, ...cleanupDirs])
