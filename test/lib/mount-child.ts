// Mounts a small MemView at argv[2] and reports on stdout: "mounted", then "closed <how>".
// It never calls process.exit: exiting on its own after an external unmount shows that the
// adapter let go of the FUSE session when the binding reported its end.
import { mountView } from '../../src/fuse/adapter.js'
import { MemView } from './memview.js'

const view = new MemView({
  kind: 'dir',
  ino: 1,
  children: { hello: { kind: 'file', ino: 2, data: Buffer.from('hello from child\n') } },
})
const handle = await mountView(view, process.argv[2]!, {
  fsname: 'mount-child',
  subtype: 'tsreverse',
  allowOther: false,
  readOnly: true,
  log: (m) => process.stderr.write(m + '\n'),
})
process.stdout.write('mounted\n')
process.stdout.write(`closed ${await handle.closed}\n`)
