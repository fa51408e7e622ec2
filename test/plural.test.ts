import t from 'tap'
import { plural } from '../src/plural.js'

t.test('the plural unless the count is 1', async (t) => {
  t.equal(plural(1, 'argument'), '1 argument')
  t.equal(plural(0, 'argument'), '0 arguments')
  t.equal(plural(2, 'directory', 'directories'), '2 directories')
  t.equal(plural(1, 'directory', 'directories'), '1 directory')
})
