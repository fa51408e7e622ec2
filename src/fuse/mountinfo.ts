// /proc/self/mountinfo: which mounts exist, where, of which type. The kernel is the only
// reliable witness of a FUSE mount's state (a dead server leaves its mount behind, and an
// external umount does not tell the server), so the adapter asks it before and after mounting.
import { readFile } from 'node:fs/promises'

export interface MountEntry {
  /** Reused by the kernel as soon as the mount is gone: identify a mount by id and device. */
  mountId: number
  /** 'major:minor'; FUSE connections get anonymous device numbers (also reused, less eagerly). */
  device: string
  mountPoint: string
  /** e.g. 'fuse.tsreverse' */
  fsType: string
  /** The source column (fsname for FUSE). */
  source: string
  /** Per-mount options (ro, nosuid, nodev, ...). */
  mountOptions: string[]
  /** Per-superblock options (user_id=, max_read=, ...). */
  superOptions: string[]
}

/** Undoes the kernel's octal escapes (\040 space, \011 tab, \012 newline, \134 backslash). */
export function unescapeMountField(field: string): string {
  if (!field.includes('\\')) return field
  const bytes: number[] = []
  const raw = Buffer.from(field, 'utf8')
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0x5c && i + 3 < raw.length && isOctal(raw[i + 1]!) && isOctal(raw[i + 2]!) && isOctal(raw[i + 3]!)) {
      bytes.push(((raw[i + 1]! - 48) << 6) | ((raw[i + 2]! - 48) << 3) | (raw[i + 3]! - 48))
      i += 3
    } else {
      bytes.push(raw[i]!)
    }
  }
  return Buffer.from(bytes).toString('utf8')
}

function isOctal(c: number): boolean {
  return c >= 48 && c <= 55
}

/**
 * Parses mountinfo text (proc(5)): `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - TYPE
 * SOURCE SUPEROPTS`. Lines that do not fit are skipped.
 */
export function parseMountinfo(text: string): MountEntry[] {
  const entries: MountEntry[] = []
  for (const line of text.split('\n')) {
    const fields = line.split(' ')
    const dash = fields.indexOf('-', 6)
    if (dash < 0 || fields.length < dash + 4) continue
    entries.push({
      mountId: Number(fields[0]),
      device: fields[2]!,
      mountPoint: unescapeMountField(fields[4]!),
      fsType: unescapeMountField(fields[dash + 1]!),
      source: unescapeMountField(fields[dash + 2]!),
      mountOptions: fields[5]!.split(','),
      superOptions: fields[dash + 3]!.split(','),
    })
  }
  return entries
}

export async function readMountinfo(): Promise<MountEntry[]> {
  return parseMountinfo(await readFile('/proc/self/mountinfo', 'utf8'))
}

/** The topmost mount at mountPoint (later lines are stacked on earlier ones), if any. */
export function findMount(entries: MountEntry[], mountPoint: string): MountEntry | undefined {
  for (let i = entries.length - 1; i >= 0; i--) {
    if (entries[i]!.mountPoint === mountPoint) return entries[i]
  }
  return undefined
}

/** The error of a mount whose server is gone ("Transport endpoint is not connected"). */
export const isDeadConnection = (err: unknown): boolean => {
  const code = (err as NodeJS.ErrnoException).code
  return code === 'ENOTCONN' || code === 'ECONNABORTED'
}
