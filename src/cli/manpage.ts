// The manual page tsreverse(1), in roff. Its option list is the flag table of args.ts, so -help
// and the manual cannot drift apart; `npm run man` writes it to man/tsreverse.1 (installed by
// npm through package.json "man"), and a test checks the tracked file is up to date.
import { ExitCode } from '../exitcodes.js'
import { flagList } from './args.js'

/** Roff-safe text: backslashes doubled, dashes literal, a leading dot or quote escaped. */
function roff(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .replace(/^([.'])/gm, '\\&$1')
}

const para = (...lines: string[]): string[] => ['.PP', ...lines.map(roff)]
const item = (tag: string, ...lines: string[]): string[] => ['.TP', `.B ${roff(tag)}`, ...lines.map(roff)]
const example = (...lines: string[]): string[] => ['.PP', '.nf', '.RS', ...lines.map(roff), '.RE', '.fi']

// What each exit code means; the numbers are gocryptfs 2.3's.
const EXIT_MEANINGS: Record<keyof typeof ExitCode, string> = {
  Success: 'success',
  Usage: 'usage error: unknown flag, missing argument, flags that exclude each other, a gocryptfs flag that cannot apply',
  Panic: 'with -wpanic: a warning was logged, and the server stopped on it',
  CipherDir: 'SOURCEDIR (or CIPHERDIR) is missing, not a directory, or not usable',
  Init: '-init failed',
  LoadConf: 'the config file could not be loaded',
  ReadPassword: 'the password could not be read (-passfile, -extpass, the terminal)',
  MountPoint: 'MOUNTPOINT is missing, not empty, or already a mount point',
  Other: 'any other error',
  PasswordIncorrect: 'wrong password',
  ScryptParams: 'the scrypt parameters of the config are unusable',
  MasterKey: 'the master key is invalid',
  SigInt: 'ended by SIGINT or SIGTERM (the mount was unmounted)',
  ForkChild: 'the background process could not be started or did not get ready',
  FuseNewServer: 'the kernel or fusermount3 refused the mount',
  CtlSock: 'the -ctlsock socket could not be created',
  PasswordEmpty: 'the password is empty',
  OpenConf: 'the config file could not be opened',
  WriteConf: 'the config file could not be written',
  FsckErrors: '-fsck or -restore found damaged or misplaced data',
  DeprecatedFS: 'the config describes a filesystem this version does not support',
  ExcludeError: 'an exclude or filter rule is invalid',
}

export function manPage(version: string): string {
  const lines: string[] = [
    `.TH TSREVERSE 1 "" "tsreverse ${version}" "User Commands"`,
    '.SH NAME',
    'tsreverse \\- read\\-only reverse\\-encryption filesystem, compatible with gocryptfs 2.3',
    '.SH SYNOPSIS',
    '.nf',
    '.B tsreverse [OPTIONS] SOURCEDIR MOUNTPOINT',
    '.B tsreverse \\-init [OPTIONS] SOURCEDIR',
    '.B tsreverse \\-forward [OPTIONS] CIPHERDIR MOUNTPOINT',
    '.B tsreverse \\-restore [OPTIONS] CIPHERPATH DEST',
    '.B tsreverse \\-fsck [OPTIONS] CIPHERDIR',
    '.B tsreverse \\-encrypt\\-paths|\\-decrypt\\-paths [OPTIONS] [SOURCEDIR] < PATHS',
    '.fi',
    '.SH DESCRIPTION',
    ...para(
      'tsreverse mounts at MOUNTPOINT an encrypted, read-only view of the plaintext tree SOURCEDIR: every name and every',
      'byte is encrypted as it is read. A backup server that copies MOUNTPOINT with rsync sees only ciphertext, and',
      'because the encryption is deterministic (AES-SIV-512, IVs derived from the path) rsync still transfers only what',
      'changed. For the same config and master key the view is byte-identical to that of gocryptfs -reverse 2.3, and',
      'gocryptfs in forward mode decrypts it.',
    ),
    ...para(
      'To restore, copy the ciphertext back and decrypt it: with -restore (no FUSE needed), with a -forward mount, or',
      'with gocryptfs. Either the config and its password or the master key alone will do.',
    ),
    ...para('Without -fg the mount runs in the background; the command returns once the filesystem is ready.'),
    '.SH OPTIONS',
    ...para('Flags take one or two dashes; a value follows as -flag=VALUE or -flag VALUE.'),
    ...flagList().flatMap((f) => item(f.names.map((n) => `-${n}`).join(', ') + (f.arg ? ` ${f.arg}` : ''), f.help)),
    '.SH MOUNT OPTIONS',
    ...para(
      'Every flag also works as a mount option, so that an /etc/fstab line of type fuse.gocryptfs works unchanged with',
      'type fuse.tsreverse: -o reverse,config=FILE,passfile=FILE,allow_other is the same as -reverse -config FILE',
      '-passfile FILE -allow_other. Options that mount(8) itself adds (defaults, noauto, _netdev, x-*, ...) are ignored.',
      'The view is always read-only, nodev and nosuid.',
    ),
    '.SH EXIT STATUS',
    ...(Object.entries(ExitCode) as [keyof typeof ExitCode, number][]).flatMap(([name, code]) => item(String(code), EXIT_MEANINGS[name])),
    '.SH FILES',
    ...item('SOURCEDIR/.gocryptfs.reverse.conf', 'the default config of a reverse mount (mode 0400); shown in the view as gocryptfs.conf.'),
    ...item('CIPHERDIR/gocryptfs.conf', 'the config of a ciphertext copy, for -forward, -restore and -fsck.'),
    ...item('/etc/fstab', 'mounts of type fuse.tsreverse; mount.fuse3 runs tsreverse from PATH.'),
    '.SH ENVIRONMENT',
    ...para(
      'The mount server does not take NODE_OPTIONS or any other NODE_* variable of its caller, nor node flags that load',
      'code or open a debugger. NOTIFY_SOCKET (systemd Type=notify) is answered once the mount is ready.',
    ),
    '.SH SIGNALS',
    ...item('SIGTERM, SIGINT', 'unmount (lazily if busy) and exit with status 15.'),
    ...item('SIGUSR1', 'ignored (Node would open a debugger on it).'),
    ...para(
      'A server that dies any other way (SIGKILL, the OOM killer) leaves its mount dead: readers get "Transport endpoint',
      'is not connected", so a pull fails instead of copying the empty directory under it. The next mount on the same',
      'directory clears it; -check MOUNTPOINT exits 0 only while a live view is mounted there.',
    ),
    ...para(
      'The server writes no core dump and cannot be traced by other users: it holds the keys. Every syscall on the source',
      'runs on threads of its own, so a hung filesystem under SOURCEDIR stalls only the requests that touch it.',
    ),
    '.SH EXAMPLES',
    ...para('Create a config, mount the encrypted view of / for a backup account, unmount:'),
    ...example(
      'tsreverse -init -config /.nobackup/r.conf /',
      'tsreverse -config /.nobackup/r.conf -passfile /.nobackup/r.pass -exclude .nobackup \\',
      '  -exclude home/remotebackup/rootfs -force_owner 1000:1000 / /home/remotebackup/rootfs',
      'fusermount -u /home/remotebackup/rootfs',
    ),
    ...para('The same mount from /etc/fstab:'),
    ...example(
      '/ /home/remotebackup/rootfs fuse.tsreverse reverse,config=/.nobackup/r.conf,passfile=/.nobackup/r.pass,exclude=.nobackup,exclude=home/remotebackup/rootfs,force_owner=1000:1000 0 0',
    ),
    ...para('Restore a copy with the password, or with the master key alone; check a copy; find the ciphertext of a file:'),
    ...example(
      'tsreverse -restore -config r.conf -passfile PW BACKUP/ DEST/',
      'tsreverse -restore -masterkey stdin BACKUP/ DEST/',
      'tsreverse -forward -passfile PW BACKUP/ /mnt/plain',
      'tsreverse -fsck -passfile PW BACKUP/',
      'echo etc/passwd | tsreverse -encrypt-paths -passfile PW /',
    ),
    '.SH SEE ALSO',
    'gocryptfs(1), fusermount3(1), mount.fuse3(8), rsync(1); the docs folder of the package: backup-server.md, restore.md, security.md, fstab.md, compatibility.md.',
  ]
  return lines.join('\n') + '\n'
}
