// Attributes as the view reports them: the plaintext stat with the few fields the view changes
// (spec 6.4, 6.5) and -force_owner applied to every reply (the 2.5+ behaviour, spec 6.6).
import type { SourceStats } from './stat.js'
import type { Attr } from './fs.js'
import type { Ino } from './inomap.js'

export interface Owner {
  uid: number
  gid: number
}

export interface AttrOverrides {
  ino: Ino
  size?: number
  mode?: number
  nlink?: number
}

export function toAttr(st: SourceStats, over: AttrOverrides, owner: Owner | undefined): Attr {
  return {
    mode: over.mode ?? st.mode,
    ino: over.ino,
    nlink: over.nlink ?? st.nlink,
    uid: owner ? owner.uid : st.uid,
    gid: owner ? owner.gid : st.gid,
    rdev: st.rdev,
    size: over.size ?? st.size,
    blocks: st.blocks,
    blksize: st.blksize,
    atimeMs: st.atimeMs,
    atimeNsPart: st.atimeNsPart,
    mtimeMs: st.mtimeMs,
    mtimeNsPart: st.mtimeNsPart,
    ctimeMs: st.ctimeMs,
    ctimeNsPart: st.ctimeNsPart,
  }
}
