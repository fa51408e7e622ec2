import t from 'tap'
import { byteString, bytesOf, goString, readable } from '../src/view/byte-string.js'

t.test('byte strings carry every byte both ways', async (t) => {
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
  t.same(bytesOf(byteString(all)), all)
  t.equal(byteString(all.subarray(0x61, 0x63)), 'ab', 'a view of a larger buffer')
})

t.test('readable: UTF-8 decoded, other bytes and control characters escaped', async (t) => {
  t.equal(readable(Buffer.from('café/日本')), 'café/日本')
  t.equal(readable('caf\xc3\xa9'), 'café', 'a byte string')
  t.equal(readable(Buffer.from([0x61, 0xff, 0x62, 0xc3])), 'a\\xffb\\xc3', 'invalid bytes')
  t.equal(readable(Buffer.from([0xe6, 0x97, 0xa5, 0xe6, 0x97])), '日\\xe6\\x97', 'a cut sequence after a valid one')
  t.equal(readable('a\nb\x7f'), 'a\\x0ab\\x7f', 'a name cannot start a new log line')
})

t.test("goString: one U+FFFD per invalid byte, as Go's regexp sees it", async (t) => {
  t.equal(goString(Buffer.from([0x61, 0xff, 0xfe, 0x62])), 'a\uFFFD\uFFFDb')
  t.equal(goString(Buffer.from([0xe6, 0x97, 0x61])), '\uFFFD\uFFFDa')
  t.equal(goString(Buffer.from('日本\n')), '日本\n', 'valid UTF-8, control characters kept')
})
