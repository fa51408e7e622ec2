import t from 'tap'
import { ListedAttrs } from '../src/fuse/listed-attrs.js'

t.test('entries answer for the timeout after their listing, then never', async (t) => {
  let now = 0
  const listed = new ListedAttrs<number>(1000, () => now)
  listed.add('/', ['a', 'b'], [1, 2], now)
  listed.add('/d', ['a'], [3], now)
  t.equal(listed.get('/a'), 1)
  t.equal(listed.get('/d/a'), 3)
  t.equal(listed.get('/c'), undefined, 'not listed')
  t.equal(listed.get('/d'), undefined, 'a listed directory is not an entry of itself')
  now = 999
  t.equal(listed.get('/b'), 2, 'still within the timeout')
  now = 1000
  t.equal(listed.get('/b'), undefined, 'expired at the timeout')
  listed.add('/', ['b'], [5], 900)
  t.equal(listed.get('/b'), 5, 'a new listing replaces the entry')
  now = 1900
  t.equal(listed.get('/b'), undefined, 'aged from when the listing started')
  now = 10_000
  t.equal(listed.get('/a'), undefined)
})

t.test('a listing that started before a rotation stays valid for its own timeout', async (t) => {
  let now = 0
  const listed = new ListedAttrs<string>(100, () => now)
  now = 150
  listed.add('/', ['x'], ['old'], 140) // rotates, then stores into the new generation
  now = 230
  t.equal(listed.get('/x'), 'old', 'found in the previous generation after the next rotation')
  now = 240
  t.equal(listed.get('/x'), undefined)
})

t.test('timeout 0 keeps nothing', async (t) => {
  const listed = new ListedAttrs<number>(0)
  listed.add('/', ['a'], [1], listed.now())
  t.equal(listed.get('/a'), undefined)
})
