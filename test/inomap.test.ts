// Inode numbers as gocryptfs 2.3's internal/inomap makes them (spec 6.7), exact past 2^53.
import t from 'tap'
import { InoMap, InoTag } from '../src/view/inomap.js'

t.test("namespaces in order of first use, the source file system's real entries in 0", async (t) => {
  const m = new InoMap(42)
  t.equal(m.ino(42, InoTag.Real, 7), 7, 'real entries keep their numbers')
  t.equal(m.ino(42, InoTag.LongName, 7), 2 ** 48 + 7, 'the first pair seen gets namespace 1')
  t.equal(m.ino(42, InoTag.DirIv, 7), 2 * 2 ** 48 + 7, 'the next one 2')
  t.equal(m.ino(99, InoTag.Real, 7), 3 * 2 ** 48 + 7, 'another device 3')
  t.equal(m.ino(42, InoTag.LongName, 8), 2 ** 48 + 8, 'a namespace stays')
})

t.test('past 2^53 numbers are exact bigints; large inodes spill', async (t) => {
  const m = new InoMap(1)
  for (let dev = 2; dev <= 32; dev++) m.ino(dev, InoTag.Real, 0)
  t.equal(m.ino(32, InoTag.Real, 5), 31 * 2 ** 48 + 5, 'namespace 31 is still a number')
  t.equal(m.ino(33, InoTag.Real, 5), (32n << 48n) | 5n, 'namespace 32 is a bigint')
  t.equal(m.ino(1, InoTag.Real, 2 ** 48), (1n << 63n) | 0n, 'an inode of 2^48 spills')
  t.equal(m.ino(2, InoTag.Real, 2 ** 50), (1n << 63n) | 1n, 'spills count in order')
  t.equal(m.ino(1, InoTag.Real, 2 ** 48), (1n << 63n) | 0n, 'and keep their numbers')
})
