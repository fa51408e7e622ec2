// A reader for fault tests, run as a child process so a reader stuck in the kernel cannot stall
// the test: `node stream-reader.js FILE [PAUSE_MS]` reads FILE to its end in 1 MiB chunks
// (sleeping PAUSE_MS after each), prints "started" after the first chunk, then one line:
// "ok BYTES SHA256" (exit 0) or "error CODE BYTES SHA256" (exit 1), the hash of what was read.
import { createHash } from 'node:crypto'
import { openSync, readSync } from 'node:fs'

const [file, pause] = process.argv.slice(2)
const pauseMs = Number(pause ?? 0)
const sleeper = new Int32Array(new SharedArrayBuffer(4))
const hash = createHash('sha256')
const buf = Buffer.allocUnsafe(1 << 20)
let bytes = 0
try {
  const fd = openSync(file!, 'r')
  for (;;) {
    const n = readSync(fd, buf, 0, buf.length, null)
    if (n === 0) break
    hash.update(buf.subarray(0, n))
    if (bytes === 0) process.stdout.write('started\n')
    bytes += n
    if (pauseMs > 0) Atomics.wait(sleeper, 0, 0, pauseMs)
  }
  process.stdout.write(`ok ${bytes} ${hash.digest('hex')}\n`)
} catch (e) {
  process.stdout.write(`error ${(e as NodeJS.ErrnoException).code ?? 'unknown'} ${bytes} ${hash.digest('hex')}\n`)
  process.exitCode = 1
}
