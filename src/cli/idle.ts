// -idle DURATION: unmount once the mount has had no request and no open file for that long,
// then exit 0, as gocryptfs' idleMonitor: it looks every tenth of the duration (at most every
// 2 minutes), and a mount that cannot be unmounted (a process has its working directory in it)
// starts counting again.
import { execFile } from 'node:child_process'
import { ExitCode, UserError } from '../exitcodes.js'
import type { ActivityView } from '../view/activity.js'

const MAX_LOOK_MS = 2 * 60_000
const PRECISION = 10

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** Go's time.ParseDuration ("500s", "2h45m", "1.5h", "0"), in milliseconds. */
export function parseGoDuration(text: string): number {
  const bad = (): UserError => new UserError(`invalid argument "${text}" for -idle: expected a duration like 500s or 2h45m`, ExitCode.Usage)
  const m = /^([-+]?)(.*)$/.exec(text)!
  if (m[2] === '0') return 0
  if (m[2] === '') throw bad()
  let ms = 0
  let rest = m[2]!
  while (rest !== '') {
    const part = /^(\d+\.?\d*|\.\d+)([a-zµμ]+)/.exec(rest)
    if (!part || UNIT_MS[part[2]!] === undefined) throw bad()
    ms += Number(part[1]) * UNIT_MS[part[2]!]!
    rest = rest.slice(part[0].length)
  }
  return m[1] === '-' ? -ms : ms
}

/** Watches `activity`; on idleness unmounts `mountpoint` the way a user would (not lazily). */
export function startIdleMonitor(idleMs: number, activity: ActivityView, mountpoint: string, log: (msg: string) => void): void {
  const lookMs = Math.max(1, Math.min(idleMs / PRECISION, MAX_LOOK_MS))
  const cycles = Math.ceil(idleMs / lookMs)
  let idleLooks = 0
  let unmounting = false
  const timer = setInterval(() => {
    if (unmounting) return
    idleLooks = activity.busySinceLastLook() ? 0 : idleLooks + 1
    if (idleLooks === 0 || idleLooks % cycles !== 0) return
    log(`idle for ${Math.round((idleLooks * lookMs) / 1000)} s: unmounting ${mountpoint}`)
    unmounting = true
    // Once it is gone the server sees the unmount and exits 0.
    execFile('fusermount', ['-u', mountpoint], (err, _out, stderr) => {
      unmounting = false
      if (!err) return clearInterval(timer)
      log(`unmount failed: ${(stderr || err.message).trim()}; counting the idle time again`)
      idleLooks = 0
    })
  }, lookMs)
  timer.unref()
}
