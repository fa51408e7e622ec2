// Path IVs against the worked examples of the format spec (sections 4 and 5.1).
import t from 'tap'
import { derivePathIv, symlinkIvPath } from '../src/format/pathiv.js'

t.test('spec examples', async (t) => {
  // The root directory IV of every reverse file system (5.1).
  t.equal(derivePathIv('', 'DIRIV').toString('hex'), 'a8f7bac432ddc1cb3dc74e684d6ae48b')
  // file-1 of vector B (4).
  t.equal(derivePathIv('QlJdkRUR8yk7JpkC5wsvPw', 'FILEID').toString('hex'), 'c45518817d4813a16aa57f1800b248d4')
  t.equal(derivePathIv('QlJdkRUR8yk7JpkC5wsvPw', 'BLOCK0IV').toString('hex'), '6a2630fc19dff6c5b856e101cdb615a3')
  // Vector A hashes the plaintext path (4).
  t.equal(derivePathIv('file-1', 'FILEID').toString('hex'), 'c9e3ec4b05fd4fb14dcb584822c8883d')
})

t.test('bytes and strings', async (t) => {
  const path = 'a/héllo'
  t.same(derivePathIv(Buffer.from(path), 'DIRIV'), derivePathIv(path, 'DIRIV'), 'strings hash as UTF-8')
  const raw = Buffer.from([0x61, 0x2f, 0xff, 0xfe])
  t.not(derivePathIv(raw, 'FILEID').toString('hex'), derivePathIv(raw.toString(), 'FILEID').toString('hex'), 'non-UTF-8 bytes are hashed as they are')
  t.equal(derivePathIv('x', 'SYMLINKIV').length, 16)
  t.not(derivePathIv('x', 'FILEID').toString('hex'), derivePathIv('x', 'BLOCK0IV').toString('hex'))
})

t.test('symlink quirk doubles the last component', async (t) => {
  t.equal(symlinkIvPath('CPxWujAbyHHeSVTZuzQnGQ'), 'CPxWujAbyHHeSVTZuzQnGQ/CPxWujAbyHHeSVTZuzQnGQ')
  t.equal(symlinkIvPath('dir/x/lnk'), 'dir/x/lnk/lnk')
})
