// Command-line parsing with gocryptfs's conventions (cli_args.go): one or two dashes,
// `-flag=value` or `-flag value`, flags and positionals mixed, `-o a,b=c` lists that become
// flags (the last -o wins, as in gocryptfs), and `--` ending flag parsing. An fstab line
// written for `fuse.gocryptfs` must parse unchanged.
import { ExitCode, UserError } from '../exitcodes.js'
import type { AesSivBackend } from '../format/aes-siv.js'
import type { FormatFlags } from '../format/settings.js'

type Kind = 'bool' | 'string' | 'int' | 'list'

interface FlagSpec {
  kind: Kind
  aliases?: string[]
  help: string
  /** Accepted for compatibility, has no effect. */
  ignored?: boolean
  /** gocryptfs has it, tsreverse cannot honour it: refused with this reason rather than as unknown. */
  refused?: string
}

// Every flag tsreverse knows. gocryptfs spellings where gocryptfs has the feature.
const FLAGS = {
  // actions
  init: { kind: 'bool', help: 'create a new config (reverse mode: SOURCEDIR/.gocryptfs.reverse.conf)' },
  info: { kind: 'bool', help: 'print information about a config' },
  passwd: { kind: 'bool', help: 'change the password (with -masterkey: reset a forgotten one)' },
  dumpmasterkey: { kind: 'bool', help: 'print the master key of a config (for writing on paper)' },
  speed: { kind: 'bool', help: 'benchmark the AES-SIV backends' },
  demo: { kind: 'bool', help: 'run the main job once on a sample tree: mount, copy, restore, check' },
  version: { kind: 'bool', help: 'print the version' },
  help: { kind: 'bool', aliases: ['h', 'hh'], help: 'print this help' },
  restore: { kind: 'bool', help: 'decrypt CIPHERPATH (file or directory of a ciphertext copy) into DEST, no FUSE' },
  check: { kind: 'bool', help: 'exit 0 only while a live tsreverse mount serves MOUNTPOINT (for the pulling side)' },
  fsck: { kind: 'bool', help: 'check every name, block and symlink of a ciphertext copy (exit 26 on problems)' },
  'restore-special': {
    kind: 'bool',
    help: 'with -restore: also recreate set-uid/set-gid bits and device nodes, which the copy does not authenticate (whole-system restore from a trusted copy)',
  },
  'encrypt-paths': { kind: 'bool', help: 'print the ciphertext path of each plaintext path read from stdin' },
  'decrypt-paths': { kind: 'bool', help: 'print the plaintext path of each ciphertext path read from stdin' },
  // mode
  reverse: { kind: 'bool', help: 'encrypting view of a plaintext tree (the default)' },
  forward: { kind: 'bool', help: 'decrypted read-only view of a ciphertext copy: -forward CIPHERDIR MOUNTPOINT' },
  // config, keys and passwords
  config: { kind: 'string', help: 'config file (default SOURCEDIR/.gocryptfs.reverse.conf)' },
  cipherdir: { kind: 'string', help: 'root of the ciphertext copy (-restore, -decrypt-paths; default: found above CIPHERPATH, except with -prefix)' },
  prefix: {
    kind: 'string',
    help: 'the copy holds a subdirectory of the view: its plaintext path in the view (-restore, -forward, -fsck, -encrypt-paths, -decrypt-paths)',
  },
  'stored-ivs': {
    kind: 'bool',
    help: 'read a filesystem gocryptfs wrote in forward mode (-aessiv): IVs from its gocryptfs.diriv files and file headers, so moved files go unnoticed (-restore, -forward, -fsck)',
  },
  passfile: { kind: 'list', help: 'read the password from the first line of FILE' },
  extpass: { kind: 'list', help: 'read the password from the output of CMD' },
  masterkey: { kind: 'string', help: 'use this master key (hex, dashes allowed) instead of the config' },
  zerokey: { kind: 'bool', help: 'use an all-zero master key (testing only)' },
  fido2: {
    kind: 'string',
    help: 'refused: FIDO2 tokens are not supported',
    refused: 'FIDO2 tokens are not supported; use a password, -passfile, -extpass or -masterkey',
  },
  scryptn: { kind: 'int', help: 'scrypt cost log2(N) for -init and -passwd (default 16)' },
  aessiv: { kind: 'bool', help: 'AES-SIV content encryption (implied by reverse mode)' },
  xchacha: {
    kind: 'bool',
    help: 'refused: content is always AES-SIV',
    refused: 'XChaCha20-Poly1305 content encryption is not supported: reverse mode and tsreverse always use AES-SIV',
  },
  plaintextnames: { kind: 'bool', help: 'do not encrypt file names' },
  'deterministic-names': { kind: 'bool', help: 'no per-directory IVs (no gocryptfs.diriv files)' },
  longnamemax: { kind: 'int', help: 'hash encrypted names longer than N (62..255, default 255)' },
  raw64: { kind: 'bool', help: 'unpadded base64 names (-masterkey mounts; default true)' },
  hkdf: { kind: 'bool', help: 'HKDF key derivation (-masterkey mounts; default true)' },
  longnames: { kind: 'bool', help: 'hash long names (-masterkey mounts; default true)' },
  // view
  exclude: { kind: 'list', aliases: ['e'], help: 'exclude a plaintext path, relative to SOURCEDIR' },
  'exclude-wildcard': { kind: 'list', aliases: ['ew'], help: 'exclude paths matching a gitignore-style pattern' },
  'exclude-from': { kind: 'list', help: 'read exclude patterns from FILE' },
  'filter-from': { kind: 'list', aliases: ['filter_from'], help: 'include/exclude rules in rsync filter syntax from FILE (docs/filters.md)' },
  'exclude-caches': { kind: 'bool', aliases: ['exclude_caches'], help: 'hide directories holding a CACHEDIR.TAG with its signature (docs/filters.md)' },
  'exclude-if-present': { kind: 'list', aliases: ['exclude_if_present'], help: 'hide directories holding an entry NAME (docs/filters.md)' },
  'one-file-system': { kind: 'bool', help: 'do not cross filesystem boundaries' },
  'strict-consistency': { kind: 'bool', help: 'reads of a source file that changes while open fail with EIO (rsync retries it next run)' },
  force_owner: { kind: 'string', help: 'show every file as owned by UID:GID (implies -allow_other)' },
  badname: { kind: 'list', help: 'reverse mode: accepted, no effect (no name is decrypted); refused elsewhere (undecryptable names are hidden and logged)' },
  sharedstorage: { kind: 'bool', help: 'no attribute or entry caching in the kernel: changes of the source show at once' },
  ctlsock: { kind: 'string', help: "serve gocryptfs' control socket at PATH (EncryptPath/DecryptPath requests, e.g. from gocryptfs-xray)" },
  idle: { kind: 'string', aliases: ['i'], help: 'unmount and exit after DURATION (e.g. 500s, 2h45m) without requests or open files; 0: never' },
  // mount
  fsname: { kind: 'string', help: 'name shown in the first column of df and /proc/mounts' },
  allow_other: { kind: 'bool', help: 'let other users access the mount' },
  acl: { kind: 'bool', help: 'the kernel checks permissions (default_permissions); the views carry no ACLs' },
  ko: { kind: 'string', help: 'extra kernel mount options, comma-separated (noexec, noatime, sync, context=..., ...)' },
  nonempty: { kind: 'bool', help: 'allow mounting over a non-empty directory' },
  ro: { kind: 'bool', help: 'read-only (always the case)' },
  rw: { kind: 'bool', help: 'accepted from fstab; the view stays read-only' },
  // mount.fuse adds dev,suid for root; a view of ciphertext has no use for either: it is always
  // nodev,nosuid (libfuse's default, which the adapter keeps).
  dev: { kind: 'bool', ignored: true, help: 'accepted; the view is always nodev' },
  nodev: { kind: 'bool', ignored: true, help: 'accepted; the view is always nodev' },
  suid: { kind: 'bool', ignored: true, help: 'accepted; the view is always nosuid' },
  nosuid: { kind: 'bool', ignored: true, help: 'accepted; the view is always nosuid' },
  exec: { kind: 'bool', help: 'allow execution (default)' },
  noexec: { kind: 'bool', help: 'no execution' },
  kernel_cache: { kind: 'bool', help: 'FUSE kernel_cache' },
  readahead: { kind: 'int', help: "kernel read-ahead of the mount in KiB, set when run as root (default 1024; 0: keep the kernel's 128)" },
  busypoll: { kind: 'int', help: 'microseconds the server keeps polling for the next request after each one, instead of sleeping (default 0: never)' },
  threads: {
    kind: 'int',
    help: 'threads that encrypt file contents at once, each right after reading them (default: CPUs; 0: the main thread encrypts everything)',
  },
  openssl: { kind: 'string', help: 'AES-SIV with OpenSSL (auto, true: the default) or in pure TypeScript on the main thread (false: ~10x slower)' },
  fg: { kind: 'bool', aliases: ['f'], help: 'stay in the foreground' },
  nosyslog: { kind: 'bool', help: 'log to stderr instead of syslog after daemonizing' },
  quiet: { kind: 'bool', aliases: ['q'], help: 'quiet' },
  fusedebug: { kind: 'bool', help: 'FUSE debug output' },
  debug: { kind: 'bool', aliases: ['d'], ignored: true, help: 'accepted; tsreverse has no debug log (-fusedebug shows the FUSE requests)' },
  notifypid: { kind: 'int', help: 'send SIGUSR1 to process PID once the mount is ready' },
  wpanic: { kind: 'bool', help: 'a warning of the mount ends it at once (exit 2, as a gocryptfs panic)' },
  cpuprofile: { kind: 'string', help: 'refused: Go profiling', refused: 'Go profiling is not available; run node with --cpu-prof instead' },
  memprofile: { kind: 'string', help: 'refused: Go profiling', refused: 'Go profiling is not available; run node with --heap-prof instead' },
  trace: { kind: 'string', help: 'refused: Go execution traces', refused: 'Go execution traces are not available' },
  // accepted and ignored, as gocryptfs does
  nofail: { kind: 'bool', ignored: true, help: 'ignored (fstab)' },
  devrandom: { kind: 'bool', ignored: true, help: 'ignored (obsolete)' },
  forcedecode: { kind: 'bool', ignored: true, help: 'ignored (obsolete)' },
  noprealloc: { kind: 'bool', ignored: true, help: 'ignored: nothing is written' },
  serialize_reads: { kind: 'bool', ignored: true, help: 'ignored: reads are served as they come' },
} satisfies Record<string, FlagSpec>

export type FlagName = keyof typeof FLAGS

type ValueOf<K extends Kind> = K extends 'bool' ? boolean : K extends 'int' ? number : K extends 'list' ? string[] : string

export type Flags = { [N in FlagName]?: ValueOf<(typeof FLAGS)[N]['kind']> }

export interface ParsedArgs {
  flags: Flags
  positional: string[]
}

// mount(8) and mount.fuse add these to -o; they say nothing tsreverse must act on
// (the view is read-only whatever rw/ro say).
const GENERIC_MOUNT_OPTIONS = new Set([
  'defaults',
  'auto',
  'noauto',
  'user',
  'nouser',
  'users',
  'owner',
  'group',
  '_netdev',
  'atime',
  'noatime',
  'relatime',
  'norelatime',
  'strictatime',
  'nostrictatime',
  'diratime',
  'nodiratime',
  'lazytime',
  'nolazytime',
  'sync',
  'async',
  'dirsync',
  'silent',
  'loud',
])

const byName = new Map<string, FlagName>()
for (const [name, spec] of Object.entries(FLAGS) as [FlagName, FlagSpec][]) {
  byName.set(name, name)
  for (const alias of spec.aliases ?? []) byName.set(alias, name)
}

function usage(message: string): UserError {
  return new UserError(`${message} (see -help)`, ExitCode.Usage)
}

function isGenericMountOption(item: string): boolean {
  const key = item.split('=')[0]!
  return GENERIC_MOUNT_OPTIONS.has(key) || key.startsWith('x-') || key === 'comment'
}

/** Expands the last `-o LIST` into flags placed first, as gocryptfs does. */
function expandMountOptions(argv: readonly string[]): string[] {
  if (argv.includes('--')) return [...argv]
  let lastList: string | undefined
  const rest: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '-o' || a === '--o') {
      if (i + 1 >= argv.length) throw usage('flag -o needs a value')
      lastList = argv[++i]!
    } else if (a.startsWith('-o=') || a.startsWith('--o=')) {
      lastList = a.slice(a.indexOf('=') + 1)
    } else {
      rest.push(a)
    }
  }
  if (lastList === undefined) return rest
  const fromList: string[] = []
  for (const item of lastList.split(',')) {
    if (item === '' || isGenericMountOption(item)) continue
    if (item === 'o') throw usage('-o o is not allowed')
    fromList.push(`-${item}`)
  }
  return [...fromList, ...rest]
}

function parseBool(name: string, text: string): boolean {
  if (['true', '1', 't', 'T', 'TRUE', 'True'].includes(text)) return true
  if (['false', '0', 'f', 'F', 'FALSE', 'False'].includes(text)) return false
  throw usage(`invalid boolean value "${text}" for -${name}`)
}

export function parseArgs(argv: readonly string[]): ParsedArgs {
  const args = expandMountOptions(argv)
  const flags: Record<string, unknown> = {}
  const positional: string[] = []
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    if (a === '--') {
      positional.push(...args.slice(i + 1))
      break
    }
    if (!a.startsWith('-') || a === '-') {
      positional.push(a)
      continue
    }
    const body = a.replace(/^--?/, '')
    const eq = body.indexOf('=')
    const key = eq < 0 ? body : body.slice(0, eq)
    const name = byName.get(key)
    if (name === undefined) throw usage(`unknown flag -${key}`)
    const spec: FlagSpec = FLAGS[name]
    if (spec.kind === 'bool') {
      flags[name] = eq < 0 ? true : parseBool(key, body.slice(eq + 1))
      continue
    }
    let value: string
    if (eq >= 0) value = body.slice(eq + 1)
    else if (i + 1 < args.length) value = args[++i]!
    else throw usage(`flag -${key} needs a value`)
    if (spec.kind === 'int') {
      if (!/^-?\d+$/.test(value)) throw usage(`invalid number "${value}" for -${key}`)
      flags[name] = Number(value)
    } else if (spec.kind === 'list') {
      ;((flags[name] ??= []) as string[]).push(value)
    } else {
      flags[name] = value
    }
  }
  return { flags: flags as Flags, positional }
}

export function helpText(): string {
  const lines = [
    'Usage: tsreverse [OPTIONS] SOURCEDIR MOUNTPOINT',
    '       tsreverse -init [OPTIONS] SOURCEDIR',
    '       tsreverse -forward [OPTIONS] CIPHERDIR MOUNTPOINT',
    '       tsreverse -restore [OPTIONS] CIPHERPATH DEST',
    '       tsreverse -fsck [OPTIONS] CIPHERDIR',
    '       tsreverse -check MOUNTPOINT',
    '       tsreverse -encrypt-paths|-decrypt-paths [OPTIONS] [SOURCEDIR] < PATHS',
    '',
    'Options:',
  ]
  for (const f of flagList()) lines.push(`  ${(f.names.map((n) => `-${n}`).join(', ') + (f.arg ? ` ${f.arg}` : '')).padEnd(30)} ${f.help}`)
  lines.push(
    '',
    'Every flag also works in mount-option form: -o reverse,config=FILE,allow_other',
    'Manual: man tsreverse; guides: the docs/ folder of the package (README.md first).',
  )
  return lines.join('\n')
}

/** A flag as -help and the manual list it: its names (the first is canonical), argument, help. */
export interface FlagEntry {
  names: string[]
  arg: '' | 'N' | 'VALUE'
  help: string
}

/** Every flag, in the order of the table. */
export function flagList(): FlagEntry[] {
  return (Object.entries(FLAGS) as [FlagName, FlagSpec][]).map(([name, spec]) => ({
    names: [name, ...(spec.aliases ?? [])],
    arg: spec.kind === 'bool' ? '' : spec.kind === 'int' ? 'N' : 'VALUE',
    help: spec.help,
  }))
}

/**
 * The first flag given that tsreverse cannot honour, as a usage error naming it (gocryptfs
 * knows these flags, so they are not "unknown"). -init -xchacha fails as gocryptfs' does, with
 * the exit code of a config that cannot be written.
 */
export function refusedFlag(flags: Flags): UserError | undefined {
  for (const [name, spec] of Object.entries(FLAGS) as [FlagName, FlagSpec][]) {
    if (spec.refused === undefined || flags[name] === undefined || flags[name] === false) continue
    const code = name === 'xchacha' && flags.init ? ExitCode.WriteConf : ExitCode.Usage
    return new UserError(`-${name}: ${spec.refused}`, code)
  }
  if (flags.badname && (flags.forward || flags.restore || flags.fsck || flags['decrypt-paths'])) {
    return new UserError('-badname: names that do not decrypt cannot be shown; they are hidden and logged (-fsck lists them)', ExitCode.Usage)
  }
  return undefined
}

/** -openssl as gocryptfs spells it (auto or a boolean): false selects the pure-TypeScript backend. */
export function sivBackend(flags: Flags): AesSivBackend {
  const v = flags.openssl
  return v === undefined || v === 'auto' || parseBool('openssl', v) ? 'fast' : 'noble'
}

/** The format flags the user gave explicitly (they override detection). */
export function formatFlags(flags: Flags): FormatFlags {
  return {
    plaintextNames: flags.plaintextnames,
    deterministicNames: flags['deterministic-names'],
    longNameMax: flags.longnamemax,
    raw64: flags.raw64,
    hkdf: flags.hkdf,
    longnames: flags.longnames,
    aessiv: flags.aessiv,
  }
}
