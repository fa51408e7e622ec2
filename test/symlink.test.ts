// Symlink targets: the vector B link of spec 4 (the doubled-path nonce), length facts of spec
// 5.7, and rejection of anything forward mode could not decrypt.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { createAesSiv } from '../src/format/aes-siv.js'
import { CorruptError } from '../src/format/errors.js'
import { decode64, encode64 } from '../src/format/names.js'
import { derivePathIv, symlinkIvPath } from '../src/format/pathiv.js'
import { SYMLINK_TARGET_MAX, decryptSymlinkTarget, encryptSymlinkTarget, encryptedTargetLength } from '../src/format/symlink.js'

// Vector B: SIV key (spec 2); link-relative -> a/b/c/deep.txt in the root (view.listing).
const SIV_B = createAesSiv(
  Buffer.from('e88cf152aac4382eaa815bf81c06d9110471acaa7c56c4b81dbb5457c7fe3c75' + '9be60d1e248429e6bcf80fdfc7543846746ae4196976fb07185570d990545779', 'hex'),
)
const LINK = 'CPxWujAbyHHeSVTZuzQnGQ'
const LINK_VIEW_TARGET = 'Rp0mw5LvZRPdhFs1jirD1dWC7g1XJsgavElGnDN0Oe9JURs4qsH6rLtQoZHV_Q'

t.test('vector B root symlink', async (t) => {
  const nonce = derivePathIv(symlinkIvPath(LINK), 'SYMLINKIV')
  t.equal(encryptSymlinkTarget(SIV_B, Buffer.from('a/b/c/deep.txt'), nonce, true), LINK_VIEW_TARGET)
  t.same(decryptSymlinkTarget(SIV_B, LINK_VIEW_TARGET, true), Buffer.from('a/b/c/deep.txt'))
  t.equal(encryptedTargetLength(14, true), LINK_VIEW_TARGET.length)
})

t.test('round trip and lengths', async (t) => {
  const siv = createAesSiv(randomBytes(64))
  for (const raw64 of [true, false]) {
    for (const n of [1, 2, 3, 15, 16, 17, 100, 3039, 3040, 3041]) {
      const target = randomBytes(n)
      const text = encryptSymlinkTarget(siv, target, randomBytes(16), raw64)
      if (text.length !== encryptedTargetLength(n, raw64)) t.fail(`length for ${n} bytes, raw64=${raw64}`)
      if (!decryptSymlinkTarget(siv, text, raw64).equals(target)) t.fail(`round trip of ${n} bytes`)
    }
  }
  // Spec 5.7 (Raw64): up to 3039 bytes work, 3040 reach exactly PATH_MAX, 3041 exceed it.
  t.ok(encryptedTargetLength(3039, true) < SYMLINK_TARGET_MAX)
  t.equal(encryptedTargetLength(3040, true), SYMLINK_TARGET_MAX)
  t.ok(encryptedTargetLength(3041, true) > SYMLINK_TARGET_MAX)
})

t.test('rejections', async (t) => {
  const siv = createAesSiv(randomBytes(64))
  const nonce = randomBytes(16)
  const good = encryptSymlinkTarget(siv, Buffer.from('../x'), nonce, true)
  const blob = decode64(good, true)
  const flipped = Buffer.from(blob)
  flipped[flipped.length - 1] ^= 1
  const zeroNonce = Buffer.from(blob)
  zeroNonce.fill(0, 0, 16)
  const bad = {
    'tampered ciphertext': encode64(flipped, true),
    'all-zero nonce': encode64(zeroNonce, true),
    'no ciphertext': encode64(blob.subarray(0, 32), true),
    empty: '',
    'padded spelling in Raw64': good + '==',
    'line break': good.slice(0, 10) + '\n' + good.slice(10),
  }
  for (const [what, text] of Object.entries(bad)) t.throws(() => decryptSymlinkTarget(siv, text, true), CorruptError, what)
  t.throws(() => decryptSymlinkTarget(createAesSiv(randomBytes(64)), good, true), CorruptError, 'other key')
  t.throws(() => encryptSymlinkTarget(siv, Buffer.alloc(0), nonce, true), RangeError, 'empty target')
  t.throws(() => encryptSymlinkTarget(siv, Buffer.from('x'), nonce.subarray(0, 12), true), RangeError, 'short nonce')
})
