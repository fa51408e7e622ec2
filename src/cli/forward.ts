// `tsreverse -forward CIPHERDIR MNT`: mounts the decrypted view of a ciphertext copy.
import path from 'node:path'
import { ExitCode, UserError } from '../exitcodes.js'
import type { MountHandle } from '../fuse/adapter.js'
import { CipherTree } from '../restore/cipher-tree.js'
import { ForwardView } from '../restore/forward-view.js'
import type { Flags } from './args.js'
import { cipherKeys, treeFlags } from './cipher-keys.js'
import { isDir, isInside, isMountpointDir } from './dirs.js'
import { CtlError } from './ctlsock.js'
import { encryptOrBadName, mountExtras, mountOptions, mountWithExtras, parseOwner, serveMount, warningLog } from './mount.js'

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
