// An idle mount costs no CPU: once the requests stop, no thread of the daemon polls or spins,
// with and without -idle (whose check wakes once per tenth of its duration). The bound is far
// above what the few garbage collections V8 runs after start-up take (a few ticks), far below
// one thread that keeps waking or spinning (100 ticks per second), and independent of how busy
// the machine is: a process that does not run earns no ticks.
import t from 'tap'
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { initSource, mountDir, mountOurs, scratchDir } from './lib/reverse-mounts.js'

const WINDOW_MS = 10_000
const MAX_TICKS = 30

/** user + system clock ticks of the process so far, all threads. */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after the ")" that ends the command name start at field 3; utime and stime are 14, 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(fields[11]) + Number(fields[12])
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

t.test('an idle mount uses (almost) no CPU, with and without -idle', async (t) => {
  const dir = scratchDir(t)
  const { src, passfile } = initSource(t, dir)
  for (let i = 0; i < 20; i++) writeFileSync(path.join(src, `f${i}`), Buffer.alloc(5000 * i, i))
  const variants = [[], ['-idle', '10m']]
  const mounts = variants.map((flags, i) => mountOurs(t, [...flags, '-passfile', passfile, src, mountDir(dir, `mnt-${i}`)]))
  // Some work first, so that whatever runs after a request (polling, caches) has run.
  for (const m of mounts) {
    for (const name of readdirSync(m.mnt)) {
      try {
        readFileSync(path.join(m.mnt, name))
      } catch {
        // a directory
      }
    }
  }
  await sleep(1000)
  const before = mounts.map((m) => cpuTicks(m.pid))
  await sleep(WINDOW_MS)
  for (const [i, m] of mounts.entries()) {
    const ticks = cpuTicks(m.pid) - before[i]!
    t.ok(ticks <= MAX_TICKS, `${variants[i]!.join(' ') || 'no -idle'}: ${ticks} CPU ticks in ${WINDOW_MS / 1000} s idle (at most ${MAX_TICKS})`)
  }
})
