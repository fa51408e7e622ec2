// -info: a summary of the config file without secrets, in gocryptfs 2.3's layout (info.go).
import { ExitCode, UserError } from '../exitcodes.js'
import { contentEncryption, loadConfig, type ConfigFile } from '../format/config.js'

export function formatInfo(conf: ConfigFile): string {
  const s = conf.ScryptObject
  return (
    `Creator:           ${conf.Creator}\n` +
    `FeatureFlags:      ${conf.FeatureFlags.join(' ')}\n` +
    `EncryptedKey:      ${conf.EncryptedKey.length}B\n` +
    `ScryptObject:      Salt=${s.Salt.length}B N=${s.N} R=${s.R} P=${s.P} KeyLen=${s.KeyLen}\n` +
    `contentEncryption: ${contentEncryption(conf)}\n`
  )
}

/** Loads the config for -info: gocryptfs exits 8 for every load failure here, whatever its cause. */
export function loadConfigForInfo(path: string): ConfigFile {
  try {
    return loadConfig(path)
  } catch (err) {
    if (err instanceof UserError) throw new UserError(`Loading config file failed: ${err.message}`, ExitCode.LoadConf)
    throw err
  }
}
