// The step every decrypting command shares (-forward, -restore, -fsck): the master key and the
// settings of a ciphertext tree, from its config or, with -masterkey and no config, detected
// from the tree itself; and the tree options their flags give.
import { existsSync } from 'node:fs'
import { ExitCode, UserError } from '../exitcodes.js'
import { createAesSiv, loadAesSivBackend, type AesSiv } from '../format/aes-siv.js'
import { deriveKeys, type DerivedKeys } from '../format/keys.js'
import { settingsFromConfig, type FormatSettings } from '../format/settings.js'
import type { CipherTreeOptions } from '../restore/cipher-tree.js'
import { detectSettings, masterKeyFits } from '../restore/detect.js'
import { formatFlags, sivBackend, type Flags } from './args.js'
import { FORWARD_CONF, configLocation, loadExisting, unlock } from './auth.js'

export interface CipherKeys {
  settings: FormatSettings
  keys: DerivedKeys
  /** Content cipher (-openssl picks the backend). */
  siv: AesSiv
  /** How the settings were found, for the user. */
  notes: string[]
}

/**
 * Keys and settings for the ciphertext tree at `root`. The config (default ROOT/gocryptfs.conf)
 * gives the settings whenever it exists, also with -masterkey; otherwise they are detected.
 * Either way the key is tried on the tree before anything is decrypted.
 */
export async function cipherKeys(flags: Flags, root: string): Promise<CipherKeys> {
  const backend = sivBackend(flags)
  await loadAesSivBackend(backend)
  const location = configLocation(flags, root, FORWARD_CONF)
  const keyGiven = flags.masterkey !== undefined || !!flags.zerokey
  if (!keyGiven && !existsSync(location.path)) {
    throw new UserError(`config file ${location.path} not found; give -config FILE, or -masterkey KEY to decrypt without it`, ExitCode.Other)
  }
  const unlocked = await unlock(flags, location)
  try {
    const config = unlocked.config ?? (existsSync(location.path) ? loadExisting(location, ExitCode.Other) : undefined)
    let settings: FormatSettings
    const notes: string[] = []
    if (config) {
      settings = settingsFromConfig(config, { longnames: flags.longnames })
      if (!settings.aessiv) {
        throw new UserError(
          `${location.path}: the content encryption is not AES-SIV, the only one tsreverse decrypts (reverse views, forward filesystems made with -aessiv); mount it with gocryptfs`,
          ExitCode.Usage,
        )
      }
    } else {
      const detected = await detectSettings(root, unlocked.masterKey, formatFlags(flags))
      settings = detected.settings
      notes.push(...detected.notes)
    }
    const keys = deriveKeys(unlocked.masterKey, { hkdf: settings.hkdf })
    // Detection already tried the key. A config only authenticates its own key, which may
    // belong to another tree (-config pointing elsewhere).
    if (config && (await masterKeyFits(root, settings, keys)) === false) {
      const which = unlocked.config ? `the key of ${location.path}` : 'the master key'
      throw new UserError(`${which} does not decrypt ${root}: wrong ${unlocked.config ? 'config' : 'key'}?`, ExitCode.PasswordIncorrect)
    }
    return { settings, keys, siv: createAesSiv(keys.siv, backend), notes }
  } finally {
    unlocked.masterKey.fill(0)
  }
}

/** The CipherTree options -prefix and -stored-ivs give. */
export function treeFlags(flags: Flags): Pick<CipherTreeOptions, 'prefix' | 'storedIvs'> {
  return { prefix: flags.prefix === undefined ? undefined : Buffer.from(flags.prefix), storedIvs: flags['stored-ivs'] }
}
