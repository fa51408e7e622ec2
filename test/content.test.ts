import t from 'tap'
import { execFileSync } from 'node:child_process'
import { createHash, hkdfSync, randomBytes, randomInt } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createAesSiv, loadAesSivBackend } from '../src/format/aes-siv.js'
import { blockIv, writeBlockAd } from '../src/format/blocks.js'
import { decryptFile, decryptRange, fileHeader, parseHeader, readCipherRange } from '../src/format/content.js'
import { CorruptError } from '../src/format/errors.js'
import { VECTORS } from './lib/vectors.js'

// The reference backend loads on demand (aes-siv.ts).
await loadAesSivBackend('noble')

const siv = createAesSiv(randomBytes(64))

function refNonce(iv0: Uint8Array, n: number): Buffer {
  const out = Buffer.from(iv0)
  out.writeBigUInt64BE((out.readBigUInt64BE(8) + BigInt(n)) % 2n ** 64n, 8)
  return out
}

t.test('blockIv adds n to the last 8 bytes mod 2^64', async (t) => {
  const cases: [string, number][] = [
    ['00112233445566778899aabbccddeeff', 0],
    ['00112233445566778899aabbffffffff', 1], // carry into the upper 32 bits
    ['0011223344556677ffffffffffffffff', 1], // wraps to zero, first 8 bytes untouched
    ['0011223344556677fffffffffffffff0', 2 ** 32 + 0x20],
    ['0011223344556677ffffffff00000000', 2 ** 53 - 1],
  ]
  for (const [iv, n] of cases) {
    const iv0 = Buffer.from(iv, 'hex')
    t.equal(blockIv(iv0, n).toString('hex'), refNonce(iv0, n).toString('hex'), `${iv} + ${n}`)
  }
  t.equal(blockIv(Buffer.from('0011223344556677ffffffffffffffff', 'hex'), 1).toString('hex'), '00112233445566770000000000000000')
  let wrong = 0
  for (let i = 0; i < 2000; i++) {
    const iv0 = randomBytes(16)
    const n = i % 2 ? randomInt(2 ** 32) : randomInt(2 ** 48 - 1) * 32 + randomInt(32)
    if (!blockIv(iv0, n).equals(refNonce(iv0, n))) wrong++
  }
  t.equal(wrong, 0, 'random iv0 and block numbers')
})

t.test('block associated data', async (t) => {
  const fileId = randomBytes(16)
  const ad = Buffer.alloc(30)
  writeBlockAd(2 ** 40 + 3, fileId, ad, 3)
  t.equal(ad.readBigUInt64BE(3), 2n ** 40n + 3n)
  t.same(ad.subarray(11, 27), fileId)
})

t.test('file header', async (t) => {
  const id = randomBytes(16)
  const h = fileHeader(id)
  t.equal(h.toString('hex'), `0002${id.toString('hex')}`)
  t.same(parseHeader(Buffer.concat([h, randomBytes(10)])), id)
  t.throws(() => parseHeader(h.subarray(0, 17)), CorruptError, 'short')
  t.throws(() => parseHeader(Buffer.concat([Buffer.from([0, 1]), id])), CorruptError, 'version 1')
  t.throws(() => parseHeader(Buffer.concat([Buffer.from([1, 2]), id])), CorruptError, 'version 258')
  t.throws(() => parseHeader(Buffer.from([0, 2, ...new Array(16).fill(0)])), CorruptError, 'all-zero file ID')
})

/** A plaintext file plus its reference view file built in one piece with sealBlocks. */
function makeFile(size: number) {
  const plain = randomBytes(size)
  const fileId = randomBytes(16)
  const iv0 = randomBytes(16)
  const view = size === 0 ? Buffer.alloc(0) : Buffer.concat([fileHeader(fileId), siv.sealBlocks(plain, 0, fileId, iv0)])
  return { plain, fileId, iv0, view }
}

t.test('readCipherRange serves any range like the whole-file reference (spec 6.11)', async (t) => {
  const sizes = [0, 1, 15, 16, 4095, 4096, 4097, 8192, 100000, 131072, randomInt(300000), randomInt(20000)]
  const lengths = [0, 1, 17, 18, 19, 131072, 131072 + 4128, ...Array.from({ length: 35 }, (_, i) => 4095 + i)]
  let wrong = 0
  let badReads = 0
  let checked = 0
  for (const size of sizes) {
    const f = makeFile(size)
    const cSize = f.view.length
    const offsets = [0, 1, 17, 18, 19, 4145, 4146, 4147, cSize - 1, cSize, cSize + 1, cSize + 50000]
    const pairs: [number, number][] = []
    for (const o of offsets) for (const l of lengths) if (o >= 0) pairs.push([o, l])
    for (let i = 0; i < 150; i++) pairs.push([randomInt(cSize + 9000), randomInt(140000)])
    for (const [offset, length] of pairs) {
      const reads: [number, number][] = []
      const target = Buffer.alloc(length)
      const n = await readCipherRange(
        {
          offset,
          length,
          fileId: f.fileId,
          iv0: f.iv0,
          readPlain: async (pos, len) => {
            reads.push([pos, len])
            return Buffer.from(f.plain.subarray(pos, pos + len))
          },
          // Alternate a synchronous and an asynchronous sealer, the two shapes callers use.
          seal: (plain, first, id, iv) => {
            const sealed = siv.sealBlocks(plain, first, id, iv)
            return checked % 2 ? sealed : Promise.resolve(sealed)
          },
        },
        target,
      )
      let expected: Buffer
      if (length === 0) expected = Buffer.alloc(0)
      else if (offset + length <= 18) expected = fileHeader(f.fileId).subarray(offset, offset + length)
      else expected = f.view.subarray(offset, offset + length) // empty for an empty file
      if (!target.subarray(0, n).equals(expected)) wrong++
      // One block-aligned plaintext read covering exactly the blocks asked for, or none at all.
      const needsRead = length > 0 && offset + length > 18
      const from = Math.max(offset, 18)
      const k0 = Math.floor((from - 18) / 4128)
      const k1 = Math.floor((offset + length - 1 - 18) / 4128)
      const readOk = needsRead ? reads.length === 1 && reads[0]![0] === k0 * 4096 && reads[0]![1] === (k1 - k0 + 1) * 4096 : reads.length === 0
      if (!readOk) badReads++
      checked++
    }
  }
  t.equal(wrong, 0, `${checked} ranges match the reference`)
  t.equal(badReads, 0, 'plaintext read once, block-aligned, only when needed')
})

t.test('readCipherRange: header requests and empty reads', async (t) => {
  const f = makeFile(10)
  const read = (offset: number, length: number, plain: Buffer) => {
    const target = Buffer.alloc(length)
    return readCipherRange(
      {
        offset,
        length,
        fileId: f.fileId,
        iv0: f.iv0,
        readPlain: async (pos, len) => plain.subarray(pos, pos + len),
        seal: (p, first, id, iv) => siv.sealBlocks(p, first, id, iv),
      },
      target,
    ).then((n) => target.subarray(0, n))
  }
  t.same(await read(0, 18, Buffer.alloc(0)), fileHeader(f.fileId), 'header-only request is answered without data')
  t.equal((await read(0, 19, Buffer.alloc(0))).length, 0, 'file emptied: no header either')
  t.equal((await read(5, 100, Buffer.alloc(0))).length, 0)
  t.same(await read(5, 100, f.plain), f.view.subarray(5, 105))
  t.equal((await read(60, 10, f.plain)).length, 0, 'past the end of a short file')
})

t.test('decryptFile and decryptRange invert the view', async (t) => {
  for (const size of [0, 1, 4096, 4097, 70000]) {
    const f = makeFile(size)
    t.same(decryptFile(siv, f.view), f.plain, `whole file of ${size} bytes`)
    let wrong = 0
    for (let i = 0; i < 60; i++) {
      const offset = randomInt(size + 5000)
      const length = i % 10 === 0 ? 0 : randomInt(1, 20000)
      const got = await decryptRange(siv, {
        offset,
        length,
        fileId: f.fileId,
        readCipher: async (pos, len) => Buffer.from(f.view.subarray(pos, pos + len)),
      })
      if (!got.equals(f.plain.subarray(offset, offset + length))) wrong++
    }
    t.equal(wrong, 0, `ranges of ${size} bytes`)
  }
  t.same(decryptFile(siv, fileHeader(randomBytes(16))), Buffer.alloc(0), 'header-only file is empty')
  t.throws(() => decryptFile(siv, Buffer.alloc(10)), CorruptError)
  const f = makeFile(5000)
  f.view[18 + 4128 + 40] ^= 4
  t.throws(() => decryptFile(siv, f.view), new CorruptError('block 1 failed authentication', 1))
})

t.test('vector B: file contents match real gocryptfs byte for byte', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tsreverse-content-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  mkdirSync(join(dir, 'plain'))
  mkdirSync(join(dir, 'view'))
  execFileSync('tar', ['-C', join(dir, 'plain'), '-xf', join(VECTORS, 'plaintext-tree.tar')])
  execFileSync('tar', ['-C', join(dir, 'view'), '-xf', join(VECTORS, 'B/view.tar')])
  const master = Buffer.from(readFileSync(join(VECTORS, 'B/masterkey.txt'), 'utf8').trim().replace(/-/g, ''), 'hex')
  const sivKey = Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), 'AES-SIV file content encryption', 64))
  // View paths read off B/view.listing (matched by size, mode and directory to the plaintext tree).
  const files: [string, string][] = [
    ['file-0', 'dib7JDXAPDJXM5uw66_Y_w'],
    ['file-1', 'QlJdkRUR8yk7JpkC5wsvPw'],
    ['file-15', 'NNk6HdpN8a1851YXdNqQ-g'],
    ['file-16', 'l72XJZUeK6Nrwopea3Mgjw'],
    ['file-4095', 'hjpOLuUzTQJLYoge9Oh7HQ'],
    ['file-4096', 'P21Eewd6EzcpQ4m6L-LoNQ'],
    ['file-4097', 'JagMGFZ6O-KyX8n6DTmwYA'],
    ['file-8192', 'TrVjjgiwbhoGF-93i4LTLg'],
    ['file-100000', '4tRYpxOm3DrMYjv405Z1UQ'],
    ['a/b/c/deep.txt', '8cl5PCg70bDfI1C82Gd5mg/F5Y-zwiTvH1DNA-RycD0pQ/vXmyA9JTbObv1eIb9Hs0TQ/f1fGmwn4tgezkwmLV7ggBA'],
    [`D200-${'0'.repeat(195)}/inner.txt`, 'gocryptfs.longname.Y7EKdvE_d1Lrd8R_QcLmdAQ9Z1oMdn1JYoBhY2-GwV0/rkalMNui2z6paJ55YdbqeQ'],
  ]
  for (const backend of ['fast', 'noble'] as const) {
    const siv = createAesSiv(sivKey, backend)
    for (const [plainPath, cPath] of files) {
      const derive = (purpose: string): Buffer => createHash('sha256').update(`${cPath}\0${purpose}`).digest().subarray(0, 16)
      const expected = readFileSync(join(dir, 'view', cPath))
      const fh = await open(join(dir, 'plain', plainPath), 'r')
      try {
        const target = Buffer.alloc(expected.length + 5000)
        const n = await readCipherRange(
          {
            offset: 0,
            length: target.length,
            fileId: derive('FILEID'),
            iv0: derive('BLOCK0IV'),
            readPlain: async (pos, len) => {
              const buf = Buffer.alloc(len)
              const { bytesRead } = await fh.read(buf, 0, len, pos)
              return buf.subarray(0, bytesRead)
            },
            seal: (p, first, id, iv) => siv.sealBlocks(p, first, id, iv),
          },
          target,
        )
        t.ok(target.subarray(0, n).equals(expected), `${backend}: ${plainPath} (${expected.length} bytes)`)
      } finally {
        await fh.close()
      }
      t.same(decryptFile(siv, expected), readFileSync(join(dir, 'plain', plainPath)), `${backend}: ${plainPath} decrypts`)
    }
  }
})
