// Stats with exact times. Node's number Stats hold each time as a double of milliseconds, which
// rounds to ~0.24 us: a time less than that before a millisecond boundary reads as the next
// millisecond (or second), so the view would show, and a copy restore, a time the file never
// had. These come from bigint stats instead: whole milliseconds (rounded down, as any coarser
// clock truncates) plus the nanoseconds past them, which the FUSE adapter sends on to the kernel.
// Every stat the view compares (directory identity, consistency) comes from here, so all agree.
import { Stats, fstat, fstatSync, lstat as lstatCb, lstatSync, stat as statCb, statSync, type BigIntStats } from 'node:fs'

export interface SourceStats extends Stats {
  /** Nanoseconds past atimeMs (0..999999); likewise for mtime and ctime. */
  atimeNsPart: number
  mtimeNsPart: number
  ctimeNsPart: number
}

const NS_PER_MS = 1_000_000n
// Rounded down also before 1970, so the part past the millisecond is never negative.
const msOf = (ns: bigint): number => Number((ns >= 0n ? ns : ns - NS_PER_MS + 1n) / NS_PER_MS)
const nsPartOf = (ns: bigint): number => Number(((ns % NS_PER_MS) + NS_PER_MS) % NS_PER_MS)

/** The number form of a bigint stat, its times exact. */
export function exactStats(b: BigIntStats): SourceStats {
  const st = Object.create(Stats.prototype) as SourceStats
  st.dev = Number(b.dev)
  st.ino = Number(b.ino)
  st.mode = Number(b.mode)
  st.nlink = Number(b.nlink)
  st.uid = Number(b.uid)
  st.gid = Number(b.gid)
  st.rdev = Number(b.rdev)
  st.size = Number(b.size)
  st.blksize = Number(b.blksize)
  st.blocks = Number(b.blocks)
  st.atimeMs = msOf(b.atimeNs)
  st.atimeNsPart = nsPartOf(b.atimeNs)
  st.mtimeMs = msOf(b.mtimeNs)
  st.mtimeNsPart = nsPartOf(b.mtimeNs)
  st.ctimeMs = msOf(b.ctimeNs)
  st.ctimeNsPart = nsPartOf(b.ctimeNs)
  st.birthtimeMs = msOf(b.birthtimeNs)
  return st
}

/** Whole milliseconds (rounded down) of a time given as seconds and nanoseconds (0..999999999). */
export const msOfParts = (sec: number, nsec: number): number => sec * 1000 + Math.floor(nsec / 1e6)

/** The stat at `offset` of a Float64Array from the native addon (STAT_FIELDS order), its times exact. */
export function statsAt(a: Float64Array, offset = 0): SourceStats {
  const st = Object.create(Stats.prototype) as SourceStats
  st.dev = a[offset]!
  st.ino = a[offset + 1]!
  st.mode = a[offset + 2]!
  st.nlink = a[offset + 3]!
  st.uid = a[offset + 4]!
  st.gid = a[offset + 5]!
  st.rdev = a[offset + 6]!
  st.size = a[offset + 7]!
  st.blksize = a[offset + 8]!
  st.blocks = a[offset + 9]!
  st.atimeMs = msOfParts(a[offset + 10]!, a[offset + 11]!)
  st.atimeNsPart = a[offset + 11]! % 1e6
  st.mtimeMs = msOfParts(a[offset + 12]!, a[offset + 13]!)
  st.mtimeNsPart = a[offset + 13]! % 1e6
  st.ctimeMs = msOfParts(a[offset + 14]!, a[offset + 15]!)
  st.ctimeNsPart = a[offset + 15]! % 1e6
  st.birthtimeMs = msOfParts(a[offset + 16]!, a[offset + 17]!)
  return st
}

type Done = (err: NodeJS.ErrnoException | null, st: BigIntStats) => void

function promised(call: (done: Done) => void): Promise<SourceStats> {
  return new Promise((resolve, reject) => call((err, st) => (err ? reject(err) : resolve(exactStats(st)))))
}

export const lstat = (path: Buffer | string): Promise<SourceStats> => promised((done) => lstatCb(path, { bigint: true }, done))
export const stat = (path: Buffer | string): Promise<SourceStats> => promised((done) => statCb(path, { bigint: true }, done))
export const fstatFd = (fd: number): Promise<SourceStats> => promised((done) => fstat(fd, { bigint: true }, done))

export const lstatNow = (path: Buffer | string): SourceStats => exactStats(lstatSync(path, { bigint: true }))
export const statNow = (path: Buffer | string): SourceStats => exactStats(statSync(path, { bigint: true }))
export const fstatNow = (fd: number): SourceStats => exactStats(fstatSync(fd, { bigint: true }))

/** lstatNow, or undefined when nothing is at `path`. */
export function lstatNowIfExists(path: Buffer): SourceStats | undefined {
  const b = lstatSync(path, { bigint: true, throwIfNoEntry: false })
  return b && exactStats(b)
}
