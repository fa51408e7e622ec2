import t from 'tap'
import { lstatSync, mkdtempSync, rmSync, writeFileSync, type BigIntStats } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { exactStats, lstat, lstatNow } from '../src/view/stat.js'

/** A bigint stat of a regular file with the given times in nanoseconds. */
function fake(atimeNs: bigint, mtimeNs: bigint, ctimeNs: bigint): BigIntStats {
  const real = lstatSync(process.execPath, { bigint: true })
  return Object.assign(Object.create(Object.getPrototypeOf(real) as object) as BigIntStats, real, {
    atimeNs,
    mtimeNs,
    ctimeNs,
    birthtimeNs: mtimeNs,
  })
}

t.test('times are whole milliseconds rounded down, and the nanoseconds past them', async (t) => {
  // As a double of milliseconds (Node's mtimeMs) this reads 1795770733791: a millisecond late.
  const st = exactStats(fake(1_795_770_733_790_999_999n, 1_700_000_000_999_999_999n, 5n))
  t.equal(st.atimeMs, 1_795_770_733_790)
  t.equal(st.atimeNsPart, 999_999)
  t.equal(st.mtimeMs, 1_700_000_000_999, 'not the next second')
  t.equal(st.mtimeNsPart, 999_999)
  t.equal(st.ctimeMs, 0)
  t.equal(st.ctimeNsPart, 5)
  t.equal(st.birthtimeMs, 1_700_000_000_999)
})

t.test('before 1970 the part past the millisecond stays positive', async (t) => {
  const st = exactStats(fake(-1n, -1_000_000n, -1_500_000n))
  t.same([st.atimeMs, st.atimeNsPart], [-1, 999_999])
  t.same([st.mtimeMs, st.mtimeNsPart], [-1, 0])
  t.same([st.ctimeMs, st.ctimeNsPart], [-2, 500_000])
})

t.test('the other fields and the methods are those of a Stats', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'stat-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'f')
  writeFileSync(file, 'twelve bytes')
  const touch = spawnSync('touch', ['-d', '@1795770733.790999999', file])
  t.equal(touch.status, 0)
  const b = lstatSync(file, { bigint: true })
  for (const st of [lstatNow(file), await lstat(Buffer.from(file))]) {
    t.ok(st.isFile() && !st.isDirectory())
    t.same(
      [st.dev, st.ino, st.mode, st.nlink, st.uid, st.gid, st.size, st.blocks, st.blksize],
      [b.dev, b.ino, b.mode, b.nlink, b.uid, b.gid, b.size, b.blocks, b.blksize].map(Number),
    )
    t.same([st.mtimeMs, st.mtimeNsPart], [1_795_770_733_790, 999_999])
    t.equal(BigInt(st.ctimeMs) * 1_000_000n + BigInt(st.ctimeNsPart), b.ctimeNs)
  }
})
