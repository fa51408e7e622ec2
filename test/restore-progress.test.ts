// The restore progress line: units, durations, the rate and ETA from a fake clock, and redraws
// limited to a few per second, with notes printed above the bar.
import t from 'tap'
import { Progress, formatBytes, formatDuration } from '../src/restore/progress.js'

t.test('formatting', async (t) => {
  t.equal(formatBytes(0), '0 B')
  t.equal(formatBytes(1023), '1023 B')
  t.equal(formatBytes(1536), '1.5 KiB')
  t.equal(formatBytes(5 * 1024 ** 3), '5.0 GiB')
  t.equal(formatDuration(0), '0:00')
  t.equal(formatDuration(61.4), '1:01')
  t.equal(formatDuration(3 * 3600 + 5), '3:00:05')
  t.equal(formatDuration(NaN), '--:--')
})

t.test('the bar', async (t) => {
  let now = 1000
  const writes: string[] = []
  const out = { columns: 200, write: (s: string) => writes.push(s) } as unknown as NodeJS.WriteStream
  const p = new Progress(out, { files: 4, bytes: 4 * 1024 * 1024 }, () => now)
  now += 2000
  p.addBytes(2 * 1024 * 1024)
  p.fileDone()
  p.fileDone()
  t.equal(p.line(), '2/4 files, 2.0 MiB/4.0 MiB, 1.0 MiB/s, ETA 0:02')
  t.same(writes, ['\r\x1b[K0/4 files, 2.0 MiB/4.0 MiB, 1.0 MiB/s, ETA 0:02'], 'drawn at the first update, not again within 200 ms')
  p.note('a problem')
  t.equal(writes[1], '\r\x1b[Ka problem\n', 'a note replaces the bar...')
  t.match(writes[2], /^\r\x1b\[K2\/4 files/, '...which is drawn again below it')
  p.finish()
  t.equal(writes.at(-1), '\r\x1b[K', 'finish clears the line')
})
