// Crypto benchmark: tsreverse's AES-SIV backends against `gocryptfs -speed` (AES-SIV-512-Go) on
// the same machine in the same run. Rounds alternate between gocryptfs and tsreverse so that
// load changes from other processes hit both; each figure is the median over the rounds.
// Usage: node dist/native-bench/crypto.js [rounds=5]
import { execFileSync } from 'node:child_process'
import { cpuLine, sealThroughput, type Sealing } from '../src/cli/speed.js'
import { median } from './stats.js'

const RUN_MS = 1000
const rounds = Number(process.argv[2] ?? 5)

interface Case {
  label: string
  backend: Sealing
  blocks: number
  results: number[]
}

const cases: Case[] = [
  { label: 'native (C), 4 KiB single blocks', backend: 'native', blocks: 1, results: [] },
  { label: 'native (C), 128 KiB (32 blocks)', backend: 'native', blocks: 32, results: [] },
  { label: 'fast, 4 KiB single blocks', backend: 'fast', blocks: 1, results: [] },
  { label: 'fast, 128 KiB (32 blocks)', backend: 'fast', blocks: 32, results: [] },
  { label: 'noble, 4 KiB single blocks', backend: 'noble', blocks: 1, results: [] },
  { label: 'noble, 128 KiB (32 blocks)', backend: 'noble', blocks: 32, results: [] },
]

/** The AES-SIV-512-Go figure of one `gocryptfs -speed` run, or undefined if gocryptfs is missing. */
function gocryptfsSpeed(): number | undefined {
  let out: string
  try {
    out = execFileSync('gocryptfs', ['-speed'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  } catch {
    return undefined
  }
  const m = /^AES-SIV-512-Go\s+([\d.]+) MB\/s/m.exec(out)
  return m ? Number(m[1]) : undefined
}

const go: number[] = []
console.log(cpuLine())
console.log(`node ${process.version}, ${rounds} rounds of >= ${RUN_MS / 1000} s per case, single thread\n`)
for (let r = 0; r < rounds; r++) {
  const g = gocryptfsSpeed()
  if (g !== undefined) go.push(g)
  for (const c of cases) c.results.push(sealThroughput(c.backend, c.blocks, RUN_MS))
  process.stderr.write(`round ${r + 1}/${rounds} done\n`)
}

const goMedian = go.length ? median(go) : undefined
const row = (label: string, mbs: number, ratio: string): string => `${label.padEnd(34)} ${mbs.toFixed(1).padStart(8)} MB/s   ${ratio}`
console.log(`${'case'.padEnd(34)} ${'median'.padStart(13)}   ratio to gocryptfs (min..max MB/s)`)
const spread = (xs: number[]): string => `(${Math.min(...xs).toFixed(1)}..${Math.max(...xs).toFixed(1)})`
if (goMedian === undefined) console.log('gocryptfs AES-SIV-512-Go: not measured (gocryptfs -speed not available)')
else console.log(row('gocryptfs -speed AES-SIV-512-Go', goMedian, `1.00x ${spread(go)}`))
for (const c of cases) {
  const m = median(c.results)
  console.log(row(`tsreverse ${c.label}`, m, goMedian ? `${(m / goMedian).toFixed(2)}x ${spread(c.results)}` : spread(c.results)))
}
