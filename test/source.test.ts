import t from 'tap'
import { ownCopy } from '../src/view/source.js'

t.test('ownCopy: the same bytes in memory of their own, not a slice of a shared slab', async (t) => {
  const pooled = Buffer.from('dir/sub')
  // The premise: a small Buffer shares a larger ArrayBuffer with others.
  t.ok(pooled.buffer.byteLength > pooled.length, `a small Buffer is a slice (${pooled.buffer.byteLength} bytes behind ${pooled.length})`)
  const copy = ownCopy(pooled)
  t.same(copy, pooled)
  t.equal(copy.byteOffset, 0)
  t.equal(copy.buffer.byteLength, pooled.length, 'its memory is exactly its bytes')
  t.equal(ownCopy(Buffer.alloc(0)).length, 0)
})
