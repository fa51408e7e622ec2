// A server that holds keys writes no core dump, whatever limit it was started with: RLIMIT_CORE 0
// and not dumpable (native harden()). The kernel writes a core named by core_pattern, relative
// to the process's working directory ('/' once mounted) unless the pattern pipes it elsewhere.
import { existsSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { startServer, within } from './lib/fault-processes.js'
import { initSource, mountDir, scratchDir } from './lib/reverse-mounts.js'

const dir = scratchDir(t, 'tsreverse-core-')
const { src, passfile } = initSource(t, dir, { empty: true })

t.test('started with an unlimited core size, the server has none and dumps nothing on SIGABRT', async (t) => {
  const started = Date.now()
  const server = await startServer(t, src, passfile, mountDir(dir, 'mnt'), { coreUnlimited: true })
  const limit = readFileSync(`/proc/${server.pid}/limits`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max core file size'))
  t.match(limit, /^Max core file size\s+0\s+0\s/, 'RLIMIT_CORE is 0')
  process.kill(server.pid, 'SIGABRT')
  const exit = await within('the server to end', server.exited)
  t.equal(exit.signal, 'SIGABRT', 'killed by the signal')
  const pattern = readFileSync('/proc/sys/kernel/core_pattern', 'utf8').trim()
  if (pattern.startsWith('|')) {
    t.comment(`core_pattern pipes cores to ${pattern}: no file to look for`)
    return
  }
  // The pattern's name, in the server's working directory ('/'), as the kernel would write it.
  const name = pattern.replace(/%p/g, String(server.pid)).replace(/%[a-zA-Z]/g, '*')
  const core = path.resolve('/', name)
  const fresh = !name.includes('*') && existsSync(core) && statSync(core).mtimeMs >= started
  t.notOk(fresh, `no core file at ${core}`)
})
