// Opening a file through the view reads nothing a reader did not ask for when reading has side
// effects: /proc/kmsg, bound into the source, hands out each kernel message once (and says it
// is empty). A marker written to the kernel log must still be in /proc/kmsg after the view's
// kmsg was opened and closed.
import { closeSync, constants, openSync, readSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { answer, startServer } from './lib/fault-processes.js'
import { initSource, mountDir, run, scratchDir, viewPath } from './lib/reverse-mounts.js'

/** Everything /proc/kmsg holds now, without waiting for more. */
function drainKmsg(): string {
  const fd = openSync('/proc/kmsg', constants.O_RDONLY | constants.O_NONBLOCK)
  const buf = Buffer.alloc(1 << 16)
  let out = ''
  try {
    for (;;) out += buf.toString('latin1', 0, readSync(fd, buf))
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e
  } finally {
    closeSync(fd)
  }
  return out
}

const logMarker = (marker: string): void => writeFileSync('/dev/kmsg', `${marker}\n`)

t.test('opening /proc/kmsg through the view consumes no kernel message', async (t) => {
  const dir = scratchDir(t, 'tsreverse-open-reads-')
  const s = initSource(t, dir, { empty: true })
  const kmsg = path.join(s.src, 'kmsg')
  writeFileSync(kmsg, '')
  const bind = run('mount', ['--bind', '/proc/kmsg', kmsg])
  t.equal(bind.status, 0, bind.stderr)
  t.teardown(() => void run('umount', ['-l', kmsg]))
  const server = await startServer(t, s.src, s.passfile, mountDir(dir, 'mnt'))
  const file = path.join(server.mnt, ...viewPath(s.masterKey, ['kmsg']))

  drainKmsg()
  const marker = `tsreverse-open-reads-${process.pid}`
  logMarker(marker)
  // A child opens and closes it: a read of /proc/kmsg that found nothing would block.
  const open = await answer(t, ['sh', '-c', ': < "$1"', 'open', file])
  t.equal(open.code, 0, `opened and closed through the view ${open.stderr}`)
  t.match(drainKmsg(), marker, 'the message is still in /proc/kmsg')
})
