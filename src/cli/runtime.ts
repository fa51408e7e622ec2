// Process settings for the server, which lower its peak RSS by 40-50 MiB at the same speed
// (measured with native-bench): a 1 MiB young generation and at most 2 malloc arenas, as glibc
// otherwise gives busy threads arenas of their own that keep freed read buffers. Both only act when set before node starts:
// bin/tsreverse's #! line passes them (keep it in step), and the background child gets them
// here, also when the CLI was started as `node bin/tsreverse`; values set there are kept. The
// child gets none of the caller's node flags and variables that could load code (harden.ts).
// --expose-gc lets the adapter collect once after a huge listing (adapter.ts, collectSoon).
import { safeEnv, safeExecArgv } from './harden.js'

export const SERVER_NODE_FLAGS = ['--max-semi-space-size=1', '--expose-gc']
export const SERVER_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' }

/** Flag name without value, with V8's interchangeable `_` and `-` made equal. */
const flagName = (arg: string): string => arg.split('=')[0]!.replace(/_/g, '-')

/** Node options for a server process: the caller's safe ones, plus ours that it did not set. */
export function serverExecArgv(execArgv: readonly string[]): string[] {
  const safe = safeExecArgv(execArgv)
  const given = new Set(safe.map(flagName))
  return [...safe, ...SERVER_NODE_FLAGS.filter((f) => !given.has(flagName(f)))]
}

/** Environment for a server process: the caller's without NODE_*, plus ours where it has no value. */
export function serverEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...SERVER_ENV, ...safeEnv(env) }
}
