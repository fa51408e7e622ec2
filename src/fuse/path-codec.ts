// How paths cross fuse-native. The build that `npm ci` makes from patches/fuse-native+2.2.6.patch
// passes byte strings, which is what views take. The stock prebuild passes UTF-8 strings: every
// invalid byte arrives as U+FFFD, so `a\xffb` and `a\xfeb` would meet in one name and a lookup
// could reach another file. With it only names that survive the round trip cross; the others
// are listed nowhere, each logged once, and paths that may contain them are not looked up.
import { isUtf8 } from 'node:buffer'
import { byteString, bytesOf, readable } from '../view/byte-string.js'
import { Lru } from '../view/lru.js'

/** What the loaded binding passes: byte strings (patched build) or UTF-8 (stock prebuild). */
export type PathEncoding = 'latin1' | 'utf8'

export interface PathCodec {
  /** The view path of a path from the kernel; undefined when no served name can be in it. */
  inward(p: string): string | undefined
  /** A listed name or symlink target for the kernel; undefined (logged once) when it cannot cross. */
  outward(s: string, context: string): string | undefined
}

const BYTES: PathCodec = { inward: (p) => p, outward: (s) => s }
const LOGGED_CAP = 4096

export function pathCodec(encoding: PathEncoding, log: (msg: string) => void): PathCodec {
  if (encoding === 'latin1') return BYTES
  const logged = new Lru<string, true>(LOGGED_CAP)
  return {
    // U+FFFD may stand for any invalid byte: such a path is refused, never guessed. Names
    // really containing U+FFFD are therefore not served either (outward hides them).
    inward: (p) => (p.includes('\uFFFD') ? undefined : byteString(Buffer.from(p, 'utf8'))),
    outward: (s, context) => {
      const bytes = bytesOf(s)
      const text = isUtf8(bytes) ? bytes.toString('utf8') : '\uFFFD'
      if (!text.includes('\uFFFD')) return text
      const line = `${context} ${readable(s)}: the stock fuse-native build carries only UTF-8 without U+FFFD (npm ci builds the patched one)`
      if (!logged.get(line)) {
        logged.set(line, true)
        log(line)
      }
      return undefined
    },
  }
}
