// The format choices the view needs, taken from a config file or, for -masterkey/-zerokey
// mounts, from command-line flags (gocryptfs 2.3 mount.go initFuseFrontend).
import { ExitCode, UserError } from '../exitcodes.js'
import { checkLongNameMax, contentEncryption, hasFlag, MIN_LONG_NAME_MAX, type ConfigFile } from './config.js'
import { NAME_MAX } from './names.js'

export interface FormatSettings {
  plaintextNames: boolean
  /** False = deterministic names: all-zero directory IV and no gocryptfs.diriv files. */
  dirIv: boolean
  emeNames: boolean
  longNames: boolean
  /** Encoded names longer than this are hashed into gocryptfs.longname.*; 255 by default. */
  longNameMax: number
  raw64: boolean
  hkdf: boolean
  aessiv: boolean
}

/**
 * gocryptfs 2.3 takes long-name handling from its -longnames flag (default true) even when a
 * config is loaded; the LongNames feature flag itself is not consulted.
 */
export function settingsFromConfig(conf: ConfigFile, opts: { longnames?: boolean } = {}): FormatSettings {
  const plaintextNames = hasFlag(conf, 'PlaintextNames')
  // gocryptfs never writes a LongNameMax below 62 (-init refuses it), so one is a hand edit.
  if (conf.LongNameMax !== 0 && conf.LongNameMax < MIN_LONG_NAME_MAX) {
    throw new UserError(`LongNameMax=${conf.LongNameMax} in the config is below the supported minimum of ${MIN_LONG_NAME_MAX}`, ExitCode.DeprecatedFS)
  }
  return {
    plaintextNames,
    dirIv: !plaintextNames && hasFlag(conf, 'DirIV'),
    emeNames: !plaintextNames,
    longNames: !plaintextNames && (opts.longnames ?? true),
    longNameMax: conf.LongNameMax || NAME_MAX,
    raw64: hasFlag(conf, 'Raw64'),
    hkdf: hasFlag(conf, 'HKDF'),
    aessiv: contentEncryption(conf) === 'AES-SIV-512',
  }
}

export interface FormatFlags {
  plaintextNames?: boolean
  deterministicNames?: boolean
  longNameMax?: number
  raw64?: boolean
  hkdf?: boolean
  longnames?: boolean
  aessiv?: boolean
}

/** Settings for a mount without a config file; defaults as gocryptfs 2.3's flags. */
export function settingsFromFlags(flags: FormatFlags): FormatSettings {
  const plaintextNames = flags.plaintextNames ?? false
  return {
    plaintextNames,
    dirIv: !plaintextNames && !(flags.deterministicNames ?? false),
    emeNames: !plaintextNames,
    longNames: !plaintextNames && (flags.longnames ?? true),
    longNameMax: checkLongNameMax(flags.longNameMax),
    raw64: !plaintextNames && (flags.raw64 ?? true),
    hkdf: flags.hkdf ?? true,
    aessiv: flags.aessiv ?? false,
  }
}
