// The CLI: parse, pick the action, map every failure to one line on stderr and gocryptfs's exit code.
// Each action's code is loaded only when it is chosen: a mount daemon keeps whatever it loaded
// resident for as long as it runs.
import { ExitCode, UserError } from '../exitcodes.js'
import { helpText, parseArgs, refusedFlag, type Flags } from './args.js'
import { plural } from '../plural.js'

const ACTIONS = [
  'init',
  'info',
  'passwd',
  'dumpmasterkey',
  'speed',
  'version',
  'help',
  'restore',
  'fsck',
  'check',
  'encrypt-paths',
  'decrypt-paths',
  'demo',
] as const

async function run(flags: Flags, positional: string[]): Promise<void> {
  const chosen = ACTIONS.filter((a) => flags[a])
  if (chosen.length > 1) {
    throw new UserError(`only one of ${chosen.map((a) => '-' + a).join(', ')} can be used at a time`, ExitCode.Usage)
  }
  const refused = refusedFlag(flags)
  if (refused && !flags.help && !flags.version) throw refused
  switch (chosen[0]) {
    case 'help':
      process.stdout.write(helpText() + '\n')
      return
    case 'version':
      process.stdout.write((await import('./version.js')).versionLine() + '\n')
      return
    case 'demo':
      return (await import('./demo.js')).runDemo(flags)
    case 'speed': {
      const [{ cpuLine, speedLines }, { versionLine }] = await Promise.all([import('./speed.js'), import('./version.js')])
      process.stdout.write([versionLine(), cpuLine(), ...speedLines()].join('\n') + '\n')
      return
    }
    case 'init':
      return (await import('./config-commands.js')).runInit(flags, positional)
    case 'info':
      return (await import('./config-commands.js')).runInfo(flags, positional)
    case 'passwd':
      return (await import('./config-commands.js')).runPasswd(flags, positional)
    case 'dumpmasterkey':
      return (await import('./config-commands.js')).runDumpMasterKey(flags, positional)
    case 'restore':
      return (await import('./restore.js')).runRestore(flags, positional)
    case 'fsck':
      return (await import('./fsck.js')).runFsck(flags, positional)
    case 'check':
      return (await import('./check.js')).runCheck(positional)
    case 'encrypt-paths':
      return (await import('./paths.js')).runPaths(flags, positional, 'encrypt')
    case 'decrypt-paths':
      return (await import('./paths.js')).runPaths(flags, positional, 'decrypt')
    case undefined:
      if (flags.forward && flags.reverse) throw new UserError('-forward and -reverse cannot be used together', ExitCode.Usage)
      if (positional.length !== 2) {
        const dirs = flags.forward ? 'CIPHERDIR and MOUNTPOINT' : 'SOURCEDIR and MOUNTPOINT'
        throw new UserError(`need ${dirs}, got ${plural(positional.length, 'argument')}`, ExitCode.Usage)
      }
      if (flags.forward) return (await import('./forward.js')).runForwardMount(flags, positional[0]!, positional[1]!)
      return (await import('./mount.js')).runReverseMount(flags, positional[0]!, positional[1]!)
  }
}

/** Control characters (quoted from a config file or a path) would split the line or drive the terminal. */
function oneLine(message: string): string {
  return message.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
}

export async function main(argv: string[]): Promise<void> {
  try {
    const { flags, positional } = parseArgs(argv)
    await run(flags, positional)
  } catch (err) {
    if (err instanceof UserError) {
      process.stderr.write(`tsreverse: ${oneLine(err.message)}\n`)
      process.exit(err.exitCode)
    }
    process.stderr.write(`tsreverse: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exit(ExitCode.Other)
  }
}
