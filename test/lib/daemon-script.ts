// A miniature CLI for daemon tests: `node daemon-script.js MNT [-fg] [-nosyslog] [-q] [-hang]` mounts
// a MemView through runMount (-hang: never finishes mounting). The file /pid tells tests which
// process serves the mount. READY_TIMEOUT_MS overrides the parent's wait.
import { runMount } from '../../src/cli/daemon.js'
import { ExitCode, UserError } from '../../src/exitcodes.js'
import { mountView } from '../../src/fuse/adapter.js'
import { MemView } from './memview.js'

const [mnt, ...flags] = process.argv.slice(2)
try {
  await runMount({
    fg: flags.includes('-fg'),
    nosyslog: flags.includes('-nosyslog'),
    quiet: flags.includes('-q'),
    readyTimeoutMs: Number(process.env.READY_TIMEOUT_MS) || undefined,
    mount: (log) => {
      log('mounting memview')
      if (flags.includes('-hang')) return new Promise(() => setInterval(() => {}, 1000)) // like a prompt nobody answers
      const pid = Buffer.from(String(process.pid))
      const view = new MemView({ kind: 'dir', ino: 1, children: { pid: { kind: 'file', ino: 2, data: pid } } })
      return mountView(view, mnt!, { fsname: 'daemon-script', subtype: 'tsreverse', allowOther: false, readOnly: true, log })
    },
  })
} catch (err) {
  process.stderr.write(`daemon-script: ${(err as Error).message}\n`)
  process.exit(err instanceof UserError ? err.exitCode : ExitCode.Other)
}
