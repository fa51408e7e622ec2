// Whole-tree benchmark through real mounts: `gocryptfs -reverse` and tsreverse serve the same
// source tree with the same config, and the same commands walk each view in alternating order.
// The commands are gocryptfs' own reverse-mode benchmark (ls -lR, find -exec cat) plus the
// backup it is for (rsync -a into an empty directory, then again with nothing changed).
// Every timed run gets a freshly started server, so neither the kernel's dentry/attribute
// caches of the mount nor the server's own caches carry over from an earlier run.
// Not part of the test suite. Needs root or a working fusermount, gocryptfs and a source tree.
// Memory and cost at idle are measured in the same run: RSS of a freshly mounted server left
// alone, peak RSS per phase, RSS some time after a pull, and FUSE requests per small file by
// opcode, counted from both servers' -fusedebug output in a separate pass.
// Usage: node dist/native-bench/tree.js [--source DIR | --generate N] [--runs 3] [--phases ls,cat,rsync]
//        [--tools gocryptfs,tsreverse] [--dest DIR] [--tsreverse-flags='...'] [--node-flags='...']
//        [--idle-wait 3] [--settle 30] [--count-files 50] [--busy-core]
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
import { countRequests, perFileLine } from './requests.js'
import { median, spread } from './stats.js'

const BASE_PARENT = '/var/tmp'
const KERNEL_TREE = '/var/tmp/linux-source-6.1'
const KERNEL_TAR = '/usr/src/linux-source-6.1.tar.xz'
// The generated tree: FILES_PER_DIR files per leaf directory, FANOUT leaf directories per top one.
const FILES_PER_DIR = 50
const FANOUT = 128
const GENERATED_MAX_BYTES = 2048
// The counting pass takes a directory of small files: at most this size, no subdirectories.
const SMALL_FILE_MAX = 64 * 1024

type Phase = 'ls' | 'cat' | 'rsync' | 'rsync-nochange'
/** tsreverse/gocryptfs time ratios the project aims for. */
const TARGETS: Record<Phase, number> = { ls: 0.7, cat: 0.6, rsync: 0.7, 'rsync-nochange': 0.7 }
/** The peak RSS the project aims for on a pull of a large tree. */
const RSS_TARGET_KB = 100 * 1000
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
  /** Seconds a fresh server is left alone before its idle RSS is read. */
  idleWait: number
  /** Seconds after the first pull until its RSS is read again; 0 skips it. */
  settle: number
  /** Files in the directory the request-counting pass uses; 0 skips the pass. */
  countFiles: number
  busyCore: boolean
}

interface Sample {
  secs: number
  cpuS: number
  /** Peak RSS while the command ran. */
  hwmKb: number
  /** Peak RSS from the server's start to the end of the idle wait. */
  startKb: number
  /** RSS after the idle wait, before the command. */
  idleKb: number
  /** CPU ticks during the idle wait. */
  idleTicks: number
  /** RSS `settle` seconds after the command (first pulls only). */
  settleKb?: number
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
      'idle-wait': { type: 'string', default: '3' },
      settle: { type: 'string', default: '30' },
      'count-files': { type: 'string', default: '50' },
      // One core kept busy during the timed phases: the busy-host case.
      'busy-core': { type: 'boolean', default: false },
    },
  })
  const runs = Number(values.runs)
  const generate = Number(values.generate)
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be an integer >= 1')
  if (!Number.isInteger(generate) || generate < 0) throw new Error('--generate must be an integer >= 0')
  if (generate > 0 && values.source !== undefined) throw new Error('--source and --generate exclude each other')
  const idleWait = Number(values['idle-wait'])
  const settle = Number(values.settle)
  const countFiles = Number(values['count-files'])
  if (!(idleWait >= 0) || !(settle >= 0)) throw new Error('--idle-wait and --settle must be seconds >= 0')
  if (!Number.isInteger(countFiles) || countFiles < 0) throw new Error('--count-files must be an integer >= 0')
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
    idleWait,
    settle,
    countFiles,
    busyCore: values['busy-core']!,
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

function startTool(ctx: Context, tool: Tool, debug = false): Promise<Server> {
  const mnt = ctx.mnts[tool]
  const common = ['-config', ctx.conf, '-passfile', ctx.pass, ...(debug ? ['-fusedebug'] : [])]
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

/**
 * One timed run on a freshly mounted server, which is stopped afterwards. The server is first
 * left alone for --idle-wait (its fresh-idle RSS); after a first pull it is left alone again for
 * --settle (what it keeps).
 */
async function timedRun(ctx: Context, phase: Phase, tool: Tool, stdout: number): Promise<Sample> {
  const server = await startTool(ctx, tool)
  try {
    const pid = server.child.pid!
    const idle = await mounts.freshIdle(pid, ctx.opts.idleWait)
    const startKb = mounts.takePeakKb(pid)
    const [cmd, args] = command(phase, server.mnt, ctx.dests[tool])
    const cpu0 = mounts.cpuSeconds(pid, ctx.ticks)
    const start = performance.now()
    await mounts.run(cmd, args, stdout)
    const secs = (performance.now() - start) / 1000
    const cpuS = mounts.cpuSeconds(pid, ctx.ticks) - cpu0
    const hwmKb = mounts.takePeakKb(pid)
    const load1 = Number(loadavg().split(' ')[0])
    let settleKb: number | undefined
    if (phase === 'rsync' && ctx.opts.settle > 0) {
      await mounts.sleep(ctx.opts.settle * 1000)
      settleKb = mounts.rssKb(pid)
    }
    return { secs, cpuS, hwmKb, startKb, idleKb: idle.rssKb, idleTicks: idle.ticks, settleKb, load1 }
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
      process.stderr.write(
        `round ${r + 1} ${phase} ${tool}: ${s.secs.toFixed(2)} s, server CPU ${s.cpuS.toFixed(2)} s, VmHWM ${(s.hwmKb / 1000).toFixed(1)} MB, load ${s.load1}\n`,
      )
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
    console.log(
      `run  first      ${tools.map((t) => `${t} s`.padStart(13)).join('')}${tools.map((t) => `${t} CPU s`.padStart(17)).join('')}${tools.map((t) => `${t} MB`.padStart(14)).join('')}  load`,
    )
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
  reportMemory(ctx)
}

const mb = (kb: number): string => (kb / 1000).toFixed(1)

/** One line per tool; medians over the runs, peaks the highest over them. */
function reportMemory(ctx: Context): void {
  const { phases, settle, idleWait } = ctx.opts
  const all = (t: Tool): Sample[] => phases.flatMap((p) => ctx.samples.get(`${p}/${t}`)!)
  const pulls = (t: Tool): number[] => (ctx.samples.get(`rsync/${t}`) ?? []).flatMap((s) => (s.settleKb === undefined ? [] : [s.settleKb]))
  console.log(
    `\nmemory in MB (10^6 bytes): idle = RSS of a fresh server left alone ${idleWait} s (median over all its runs), idle-ticks = its CPU ticks then (highest);`,
  )
  console.log('peaks = VmHWM while each phase ran (highest over runs), reset after the idle wait, so start-up = peak up to then (unlocking the key);')
  console.log(`after-pull = RSS ${settle} s after the first rsync ended (median; - when not measured)`)
  const head = ['tool', 'idle', 'idle-ticks', ...phases, 'peak', 'after-pull', 'start-up']
  const widths = head.map((h) => Math.max(h.length, 6) + 2)
  console.log(head.map((h, i) => (i === 0 ? h.padEnd(12) : h.padStart(widths[i]!))).join(''))
  for (const t of ctx.opts.tools) {
    const peaks = phases.map((p) => Math.max(...ctx.samples.get(`${p}/${t}`)!.map((s) => s.hwmKb)))
    const after = pulls(t)
    const row = [
      mb(median(all(t).map((s) => s.idleKb))),
      String(Math.max(...all(t).map((s) => s.idleTicks))),
      ...peaks.map(mb),
      mb(Math.max(...peaks)),
      after.length ? mb(median(after)) : '-',
      mb(Math.max(...all(t).map((s) => s.startKb))),
    ]
    console.log(t.padEnd(12) + row.map((c, i) => c.padStart(widths[i + 1]!)).join(''))
  }
  if (ctx.opts.tools.includes('tsreverse')) {
    const worst = Math.max(...all('tsreverse').map((s) => s.hwmKb))
    console.log(`tsreverse peak target <= ${RSS_TARGET_KB / 1000} MB: ${worst <= RSS_TARGET_KB ? 'met' : 'NOT met'}`)
  }
}

/**
 * The first directory in sorted depth-first order that holds at least `n` regular files of at
 * most SMALL_FILE_MAX bytes and nothing else: the counting pass's subset, relative to `root`.
 */
function smallFileDir(root: string, n: number): { rel: string; files: number } | undefined {
  const walk = (rel: string): { rel: string; files: number } | undefined => {
    const entries = readdirSync(path.join(root, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))
    const small = entries.filter((e) => e.isFile() && statSync(path.join(root, rel, e.name)).size <= SMALL_FILE_MAX)
    if (rel !== '' && small.length >= n && small.length === entries.length) return { rel, files: small.length }
    for (const e of entries) {
      if (!e.isDirectory()) continue
      const found = walk(path.join(rel, e.name))
      if (found) return found
    }
    return undefined
  }
  return walk('')
}

/** The view's path of a plaintext path, from `tsreverse -encrypt-paths`. */
function cipherPath(ctx: Context, rel: string): string {
  const r = spawnSync(BIN, ['-encrypt-paths', '-config', ctx.conf, '-passfile', ctx.pass, ctx.src], { input: rel + '\n', encoding: 'utf8' })
  const out = r.stdout.trim()
  if (r.status !== 0 || out === '') throw new Error(`tsreverse -encrypt-paths failed: ${r.stderr.trim()}`)
  return out
}

/**
 * FUSE requests per file by opcode: each phase's command on the subset directory alone, through
 * a fresh server with -fusedebug, counting only the requests the command caused.
 */
async function countingPass(ctx: Context): Promise<void> {
  const subset = smallFileDir(ctx.src, ctx.opts.countFiles)
  if (!subset) {
    console.log(`\nFUSE requests: skipped, no directory holds ${ctx.opts.countFiles} regular files of at most ${SMALL_FILE_MAX / 1024} KiB and nothing else`)
    return
  }
  const viewRel = cipherPath(ctx, subset.rel)
  console.log(
    `\nFUSE requests per file by opcode: each command on ${subset.rel} alone (${subset.files} files of at most ${SMALL_FILE_MAX / 1024} KiB, no subdirectories),`,
  )
  console.log('a fresh server per command, counted from its -fusedebug output (one line per request)')
  for (const tool of ctx.opts.tools) {
    const dest = path.join(ctx.dests[tool], 'count')
    mkdirSync(dest, { recursive: true })
    for (const phase of ctx.opts.phases) {
      const server = await startTool(ctx, tool, true)
      try {
        // go-fuse's own start-up requests come just after the mount appears.
        await mounts.sleep(1000)
        const from = server.output.length
        const [cmd, args] = command(phase, path.join(server.mnt, viewRel), dest)
        await mounts.run(cmd, args, ctx.devNull)
        // The last replies' lines may still be on their way.
        await mounts.sleep(200)
        console.log(`${phase.padEnd(16)}${tool.padEnd(11)}${perFileLine(countRequests(tool, server.output.slice(from)), subset.files)}`)
      } finally {
        await mounts.stopServer(server)
      }
    }
    rmSync(ctx.dests[tool], { recursive: true, force: true })
  }
}

async function main(): Promise<void> {
  const opts = parseOptions()
  const missing =
    mounts.missingPrerequisite() ?? (spawnSync('rsync', ['--version']).error && opts.phases.includes('rsync') ? 'rsync not found in PATH' : undefined)
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
  console.log(
    `source ${ctx.src}${opts.generate > 0 ? ` (generated: ${FILES_PER_DIR} files of 0..${GENERATED_MAX_BYTES} random bytes per directory)` : ''}: ${treeCounts(ctx.src)}`,
  )
  console.log(
    `plaintext read once before the runs: ${mounts.pageCacheShare(plainFiles(ctx.src))}; on the plaintext itself ls -lR took ${plainLs.toFixed(2)} s, find -exec cat ${plainCat.toFixed(2)} s`,
  )
  console.log(
    `servers: gocryptfs -fg -reverse, tsreverse -fg${opts.tsFlags.map((f) => ` ${f}`).join('')}` +
      `${opts.nodeFlags.length ? ` (node ${serverExecArgv(opts.nodeFlags).join(' ')})` : ' (bin/tsreverse with its own node settings)'}; same config by -config, encrypted names`,
  )
  console.log(
    'cache state: every timed run starts a fresh server on a fresh mount (no dentry/attribute/page cache of the view, no server cache carries over); the plaintext stays in the page cache',
  )
  console.log(
    `rsync destination: ${destBase} (emptied before each first pull); times are wall-clock seconds of the command, CPU s = user+system of the server process during it`,
  )
  console.log(`order: phases ${opts.phases.join(', ')} per round; the tool that runs first alternates between rounds`)
  if (opts.busyCore) console.log('busy host: one process spins on a core at normal priority during the timed runs (--busy-core)')

  const spinner = opts.busyCore ? mounts.startBusyCore() : undefined
  try {
    for (let r = 0; r < opts.runs; r++) await round(ctx, r)
  } finally {
    if (spinner) mounts.stopBusyCore(spinner)
  }
  report(ctx)
  if (opts.countFiles > 0) await countingPass(ctx)
  console.log(`\nload average at end: ${loadavg()}`)
  closeSync(ctx.devNull)
}

await mounts.runBenchmark('tree', main, () => [base, ...cleanupDirs])
