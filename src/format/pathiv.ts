// Path-derived IVs of reverse mode (spec 4): every value forward mode would draw at random is
// SHA256(cPath || 0x00 || purpose)[0:16], so each read of the view yields the same bytes.
import { hash } from 'node:crypto'

export type IvPurpose = 'FILEID' | 'BLOCK0IV' | 'DIRIV' | 'SYMLINKIV'

const SEPARATOR = new Uint8Array(1) // NUL cannot occur in a path

/**
 * cPath is the path in the view: encrypted (or hashed long) components joined by '/', no
 * leading slash, '' for the root; the plaintext path only in PlaintextNames mode, where raw
 * bytes (a Uint8Array) keep non-UTF-8 names intact. Strings are hashed as UTF-8.
 */
export function derivePathIv(cPath: string | Uint8Array, purpose: IvPurpose): Buffer {
  // One-shot hash: half the time of a Hash object, and a lookup derives two of these per file.
  const input = typeof cPath === 'string' ? `${cPath}\0${purpose}` : Buffer.concat([cPath, SEPARATOR, Buffer.from(purpose)])
  return hash('sha256', input, 'buffer').subarray(0, 16)
}

/**
 * The path gocryptfs hashes for a symlink's SYMLINKIV: it joins the link's own path with its
 * name again, so the last component appears twice ("a/lnk" -> "a/lnk/lnk", spec 4 and 9.1).
 */
export function symlinkIvPath(cPath: string): string {
  return cPath + '/' + cPath.slice(cPath.lastIndexOf('/') + 1)
}
