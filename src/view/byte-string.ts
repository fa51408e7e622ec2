// Paths, names and symlink targets of a view are byte strings: one char per byte (latin1), the
// way our FUSE binding hands them over (as Buffers), so names that are not UTF-8 survive unchanged.
// People get them decoded (readable); Go's regexp gets them the way Go decodes (goString).
import { isUtf8 } from 'node:buffer'

const asBuffer = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength)

/** The bytes of a byte string. */
export const bytesOf = (s: string): Buffer => Buffer.from(s, 'latin1')

/** The byte string of some bytes. */
export const byteString = (b: Uint8Array): string => asBuffer(b).toString('latin1')

/** UTF-8 decoding that hands every byte of an invalid sequence to `invalid` (as Go does, one at a time). */
function decodeUtf8(b: Uint8Array, invalid: (byte: number) => string): string {
  if (isUtf8(b)) return asBuffer(b).toString('utf8')
  let out = ''
  for (let i = 0; i < b.length;) {
    const c = b[i]!
    const len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0
    const seq = len > 0 ? b.subarray(i, i + len) : undefined
    if (seq && seq.length === len && isUtf8(seq)) {
      out += asBuffer(seq).toString('utf8')
      i += len
    } else {
      out += invalid(c)
      i++
    }
  }
  return out
}

const hex = (c: number): string => `\\x${c.toString(16).padStart(2, '0')}`

/** A path as Go's regexp reads a string: every byte of an invalid sequence is one U+FFFD. */
export const goString = (b: Uint8Array): string => decodeUtf8(b, () => '\uFFFD')

/**
 * A path (bytes or byte string) for messages: UTF-8 where it is valid, \xNN for other bytes and
 * for control characters, so a name can neither hide nor forge a log line.
 */
export function readable(p: Uint8Array | string): string {
  const bytes = typeof p === 'string' ? bytesOf(p) : p
  return decodeUtf8(bytes, hex).replace(/[\x00-\x1f\x7f]/g, (c) => hex(c.charCodeAt(0)))
}
