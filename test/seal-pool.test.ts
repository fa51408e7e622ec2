import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { randomBytes, randomInt } from 'node:crypto'
import { closeSync, openSync, truncateSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createAesSiv } from '../src/format/aes-siv.js'
import { SealPool } from '../src/view/seal-pool.js'
import { fstatNow } from '../src/view/stat.js'

const key = randomBytes(64)
const reference = createAesSiv(key)
const POOL_MODULE = fileURLToPath(new URL('../src/view/seal-pool.js', import.meta.url))

/** A plaintext file with these bytes, open for reading; closed on teardown. */
function openFile(t: Test, bytes: Buffer): number {
  const file = path.join(t.testdir(), 'plain')
  writeFileSync(file, bytes)
  const fd = openSync(file, 'r')
  t.teardown(() => closeSync(fd))
  return fd
}

interface Case {
  first: number
  length: number
  fileId: Buffer
  iv0: Buffer
}

/** Random read of 0..128 KiB (+ a partial block) starting at a block of a file of `blocks` blocks. */
function randomCase(blocks: number): Case {
  const length = randomInt(0, 33) * 4096 + (randomInt(0, 3) === 0 ? randomInt(1, 4096) : 0)
  const iv0 = randomBytes(16)
  if (randomInt(0, 4) === 0) iv0.fill(0xff, 8) // the 64-bit block counter wraps
  return { first: randomInt(0, blocks + 2), length, fileId: randomBytes(16), iv0 }
}

/** What inline reading and sealing gives: short at end of file, empty past it. */
const expected = (file: Buffer, c: Case): Buffer =>
  reference.sealBlocks(file.subarray(c.first * 4096, c.first * 4096 + c.length), c.first, c.fileId, c.iv0)

const readSealed = (pool: SealPool, fd: number, c: Case): Promise<Buffer> | undefined =>
  pool.readSealed(fd, c.first, c.length, c.fileId, c.iv0)?.then((r) => r.cipher)

t.test('pool output equals inline reading and sealing, many reads at once', async (t) => {
  const pool = new SealPool(key, { threads: 2, inlineBelow: 0, depth: 1000 })
  t.teardown(() => pool.close())
  const file = randomBytes(100 * 4096 + 1234)
  const fd = openFile(t, file)
  const cases = Array.from({ length: 150 }, () => randomCase(101))
  const jobs = cases.map((c) => readSealed(pool, fd, c))
  t.ok(jobs.every((j) => j instanceof Promise), 'every read went to a worker')
  const outs = await Promise.all(jobs)
  let mismatches = 0
  for (const [i, c] of cases.entries()) if (!outs[i]!.equals(expected(file, c))) mismatches++
  t.equal(mismatches, 0, 'every read sealed identically')
  t.ok(cases.some((c) => c.first * 4096 + c.length > file.length), 'some reads crossed the end of file')
})

t.test('small reads and reads beyond the queue depth are left to the caller', async (t) => {
  const pool = new SealPool(key, { threads: 1, depth: 1, inlineBelow: 16384 })
  t.teardown(() => pool.close())
  const file = randomBytes(64 * 4096)
  const fd = openFile(t, file)
  t.equal(pool.readSealed(fd, 0, 8192, randomBytes(16), randomBytes(16)), undefined, 'an 8 KiB read')
  const big = Array.from({ length: 5 }, (_, i) => ({ ...randomCase(0), first: 8 * i, length: 128 * 1024 }))
  const results = big.map((c) => readSealed(pool, fd, c))
  t.same(results.map((x) => x instanceof Promise), [true, false, false, false, false], 'one job queued')
  t.ok((await results[0])!.equals(expected(file, big[0]!)))
})

t.test('each read the caller is sealing itself lets the worker queue one more, up to twice the depth', async (t) => {
  const pool = new SealPool(key, { threads: 1, depth: 2, inlineBelow: 0 })
  t.teardown(() => pool.close())
  const file = randomBytes(64 * 4096)
  const fd = openFile(t, file)
  const big = Array.from({ length: 6 }, (_, i) => ({ ...randomCase(0), first: 8 * i, length: 128 * 1024 }))
  const take = (c: Case, sealingHere: number): Promise<unknown> | undefined => pool.readSealed(fd, c.first, c.length, c.fileId, c.iv0, sealingHere)
  const queued = [take(big[0]!, 0), take(big[1]!, 0)]
  t.equal(take(big[2]!, 0), undefined, 'depth 2 with nothing sealed here')
  queued.push(take(big[2]!, 1))
  t.equal(take(big[3]!, 1), undefined, 'one more for one read sealed here')
  queued.push(take(big[3]!, 5))
  t.equal(take(big[4]!, 5), undefined, 'never more than twice the depth')
  t.ok(queued.every((q) => q instanceof Promise), 'four queued')
  await Promise.all(queued)
})

t.test('a failing read rejects with its errno', async (t) => {
  const pool = new SealPool(key, { threads: 1, inlineBelow: 0 })
  t.teardown(() => pool.close())
  const fd = openSync(t.testdir(), 'r')
  t.teardown(() => closeSync(fd))
  await t.rejects(readSealed(pool, fd, { ...randomCase(0), length: 4096 })!, { code: 'EISDIR', syscall: 'read' })
  const file = randomBytes(3 * 4096)
  const c = { ...randomCase(0), first: 0, length: 3 * 4096 }
  t.ok((await readSealed(pool, openFile(t, file), c))!.equals(expected(file, c)), 'the worker goes on serving')
})

t.test('threads: 0 leaves every read to the caller; the caller keeps its key', async (t) => {
  const k = Buffer.from(key)
  const pool = new SealPool(k, { threads: 0, inlineBelow: 0 })
  t.equal(pool.threads, 0)
  t.equal(readSealed(pool, 0, randomCase(0)), undefined)
  t.ok(k.equals(key), 'key untouched')
  await pool.close()
})

t.test('close: jobs in flight fail, workers stop, later reads are left to the caller', async (t) => {
  const pool = new SealPool(key, { threads: 2, inlineBelow: 0, depth: 8 })
  t.equal(pool.threads, 2)
  const file = randomBytes(16 * 32 * 4096)
  const fd = openFile(t, file)
  const cases = Array.from({ length: 16 }, (_, i) => ({ ...randomCase(0), first: 32 * i, length: 128 * 1024 }))
  const outcomes = Promise.allSettled(cases.map((c) => readSealed(pool, fd, c)!))
  await pool.close()
  t.equal(pool.threads, 0)
  const settled = await outcomes
  const rejected = settled.filter((s) => s.status === 'rejected')
  t.ok(rejected.length > 0, 'some jobs were still in flight')
  for (const r of rejected) t.match((r as PromiseRejectedResult).reason, { message: 'seal pool closed' })
  for (const [i, s] of settled.entries()) {
    if (s.status === 'fulfilled') t.ok(s.value.equals(expected(file, cases[i]!)), 'a finished job is correct')
  }
  t.equal(readSealed(pool, fd, cases[0]!), undefined)
})

t.test('the workers use the backend asked for', async (t) => {
  const pool = new SealPool(key, { threads: 1, inlineBelow: 0, backend: 'noble' })
  t.teardown(() => pool.close())
  const file = randomBytes(5 * 4096 + 7)
  const c = { ...randomCase(0), first: 0, length: 6 * 4096 }
  t.ok((await readSealed(pool, openFile(t, file), c))!.equals(expected(file, c)))
})

t.test('by default one worker fewer than CPUs: the main thread seals the overflow', async (t) => {
  const pool = new SealPool(key)
  t.teardown(() => pool.close())
  t.equal(pool.threads, os.availableParallelism() - 1)
})

t.test('a bad key fails in the constructor, before any worker starts', async (t) => {
  t.throws(() => new SealPool(randomBytes(33), { threads: 1 }), RangeError)
})

t.test('the worker reports the file status after its read', async (t) => {
  const pool = new SealPool(key, { threads: 1, inlineBelow: 0 })
  t.teardown(() => pool.close())
  const fd = openFile(t, randomBytes(3 * 4096))
  const { size, mtimeMs, mtimeNsPart, ctimeMs, ctimeNsPart } = fstatNow(fd)
  const r = await pool.readSealed(fd, 0, 4096, randomBytes(16), randomBytes(16))!
  t.same(r.status, { size, mtimeMs, mtimeNsPart, ctimeMs, ctimeNsPart }, 'the fstat of the read file')
  truncateSync(`/proc/self/fd/${fd}`, 5000)
  const after = await pool.readSealed(fd, 0, 4096, randomBytes(16), randomBytes(16))!
  t.equal(after.status.size, 5000, 'a later read sees the change')
})

t.test('an idle pool that nobody closes does not keep the process alive', async (t) => {
  const script = `
    const { SealPool } = await import(${JSON.stringify(POOL_MODULE)})
    const { openSync } = await import('node:fs')
    const pool = new SealPool(Buffer.alloc(64, 7), { threads: 2, inlineBelow: 0 })
    const fd = openSync(new URL('plain', import.meta.url), 'r')
    const out = await pool.readSealed(fd, 0, 65536, Buffer.alloc(16, 1), Buffer.alloc(16, 2))
    console.log(out.cipher.length)
  `
  const dir = t.testdir({ 'idle.mjs': script, plain: Buffer.alloc(65536, 9) })
  const r = spawnSync(process.execPath, [path.join(dir, 'idle.mjs')], { encoding: 'utf8', timeout: 20_000 })
  t.equal(r.signal, null, 'exited by itself')
  t.equal(r.status, 0, r.stderr)
  t.equal(r.stdout.trim(), String(65536 + 16 * 32), 'the job finished before the exit')
})
