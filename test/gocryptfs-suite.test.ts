// gocryptfs' own reverse-mode tests against tsreverse (test/gocryptfs-suite/run.sh). Only when
// GOCRYPTFS_SRC names a gocryptfs v2.3 source tree and Go is installed: building and running
// them takes minutes. Every test must pass except the known differences below.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const SCRIPT = fileURLToPath(new URL('../../test/gocryptfs-suite/run.sh', import.meta.url))

/** Tests that fail for a documented reason (docs/compatibility.md). */
const KNOWN: Record<string, string> = {
  TestSeekData: 'the views report no holes (SEEK_DATA/SEEK_HOLE see one data extent)',
}

const src = process.env.GOCRYPTFS_SRC
const go = spawnSync('go', ['version']).status === 0
const skip = !src ? 'GOCRYPTFS_SRC is not set' : !go ? 'Go is not installed' : false

// About 10 minutes on an idle machine, far more on a loaded one (run.sh retries slow mounts).
const LIMIT_MS = 60 * 60_000
if (!skip) t.setTimeout(LIMIT_MS + 60_000)

t.test('gocryptfs v2.3 reverse tests', { skip }, async (t) => {
  const r = spawnSync('bash', [SCRIPT], { encoding: 'utf8', timeout: LIMIT_MS, maxBuffer: 64 << 20 })
  const out = String(r.stdout)
  const results = [...out.matchAll(/^(PASS|FAIL|SKIP) (\S+) (\S+)$/gm)]
  t.ok(results.length >= 20, `${results.length} tests ran\n${r.stderr}`)
  for (const [line, status, , name] of results) {
    const known = KNOWN[name!]
    if (known) t.pass(`${line} (known: ${known})`)
    else t.not(status, 'FAIL', line, { log: failureLog(out, line) })
  }
  t.match(out, /^summary: /m)
})

/** The log lines run.sh printed under a failed test (indented). */
function failureLog(out: string, line: string): string {
  const rest = out.slice(out.indexOf(line) + line.length + 1).split('\n')
  const end = rest.findIndex((l) => !l.startsWith('    '))
  return rest.slice(0, end < 0 ? rest.length : end).join('\n')
}
