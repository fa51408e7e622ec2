import t from 'tap'
import { createHash, hkdfSync, randomBytes, randomInt } from 'node:crypto'
import { createAesSiv, type AesSiv, type AesSivBackend, loadAesSivBackend } from '../src/format/aes-siv.js'
import { CorruptError } from '../src/format/errors.js'

// The reference backend loads on demand (aes-siv.ts).
await loadAesSivBackend('noble')

const BACKENDS: AesSivBackend[] = ['fast', 'noble']
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex')

// Independent references for the block layout: BigInt arithmetic, nothing from content.ts.
function refNonce(iv0: Uint8Array, n: number): Buffer {
  const out = Buffer.from(iv0)
  out.writeBigUInt64BE((out.readBigUInt64BE(8) + BigInt(n)) % 2n ** 64n, 8)
  return out
}

function refAd(n: number, fileId: Uint8Array): Buffer {
  const ad = Buffer.alloc(24)
  ad.writeBigUInt64BE(BigInt(n), 0)
  ad.set(fileId, 8)
  return ad
}

/** sealBlocks rebuilt from the generic seal(): nonce || seal([aData, nonce], piece) per block. */
function refSealBlocks(siv: AesSiv, plain: Buffer, first: number, fileId: Uint8Array, iv0: Uint8Array): Buffer {
  const parts: Buffer[] = []
  for (let off = 0, n = first; off < plain.length; off += 4096, n++) {
    const nonce = refNonce(iv0, n)
    parts.push(nonce, siv.seal([refAd(n, fileId), nonce], plain.subarray(off, off + 4096)))
  }
  return Buffer.concat(parts)
}

/** The same bytes at an odd byteOffset, to exercise unaligned inputs. */
function misaligned(buf: Buffer): Buffer {
  const b = Buffer.alloc(buf.length + 1)
  buf.copy(b, 1)
  return b.subarray(1)
}

function corruptBlock(fn: () => unknown): number | undefined {
  try {
    fn()
  } catch (e) {
    if (e instanceof CorruptError) return e.block ?? -1
    throw e
  }
  return undefined
}

t.test('RFC 5297 A.1 (deterministic) and A.2 (nonce-based, several AD)', async (t) => {
  const a1Key = hex('fffefdfc fbfaf9f8 f7f6f5f4 f3f2f1f0 f0f1f2f3 f4f5f6f7 f8f9fafb fcfdfeff')
  const a1Ad = [hex('10111213 14151617 18191a1b 1c1d1e1f 20212223 24252627')]
  const a1Plain = hex('11223344 55667788 99aabbcc ddee')
  const a1Out = hex('85632d07 c6e8f37f 950acd32 0a2ecc93 40c02b96 90c4dc04 daef7f6a fe5c')
  const a2Key = hex('7f7e7d7c 7b7a7978 77767574 73727170 40414243 44454647 48494a4b 4c4d4e4f')
  const a2Ad = [
    hex('00112233 44556677 8899aabb ccddeeff deaddada deaddada ffeeddcc bbaa9988 77665544 33221100'),
    hex('10203040 50607080 90a0'),
    hex('09f91102 9d74e35b d84156c5 635688c0'),
  ]
  const a2Plain = hex('74686973 20697320 736f6d65 20706c61 696e7465 78742074 6f20656e 63727970 74207573 696e6720 5349562d 414553')
  const a2Out = hex(`7bdb6e3b 432667eb 06f4d14b ff2fbd0f cb900f2f ddbe4043 26601965 c889bf17 dba77ceb 094fa663
    b7a3f748 ba8af829 ea64ad54 4a272e9c 485b62a3 fd5c0d`)
  for (const backend of BACKENDS) {
    const a1 = createAesSiv(a1Key, backend)
    t.same(a1.seal(a1Ad, a1Plain), a1Out, `${backend} A.1 seal`)
    t.same(a1.open(a1Ad, a1Out), a1Plain, `${backend} A.1 open`)
    const a2 = createAesSiv(a2Key, backend)
    t.same(a2.seal(a2Ad, a2Plain), a2Out, `${backend} A.2 seal`)
    t.same(a2.open(a2Ad, a2Out), a2Plain, `${backend} A.2 open`)
    t.equal(a2.backend, backend)
  }
  t.throws(() => createAesSiv(randomBytes(16)), RangeError)
  const key48 = randomBytes(48)
  const ad = [randomBytes(24), randomBytes(16)]
  const plain = randomBytes(5000)
  t.same(createAesSiv(key48, 'fast').seal(ad, plain), createAesSiv(key48, 'noble').seal(ad, plain), '48-byte keys agree')
})

t.test('backends agree on every block length 0..4096 and 1000 random messages', async (t) => {
  const key = randomBytes(64)
  const fast = createAesSiv(key, 'fast')
  const noble = createAesSiv(key, 'noble')
  let mismatches = 0
  let roundTripFailures = 0
  const check = (ad: Buffer[], plain: Buffer): void => {
    const a = fast.seal(ad, plain)
    if (!a.equals(noble.seal(ad, plain))) mismatches++
    if (!fast.open(ad, a).equals(plain) || !noble.open(ad, a).equals(plain)) roundTripFailures++
  }
  for (let len = 0; len <= 4096; len++) check([randomBytes(24), randomBytes(16)], randomBytes(len))
  for (let i = 0; i < 1000; i++) {
    // Random shapes: 0..4 AD items of any length (empty included), plaintext up to 3 blocks.
    const ad = Array.from({ length: randomInt(5) }, () => randomBytes(randomInt(3) === 0 ? 0 : randomInt(1, 70)))
    check(ad, randomBytes(randomInt(3) === 0 ? randomInt(33) : randomInt(12289)))
  }
  check([misaligned(randomBytes(30))], misaligned(randomBytes(5000)))
  check([], randomBytes(1_500_000)) // beyond the size of the kept work buffers
  t.equal(mismatches, 0, 'fast and noble produce identical output')
  t.equal(roundTripFailures, 0, 'both open what fast sealed')
})

t.test('sealBlocks/openBlocks: backends and the generic-seal reference agree, with counter carries', async (t) => {
  const key = randomBytes(64)
  const fast = createAesSiv(key, 'fast')
  const noble = createAesSiv(key, 'noble')
  const firsts = [0, 1, 2 ** 32 - 2, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 7, 2 ** 52 - 3]
  for (let i = 0; i < 40; i++) {
    const fileId = randomBytes(16)
    const iv0 = randomBytes(16)
    // Half the time, put the low 64 bits of iv0 just below 2^64 or 2^32 to force carries and the wrap.
    if (i % 2 === 0) {
      iv0.writeUInt32BE(i % 4 === 0 ? 0xffffffff : randomInt(2 ** 32), 8)
      iv0.writeUInt32BE(0xffffffff - randomInt(4), 12)
    }
    const first = i < firsts.length ? firsts[i]! : randomInt(2 ** 48 - 1)
    const plain = randomBytes(randomInt(9) * 4096 + (i % 3 === 0 ? 0 : randomInt(1, 4097)))
    const ref = refSealBlocks(noble, plain, first, fileId, iv0)
    const a = fast.sealBlocks(i % 5 === 1 ? misaligned(plain) : plain, first, fileId, iv0)
    const b = noble.sealBlocks(plain, first, fileId, iv0)
    t.ok(a.equals(ref) && b.equals(ref), `${plain.length} bytes from block ${first}: both match the reference`)
    const fastOpened = fast.openBlocks(i % 5 === 2 ? misaligned(a) : a, first, fileId)
    t.ok(fastOpened.equals(plain) && noble.openBlocks(a, first, fileId).equals(plain), 'open')
  }
  for (const siv of [fast, noble]) {
    t.equal(siv.sealBlocks(Buffer.alloc(0), 3, randomBytes(16), randomBytes(16)).length, 0, 'empty in, empty out')
    t.equal(siv.openBlocks(Buffer.alloc(0), 3, randomBytes(16)).length, 0, 'empty open')
  }
})

t.test('spec section 4 worked example: vector B file-1 (51 bytes)', async (t) => {
  const master = hex('587c1d7e-45f3606b-5bc600dc-5590802f-622b5114-e749848f-68c9af17-2032ec76'.replace(/-/g, ''))
  const sivKey = Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), 'AES-SIV file content encryption', 64))
  t.equal(
    sivKey.toString('hex'),
    'e88cf152aac4382eaa815bf81c06d9110471acaa7c56c4b81dbb5457c7fe3c75' + '9be60d1e248429e6bcf80fdfc7543846746ae4196976fb07185570d990545779',
    'SIV key of spec section 2',
  )
  const derive = (purpose: string): Buffer => createHash('sha256').update(`QlJdkRUR8yk7JpkC5wsvPw\0${purpose}`).digest().subarray(0, 16)
  const fileId = derive('FILEID')
  const iv0 = derive('BLOCK0IV')
  const expected = hex(`0002 c45518817d4813a16aa57f1800b248d4 6a2630fc19dff6c5b856e101cdb615a3
    1c5eb4ac045b5bc40f020220ea1f3c57 be`)
  for (const backend of BACKENDS) {
    const siv = createAesSiv(sivKey, backend)
    const view = Buffer.concat([Buffer.from([0, 2]), fileId, siv.sealBlocks(Buffer.from([0x73]), 0, fileId, iv0)])
    t.same(view, expected, `${backend}: all 51 bytes`)
    t.same(siv.openBlocks(expected.subarray(18), 0, fileId), Buffer.from([0x73]), `${backend}: decrypts`)
  }
})

t.test('round trips: seal/open and sealBlocks/openBlocks', async (t) => {
  for (const backend of BACKENDS) {
    const siv = createAesSiv(randomBytes(64), backend)
    let failures = 0
    const rounds = backend === 'fast' ? 300 : 60
    for (let i = 0; i < rounds; i++) {
      const ad = Array.from({ length: randomInt(4) }, () => randomBytes(randomInt(40)))
      const plain = randomBytes(randomInt(5000))
      if (!siv.open(ad, siv.seal(ad, plain)).equals(plain)) failures++
      const fileId = randomBytes(16)
      const first = randomInt(2 ** 40)
      const blocks = randomBytes(randomInt(6 * 4096))
      if (!siv.openBlocks(siv.sealBlocks(blocks, first, fileId, randomBytes(16)), first, fileId).equals(blocks)) failures++
    }
    t.equal(failures, 0, `${backend}: ${rounds} random round trips of each kind`)
  }
})

t.test('tampering and malformed blocks raise CorruptError with the block number', async (t) => {
  for (const backend of BACKENDS) {
    const siv = createAesSiv(randomBytes(64), backend)
    const fileId = randomBytes(16)
    const first = 2 ** 32 + 5
    const plain = randomBytes(5 * 4096 + 100)
    const sealed = siv.sealBlocks(plain, first, fileId, randomBytes(16))
    let wrong = 0
    const positions = [0, 15, 16, 31, 32, 4127, 4128, sealed.length - 1]
    for (let i = 0; i < 60; i++) positions.push(randomInt(sealed.length))
    for (const pos of positions) {
      const bad = Buffer.from(sealed)
      bad[pos] ^= 1 << randomInt(8)
      if (corruptBlock(() => siv.openBlocks(bad, first, fileId)) !== first + Math.floor(pos / 4128)) wrong++
    }
    t.equal(wrong, 0, `${backend}: every flipped bit is caught in its own block`)
    t.equal(
      corruptBlock(() => siv.openBlocks(sealed, first + 1, fileId)),
      first + 1,
      `${backend}: wrong block number`,
    )
    t.equal(
      corruptBlock(() => siv.openBlocks(sealed, first, randomBytes(16))),
      first,
      `${backend}: wrong file ID`,
    )

    // A sparse hole (all-zero full block) reads as zeros; an all-zero nonce elsewhere is rejected.
    const holed = Buffer.from(sealed)
    holed.fill(0, 4128, 2 * 4128)
    const opened = siv.openBlocks(holed, first, fileId)
    t.ok(opened.subarray(4096, 8192).equals(Buffer.alloc(4096)), `${backend}: hole gives zeros`)
    t.ok(opened.subarray(0, 4096).equals(plain.subarray(0, 4096)), `${backend}: neighbours intact`)
    const zeroNonce = Buffer.from(sealed)
    zeroNonce.fill(0, 2 * 4128, 2 * 4128 + 16)
    t.equal(
      corruptBlock(() => siv.openBlocks(zeroNonce, first, fileId)),
      first + 2,
      `${backend}: zero nonce`,
    )
    const zeroShort = Buffer.from(sealed.subarray(0, 5 * 4128 + 40)).fill(0, 5 * 4128)
    t.equal(
      corruptBlock(() => siv.openBlocks(zeroShort, first, fileId)),
      first + 5,
      `${backend}: all-zero short block is not a hole`,
    )

    for (const tail of [1, 16, 32]) {
      const cut = sealed.subarray(0, 5 * 4128 + tail)
      t.equal(
        corruptBlock(() => siv.openBlocks(cut, first, fileId)),
        first + 5,
        `${backend}: ${tail}-byte trailing piece`,
      )
    }
    // Two problems: the lower-numbered one is reported.
    const both = Buffer.from(sealed.subarray(0, 5 * 4128 + 10))
    both[4128 + 100] ^= 1
    t.equal(
      corruptBlock(() => siv.openBlocks(both, first, fileId)),
      first + 1,
      `${backend}: first bad block wins`,
    )

    const msg = siv.seal([Buffer.from('ad')], Buffer.from('symlink target'))
    for (let pos = 0; pos < msg.length; pos++) {
      const bad = Buffer.from(msg)
      bad[pos] ^= 0x80
      t.throws(() => siv.open([Buffer.from('ad')], bad), CorruptError)
    }
    t.throws(() => siv.open([Buffer.from('ad')], msg.subarray(0, 15)), CorruptError, 'shorter than the SIV')
    t.throws(() => siv.open([Buffer.from('AD')], msg), CorruptError, 'wrong associated data')
  }
})
