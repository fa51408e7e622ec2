// A tiny in-memory ViewFs for adapter and daemon tests. Each node carries its own inode number
// so tests can check that numbers reach stat(1) unchanged (use_ino).
import { FsError, type Attr, type DirListing, type FsStats, type ViewFs } from '../../src/view/fs.js'
import { listingOf } from '../../src/view/listing.js'

export type MemNode =
  | { kind: 'file'; ino: number; data: Buffer; mtimeMs?: number; nlink?: number }
  | { kind: 'dir'; ino: number; children: Record<string, MemNode> }
  | { kind: 'symlink'; ino: number; target: string }

/** Paths whose op throws a plain Error (not FsError), to exercise the adapter's EIO path. */
export type Faults = Partial<Record<'getattr' | 'read', string[]>>

const DEFAULT_STATS: FsStats = {
  bsize: 4096,
  frsize: 4096,
  blocks: 1000,
  bfree: 500,
  bavail: 400,
  files: 100,
  ffree: 50,
  favail: 50,
  namemax: 255,
}

export class MemView implements ViewFs {
  private readonly handles = new Map<number, { data: Buffer; fail: boolean }>()
  private nextHandle = 1

  constructor(
    private readonly root: MemNode,
    private readonly faults: Faults = {},
    private readonly stats: FsStats = DEFAULT_STATS,
  ) {}

  private lookup(p: string): MemNode {
    let node = this.root
    for (const part of p.split('/')) {
      if (part === '') continue
      if (node.kind !== 'dir') throw new FsError('ENOTDIR')
      const child = node.children[part]
      if (!child) throw new FsError('ENOENT')
      node = child
    }
    return node
  }

  private attr(node: MemNode): Attr {
    const t = node.kind === 'file' ? (node.mtimeMs ?? 1_600_000_000_000) : 1_600_000_000_000
    const size = node.kind === 'file' ? node.data.length : node.kind === 'symlink' ? node.target.length : 4096
    const type = node.kind === 'file' ? 0o100444 : node.kind === 'dir' ? 0o040555 : 0o120777
    return {
      mode: type,
      ino: node.ino,
      nlink: node.kind === 'file' ? (node.nlink ?? 1) : node.kind === 'dir' ? 2 : 1,
      uid: 0,
      gid: 0,
      rdev: 0,
      size,
      blocks: Math.ceil(size / 512),
      blksize: 4096,
      atimeMs: t,
      atimeNsPart: 0,
      mtimeMs: t,
      mtimeNsPart: 0,
      ctimeMs: t,
      ctimeNsPart: 0,
    }
  }

  async getattr(p: string): Promise<Attr> {
    if (this.faults.getattr?.includes(p)) throw new Error('injected getattr fault')
    return this.attr(this.lookup(p))
  }

  async readdir(p: string): Promise<DirListing> {
    const node = this.lookup(p)
    if (node.kind !== 'dir') throw new FsError('ENOTDIR')
    const names = Object.keys(node.children)
    return listingOf(
      names,
      names.map((n) => this.attr(node.children[n]!)),
    )
  }

  async readlink(p: string): Promise<string> {
    const node = this.lookup(p)
    if (node.kind !== 'symlink') throw new FsError('EINVAL')
    return node.target
  }

  async open(p: string): Promise<number> {
    const node = this.lookup(p)
    if (node.kind !== 'file') throw new FsError('EISDIR')
    const h = this.nextHandle++
    this.handles.set(h, { data: node.data, fail: this.faults.read?.includes(p) ?? false })
    return h
  }

  async read(handle: number, target: Buffer, length: number, position: number): Promise<number> {
    const open = this.handles.get(handle)
    if (!open) throw new FsError('EBADF')
    if (open.fail) throw new Error('injected read fault')
    const data = open.data
    if (position >= data.length) return 0
    return data.copy(target, 0, position, Math.min(data.length, position + length))
  }

  async release(handle: number): Promise<void> {
    this.handles.delete(handle)
  }

  async statfs(): Promise<FsStats> {
    return this.stats
  }

  get openHandles(): number {
    return this.handles.size
  }
}
