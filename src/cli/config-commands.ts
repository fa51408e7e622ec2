// -init, -info, -passwd, -dumpmasterkey: the commands that create or read a config.
import { randomBytes } from 'node:crypto'
import { linkSync, unlinkSync, existsSync } from 'node:fs'
import { ExitCode, UserError } from '../exitcodes.js'
import { createConfig, rewrapMasterKey, writeConfigFile } from '../format/config.js'
import { formatMasterKey, formatMasterKeyReminder } from '../format/masterkey.js'
import { configLocation, existingConfigLocation, loadExisting, masterKeyFromFlags, passwordFromFlags, unlock } from './auth.js'
import type { Flags } from './args.js'
import { isDir } from './dirs.js'
import { formatInfo, loadConfigForInfo } from './info.js'
import { VERSION } from './version.js'

function singleDir(positional: string[], action: string): string {
  if (positional.length !== 1) {
    throw new UserError(`-${action} takes exactly one directory argument, got ${positional.length}`, ExitCode.Usage)
  }
  return positional[0]!
}

function requireDir(dir: string): void {
  if (!isDir(dir)) throw new UserError(`${dir} is not a directory or does not exist`, ExitCode.CipherDir)
}

/** The -dumpmasterkey command line for the config -init wrote. */
function dumpCommand(flags: Flags, dir: string): string {
  return ['tsreverse -dumpmasterkey', ...(flags.config === undefined ? [] : ['-config', flags.config]), dir].join(' ')
}

export async function runInit(flags: Flags, positional: string[]): Promise<void> {
  const dir = singleDir(positional, 'init')
  requireDir(dir)
  const location = configLocation(flags, dir)
  if (existsSync(location.path)) {
    throw new UserError(`config file ${location.path} already exists, refusing to overwrite it`, ExitCode.Init)
  }
  if (flags.masterkey !== undefined || flags.zerokey) {
    throw new UserError('-init always creates a new random master key; -masterkey is for -passwd and mounts', ExitCode.Usage)
  }
  const password = await passwordFromFlags(flags, 'Password: ', true)
  const masterKey = randomBytes(32)
  try {
    const config = await createConfig({
      masterKey,
      password,
      scryptLogN: flags.scryptn,
      plaintextNames: flags.plaintextnames ?? false,
      deterministicNames: flags['deterministic-names'] ?? false,
      longNameMax: flags.longnamemax,
      aessiv: true,
      creator: `tsreverse ${VERSION}`,
    })
    writeConfigFile(location.path, config, { overwrite: false })
    // Like gocryptfs: the key is shown once, and only to a person at a terminal (not to a log).
    if (!flags.quiet) {
      if (process.stdout.isTTY) process.stdout.write(formatMasterKeyReminder(masterKey) + '\n')
      else process.stdout.write(`Not running on a terminal, suppressing master key display\nShow it on a terminal with: ${dumpCommand(flags, dir)}\n`)
    }
  } finally {
    masterKey.fill(0)
    password.fill(0)
  }
  if (!flags.quiet) {
    process.stdout.write(`The tsreverse configuration has been created successfully: ${location.path}\n`)
    process.stdout.write(`You can now mount it using: tsreverse ${dir} MOUNTPOINT\n`)
  }
}

export function runInfo(flags: Flags, positional: string[]): void {
  const dir = singleDir(positional, 'info')
  process.stdout.write(formatInfo(loadConfigForInfo(existingConfigLocation(flags, dir).path)))
}

export async function runPasswd(flags: Flags, positional: string[]): Promise<void> {
  const dir = singleDir(positional, 'passwd')
  const location = existingConfigLocation(flags, dir)
  const config = loadExisting(location, ExitCode.LoadConf)
  // With -masterkey the old password is not needed: the way back from a forgotten one.
  const given = await masterKeyFromFlags(flags)
  const { masterKey } = given ? { masterKey: given } : await unlock(flags, location)
  const newPassword = await passwordFromFlags(flags, 'New Password: ', true)
  try {
    const updated = await rewrapMasterKey(config, masterKey, newPassword, flags.scryptn)
    const backup = location.path + '.bak'
    if (existsSync(backup)) unlinkSync(backup)
    linkSync(location.path, backup)
    writeConfigFile(location.path, updated, { overwrite: true })
  } finally {
    masterKey.fill(0)
    newPassword.fill(0)
  }
  if (!flags.quiet) process.stdout.write(`Password changed. A copy of the old config is at ${location.path}.bak\n`)
}

export async function runDumpMasterKey(flags: Flags, positional: string[]): Promise<void> {
  const dir = singleDir(positional, 'dumpmasterkey')
  const { masterKey } = await unlock(flags, existingConfigLocation(flags, dir), ExitCode.LoadConf)
  process.stdout.write(formatMasterKey(masterKey) + '\n')
  masterKey.fill(0)
}
