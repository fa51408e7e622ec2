// What the background server inherits from the caller's node (src/cli/harden.ts, runtime.ts).
import t from 'tap'
import { safeEnv, safeExecArgv } from '../src/cli/harden.js'
import { serverEnv, serverExecArgv } from '../src/cli/runtime.js'

t.test('node flags that open a debugger or load code are dropped, with their values', async (t) => {
  t.same(
    safeExecArgv([
      '--max-semi-space-size=1',
      '--inspect',
      '--inspect-brk=0',
      '--inspect_port',
      '9230',
      '-r',
      './hook.js',
      '--require=x',
      '--import',
      'data:text/javascript,',
      '--experimental-loader',
      'l.mjs',
      '--env-file=.env',
      '--openssl-config',
      'o.cnf',
      '--heapsnapshot-signal=SIGUSR2',
      '--report-on-signal',
      '--cpu-prof',
      '--stack-size=2000',
    ]),
    ['--max-semi-space-size=1', '--cpu-prof', '--stack-size=2000'],
  )
  t.same(serverExecArgv(['--inspect', '--max_semi_space_size=4']), ['--max_semi_space_size=4', '--expose-gc'], "the caller's memory setting stays")
})

t.test('no NODE_* variable reaches the server', async (t) => {
  const env = { PATH: '/bin', NODE_OPTIONS: '--require x', NODE_V8_COVERAGE: '/tmp/c', NODE_DEBUG: 'fs', NODE_PATH: '/x', NODEJS: 'kept' }
  t.same(safeEnv(env), { PATH: '/bin', NODEJS: 'kept' })
  t.same(serverEnv(env), { MALLOC_ARENA_MAX: '2', PATH: '/bin', NODEJS: 'kept' })
})
