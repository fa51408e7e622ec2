// End-to-end helpers for the reverse mount: scratch directories that never leave a mount
// behind, mounts made by the real CLI and by real gocryptfs (stopped on teardown, failure
// included), listings to compare trees by, and view names computed with the format modules.
// The test process itself never serves a mount here, so blocking child_process calls are safe.
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process'
import { isUtf8 } from 'node:buffer'
import { createHash } from 'node:crypto'
import { closeSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseMountinfo } from '../../src/fuse/mountinfo.js'
import { deriveKeys } from '../../src/format/keys.js'
import { parseMasterKey } from '../../src/format/masterkey.js'
import { NameCipher } from '../../src/format/names.js'
import { derivePathIv } from '../../src/format/pathiv.js'
import { BIN, runCli } from './cli.js'
import { isMounted, processGone, waitFor } from './mounts.js'
import { VECTORS } from './vectors.js'

interface Teardown {
  teardown(fn: () => void | Promise<void>): void
}

function mountsUnder(dir: string): { mountPoint: string; fsType: string }[] {
  const prefix = dir + '/'
  return parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'))
    .filter((m) => m.mountPoint.startsWith(prefix))
    .sort((a, b) => b.mountPoint.length - a.mountPoint.length) // innermost first
}

/** Lazily detaches every mount below dir (FUSE ones with fusermount, others with umount). */
function detachAllUnder(dir: string): void {
  for (const m of mountsUnder(dir)) {
    if (m.fsType.startsWith('fuse')) spawnSync('fusermount', ['-u', '-z', m.mountPoint])
    else spawnSync('umount', ['-l', m.mountPoint])
  }
}

/** A temp directory; on teardown every mount inside it is detached, then it is removed. */
export function scratchDir(t: Teardown, prefix = 'tsreverse-e2e-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix))
  t.teardown(() => {
    detachAllUnder(dir)
    rmSync(dir, { recursive: true, force: true })
  })
  return dir
}

/** Runs a program to completion (output captured, never longer than timeoutMs). */
export function run(cmd: string, args: string[], opts: { timeoutMs?: number } = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { encoding: 'utf8', timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 << 20 })
}

/** The process serving mnt, identified by its command line (isServer must exclude the fusermount helper). */
export function serverPid(mnt: string, isServer: (argv: string[]) => boolean): number | undefined {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue
    let argv: string[]
    try {
      argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').filter(Boolean)
    } catch {
      continue
    }
    if (argv.includes(mnt) && isServer(argv) && !processGone(Number(name))) return Number(name)
  }
  return undefined
}

export const isTsreverse = (argv: string[]): boolean => argv.includes(BIN)
const isGocryptfs = (argv: string[]): boolean => path.basename(argv[0] ?? '') === 'gocryptfs'

export interface Mounted {
  mnt: string
  pid: number
}

/** Unmounts (lazily if busy) and waits for the server to exit; SIGKILL by pid as a last resort. */
export async function stopMount(m: Mounted): Promise<void> {
  if (isMounted(m.mnt) && spawnSync('fusermount', ['-u', m.mnt]).status !== 0) {
    spawnSync('fusermount', ['-u', '-z', m.mnt])
  }
  try {
    await waitFor(`server ${m.pid} to exit`, () => processGone(m.pid), 5000)
  } catch {
    try {
      process.kill(m.pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
}

export interface MountWithOptions {
  env?: NodeJS.ProcessEnv
  /** Keep stderr (with -nosyslog, also the daemon's log) in this file; removed otherwise. */
  logFile?: string
}

function mountWith(t: Teardown, what: string, cmd: string, args: string[], isServer: (argv: string[]) => boolean, opts: MountWithOptions = {}): Mounted {
  const mnt = args[args.length - 1]!
  // stdout/stderr go to /dev/null and a file: a daemon that keeps them must not hold us.
  const logFile = opts.logFile ?? path.join(os.tmpdir(), `tsreverse-e2e-log-${process.pid}-${Date.now()}`)
  const fd = openSync(logFile, 'w+')
  let r: SpawnSyncReturns<Buffer>
  try {
    r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', fd], timeout: 60_000, env: opts.env ?? process.env })
  } finally {
    closeSync(fd)
  }
  const stderr = readFileSync(logFile, 'utf8')
  if (opts.logFile === undefined) rmSync(logFile, { force: true })
  const pid = r.status === 0 ? serverPid(mnt, isServer) : undefined
  if (pid !== undefined) t.teardown(() => stopMount({ mnt, pid }))
  if (r.status !== 0 || pid === undefined || !isMounted(mnt)) {
    throw new Error(`${what} ${args.join(' ')} failed (exit ${r.status}, server ${pid}): ${stderr}`)
  }
  return { mnt, pid }
}

/** `tsreverse ARGS` (daemonized, as users run it); the last argument must be the mount point. */
export function mountOurs(t: Teardown, args: string[], opts?: MountWithOptions): Mounted {
  return mountWith(t, 'tsreverse', process.execPath, [BIN, ...args], isTsreverse, opts)
}

export interface LoggedMount extends Mounted {
  /** Everything the server has logged so far. */
  log(): string
}

/**
 * `tsreverse -fg -nosyslog ARGS` as a child of this process whose output goes to a file (so
 * nothing needs draining while the test blocks); the last argument must be the mount point.
 */
export async function mountLogged(t: Teardown, args: string[]): Promise<LoggedMount> {
  const mnt = args[args.length - 1]!
  const logFile = `${mnt}.log`
  const fd = openSync(logFile, 'w+')
  const child = spawn(process.execPath, [BIN, '-fg', '-nosyslog', ...args], { stdio: ['ignore', fd, fd] })
  closeSync(fd)
  const log = (): string => readFileSync(logFile, 'latin1')
  const pid = child.pid!
  t.teardown(() => stopMount({ mnt, pid }))
  await waitFor(`the -fg mount at ${mnt}`, () => isMounted(mnt) || child.exitCode !== null, 60_000)
  if (!isMounted(mnt)) throw new Error(`tsreverse -fg ${args.join(' ')} failed (exit ${child.exitCode}): ${log()}`)
  return { mnt, pid, log }
}

/** `gocryptfs -reverse ARGS`; the last argument must be the mount point. */
export function mountGocryptfs(t: Teardown, args: string[]): Mounted {
  return mountWith(t, 'gocryptfs', 'gocryptfs', ['-q', '-nosyslog', ...args], isGocryptfs)
}

/** A name as a readable string: UTF-8 when it is, else with \xNN escapes. */
function showName(name: Buffer): string {
  if (isUtf8(name)) return name.toString('utf8')
  return [...name].map((b) => (b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('')
}

export interface ListOptions {
  /** SHA-256 of regular files (reads every byte). */
  hash?: boolean
  /** mtime in nanoseconds (%.9Y). */
  mtime?: boolean
  /** atime in nanoseconds (%.9X); only stable where reads leave it alone (see makeVariedTree). */
  atime?: boolean
  nlink?: boolean
  /** Directory st_size (differs between a plaintext tree and a forward mount of its copy). */
  dirSize?: boolean
  /** Basenames (as shown by showName) whose entries and subtrees are left out. */
  skip?: Set<string>
}

const TYPES: [number, string][] = [
  [0o100000, 'f'],
  [0o040000, 'd'],
  [0o120000, 'l'],
  [0o010000, 'p'],
  [0o140000, 's'],
  [0o020000, 'c'],
  [0o060000, 'b'],
]

/** SHA-256 of what is left to read from fd, read from its current position on. */
export function sha256Fd(fd: number): string {
  const hash = createHash('sha256')
  const buf = Buffer.allocUnsafe(1 << 20)
  let n: number
  while ((n = readSync(fd, buf, 0, buf.length, null)) > 0) hash.update(buf.subarray(0, n))
  return hash.digest('hex')
}

export function sha256File(p: string | Buffer): string {
  const fd = openSync(p, 'r')
  try {
    return sha256Fd(fd)
  } finally {
    closeSync(fd)
  }
}

/**
 * One line per entry below root (root itself excluded), sorted, in the format of the vectors'
 * view.listing (`f MODE SIZE SHA256 PATH`, `l MODE SIZE TARGET PATH`, `d MODE - - PATH`), with
 * the optional fields inserted before PATH. Special files: `p|s|c|b MODE SIZE RDEV PATH`.
 */
export function listTree(root: string, opts: ListOptions = {}): string[] {
  const lines: string[] = []
  const walk = (abs: Buffer, rel: string): void => {
    for (const name of readdirSync(abs, { encoding: 'buffer' })) {
      const shown = showName(name)
      if (opts.skip?.has(shown)) continue
      const childAbs = Buffer.concat([abs, Buffer.from('/'), name])
      const childRel = `${rel}/${shown}`
      const st = lstatSync(childAbs, { bigint: true })
      const fmt = Number(st.mode) & 0o170000
      const type = TYPES.find(([bits]) => bits === fmt)?.[1] ?? '?'
      const mode = (Number(st.mode) & 0o7777).toString(8)
      let size = String(st.size)
      let detail = '-'
      if (type === 'f') detail = opts.hash ? sha256File(childAbs) : '-'
      else if (type === 'l') detail = showName(readlinkSync(childAbs, { encoding: 'buffer' }))
      else if (type === 'd') size = opts.dirSize ? size : '-'
      else detail = String(st.rdev)
      const extra: string[] = []
      if (opts.mtime) extra.push(String(st.mtimeNs))
      if (opts.atime) extra.push(String(st.atimeNs))
      if (opts.nlink) extra.push(String(st.nlink))
      lines.push([type, mode, size, detail, ...extra, childRel].join(' '))
      if (type === 'd') walk(childAbs, childRel)
    }
  }
  walk(Buffer.from(root), '.')
  return lines.sort()
}

/** `diff -r --no-dereference` with extra arguments; returns its output, '' when equal. */
export function diffTrees(a: string, b: string, extra: string[] = []): string {
  const r = run('diff', ['-r', '--no-dereference', ...extra, a, b], { timeoutMs: 120_000 })
  if (r.error) throw r.error
  return (r.stdout + r.stderr).trim() || (r.status === 0 ? '' : `diff exited with ${r.status}`)
}

/** View names of a plaintext path (components as raw bytes), for a v2 config with DirIV and Raw64. */
export function viewPath(masterKey: Buffer, components: (string | Buffer)[]): string[] {
  const names = new NameCipher(deriveKeys(masterKey, { hkdf: true }).eme, { raw64: true, longNameMax: 255, longNames: true })
  const out: string[] = []
  for (const c of components) {
    const v = names.viewName(Buffer.from(c), derivePathIv(out.join('/'), 'DIRIV'))
    out.push(v.name)
  }
  return out
}

export interface Source {
  src: string
  passfile: string
  masterKey: Buffer
}

/**
 * dir/src: the vectors' plaintext tree (or an empty directory) with a config made by
 * `tsreverse -init -scryptn 10` (cheap to unlock), and its password file and master key.
 */
/** `touch -d` times set on a file, a directory and a symlink of initSource's tree. */
export const EDGE_TIMES = [
  ['@1795770733.790999999', 'a/at-level-1.txt'],
  ['@1700000000.999999999', 'a/b/c'],
  ['@1600000000.000000001', 'a/link-up'],
] as const

export function initSource(t: Teardown, dir: string, opts: { empty?: boolean } = {}): Source {
  const src = path.join(dir, 'src')
  mkdirSync(src)
  if (!opts.empty) {
    const untar = run('tar', ['-C', src, '-xf', path.join(VECTORS, 'plaintext-tree.tar')])
    if (untar.status !== 0) throw new Error(`tar: ${untar.stderr}`)
    // Times that a double of milliseconds rounds up into the next millisecond or second.
    for (const [at, rel] of EDGE_TIMES) {
      const touch = run('touch', ['-h', '-d', at, path.join(src, rel)])
      if (touch.status !== 0) throw new Error(`touch: ${touch.stderr}`)
    }
  }
  const passfile = path.join(dir, 'passfile')
  writeFileSync(passfile, `password of ${dir}\n`, { mode: 0o600 })
  const init = runCli(['-init', '-scryptn', '10', '-passfile', passfile, src])
  if (init.code !== 0) throw new Error(`tsreverse -init: ${init.stderr}`)
  const masterKey = parseMasterKey(runCli(['-dumpmasterkey', '-passfile', passfile, src]).stdout.trim())
  t.teardown(() => void masterKey.fill(0))
  return { src, passfile, masterKey }
}

/** A new empty directory for a mount, inside dir. */
export function mountDir(dir: string, name: string): string {
  const p = path.join(dir, name)
  mkdirSync(p)
  return p
}
