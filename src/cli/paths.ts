// `tsreverse -encrypt-paths` / `-decrypt-paths [DIR]`: maps relative paths read from stdin (one
// per line, raw bytes) to their counterparts, offline; with -prefix, paths below that directory
// of the view on both sides (a copy of the directory has the ciphertext ones). Output line i belongs to input line i;
// a path that cannot be mapped gives an empty line and a message on stderr.
import { existsSync } from 'node:fs'
import path from 'node:path'
import { ExitCode, UserError } from '../exitcodes.js'
import { hasFlag } from '../format/config.js'
import { detectSettings } from '../restore/detect.js'
import { deriveKeys } from '../format/keys.js'
import { settingsFromConfig, settingsFromFlags, type FormatSettings } from '../format/settings.js'
import { prefixedMapper, readNameFile, type NameFileReader, type PathMapper } from '../restore/paths.js'
import { formatFlags, type Flags } from './args.js'
import { existingConfigLocation, loadExisting, masterKeyFromFlags, unlock, type ConfigLocation } from './auth.js'

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

function splitLines(input: Buffer): Buffer[] {
  const lines: Buffer[] = []
  let start = 0
  for (let nl = input.indexOf(0x0a); nl >= 0; nl = input.indexOf(0x0a, start)) {
    lines.push(input.subarray(start, nl))
    start = nl + 1
  }
  if (start < input.length) lines.push(input.subarray(start))
  return lines
}

/** The config in use: -config, else the one of DIR (source or ciphertext copy), if any. */
function configOf(flags: Flags, dir: string | undefined): ConfigLocation | undefined {
  if (flags.config !== undefined || dir !== undefined) return existingConfigLocation(flags, dir ?? '.')
  if (flags.cipherdir !== undefined) return existingConfigLocation(flags, flags.cipherdir)
  return undefined
}

/** Settings and name key: from the config (password, or -masterkey), else detected or from flags. */
async function mapperFor(flags: Flags, dir: string | undefined): Promise<PathMapper> {
  const location = configOf(flags, dir)
  const config = location && existsSync(location.path) ? loadExisting(location, ExitCode.Other) : undefined
  // Plaintext names need no key: do not ask for a password.
  if (config && hasFlag(config, 'PlaintextNames')) return newMapper(flags, settingsFromConfig(config), undefined)
  if (!config && flags.masterkey === undefined && !flags.zerokey) {
    throw new UserError(
      location ? `config file ${location.path} not found; give -config FILE or -masterkey KEY` : 'give the plaintext directory, -config FILE or -masterkey KEY',
      location ? ExitCode.Other : ExitCode.Usage,
    )
  }
  let settings: FormatSettings
  let masterKey: Buffer
  if (config) {
    masterKey = (await unlock(flags, location!)).masterKey
    settings = settingsFromConfig(config, { longnames: flags.longnames })
  } else {
    masterKey = (await masterKeyFromFlags(flags))!
    settings =
      flags.cipherdir !== undefined
        ? (await detectSettings(flags.cipherdir, masterKey, formatFlags(flags))).settings
        : settingsFromFlags({ ...formatFlags(flags), aessiv: true })
  }
  const keys = deriveKeys(masterKey, { hkdf: settings.hkdf })
  masterKey.fill(0)
  return newMapper(flags, settings, keys.eme)
}

/** With -prefix, paths are relative to that directory of the view on both sides. */
function newMapper(flags: Flags, settings: FormatSettings, emeKey: Uint8Array | undefined): PathMapper {
  return prefixedMapper(settings, emeKey, flags.prefix === undefined ? undefined : Buffer.from(flags.prefix))
}

export async function runPaths(flags: Flags, positional: string[], direction: 'encrypt' | 'decrypt'): Promise<void> {
  if (positional.length > 1) throw new UserError(`-${direction}-paths takes at most one directory, got ${positional.length}`, ExitCode.Usage)
  const mapper = await mapperFor(flags, positional[0])
  const cipherRoot = flags.cipherdir === undefined ? undefined : Buffer.from(path.resolve(flags.cipherdir))
  const nameFiles: NameFileReader | undefined = cipherRoot && ((dirRel, hashed) => readNameFile(cipherRoot, dirRel, hashed))
  const lines = splitLines(await readStdin())
  let failed = 0
  const out: Buffer[] = []
  for (const [i, line] of lines.entries()) {
    try {
      out.push(direction === 'encrypt' ? mapper.encryptPath(line) : await mapper.decryptPath(line, nameFiles))
    } catch (e) {
      failed++
      out.push(Buffer.alloc(0))
      process.stderr.write(`line ${i + 1}: ${(e as Error).message}\n`)
    }
    out.push(Buffer.from('\n'))
  }
  process.stdout.write(Buffer.concat(out))
  if (failed > 0) throw new UserError(`${failed} of ${lines.length} paths could not be mapped`, ExitCode.Other)
}
