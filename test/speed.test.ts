import t from 'tap'
import { cpuLine, sealThroughput, speedLines } from '../src/cli/speed.js'

t.test('-speed lines use the gocryptfs layout; the backend mounts use is marked', async (t) => {
  const lines = speedLines()
  const names = [
    'AES-SIV-512-C-OpenSSL',
    'AES-SIV-512-TS-fast',
    'AES-SIV-512-TS-noble',
    'AES-SIV-512-C-OpenSSL-512K',
    'AES-SIV-512-TS-fast-512K',
    'AES-SIV-512-TS-noble-512K',
  ]
  t.equal(lines.length, names.length)
  for (const [i, name] of names.entries()) {
    const m = /^(.{26})\t([ \d]{3}\d\.\d\d) MB\/s(\t\(selected in auto mode\))?$/.exec(lines[i]!)
    t.ok(m, `${name}: "%-26s\\t%7.2f MB/s"`)
    t.equal(m?.[1]?.trimEnd(), name)
    t.ok(Number(m?.[2]) > 0, 'positive throughput')
    t.equal(m?.[3] !== undefined, name.includes('-C-'), 'marked when mounts use it')
  }
  t.match(cpuLine(), /^cpu: .*; (with|no) AES acceleration$/)
})

t.test('batched throughput is measured over whole batches', async (t) => {
  t.ok(sealThroughput('fast', 32, 50) > 0)
  t.ok(sealThroughput('native', 32, 50) > 0)
})
