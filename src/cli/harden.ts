// Hardening of the processes on the mount path. The server runs as root for as long as the mount
// lives and holds the keys, so nothing from outside may open a debugger in it or load code into
// it: not a signal (Node opens its inspector on 127.0.0.1:9229, reachable by every local user, on
// SIGUSR1), not the caller's NODE_* variables, not the caller's node flags. Options node acted on
// before any of our code ran (a -fg process started with --require) cannot be undone here;
// the background server is started without them. Nor may a core dump or another user's ptrace
// read the password or keys out of it.
import { sys } from '../native/sys.js'

/** Keeps the signal from opening the inspector (a listener replaces Node's handler); gocryptfs ignores it too. */
function ignoreInspectorSignal(): void {
  process.on('SIGUSR1', () => {})
}

/** Closes an inspector that --inspect or NODE_OPTIONS opened at startup, before any secret is read. */
async function closeInspector(log: (msg: string) => void): Promise<void> {
  if (!process.features.inspector) return
  const inspector = await import('node:inspector')
  if (inspector.url() === undefined) return
  inspector.close()
  log('closed the debugger that node was started with: a mount server takes none')
}

/** Called first by every process that takes part in a mount (foreground, daemon and its parent). */
export async function hardenServerProcess(log: (msg: string) => void): Promise<void> {
  ignoreInspectorSignal()
  // RLIMIT_CORE 0 and not dumpable: no core file (LimitCORE=infinity or not), no ptrace attach
  // by non-root, /proc/PID/mem and environ readable by root only.
  sys.harden()
  await closeInspector(log)
}

// Node flags that open a debugger, load code (preloads, loaders, an env file that may set
// NODE_OPTIONS, an OpenSSL config that may load modules, a startup snapshot) or write the heap
// or a report to disk on a signal. Those marked with a value take it as the next argument when
// not written with "=". Everything else (memory sizes, --cpu-prof for profiling) passes.
const UNSAFE_NODE_FLAGS: ReadonlyMap<string, boolean> = new Map([
  ['--inspect', false],
  ['--inspect-brk', false],
  ['--inspect-wait', false],
  ['--inspect-port', true],
  ['--inspect-publish-uid', true],
  ['--debug-port', true],
  ['-r', true],
  ['--require', true],
  ['--import', true],
  ['--loader', true],
  ['--experimental-loader', true],
  ['--env-file', true],
  ['--openssl-config', true],
  ['--snapshot-blob', true],
  ['--heapsnapshot-signal', true],
  ['--heapsnapshot-near-heap-limit', true],
  ['--report-on-signal', false],
  ['--report-signal', true],
])

/** The caller's node flags without the unsafe ones (and their values). */
export function safeExecArgv(execArgv: readonly string[]): string[] {
  const kept: string[] = []
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i]!
    const eq = arg.indexOf('=')
    const name = (eq < 0 ? arg : arg.slice(0, eq)).replace(/_/g, '-') // node takes either
    const takesValue = UNSAFE_NODE_FLAGS.get(name)
    if (takesValue === undefined) kept.push(arg)
    else if (takesValue && eq < 0) i++
  }
  return kept
}

/**
 * The caller's environment without NODE_*: NODE_OPTIONS carries the flags above, and the rest
 * (NODE_V8_COVERAGE, NODE_DEBUG, NODE_PATH, ...) tune or trace node, which a server needs none of.
 */
export function safeEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !name.startsWith('NODE_')))
}
