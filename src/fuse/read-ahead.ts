// The kernel's read-ahead for a FUSE mount. Every new mount starts at 128 KiB
// (VM_READAHEAD_PAGES), FUSE_INIT can only lower it, and only root may raise it through sysfs.
// Raised together with max_read, a sequential reader's pages arrive in reads of up to 512 KiB,
// each one hand-off to JavaScript and one sealing job instead of four (native-bench, measured when this was chosen; the commit says how).
import { readFile, writeFile } from 'node:fs/promises'

/** Upper bound of -readahead: what a sequential reader may have the server seal ahead of it. */
export const MAX_READ_AHEAD_KB = 16384

/**
 * Sets the read-ahead of the backing device `device` ('major:minor' from mountinfo) and
 * answers the value now in effect, which the caller compares.
 */
export async function setReadAhead(device: string, kb: number): Promise<number> {
  if (!/^\d+:\d+$/.test(device)) throw new RangeError(`not a device number: ${device}`)
  if (!Number.isInteger(kb) || kb < 0 || kb > MAX_READ_AHEAD_KB) throw new RangeError(`read-ahead ${kb} KiB out of range`)
  const file = `/sys/class/bdi/${device}/read_ahead_kb`
  await writeFile(file, `${kb}\n`)
  return Number((await readFile(file, 'utf8')).trim())
}
