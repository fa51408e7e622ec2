// Names: padding, strict base64, EME name encryption (spec 5.2 example), long-name rules (5.4)
// and round trips over random raw-byte names of every legal length.
import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { CorruptError } from '../src/format/errors.js'
import { Eme } from '../src/format/eme.js'
import {
  NameCipher,
  decode64,
  encode64,
  encodedLength,
  isLongNameFile,
  isLongNameHash,
  longNameFileTarget,
  pad16,
  unpad16,
  validPlainName,
} from '../src/format/names.js'

// Vector B: EME key (spec 2) and root directory IV (spec 5.1).
const KEY_B = Buffer.from('e281a26d155683cd097de80a24faf2cfec81507d32114a3a844732b32e000ff9', 'hex')
const ROOT_IV = Buffer.from('a8f7bac432ddc1cb3dc74e684d6ae48b', 'hex')
const B_OPTS = { raw64: true, longNameMax: 255, longNames: true }

/** Random raw bytes that form a valid name: any byte but NUL and '/', not '.' or '..'. */
function randomName(length: number): Buffer {
  for (;;) {
    const name = randomBytes(length)
    for (let i = 0; i < length; i++) if (name[i] === 0 || name[i] === 0x2f) name[i] = 0x80 | (name[i] + 1)
    if (validPlainName(name)) return name
  }
}

t.test('pad16 / unpad16', async (t) => {
  for (let n = 1; n <= 48; n++) {
    const name = randomBytes(n)
    const padded = pad16(name)
    const k = 16 - (n % 16)
    if (padded.length !== n + k || !padded.subarray(0, n).equals(name) || padded.subarray(n).some((b) => b !== k)) {
      t.fail(`pad16 of ${n} bytes`)
    }
    if (!unpad16(padded).equals(name)) t.fail(`unpad16 of ${n} bytes`)
  }
  t.equal(pad16(Buffer.from('0123456789abcdef')).length, 32, 'a 16-byte name gets a whole block')
  const bad = [
    Buffer.alloc(0),
    Buffer.alloc(15, 1),
    Buffer.alloc(16, 0),
    Buffer.alloc(16, 16), // nothing left
    Buffer.alloc(32, 17),
    Buffer.concat([Buffer.from('abcdefghijklm'), Buffer.from([2, 3, 3])]),
  ]
  for (const b of bad) t.throws(() => unpad16(b), CorruptError, b.toString('hex'))
})

t.test('validPlainName', async (t) => {
  for (const ok of ['a', '...', '.x', '..x', ' ', 'x'.repeat(255)]) t.ok(validPlainName(Buffer.from(ok)), ok)
  t.ok(validPlainName(Buffer.from([0xff, 0xfe])), 'non-UTF-8')
  for (const bad of ['', '.', '..', 'a/b', '/', 'a\0b', 'x'.repeat(256)]) {
    t.notOk(validPlainName(Buffer.from(bad)), JSON.stringify(bad))
  }
})

t.test('base64', async (t) => {
  const bytes = Buffer.from('42525d911511f3293b269902e70b2f3f', 'hex')
  t.equal(encode64(bytes, true), 'QlJdkRUR8yk7JpkC5wsvPw')
  t.equal(encode64(bytes, false), 'QlJdkRUR8yk7JpkC5wsvPw==')
  t.same(decode64('QlJdkRUR8yk7JpkC5wsvPw', true), bytes)
  t.same(decode64('QlJdkRUR8yk7JpkC5wsvPw==', false), bytes)
  t.equal(encode64(Buffer.from([0xfb, 0xff]), true), '-_8', 'URL-safe alphabet')
  for (let n = 0; n <= 40; n++) {
    const data = randomBytes(n)
    for (const raw64 of [true, false]) {
      const text = encode64(data, raw64)
      if (text.length !== encodedLength(n, raw64)) t.fail(`encodedLength(${n}, ${raw64})`)
      if (!decode64(text, raw64).equals(data)) t.fail(`round trip of ${n} bytes, raw64=${raw64}`)
    }
  }
  const rejectedRaw = [
    'QlJdkRUR8yk7JpkC5wsvPx', // alias: non-zero unused bits (accepted by 2.3, rejected by 2.5+)
    'QlJdkRUR8yk7JpkC5wsvP\nw',
    'QlJdkRUR8yk7JpkC5wsvPw\n',
    'QlJdkRUR8yk7JpkC5wsvPw\r',
    '\r\nQlJdkRUR8yk7JpkC5wsvPw',
    'QlJdkRUR8yk7JpkC5wsvPw==',
    'QlJdkRUR8yk7JpkC5wsvP w',
    '+_8',
    '-/8',
    'QlJdk', // 5 characters cannot be canonical
    'Ql.Jd',
    'Qlé',
  ]
  for (const text of rejectedRaw) t.throws(() => decode64(text, true), CorruptError, JSON.stringify(text))
  for (const text of ['QlJdkRUR8yk7JpkC5wsvPw', 'QlJdkRUR8yk7JpkC5wsvPw=', 'QlJdkRUR8yk7JpkC5wsvPx==', 'Ql=JdkRUR8yk7JpkC5wsvPw=']) {
    t.throws(() => decode64(text, false), CorruptError, JSON.stringify(text))
  }
})

t.test('spec 5.2: file-1 in the root of vector B', async (t) => {
  const names = new NameCipher(KEY_B, B_OPTS)
  t.equal(names.encryptName(Buffer.from('file-1'), ROOT_IV), 'QlJdkRUR8yk7JpkC5wsvPw')
  t.same(names.viewName(Buffer.from('file-1'), ROOT_IV), { name: 'QlJdkRUR8yk7JpkC5wsvPw', full: 'QlJdkRUR8yk7JpkC5wsvPw' })
  t.same(names.decryptName('QlJdkRUR8yk7JpkC5wsvPw', ROOT_IV), Buffer.from('file-1'))
  t.throws(() => names.decryptName('QlJdkRUR8yk7JpkC5wsvPx', ROOT_IV), CorruptError, 'alias spelling')
  const padded = new NameCipher(KEY_B, { ...B_OPTS, raw64: false })
  t.equal(padded.encryptName(Buffer.from('file-1'), ROOT_IV), 'QlJdkRUR8yk7JpkC5wsvPw==')
  t.same(padded.decryptName('QlJdkRUR8yk7JpkC5wsvPw==', ROOT_IV), Buffer.from('file-1'))
  t.throws(() => padded.decryptName('QlJdkRUR8yk7JpkC5wsvPw', ROOT_IV), CorruptError, 'padding required')
  const otherIv = Buffer.from(ROOT_IV)
  otherIv[0] ^= 1
  let other: Buffer | undefined
  try {
    other = names.decryptName('QlJdkRUR8yk7JpkC5wsvPw', otherIv)
  } catch (e) {
    t.type(e, CorruptError)
  }
  t.not(other?.toString('latin1'), 'file-1', 'the directory IV is the tweak')
})

t.test('decryptName rejects what encryptName cannot produce', async (t) => {
  const names = new NameCipher(KEY_B, B_OPTS)
  const eme = new Eme(KEY_B)
  const forge = (padded: Buffer) => encode64(eme.encrypt(ROOT_IV, padded), true)
  const bad = {
    empty: '',
    'not a block multiple': encode64(randomBytes(15), true),
    'longer than 256 bytes': forge(pad16(Buffer.alloc(256, 0x61))),
    'zero padding byte': forge(Buffer.alloc(16)),
    dot: forge(pad16(Buffer.from('.'))),
    dotdot: forge(pad16(Buffer.from('..'))),
    slash: forge(pad16(Buffer.from('a/b'))),
    nul: forge(pad16(Buffer.from('a\0b'))),
  }
  for (const [what, cName] of Object.entries(bad)) t.throws(() => names.decryptName(cName, ROOT_IV), CorruptError, what)
  for (const name of ['', '.', '..', 'a/b', 'a\0', 'x'.repeat(256)]) {
    t.throws(() => names.encryptName(Buffer.from(name), ROOT_IV), RangeError, JSON.stringify(name))
  }
})

t.test('round trip of random raw-byte names, lengths 1..255', async (t) => {
  for (const raw64 of [true, false]) {
    const names = new NameCipher(randomBytes(32), { raw64, longNameMax: 255, longNames: true })
    for (let n = 1; n <= 255; n++) {
      const dirIv = randomBytes(16)
      const plain = randomName(n)
      const cName = names.encryptName(plain, dirIv)
      const padded = n + 16 - (n % 16)
      if (cName.length !== encodedLength(padded, raw64)) t.fail(`length of ${n}-byte name, raw64=${raw64}`)
      if (!/^[A-Za-z0-9_-]+=*$/.test(cName)) t.fail(`alphabet of ${cName}`)
      if (!names.decryptName(cName, dirIv).equals(plain)) t.fail(`round trip of ${plain.toString('hex')}`)
      if (names.isLong(cName) !== names.isLongPlainLength(n)) t.fail(`isLongPlainLength(${n})`)
      if (names.isLong(cName) !== n > 175) t.fail(`hashing threshold at ${n}, raw64=${raw64}`)
    }
  }
  t.pass('all lengths, both encodings')
})

t.test('long names', async (t) => {
  const names = new NameCipher(KEY_B, B_OPTS)
  t.notOk(names.isLong('x'.repeat(255)))
  t.ok(names.isLong('x'.repeat(256)))
  const l176 = names.viewName(randomName(176), ROOT_IV)
  t.equal(l176.full.length, 256)
  t.equal(l176.name, names.hashLongName(l176.full))
  t.match(l176.name, /^gocryptfs\.longname\.[A-Za-z0-9_-]{43}$/)
  const digest = decode64(l176.name.slice('gocryptfs.longname.'.length), true)
  t.same(digest, createHash('sha256').update(l176.full).digest(), 'hash of the full encrypted name')
  t.equal(names.viewName(randomName(175), ROOT_IV).name.length, 235, '175 bytes stay unhashed')

  const padded = new NameCipher(KEY_B, { ...B_OPTS, raw64: false })
  t.match(padded.hashLongName('abc'), /^gocryptfs\.longname\.[A-Za-z0-9_-]{43}=$/)

  // LongNameMax 100 (vector C): 63-byte names give 86 characters, 64-byte names 107.
  const c = new NameCipher(KEY_B, { raw64: true, longNameMax: 100, longNames: true })
  t.notOk(c.isLongPlainLength(63))
  t.ok(c.isLongPlainLength(64))
  t.notOk(c.isLong('x'.repeat(100)))
  t.ok(c.isLong('x'.repeat(101)))
  // Without LongNames only names that cannot be listed are hashed.
  const off = new NameCipher(KEY_B, { raw64: true, longNameMax: 100, longNames: false })
  t.notOk(off.isLong('x'.repeat(255)))
  t.ok(off.isLong('x'.repeat(256)))
  t.notOk(new NameCipher(KEY_B, { ...B_OPTS, longNameMax: 0 }).isLong('x'.repeat(255)), '0 means 255')
  for (const max of [61, 256, 100.5]) {
    t.throws(() => new NameCipher(KEY_B, { ...B_OPTS, longNameMax: max }), RangeError, `longNameMax ${max}`)
  }
})

t.test('special names', async (t) => {
  const hash = 'gocryptfs.longname.Y7EKdvE_d1Lrd8R_QcLmdAQ9Z1oMdn1JYoBhY2-GwV0'
  t.ok(isLongNameHash(hash))
  t.notOk(isLongNameFile(hash))
  t.ok(isLongNameFile(hash + '.name'))
  t.notOk(isLongNameHash(hash + '.name'))
  t.equal(longNameFileTarget(hash + '.name'), hash)
  for (const other of ['gocryptfs.diriv', 'gocryptfs.conf', 'QlJdkRUR8yk7JpkC5wsvPw', 'x.name']) {
    t.notOk(isLongNameHash(other) || isLongNameFile(other), other)
  }
})
