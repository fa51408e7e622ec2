import t from 'tap'
import { cpuLine, sealThroughput, speedLines } from '../src/cli/speed.js'

t.test('-speed lines use the gocryptfs layout', async (t) => {
  const lines = speedLines()
  t.equal(lines.length, 2)
  for (const [i, name] of ['AES-SIV-512-TS-fast', 'AES-SIV-512-TS-noble'].entries()) {
    const m = /^(.{26})\t([ \d]{3}\d\.\d\d) MB\/s$/.exec(lines[i]!)
    t.ok(m, `${name}: "%-26s\\t%7.2f MB/s"`)
    t.equal(m?.[1]?.trimEnd(), name)
    t.ok(Number(m?.[2]) > 0, 'positive throughput')
  }
  t.match(cpuLine(), /^cpu: .*; (with|no) AES acceleration$/)
})

t.test('batched throughput is measured over whole batches', async (t) => {
  t.ok(sealThroughput('fast', 32, 50) > 0)
})
