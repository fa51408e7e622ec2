// A directory listing as a view hands it on: packed, a chunk of entries at a time, each chunk
// its names in one Buffer with offsets and its attributes as ATTR_N doubles per entry. A listing
// of 300,000 entries is then a few hundred objects rather than a million (a string and an
// object per entry), and the FUSE binding reads the chunks as they are.
import type { Attr, DirListing, ListingChunk } from './fs.js'
import type { Ino } from './inomap.js'

/**
 * The order of an entry's attribute fields. The inode number is split in 32-bit halves ('ino'
 * the low one): it may exceed 2^53.
 */
export const ATTR_FIELDS = [
  'ino',
  'mode',
  'nlink',
  'uid',
  'gid',
  'rdev',
  'size',
  'blocks',
  'blksize',
  'atimeSec',
  'atimeNsec',
  'mtimeSec',
  'mtimeNsec',
  'ctimeSec',
  'ctimeNsec',
  'inoHigh',
] as const
export const ATTR_N = ATTR_FIELDS.length
const INO_HIGH = ATTR_N - 1

/** Entries per chunk: what a listing builds between two turns of the event loop. */
export const LISTING_CHUNK = 4096

const U32 = 0xffffffff
const U32n = 0xffffffffn
const clampU32 = (n: number): number => (n >= U32 ? U32 : n > 0 ? Math.floor(n) : 0)

/** Seconds and nanoseconds of a view time; pre-1970 (and NaN) times show as the epoch. */
function putTime(out: Float64Array, at: number, ms: number, nsPart: number): void {
  if (!(ms >= 0)) {
    out[at] = 0
    out[at + 1] = 0
    return
  }
  const sec = Math.floor(ms / 1000)
  out[at] = sec
  out[at + 1] = Math.floor(ms - sec * 1000) * 1_000_000 + (nsPart > 0 && nsPart < 1_000_000 ? Math.floor(nsPart) : 0)
}

/** Writes the inode number of entry `i` of `out`. */
export function putIno(out: Float64Array, i: number, ino: Ino): void {
  const o = i * ATTR_N
  if (typeof ino === 'bigint') {
    out[o] = Number(ino & U32n)
    out[o + INO_HIGH] = Number(ino >> 32n)
  } else {
    out[o] = ino % 2 ** 32
    out[o + INO_HIGH] = Math.floor(ino / 2 ** 32)
  }
}

/** Writes a's fields at entry `i` of `out` (ATTR_FIELDS). */
export function packAttr(a: Attr, out = new Float64Array(ATTR_N), i = 0): Float64Array {
  const o = i * ATTR_N
  putIno(out, i, a.ino)
  out[o + 1] = a.mode
  out[o + 2] = clampU32(a.nlink) // 32 bits in the FUSE protocol, as uid and gid
  out[o + 3] = clampU32(a.uid)
  out[o + 4] = clampU32(a.gid)
  out[o + 5] = a.rdev
  out[o + 6] = a.size
  out[o + 7] = a.blocks
  out[o + 8] = clampU32(a.blksize)
  putTime(out, o + 9, a.atimeMs, a.atimeNsPart)
  putTime(out, o + 11, a.mtimeMs, a.mtimeNsPart)
  putTime(out, o + 13, a.ctimeMs, a.ctimeNsPart)
  return out
}

// Room for names of this many bytes on average before the open chunk's buffer grows.
const NAME_BYTES_GUESS = 32

/** Builds a DirListing entry by entry. */
export class ListingBuilder {
  readonly #chunks: ListingChunk[] = []
  #sealed = 0
  #names = Buffer.allocUnsafeSlow(LISTING_CHUNK * NAME_BYTES_GUESS)
  #offsets = new Uint32Array(LISTING_CHUNK + 1)
  #attrs = new Float64Array(LISTING_CHUNK * ATTR_N)
  /** Entries in the open chunk. */
  #n = 0

  get count(): number {
    return this.#sealed + this.#n
  }

  /** Adds an entry named by a byte string or bytes. */
  add(name: string | Uint8Array, attr: Attr): void {
    const from = this.#offsets[this.#n]!
    if (from + name.length > this.#names.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(2 * this.#names.length, from + name.length))
      this.#names.copy(grown, 0, 0, from)
      this.#names = grown
    }
    let len = name.length
    if (typeof name === 'string') len = this.#names.write(name, from, 'latin1')
    else this.#names.set(name, from)
    packAttr(attr, this.#attrs, this.#n)
    this.#offsets[++this.#n] = from + len
    if (this.#n === LISTING_CHUNK) this.#seal()
  }

  /** The listing: these entries, then those of `more` (its chunks as they are). */
  finish(more?: DirListing): DirListing {
    if (this.#n > 0) this.#seal()
    const chunks = more ? this.#chunks.concat(more.chunks) : this.#chunks
    return { chunks, count: this.#sealed + (more?.count ?? 0) }
  }

  /** The open chunk, in arrays of its own size (a listing may be held for as long as it stays open). */
  #seal(): void {
    const n = this.#n
    const used = this.#offsets[n]!
    const names = Buffer.allocUnsafeSlow(used)
    this.#names.copy(names, 0, 0, used)
    const full = n === LISTING_CHUNK
    this.#chunks.push({
      names,
      offsets: full ? this.#offsets : this.#offsets.slice(0, n + 1),
      attrs: full ? this.#attrs : this.#attrs.slice(0, n * ATTR_N),
    })
    if (full) {
      this.#offsets = new Uint32Array(LISTING_CHUNK + 1)
      this.#attrs = new Float64Array(LISTING_CHUNK * ATTR_N)
    }
    this.#sealed += n
    this.#n = 0
  }
}

/** The listing of these entries (for views whose directories are small). */
export function listingOf(names: readonly (string | Uint8Array)[], attrs: readonly Attr[]): DirListing {
  const b = new ListingBuilder()
  names.forEach((name, i) => b.add(name, attrs[i]!))
  return b.finish()
}
