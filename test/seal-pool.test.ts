import t from 'tap'
import { spawnSync } from 'node:child_process'
import { randomBytes, randomFillSync, randomInt } from 'node:crypto'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createAesSiv } from '../src/format/aes-siv.js'
import { SealPool } from '../src/view/seal-pool.js'

const key = randomBytes(64)
const reference = createAesSiv(key)
const POOL_MODULE = fileURLToPath(new URL('../src/view/seal-pool.js', import.meta.url))

interface Case {
  plain: Buffer
  copy: Buffer
  first: number
  fileId: Buffer
  iv0: Buffer
}

/** Random read: 0..128 KiB + a partial block, firstBlock anywhere incl. around the 2^32 carry. */
function randomCase(): Case {
  const len = randomInt(0, 33) * 4096 + (randomInt(0, 3) === 0 ? randomInt(1, 4096) : 0)
  const plain = randomFillSync(Buffer.from(new ArrayBuffer(len))) // own memory, as a pread buffer has
  const first = [randomInt(0, 1000), 2 ** 32 - randomInt(1, 40), randomInt(0, 2 ** 48 - 1)][randomInt(0, 3)]!
  const iv0 = randomBytes(16)
  if (randomInt(0, 4) === 0) iv0.fill(0xff, 8) // the 64-bit block counter wraps
  return { plain, copy: Buffer.from(plain), first, fileId: randomBytes(16), iv0 }
}

const expected = (c: Case): Buffer => reference.sealBlocks(c.copy, c.first, c.fileId, c.iv0)

t.test('pool output equals inline sealBlocks, many reads at once', async (t) => {
  const pool = new SealPool(key, { threads: 2, inlineBelow: 0, depth: 1000 })
  t.teardown(() => pool.close())
  const cases = Array.from({ length: 150 }, randomCase)
  const outs = await Promise.all(cases.map((c) => pool.seal(c.plain, c.first, c.fileId, c.iv0)))
  let mismatches = 0
  for (const [i, c] of cases.entries()) if (!outs[i]!.equals(expected(c))) mismatches++
  t.equal(mismatches, 0, 'every read sealed identically')
  // A plaintext that went to a worker was transferred, which leaves the caller's view empty.
  const moved = cases.filter((c) => c.copy.length > 0 && c.plain.length === 0).length
  t.equal(moved, cases.filter((c) => c.copy.length > 0).length, 'every non-empty read went to a worker')
})

t.test('small reads and reads beyond the queue depth are sealed inline, synchronously', async (t) => {
  const pool = new SealPool(key, { threads: 1, depth: 1 })
  t.teardown(() => pool.close())
  const small = randomCase()
  small.plain = Buffer.from(randomBytes(8192))
  small.copy = Buffer.from(small.plain)
  const r = pool.seal(small.plain, small.first, small.fileId, small.iv0)
  t.ok(Buffer.isBuffer(r), 'an 8 KiB read is sealed inline')
  t.ok((r as Buffer).equals(expected(small)))

  const big = Array.from({ length: 5 }, () => {
    const c = randomCase()
    c.plain = Buffer.from(randomBytes(128 * 1024))
    c.copy = Buffer.from(c.plain)
    return c
  })
  const results = big.map((c) => pool.seal(c.plain, c.first, c.fileId, c.iv0))
  t.same(results.map((x) => x instanceof Promise), [true, false, false, false, false], 'one job queued, the rest inline')
  const outs = await Promise.all(results)
  t.ok(outs.every((o, i) => o.equals(expected(big[i]!))))
  t.same(big.map((c) => c.plain.length), [0, ...Array(4).fill(128 * 1024)], 'only the queued plaintext was transferred')
})

t.test('a plaintext that shares its memory is copied, not taken', async (t) => {
  const pool = new SealPool(key, { threads: 1, inlineBelow: 0 })
  t.teardown(() => pool.close())
  const whole = randomBytes(64 * 1024 + 100)
  const before = Buffer.from(whole)
  const c = randomCase()
  const part = whole.subarray(100)
  const out = await pool.seal(part, c.first, c.fileId, c.iv0)
  t.ok(out.equals(reference.sealBlocks(before.subarray(100), c.first, c.fileId, c.iv0)))
  t.ok(whole.equals(before), 'the caller still has its bytes')
})

t.test('threads: 0 seals everything inline; the caller keeps its key', async (t) => {
  const k = Buffer.from(key)
  const pool = new SealPool(k, { threads: 0, inlineBelow: 0 })
  t.equal(pool.threads, 0)
  const c = randomCase()
  const r = pool.seal(c.plain, c.first, c.fileId, c.iv0)
  t.ok(Buffer.isBuffer(r) && r.equals(expected(c)))
  t.ok(k.equals(key), 'key untouched')
  await pool.close()
})

t.test('close: jobs in flight fail, workers stop, later reads are sealed inline', async (t) => {
  const pool = new SealPool(key, { threads: 2, inlineBelow: 0, depth: 8 })
  t.equal(pool.threads, 2)
  const cases = Array.from({ length: 16 }, () => {
    const c = randomCase()
    c.plain = Buffer.from(randomBytes(128 * 1024))
    c.copy = Buffer.from(c.plain)
    return c
  })
  const outcomes = Promise.allSettled(cases.map((c) => pool.seal(c.plain, c.first, c.fileId, c.iv0)))
  await pool.close()
  t.equal(pool.threads, 0)
  const settled = await outcomes
  const rejected = settled.filter((s) => s.status === 'rejected')
  t.ok(rejected.length > 0, 'some jobs were still in flight')
  for (const r of rejected) t.match((r as PromiseRejectedResult).reason, { message: 'seal pool closed' })
  for (const [i, s] of settled.entries()) {
    if (s.status === 'fulfilled') t.ok(s.value.equals(expected(cases[i]!)), 'a finished job is correct')
  }
  const c = randomCase()
  const after = pool.seal(c.plain, c.first, c.fileId, c.iv0)
  t.ok(Buffer.isBuffer(after) && after.equals(expected(c)))
})

t.test('inline and in the workers, the pool uses the backend asked for', async (t) => {
  const pool = new SealPool(key, { threads: 1, inlineBelow: 64 * 1024, backend: 'noble' })
  t.teardown(() => pool.close())
  const [small, big] = [randomCase(), randomCase()]
  small.plain = Buffer.from(randomBytes(4096))
  small.copy = Buffer.from(small.plain)
  big.plain = Buffer.from(randomBytes(128 * 1024))
  big.copy = Buffer.from(big.plain)
  const inline = pool.seal(small.plain, small.first, small.fileId, small.iv0)
  t.ok(Buffer.isBuffer(inline) && inline.equals(expected(small)), 'inline')
  const queued = pool.seal(big.plain, big.first, big.fileId, big.iv0)
  t.ok(queued instanceof Promise && (await queued).equals(expected(big)), 'on a worker')
})

t.test('by default one worker fewer than CPUs: the main thread seals the overflow', async (t) => {
  const pool = new SealPool(key)
  t.teardown(() => pool.close())
  t.equal(pool.threads, os.availableParallelism() - 1)
})

t.test('a bad key fails in the constructor, before any worker starts', async (t) => {
  t.throws(() => new SealPool(randomBytes(33), { threads: 1 }), RangeError)
})

t.test('an idle pool that nobody closes does not keep the process alive', async (t) => {
  const script = `
    const { SealPool } = await import(${JSON.stringify(POOL_MODULE)})
    const pool = new SealPool(Buffer.alloc(64, 7), { threads: 2, inlineBelow: 0 })
    const out = await pool.seal(Buffer.alloc(65536), 3, Buffer.alloc(16, 1), Buffer.alloc(16, 2))
    console.log(out.length)
  `
  const dir = t.testdir({ 'idle.mjs': script })
  const r = spawnSync(process.execPath, [path.join(dir, 'idle.mjs')], { encoding: 'utf8', timeout: 20_000 })
  t.equal(r.signal, null, 'exited by itself')
  t.equal(r.status, 0, r.stderr)
  t.equal(r.stdout.trim(), String(65536 + 16 * 32), 'the job finished before the exit')
})
