// Where the master key comes from: -masterkey / -zerokey, or a config file unlocked with a
// password. Shared by mounts and by the config commands.
import { existsSync } from 'node:fs'
import { resolve, join } from 'node:path'
import { ExitCode, UserError, type ExitCodeValue } from '../exitcodes.js'
import { loadConfig, unwrapMasterKey, type ConfigFile } from '../format/config.js'
import { parseMasterKey, MASTERKEY_CLI_WARNING } from '../format/masterkey.js'
import { readPassword } from './password.js'
import type { Flags } from './args.js'

export const REVERSE_CONF = '.gocryptfs.reverse.conf'
export const FORWARD_CONF = 'gocryptfs.conf'

export interface ConfigLocation {
  path: string
  /** True when -config was given: the reverse view then has no virtual gocryptfs.conf. */
  custom: boolean
}

/** The config a command uses: -config, else the default name inside dir. */
export function configLocation(flags: Flags, dir: string, defaultName = REVERSE_CONF): ConfigLocation {
  if (flags.config !== undefined) return { path: resolve(flags.config), custom: true }
  return { path: resolve(join(dir, defaultName)), custom: false }
}

/** For commands that read an existing config in a plaintext or ciphertext directory. */
export function existingConfigLocation(flags: Flags, dir: string): ConfigLocation {
  const reverse = configLocation(flags, dir, REVERSE_CONF)
  if (reverse.custom || existsSync(reverse.path)) return reverse
  return configLocation(flags, dir, FORWARD_CONF)
}

export function passwordFromFlags(flags: Flags, prompt: string, twice = false): Promise<Buffer> {
  return readPassword({ passfile: flags.passfile, extpass: flags.extpass, prompt, twice })
}

/** A master key given on the command line (-masterkey HEX | stdin, -zerokey), if any. */
export async function masterKeyFromFlags(flags: Flags): Promise<Buffer | undefined> {
  if (flags.zerokey) return Buffer.alloc(32)
  if (flags.masterkey === undefined) return undefined
  if (flags.masterkey === 'stdin') {
    const line = await readStdinLine()
    try {
      if (line.length === 0) throw new UserError('-masterkey=stdin: got an empty line from stdin', ExitCode.ReadPassword)
      return parseMasterKey(line)
    } finally {
      line.fill(0)
    }
  }
  if (!flags.quiet) process.stderr.write(MASTERKEY_CLI_WARNING + '\n')
  return parseMasterKey(flags.masterkey)
}

/** A command line for the background child, plus what it reads on stdin instead. */
export interface ChildHandoff {
  argv: string[]
  stdin: string
}

/**
 * For a daemonizing mount given `-masterkey KEY`: the arguments with the key replaced by
 * "stdin", and the key for the child's stdin. The daemon then never shows the key in its
 * /proc/PID/cmdline (readable by every user) for as long as the mount lives; gocryptfs keeps it
 * there. The warning is printed here, since the child no longer sees a key on its command line.
 * Undefined when there is nothing to move, or when the child is bound to fail anyway.
 */
export function masterKeyHandoff(flags: Flags, argv: readonly string[]): ChildHandoff | undefined {
  const key = flags.masterkey
  if (key === undefined || key === 'stdin' || flags.fg || flags.passfile || flags.extpass || flags.zerokey) return undefined
  try {
    parseMasterKey(key).fill(0)
  } catch {
    return undefined // the child reports it with gocryptfs' exit code
  }
  // Every spelling parseArgs accepts: `-masterkey KEY`, `--masterkey=KEY`, `-o a,masterkey=KEY`.
  const withValue = new RegExp(`^((?:--?)?masterkey=)${key}$`)
  const redacted = argv.map((arg, i) => {
    if (arg === key && /^--?masterkey$/.test(argv[i - 1] ?? '')) return 'stdin'
    return arg
      .split(',')
      .map((item) => item.replace(withValue, '$1stdin'))
      .join(',')
  })
  if (redacted.some((arg) => arg.includes(key))) return undefined
  if (!flags.quiet) process.stderr.write(MASTERKEY_CLI_WARNING + '\n')
  return { argv: redacted, stdin: key + '\n' }
}

/** The first line of stdin, as bytes the caller wipes (a string could not be). */
export async function readStdinLine(): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer)
    if ((chunk as Buffer).includes(0x0a)) break
  }
  const all = Buffer.concat(chunks)
  for (const c of chunks) c.fill(0)
  const newline = all.indexOf(0x0a)
  const line = Buffer.from(all.subarray(0, newline < 0 ? all.length : newline))
  all.fill(0)
  return line
}

export interface Unlocked {
  masterKey: Buffer
  /** Absent for -masterkey/-zerokey, which skip the config entirely (as gocryptfs). */
  config?: ConfigFile
}

/** Loads the config (exit code as gocryptfs for a missing one) and unlocks it with a password. */
export async function unlock(flags: Flags, location: ConfigLocation, missingExit: ExitCodeValue = ExitCode.Other): Promise<Unlocked> {
  if ((flags.masterkey !== undefined || flags.zerokey) && (flags.passfile || flags.extpass)) {
    throw new UserError('-masterkey and -zerokey cannot be combined with -passfile or -extpass', ExitCode.Usage)
  }
  const fromFlags = await masterKeyFromFlags(flags)
  if (fromFlags) return { masterKey: fromFlags }
  const config = loadExisting(location, missingExit)
  const password = await passwordFromFlags(flags, 'Password: ')
  try {
    return { masterKey: await unwrapMasterKey(config, password), config }
  } finally {
    password.fill(0)
  }
}

export function loadExisting(location: ConfigLocation, missingExit: ExitCodeValue): ConfigFile {
  if (!existsSync(location.path)) {
    throw new UserError(`config file ${location.path} not found`, missingExit)
  }
  return loadConfig(location.path)
}
