// A view's packed listing (src/view/listing.ts) as names and attributes, for tests to look at.
import type { Attr } from '../../src/view/fs.js'
import type { DirListing } from '../../src/view/fs.js'
import { ATTR_N, packAttr } from '../../src/view/listing.js'

/** The attributes at entry `i` of packed attributes, as an Attr (pre-1970 times read as the epoch, as packed). */
export function attrAt(p: Float64Array, i: number): Attr {
  const o = i * ATTR_N
  const high = p[o + ATTR_N - 1]!
  const low = p[o]!
  const big = (BigInt(high) << 32n) | BigInt(low)
  const time = (sec: number, nsec: number): [number, number] => [sec * 1000 + Math.floor(nsec / 1e6), nsec % 1e6]
  const [atimeMs, atimeNsPart] = time(p[o + 9]!, p[o + 10]!)
  const [mtimeMs, mtimeNsPart] = time(p[o + 11]!, p[o + 12]!)
  const [ctimeMs, ctimeNsPart] = time(p[o + 13]!, p[o + 14]!)
  return {
    ino: big < 2n ** 53n ? Number(big) : big,
    mode: p[o + 1]!,
    nlink: p[o + 2]!,
    uid: p[o + 3]!,
    gid: p[o + 4]!,
    rdev: p[o + 5]!,
    size: p[o + 6]!,
    blocks: p[o + 7]!,
    blksize: p[o + 8]!,
    atimeMs,
    atimeNsPart,
    mtimeMs,
    mtimeNsPart,
    ctimeMs,
    ctimeNsPart,
  }
}

/** The names (byte strings) and attributes of a listing, in order. */
export function unpacked(d: DirListing): { names: string[]; attrs: Attr[] } {
  const names: string[] = []
  const attrs: Attr[] = []
  for (const c of d.chunks) {
    for (let i = 0; i + 1 < c.offsets.length; i++) {
      names.push(c.names.toString('latin1', c.offsets[i], c.offsets[i + 1]))
      attrs.push(attrAt(c.attrs, i))
    }
  }
  if (names.length !== d.count) throw new Error(`listing says ${d.count} entries, its chunks hold ${names.length}`)
  return { names, attrs }
}

/** Attributes as a listing carries them (packed and read back). */
export const asListed = (a: Attr): Attr => attrAt(packAttr(a), 0)
