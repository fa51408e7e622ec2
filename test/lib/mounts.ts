// Helpers for tests that make real FUSE mounts: temporary mount points that are always cleaned
// up, shell commands that never block the event loop (the mount is served by it), waiting.
import { execFile, spawnSync } from 'node:child_process'
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, type BigIntStats } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { findMount, parseMountinfo } from '../../src/fuse/mountinfo.js'

interface Teardown {
  teardown(fn: () => void | Promise<void>): void
}

/**
 * One exact field of every entry below root (symlinks not followed), by relative path. Each
 * directory is listed (sorted) before its entries are stat'ed and descended into.
 */
export function statTree(root: string, field: (st: BigIntStats) => bigint, skip = new Set<string>()): Map<string, bigint> {
  const out = new Map<string, bigint>()
  const walk = (rel: string): void => {
    for (const name of readdirSync(path.join(root, rel)).sort()) {
      if (skip.has(name)) continue
      const p = path.join(rel, name)
      const st = lstatSync(path.join(root, p), { bigint: true })
      out.set(p, field(st))
      if (st.isDirectory()) walk(p)
    }
  }
  walk('')
  return out
}

export function isMounted(mnt: string): boolean {
  return findMount(parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')), mnt) !== undefined
}

/** An empty directory under os.tmpdir(); on teardown any mount on it is detached and it is removed. */
export function tempMountpoint(t: Teardown, prefix = 'tsreverse-mnt-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix))
  const mnt = path.join(dir, 'mnt')
  spawnSync('mkdir', [mnt])
  t.teardown(() => {
    // Synchronous and lazy on purpose: never waits on a server, which may be this process.
    // umount covers what tests stack on top (fusermount refuses non-FUSE mounts).
    while (isMounted(mnt)) {
      if (spawnSync('fusermount', ['-u', '-z', mnt]).status !== 0 && spawnSync('umount', ['-l', mnt]).status !== 0) break
    }
    rmSync(dir, { recursive: true, force: true })
  })
  return mnt
}

export interface Result {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs a shell command without blocking the event loop (which may be serving the mount). */
export function sh(command: string, env?: NodeJS.ProcessEnv): Promise<Result> {
  return new Promise((resolve) => {
    execFile('sh', ['-c', command], { timeout: 20_000, env: env ?? process.env }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0
      resolve({ code, stdout, stderr })
    })
  })
}

export async function waitFor(what: string, pred: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** True once pid is gone or a zombie (our PID 1 may not reap reparented daemons). */
export function processGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
    return state === 'Z' || state === 'X'
  } catch {
    return true
  }
}

/** Direct children of pid (Linux keeps them per thread; the main thread's list suffices here). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return []
  }
}

export function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean)
  } catch {
    return []
  }
}

/** Directory of the compiled test helpers (scripts run as child processes). */
export const libDir = path.dirname(new URL(import.meta.url).pathname)

/** lstat's error code, or 'ok'. */
export function lstatCode(p: string | Buffer): string {
  try {
    lstatSync(p)
    return 'ok'
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? 'unknown'
  }
}

/** A kB figure of /proc/PID/status. */
export function status(pid: number, field: 'VmRSS'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  if (!m) throw new Error(`no ${field} for ${pid}`)
  return Number(m[1])
}

export const fdCount = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length
