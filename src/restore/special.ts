// Metadata of a copy that grants privileges once recreated: set-uid/set-gid bits and device
// nodes. The format authenticates none of it, so a server can plant it on any entry; -restore
// leaves it out unless -restore-special, and -fsck lists it.
import type { SourceStats } from '../view/stat.js'

/** The permission bits that run a program, or create files, with another identity. */
export const SET_ID_BITS = 0o6000

/** What in `st` grants privileges (e.g. "set-uid bit (mode 4755)"), or undefined. */
export function privilege(st: SourceStats): string | undefined {
  if (st.isCharacterDevice() || st.isBlockDevice()) {
    const [major, minor] = splitDev(st.rdev)
    return `${st.isCharacterDevice() ? 'character' : 'block'} device ${major}:${minor}`
  }
  const bits = st.mode & SET_ID_BITS
  if (bits === 0) return undefined
  const names = bits === SET_ID_BITS ? 'set-uid and set-gid bits' : bits & 0o4000 ? 'set-uid bit' : 'set-gid bit'
  return `${names} (mode ${(st.mode & 0o7777).toString(8)})`
}

/** Linux dev_t: major in bits 8-19 and 32-43, minor in bits 0-7 and 20-31. */
export function splitDev(rdev: number): [number, number] {
  const lo = rdev % 2 ** 32
  const hi = Math.floor(rdev / 2 ** 32)
  const major = ((lo >>> 8) & 0xfff) | ((hi & 0xfffff000) >>> 0)
  const minor = (lo & 0xff) | ((lo >>> 12) & 0xfff00)
  return [major >>> 0, minor >>> 0]
}
