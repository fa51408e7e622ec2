// The mount-time warning about other filesystems under the source: which mounts count, and when.
import t from 'tap'
import type { MountEntry } from '../src/fuse/mountinfo.js'
import { hiddenDir, servedSubmounts, submountWarning } from '../src/cli/submounts.js'
import { Excluder } from '../src/view/exclude.js'
import { Filter } from '../src/view/filter.js'

const entry = (mountPoint: string, fsType: string): MountEntry => ({
  mountId: 1,
  device: '0:1',
  mountPoint,
  fsType,
  source: fsType,
  mountOptions: [],
  superOptions: [],
})
const mounts = [
  entry('/', 'ext4'),
  entry('/proc', 'proc'),
  entry('/sys', 'sysfs'),
  entry('/sys/fs/cgroup', 'cgroup2'),
  entry('/dev', 'devtmpfs'),
  entry('/run', 'tmpfs'),
  entry('/home/rb/rootfs', 'fuse.tsreverse'),
  entry('/srv2', 'ext4'),
]

t.test('a source of / spans every other mount; excluded ones and the mount point do not count', async (t) => {
  const exclude = new Excluder(['/sys', '/run'])
  const served = servedSubmounts('/', mounts, (rel) => rel === 'home/rb/rootfs' || hiddenDir(rel, exclude, undefined))
  t.same(
    served.map((m) => m.mountPoint),
    ['/dev', '/proc', '/srv2'],
    'outermost first, /sys/fs/cgroup hidden with /sys',
  )
  t.match(
    submountWarning('/', served),
    /^warning: \/ spans other filesystems, which the view serves: \/dev \(devtmpfs\), \/proc \(proc\), \/srv2 \(ext4\); exclude them or use -one-file-system/,
  )
})

t.test('a source without mounts inside gives no warning', async (t) => {
  t.same(
    servedSubmounts('/srv2', mounts, () => false),
    [],
  )
  t.equal(submountWarning('/srv2', []), undefined)
  t.same(
    servedSubmounts('/sr', mounts, () => false),
    [],
    '/srv2 is not inside /sr',
  )
})

t.test('a filter that leaves a mount out hides it; long lists are cut', async (t) => {
  const filter = Filter.parse('+ /etc\n- *\n')
  t.equal(hiddenDir('proc', undefined, filter), true)
  t.equal(hiddenDir('etc', undefined, filter), false)
  const many = Array.from({ length: 9 }, (_, i) => entry(`/m${i}`, 'tmpfs'))
  t.match(submountWarning('/', many), /\/m5 \(tmpfs\) and 3 more;/)
})
