// Which filesystems answer metadata syscalls from memory or a local disk. On those the view makes
// its source syscalls on the JavaScript thread (source-sync.ts, InlineHops); on any other (NFS,
// SMB, FUSE, ...) a slow or hung server must block one worker, not the whole mount.
import { promises as fsp } from 'node:fs'

// statfs(2) f_type magic numbers (linux/magic.h).
const LOCAL_TYPES = new Map<number, string>([
  [0xef53, 'ext2/3/4'],
  [0x58465342, 'xfs'],
  [0x9123683e, 'btrfs'],
  [0xf2f52010, 'f2fs'],
  [0x2fc12fc1, 'zfs'],
  [0xca451a4e, 'bcachefs'],
  [0x3153464a, 'jfs'],
  [0x52654973, 'reiserfs'],
  [0x01021994, 'tmpfs'],
  [0x858458f6, 'ramfs'],
  [0x794c7630, 'overlayfs'],
  [0x4d44, 'vfat'],
  [0x2011bab0, 'exfat'],
  [0x7366746e, 'ntfs3'],
])

/** The name of the local filesystem type holding `path`, or undefined when it is not one of them. */
export async function localFsType(path: string): Promise<string | undefined> {
  const { type } = await fsp.statfs(path)
  return LOCAL_TYPES.get(type)
}
