// `tsreverse SRC MNT`: wires flags, keys and the reverse view into the FUSE adapter.
import os from 'node:os'
import path from 'node:path'
import { ExitCode, UserError } from '../exitcodes.js'
import { sys } from '../native/sys.js'
import { createAesSiv, loadAesSivBackend } from '../format/aes-siv.js'
import { checkLongNameMax } from '../format/config.js'
import { deriveKeys, type DerivedKeys } from '../format/keys.js'
import { settingsFromConfig, settingsFromFlags, type FormatSettings } from '../format/settings.js'
import { mountView, type MountHandle, type MountOptions } from '../fuse/adapter.js'
import { readMountinfo } from '../fuse/mountinfo.js'
import { MAX_READ_AHEAD_KB } from '../fuse/read-ahead.js'
import { isLongNameFile } from '../format/names.js'
import { PathMapper } from '../restore/paths.js'
import { ActivityView } from '../view/activity.js'
import type { ViewFs } from '../view/fs.js'
import { Excluder } from '../view/exclude.js'
import { Filter } from '../view/filter.js'
import { ReverseView } from '../view/reverse.js'
import { setSealThreads } from '../view/source-io.js'
import { formatFlags, sivBackend, type Flags } from './args.js'
import { configLocation, masterKeyHandoff, unlock, type Unlocked } from './auth.js'
import { runMount } from './daemon.js'
import { BAD_NAME_ERROR, CtlError, ENOENT_ERROR, openCtlSock, type CtlSock, type PathBackend } from './ctlsock.js'
import { isDir, isMountpointDir } from './dirs.js'
import { parseGoDuration, startIdleMonitor } from './idle.js'
import { hiddenDir, servedSubmounts, submountWarning } from './submounts.js'

const MAX_THREADS = 256
// Two 512 KiB reads per window keep two sealing threads busy on one stream (native-bench: 637-681
// MB/s against 537-604 with 512 and 523-566 with 2048 when this was chosen; the commit says how).
const DEFAULT_READ_AHEAD_KB = 1024
// How long the JavaScript thread keeps polling after each request (src/fuse/busy-poll.ts).
const DEFAULT_BUSY_POLL_US = 0
const MAX_BUSY_POLL_US = 1_000_000

/** gocryptfs parses each half with ParseInt(s, 0, 32): decimal, 0x hex or 0 octal. */
export function parseOwner(text: string): { uid: number; gid: number } {
  const parts = text.split(':')
  const parse = (s: string): number => {
    const n = /^0x[0-9a-f]+$/i.test(s) ? parseInt(s.slice(2), 16) : /^0[0-7]+$/.test(s) ? parseInt(s, 8) : /^\d+$/.test(s) ? Number(s) : NaN
    if (!Number.isSafeInteger(n) || n > 0x7fffffff) throw new UserError(`-force_owner=${text}: expected UID:GID with non-negative numbers`, ExitCode.Usage)
    return n
  }
  if (parts.length !== 2) throw new UserError(`-force_owner=${text}: expected UID:GID`, ExitCode.Usage)
  return { uid: parse(parts[0]!), gid: parse(parts[1]!) }
}

/** Checks of SRC and MNT that need no password, so they fail before anyone is prompted. */
function checkPaths(src: string, mnt: string): void {
  if (!isDir(src)) throw new UserError(`source directory ${src} does not exist or is not a directory`, ExitCode.CipherDir)
  if (!isMountpointDir(mnt)) throw new UserError(`mountpoint ${mnt} does not exist or is not a directory`, ExitCode.MountPoint)
  const rel = path.relative(mnt, src)
  // A mount point inside SRC is fine (the view hides it); one that covers SRC is not.
  if (rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))) {
    throw new UserError(`mountpoint ${mnt} would shadow the source directory ${src}`, ExitCode.MountPoint)
  }
}

export function reverseSettings(flags: Flags, unlocked: Unlocked): FormatSettings {
  const settings = unlocked.config
    ? settingsFromConfig(unlocked.config, { longnames: flags.longnames })
    : settingsFromFlags({ ...formatFlags(flags), aessiv: true }) // reverse mode implies -aessiv
  if (!settings.aessiv) {
    throw new UserError('AES-SIV is required by reverse mode, but this config uses another content encryption', ExitCode.Usage)
  }
  return settings
}

// Filesystem-independent options of mount(8) that fusermount passes on; rw, dev and suid are not
// among them: the views are always read-only, nodev and nosuid.
const KERNEL_OPTIONS = new Set([
  'ro',
  'exec',
  'noexec',
  'nodev',
  'nosuid',
  'sync',
  'async',
  'dirsync',
  'atime',
  'noatime',
  'diratime',
  'nodiratime',
  'relatime',
  'norelatime',
  'strictatime',
  'nostrictatime',
  'lazytime',
  'nolazytime',
])
const KERNEL_OPTIONS_WITH_VALUE = new Set(['context', 'fscontext', 'defcontext', 'rootcontext'])

/** -ko LIST: checked here, where gocryptfs leaves it to fusermount (which fails with exit 19). */
export function kernelOptions(list: string | undefined): string[] | undefined {
  if (list === undefined) return undefined
  return list.split(',').map((item) => {
    const eq = item.indexOf('=')
    const known = eq < 0 ? KERNEL_OPTIONS.has(item) : KERNEL_OPTIONS_WITH_VALUE.has(item.slice(0, eq)) && /^[\w:.-]+$/.test(item.slice(eq + 1))
    if (known) return item
    const why = ['rw', 'dev', 'suid'].includes(item) ? 'the view is always read-only, nodev and nosuid' : 'not a kernel mount option tsreverse passes on'
    throw new UserError(`-ko ${list}: "${item}": ${why}`, ExitCode.FuseNewServer)
  })
}

export function mountOptions(flags: Flags, fsname: string, log: (msg: string) => void): MountOptions {
  return {
    fsname: flags.fsname ?? fsname,
    subtype: 'tsreverse',
    allowOther: !!(flags.allow_other || flags.force_owner !== undefined),
    // -acl asks the kernel to check permissions, as gocryptfs does; there are no ACL xattrs to add.
    defaultPermissions: flags.acl || undefined,
    // -sharedstorage: the source may change behind the mount, so the kernel keeps nothing.
    attrTimeout: flags.sharedstorage ? 0 : undefined,
    entryTimeout: flags.sharedstorage ? 0 : undefined,
    extraOptions: kernelOptions(flags.ko),
    readOnly: true,
    nonempty: !!flags.nonempty,
    exec: !flags.noexec,
    kernelCache: !!flags.kernel_cache,
    debug: !!flags.fusedebug,
    readAheadKb: readAhead(flags.readahead),
    busyPollUs: busyPoll(flags.busypoll),
    reader: flags.force_owner === undefined ? undefined : parseOwner(flags.force_owner),
    log,
  }
}

/**
 * -readahead: undefined leaves the kernel's. Unasked, it is raised only as root, the one user
 * who may; asked for as another user, the failure is logged.
 */
function readAhead(flag: number | undefined): number | undefined {
  if (flag === undefined) return process.geteuid?.() === 0 ? DEFAULT_READ_AHEAD_KB : undefined
  if (!Number.isInteger(flag) || flag < 0 || flag > MAX_READ_AHEAD_KB) {
    throw new UserError(`-readahead=${flag}: expected 0 to ${MAX_READ_AHEAD_KB} (KiB)`, ExitCode.Usage)
  }
  return flag === 0 ? undefined : flag
}

/** -busypoll: microseconds, 0 turns polling off. */
function busyPoll(flag: number | undefined): number {
  if (flag === undefined) return DEFAULT_BUSY_POLL_US
  if (!Number.isInteger(flag) || flag < 0 || flag > MAX_BUSY_POLL_US) {
    throw new UserError(`-busypoll=${flag}: expected 0 to ${MAX_BUSY_POLL_US} (microseconds)`, ExitCode.Usage)
  }
  return flag
}

async function mountReverse(flags: Flags, srcArg: string, mntArg: string, log: (msg: string) => void): Promise<MountHandle> {
  const src = path.resolve(srcArg)
  const mnt = path.resolve(mntArg)
  // gocryptfs refuses an out-of-range -longnamemax before anything else, even when the
  // config (which then decides the value) is used.
  checkLongNameMax(flags.longnamemax)
  checkPaths(src, mnt)
  const mountOpts = mountOptions(flags, src, log)
  const extras = await mountExtras(flags, log)
  const threads = threadCount(flags.threads)
  const backend = sivBackend(flags)
  await loadAesSivBackend(backend)
  const forceOwner = flags.force_owner === undefined ? undefined : parseOwner(flags.force_owner)
  const warn = warningLog(flags, log)
  const exclude = Excluder.fromOptions(
    {
      exclude: flags.exclude ?? [],
      excludeWildcard: flags['exclude-wildcard'] ?? [],
      excludeFrom: flags['exclude-from'] ?? [],
    },
    warn,
  )
  const filterFrom = flags['filter-from']
  const filter = filterFrom ? Filter.fromFiles(filterFrom) : undefined
  const excludeIfPresent = markerNames(flags['exclude-if-present'] ?? [])
  if (!flags['one-file-system']) {
    const served = servedSubmounts(src, await readMountinfo(), (rel) => rel === path.relative(src, mnt) || hiddenDir(rel, exclude, filter))
    const warning = submountWarning(src, served)
    if (warning && !flags.quiet) log(warning)
  }
  const location = configLocation(flags, src)
  const unlocked = await unlock(flags, location)
  const settings = reverseSettings(flags, unlocked)
  let keys: DerivedKeys
  try {
    keys = deriveKeys(unlocked.masterKey, { hkdf: settings.hkdf })
  } finally {
    // The view (and its native sealer) keeps only the derived keys.
    unlocked.masterKey.fill(0)
  }
  // OpenSSL seals on the pool threads that read, at most `threads` at once; -threads 0 and
  // -openssl=false seal on the main thread.
  const nativeSeal = backend === 'fast' && threads !== 0
  if (nativeSeal) setSealThreads(threads ?? os.availableParallelism())
  const view = await ReverseView.create({
    source: src,
    settings,
    keys,
    siv: createAesSiv(keys.siv, backend),
    nativeSeal,
    configPath: location.custom ? location.path : undefined,
    exclude,
    filter,
    excludeCaches: !!flags['exclude-caches'],
    excludeIfPresent,
    forceOwner,
    oneFileSystem: !!flags['one-file-system'],
    strictConsistency: !!flags['strict-consistency'],
    mountpoint: mnt,
    log: warn,
    info: log,
  })
  const mapper = new PathMapper(settings, settings.plaintextNames ? undefined : keys.eme)
  const handle = await mountWithExtras(view, mnt, { ...mountOpts, log: warn }, extras, reverseBackend(mapper, view))
  if (!flags.quiet) log(`tsreverse: serving an encrypted view of ${src} at ${mnt}`)
  return handle
}

/**
 * gocryptfs' reverse-mode answers: names are encrypted and decrypted without looking at the
 * source, except hashed long names, which are found in the plaintext directory; whatever does
 * not decrypt is ENOENT, and a .name file (which has no plaintext) is EINVAL.
 */
function reverseBackend(mapper: PathMapper, view: ReverseView): PathBackend {
  return {
    encryptPath: async (plain) => encryptOrBadName(mapper, plain),
    decryptPath: async (cipher) => {
      if (mapper.names && cipher.toString('latin1').split('/').some(isLongNameFile)) throw new CtlError(-1, 'invalid argument')
      try {
        return await mapper.decryptPath(cipher, (dirRel, hash) => view.longName(dirRel.toString('latin1'), hash))
      } catch {
        throw ENOENT_ERROR()
      }
    },
  }
}

/** The ciphertext path of `plain`, or gocryptfs' answer for a name that cannot be encrypted. */
export async function encryptOrBadName(mapper: { encryptPath(plain: Buffer): Buffer | Promise<Buffer> }, plain: Buffer): Promise<Buffer> {
  try {
    return await mapper.encryptPath(plain)
  } catch {
    throw BAD_NAME_ERROR()
  }
}

interface MountExtras {
  idleMs: number
  ctlsock?: CtlSock
}

/** -idle and -ctlsock, prepared before any password prompt so that their errors come first (as gocryptfs). */
export async function mountExtras(flags: Flags, log: (msg: string) => void): Promise<MountExtras> {
  const idleMs = flags.idle === undefined ? 0 : parseGoDuration(flags.idle)
  return { idleMs, ctlsock: flags.ctlsock === undefined ? undefined : await openCtlSock(flags.ctlsock, log) }
}

/** Mounts the view with -idle watching it and the control socket answering for it. */
export async function mountWithExtras(view: ViewFs, mnt: string, opts: MountOptions, extras: MountExtras, backend: PathBackend): Promise<MountHandle> {
  const activity = extras.idleMs > 0 ? new ActivityView(view) : undefined
  const handle = await mountView(activity ?? view, mnt, opts)
  if (activity) startIdleMonitor(extras.idleMs, activity, mnt, opts.log)
  const ctlsock = extras.ctlsock
  if (ctlsock) {
    ctlsock.serve(backend)
    void handle.closed.then(() => ctlsock.close())
  }
  return handle
}

/**
 * -wpanic: as in gocryptfs, a warning ends the server at once with the status of a Go panic,
 * leaving a dead mount as any crash does (the next mount clears it). Warnings are what the views and the FUSE
 * adapter log while serving; progress lines are not warnings.
 */
export function warningLog(flags: Flags, log: (msg: string) => void): (msg: string) => void {
  if (!flags.wpanic) return log
  return (msg) => {
    log(msg)
    log('-wpanic: exiting on this warning')
    sys.exitNow(ExitCode.Panic)
  }
}

/** -exclude-if-present: names of entries, looked for in each directory. */
function markerNames(names: string[]): string[] {
  for (const n of names) {
    if (n === '' || n === '.' || n === '..' || n.includes('/') || n.includes('\0')) {
      throw new UserError(`-exclude-if-present ${JSON.stringify(n)}: expected a file name without "/"`, ExitCode.Usage)
    }
  }
  return names
}

/** -threads: how many pool threads may seal at once; undefined: one per CPU. */
function threadCount(flag: number | undefined): number | undefined {
  if (flag !== undefined && (flag < 0 || flag > MAX_THREADS)) {
    throw new UserError(`-threads=${flag}: expected 0 to ${MAX_THREADS}`, ExitCode.Usage)
  }
  return flag
}

/** Serves a mount, in the foreground or daemonized, as the flags say (reverse and forward alike). */
export function serveMount(flags: Flags, mount: (log: (msg: string) => void) => Promise<MountHandle>): Promise<never> {
  return runMount({
    fg: !!flags.fg,
    nosyslog: !!flags.nosyslog,
    quiet: !!flags.quiet,
    notifyPid: flags.notifypid,
    mount,
    handoff: masterKeyHandoff(flags, process.argv.slice(2)),
  })
}

export function runReverseMount(flags: Flags, src: string, mnt: string): Promise<never> {
  return serveMount(flags, (log) => mountReverse(flags, src, mnt, log))
}
