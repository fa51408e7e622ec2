// localFsType: local filesystems (the view's syscalls run inline there) are told from the others.
import t from 'tap'
import { localFsType } from '../src/view/local-fs.js'

t.test('tmpfs is local; proc and sysfs are not', async (t) => {
  t.equal(await localFsType('/dev/shm'), 'tmpfs')
  t.equal(await localFsType('/proc'), undefined)
  t.equal(await localFsType('/sys'), undefined)
})

t.test('a path that does not exist is an error, not a guess', async (t) => {
  await t.rejects(localFsType('/nonexistent-tsreverse-path'), { code: 'ENOENT' })
})
