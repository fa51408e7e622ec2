// `tsreverse -forward CIPHERDIR MNT`: mounts the decrypted view of a ciphertext copy. Also the
// step every decrypting command shares (-forward, -restore, -fsck, -decrypt-paths): the master
// key and the settings of a ciphertext tree, from its config or, with -masterkey and no config,
// detected from the tree itself.
import { existsSync } from 'node:fs'
import path from 'node:path'
import { ExitCode, UserError } from '../exitcodes.js'
import { createAesSiv, type AesSiv } from '../format/aes-siv.js'
import { detectSettings, masterKeyFits } from '../restore/detect.js'
import { deriveKeys, type DerivedKeys } from '../format/keys.js'
import { settingsFromConfig, type FormatSettings } from '../format/settings.js'
import type { MountHandle } from '../fuse/adapter.js'
import { CipherTree, type CipherTreeOptions } from '../restore/cipher-tree.js'
import { ForwardView } from '../restore/forward-view.js'
import { formatFlags, sivBackend, type Flags } from './args.js'
import { FORWARD_CONF, configLocation, loadExisting, unlock } from './auth.js'
import { isDir, isMountpointDir } from './dirs.js'
import { CtlError } from './ctlsock.js'
import { encryptOrBadName, mountExtras, mountOptions, mountWithExtras, parseOwner, serveMount, warningLog } from './mount.js'

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

/** Whether p is dir or lies below it (both absolute). */
export const isInside = (dir: string, p: string): boolean => {
  const rel = path.relative(dir, p)
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))
}

async function mountForward(flags: Flags, cipherDir: string, mnt: string, log: (msg: string) => void): Promise<MountHandle> {
  const forceOwner = flags.force_owner === undefined ? undefined : parseOwner(flags.force_owner)
  const mountOpts = mountOptions(flags, cipherDir, log)
  const extras = await mountExtras(flags, log)
  const { settings, keys, siv, notes } = await cipherKeys(flags, cipherDir)
  if (!flags.quiet) notes.forEach(log)
  const warn = warningLog(flags, log)
  const tree = await CipherTree.create({ root: cipherDir, settings, keys, siv, ...treeFlags(flags) })
  const view = await ForwardView.create({ tree, forceOwner, log: warn })
  const handle = await mountWithExtras(view, mnt, { ...mountOpts, log: warn }, extras, {
    encryptPath: (plain) => encryptOrBadName(tree, plain),
    // A failed system call keeps its errno, as gocryptfs' *PathError does; a name that does not decrypt has none.
    decryptPath: (cipher) =>
      tree.decryptPath(cipher).catch((e: NodeJS.ErrnoException) => {
        throw new CtlError(typeof e.errno === 'number' ? -e.errno : -1, e.message)
      }),
  })
  if (!flags.quiet) log(`tsreverse: serving a decrypted view of ${cipherDir} at ${mnt}`)
  return handle
}

export function runForwardMount(flags: Flags, cipherArg: string, mntArg: string): Promise<never> {
  // As gocryptfs: an exclusion the decrypted view would silently ignore is an error.
  if (flags.exclude || flags['exclude-wildcard'] || flags['exclude-from']) {
    throw new UserError('-exclude, -exclude-wildcard and -exclude-from only work in reverse mode', ExitCode.ExcludeError)
  }
  const cipherDir = path.resolve(cipherArg)
  const mnt = path.resolve(mntArg)
  // Checked before any password prompt, with gocryptfs' exit codes.
  if (!isDir(cipherDir)) throw new UserError(`ciphertext directory ${cipherArg} does not exist or is not a directory`, ExitCode.CipherDir)
  if (!isMountpointDir(mnt)) throw new UserError(`mountpoint ${mntArg} does not exist or is not a directory`, ExitCode.MountPoint)
  if (isInside(cipherDir, mnt) || isInside(mnt, cipherDir)) {
    throw new UserError(`mountpoint ${mntArg} must be neither inside nor above the ciphertext directory`, ExitCode.MountPoint)
  }
  return serveMount(flags, (log) => mountForward(flags, cipherDir, mnt, log))
}
