// Mount flags gocryptfs' test suite and scripts rely on: -notifypid (SIGUSR1 once mounted, how
// the suite waits for a mount) and -idle (unmount and exit 0 once unused).
import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { BIN } from './lib/cli.js'
import { isMounted, waitFor } from './lib/mounts.js'
import { initSource, mountDir, scratchDir, stopMount } from './lib/reverse-mounts.js'

const dir = scratchDir(t)
const { src, passfile } = initSource(t, dir, { empty: true })

t.test('-notifypid: SIGUSR1 arrives once the mount is usable', async (t) => {
  const mnt = mountDir(dir, 'notify')
  let mountedAtSignal: boolean | undefined
  const onUsr1 = (): void => void (mountedAtSignal ??= isMounted(mnt))
  process.on('SIGUSR1', onUsr1)
  t.teardown(() => void process.off('SIGUSR1', onUsr1))
  const child = spawn(process.execPath, [BIN, '-q', '-wpanic', '-nosyslog', '-fg', `-notifypid=${process.pid}`, '-passfile', passfile, src, mnt], {
    stdio: 'ignore',
  })
  t.teardown(() => stopMount({ mnt, pid: child.pid! }))
  await waitFor('SIGUSR1', () => mountedAtSignal !== undefined || child.exitCode !== null, 30_000)
  t.equal(mountedAtSignal, true, 'mounted when the signal came')
})

t.test('-idle: unused for that long, the mount goes away and the server exits 0', async (t) => {
  const mnt = mountDir(dir, 'idle')
  const child = spawn(process.execPath, [BIN, '-q', '-nosyslog', '-fg', '-idle', '1s', '-passfile', passfile, src, mnt], { stdio: 'ignore' })
  t.teardown(() => stopMount({ mnt, pid: child.pid! }))
  const exited = once(child, 'exit')
  await waitFor('the mount', () => isMounted(mnt), 30_000)
  const [code] = await exited
  t.equal(code, 0, 'exit 0')
  t.notOk(isMounted(mnt), 'unmounted')
})
