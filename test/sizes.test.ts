import t from 'tap'
import { blockNoToCipherOff, cipherOffToBlockNo, cipherToPlainSize, plainToCipherSize } from '../src/format/sizes.js'

t.test('size table of spec 3.3', async (t) => {
  const table: [number, number][] = [
    [0, 0],
    [1, 51],
    [15, 65],
    [16, 66],
    [4095, 4145],
    [4096, 4146],
    [4097, 4179],
    [8192, 8274],
    [100000, 100818],
  ]
  for (const [p, c] of table) {
    t.equal(plainToCipherSize(p), c, `plain ${p}`)
    t.equal(cipherToPlainSize(c), p, `cipher ${c}`)
  }
})

t.test('cipherToPlainSize matches the spec rule for every size up to 4 blocks', async (t) => {
  // Spec 3.3 restated per block: a last piece of r bytes holds r - 32 plaintext bytes, a piece of
  // 1..32 bytes (truncated) counts as one byte, sizes up to the header give 0.
  const expected = (c: number): number => {
    if (c <= 18) return 0
    const k = Math.floor((c - 18) / 4128)
    const r = (c - 18) % 4128
    if (r === 0) return 4096 * k
    return 4096 * k + (r <= 32 ? 1 : r - 32)
  }
  let wrong = 0
  for (let c = 0; c <= 4 * 4128 + 18; c++) if (cipherToPlainSize(c) !== expected(c)) wrong++
  t.equal(wrong, 0)
  t.equal(cipherToPlainSize(18 + 4128 * 3 + 7), 3 * 4096 + 1, 'truncated last block rounds up to one byte')
})

t.test('plainToCipherSize and its inverse over a wide range', async (t) => {
  let wrong = 0
  for (let p = 0; p < 3 * 4096 + 5; p++) {
    const c = plainToCipherSize(p)
    const expected = p === 0 ? 0 : 18 + p + 32 * Math.ceil(p / 4096)
    if (c !== expected || cipherToPlainSize(c) !== p) wrong++
  }
  t.equal(wrong, 0)
  const big = 2 ** 50 + 12345
  t.equal(cipherToPlainSize(plainToCipherSize(big)), big, 'large files stay exact')
})

t.test('block offsets', async (t) => {
  t.equal(blockNoToCipherOff(0), 18)
  t.equal(blockNoToCipherOff(3), 18 + 3 * 4128)
  t.equal(cipherOffToBlockNo(18), 0)
  t.equal(cipherOffToBlockNo(18 + 4127), 0)
  t.equal(cipherOffToBlockNo(18 + 4128), 1)
  t.equal(cipherOffToBlockNo(blockNoToCipherOff(2 ** 40)), 2 ** 40)
})
