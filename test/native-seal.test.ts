// The addon's content sealing (native/seal.c) against the TypeScript backends, directly and
// through the pool's open and pread; the golden vectors are in reverse-view.test.ts ('pool').
import t from 'tap'
import { lstatSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { createAesSiv, loadAesSivBackend } from '../src/format/aes-siv.js'
import { decryptFile, fileHeader } from '../src/format/content.js'
import { sys } from '../src/native/sys.js'
import { AT_FDCWD, closeFile, createSealer, openAt, preadAt, sealingOf } from '../src/view/source-io.js'
import { Prng } from './lib/prng.js'

// The reference backend loads on demand (aes-siv.ts).
await loadAesSivBackend('noble')

const seed = Number(process.env.SEED ?? Date.now() % 2 ** 31)
t.comment(`SEED=${seed}`)
const prng = new Prng(seed)
const bytes = (n: number): Buffer => {
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) b[i] = prng.int(256)
  return b
}

t.test('sealBlocks equals both TypeScript backends at every size and block offset', async (t) => {
  const key = bytes(64)
  const sealer = createSealer(key)
  const fast = createAesSiv(key, 'fast')
  const noble = createAesSiv(key, 'noble')
  const sizes = [1, 2, 15, 16, 17, 31, 32, 33, 48, 4080, 4095, 4096, 4097, 4111, 4112, 8191, 8192, 100_000, 131_072]
  for (let i = 0; i < 20; i++) sizes.push(1 + prng.int(300_000))
  // Block numbers past 2^32, and an IV whose low 64 bits wrap while counting blocks.
  const firsts = [0, 1, 31, 2 ** 32 - 1, 2 ** 32, 2 ** 52 + 5]
  let compared = 0
  for (const size of sizes) {
    for (const first of firsts) {
      const plain = bytes(size)
      const fileId = bytes(16)
      const iv0 = first === 1 ? Buffer.alloc(16, 0xff) : bytes(16)
      const c = sys.sealBlocks(sealer, plain, first, fileId, iv0)
      if (!c.equals(fast.sealBlocks(plain, first, fileId, iv0))) t.fail(`size ${size} from block ${first} differs from fast`)
      if (size < 10_000 && !c.equals(noble.sealBlocks(plain, first, fileId, iv0))) t.fail(`size ${size} from block ${first} differs from noble`)
      compared++
    }
  }
  t.equal(sys.sealBlocks(sealer, Buffer.alloc(0), 0, bytes(16), bytes(16)).length, 0, 'nothing to seal, no blocks')
  t.ok(compared > 100, `${compared} inputs compared`)
})

t.test('two keys in one process do not mix', async (t) => {
  const k1 = bytes(64)
  const k2 = bytes(64)
  const s1 = createSealer(k1)
  const s2 = createSealer(k2)
  const plain = bytes(9000)
  const id = bytes(16)
  const iv = bytes(16)
  for (let i = 0; i < 3; i++) {
    t.ok(sys.sealBlocks(s1, plain, 0, id, iv).equals(createAesSiv(k1).sealBlocks(plain, 0, id, iv)))
    t.ok(sys.sealBlocks(s2, plain, 0, id, iv).equals(createAesSiv(k2).sealBlocks(plain, 0, id, iv)))
  }
})

t.test('bad arguments are errors, not bytes', async (t) => {
  t.throws(() => sys.sealer(Buffer.alloc(32)), RangeError)
  const s = createSealer(bytes(64))
  t.throws(() => sys.sealBlocks(s, Buffer.alloc(10), 0, Buffer.alloc(15), Buffer.alloc(16)), TypeError)
  t.throws(() => sys.sealBlocks(s, Buffer.alloc(10), -1, Buffer.alloc(16), Buffer.alloc(16)), TypeError)
  t.throws(() => sys.sealBlocks({} as never, Buffer.alloc(10), 0, Buffer.alloc(16), Buffer.alloc(16)), TypeError)
  const dir = t.testdir({ f: 'x' })
  const fd = await openAt(AT_FDCWD, Buffer.from(path.join(dir, 'f')), lstatSync(path.join(dir, 'f')), 0)
  if (!('fd' in fd)) throw new Error('not opened')
  await t.rejects(preadAt(fd.fd, 4096, 100, sealingOf(s, bytes(16), bytes(16))), TypeError, 'a sealed read starts at a block')
  await closeFile(fd.fd)
})

t.test('the pool seals what it reads: a whole small file at open, block ranges of a large one', async (t) => {
  const key = bytes(64)
  const siv = createAesSiv(key)
  const sealer = createSealer(key)
  const small = bytes(5000)
  const big = bytes(40 * 4096 + 123)
  const dir = t.testdir({})
  writeFileSync(path.join(dir, 'small'), small)
  writeFileSync(path.join(dir, 'big'), big)
  const fileId = bytes(16)
  const iv0 = bytes(16)
  const sealing = sealingOf(sealer, fileId, iv0)
  const open = (n: string) => openAt(AT_FDCWD, Buffer.from(path.join(dir, n)), lstatSync(path.join(dir, n)), 32 * 4096, undefined, sealing)

  const s = await open('small')
  if (!('data' in s)) throw new Error('a small file was not read whole')
  t.ok(s.data.equals(Buffer.concat([fileHeader(fileId), siv.sealBlocks(small, 0, fileId, iv0)])), 'the whole view file')
  t.ok(decryptFile(siv, s.data).equals(small), 'which decrypts to the file')
  t.equal(s.status.size, 5000, 'with the fstat after the read')

  const b = await open('big')
  if (!('fd' in b)) throw new Error('a large file was read whole')
  for (const [first, blocks] of [
    [0, 1],
    [3, 5],
    [38, 32],
    [41, 2],
  ] as const) {
    const r = await preadAt(b.fd, blocks * 4096, first * 4096, sealing)
    const plain = big.subarray(first * 4096, (first + blocks) * 4096)
    t.ok(r.data.equals(siv.sealBlocks(plain, first, fileId, iv0)), `blocks ${first}..${first + blocks - 1}`)
    t.equal(r.status.size, big.length)
  }
  await closeFile(b.fd)
  t.ok(readFileSync(path.join(dir, 'big')).equals(big))
})
