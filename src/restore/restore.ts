// Offline restore: decrypt one entry of a ciphertext copy (a file, a symlink or a whole subtree)
// into a destination, without FUSE. Content is authenticated block by block as it streams, in
// chunks of CHUNK_BLOCKS blocks, and written to a temporary name that is renamed into place only
// once the whole file passed, so a failure never leaves a truncated file under the real name.
// Damage is reported and skipped; the rest of the tree is still restored. Set-id bits and
// device nodes come only with `special` (src/restore/special.ts).
import { execFile } from 'node:child_process'
import { promises as fsp } from 'node:fs'
import { promisify } from 'node:util'
import { cipherToPlainSize } from '../format/sizes.js'
import { sys } from '../native/sys.js'
import { readable } from '../view/byte-string.js'
import { joinPath, listDir } from '../view/source.js'
import { lstat, type SourceStats } from '../view/stat.js'
import type { CipherTree, TreeNode } from './cipher-tree.js'
import { contentProblem, type Problem } from './problems.js'
import type { ProgressSink, ProgressTotals } from './progress.js'
import { SET_ID_BITS, privilege, splitDev } from './special.js'

const run = promisify(execFile)
const SLASH = 0x2f

export interface RestoreOptions {
  tree: CipherTree
  /** The entry to restore, e.g. from tree.locate(). */
  from: TreeNode
  /** The path the entry gets; for a directory an existing directory there is filled in. */
  to: string | Buffer
  /** Restore owners too (only root can). */
  owners: boolean
  /** Restore set-id bits and device nodes too; left out (and listed in `withheld`) otherwise. */
  special: boolean
  /** Each problem and each withheld set-id bit or device node, as it is met. */
  onProblem?: (p: Problem) => void
  progress?: ProgressSink
}

export interface RestoreResult {
  files: number
  dirs: number
  symlinks: number
  /** FIFOs and device nodes. */
  specials: number
  /** Set-id bits and device nodes left out (kind 'special'); not problems. */
  withheld: Problem[]
  /** Sockets cannot be recreated (like tar, they are left out). */
  skippedSockets: number
  bytes: number
  problems: Problem[]
}

export async function restore(opts: RestoreOptions): Promise<RestoreResult> {
  const r = new Restorer(opts)
  await r.entry(opts.from, Buffer.from(opts.to))
  return r.result
}

/** Regular files and their plaintext bytes below `node`, for the progress display. Names are not decrypted. */
export async function measure(tree: CipherTree, node: TreeNode): Promise<ProgressTotals> {
  const totals = { files: 0, bytes: 0 }
  const walk = async (rel: Buffer, abs: Buffer, st: SourceStats): Promise<void> => {
    if (st.isFile()) {
      totals.files++
      totals.bytes += cipherToPlainSize(st.size)
    }
    if (!st.isDirectory()) return
    for (const name of await listDir(abs).catch(() => [])) {
      if (tree.isHidden(rel, name.toString('latin1'))) continue
      const childAbs = joinPath(abs, name)
      const childSt = await lstat(childAbs).catch(() => undefined)
      if (childSt) await walk(joinPath(rel, name), childAbs, childSt)
    }
  }
  await walk(node.rel, node.abs, node.st)
  return totals
}

class Restorer {
  readonly result: RestoreResult = { files: 0, dirs: 0, symlinks: 0, specials: 0, withheld: [], skippedSockets: 0, bytes: 0, problems: [] }
  readonly #tree: CipherTree
  readonly #opts: RestoreOptions
  #temps = 0

  constructor(opts: RestoreOptions) {
    this.#tree = opts.tree
    this.#opts = opts
  }

  #problem(p: Problem): void {
    this.result.problems.push(p)
    this.#opts.onProblem?.(p)
  }

  #withhold(node: TreeNode): void {
    const p: Problem = {
      kind: 'special',
      path: readable(node.plain),
      cipherPath: readable(node.rel),
      message: `${privilege(node.st)} left out`,
    }
    this.result.withheld.push(p)
    this.#opts.onProblem?.(p)
  }

  /** The mode the entry gets: the copy's, without set-id bits unless `special`. */
  #mode(node: TreeNode): number {
    const mode = node.st.mode & 0o7777
    if (this.#opts.special || (mode & SET_ID_BITS) === 0) return mode
    this.#withhold(node)
    return mode & ~SET_ID_BITS
  }

  async entry(node: TreeNode, dest: Buffer): Promise<void> {
    const st = node.st
    try {
      if (st.isDirectory()) await this.#dir(node, dest)
      else if (st.isFile()) await this.#file(node, dest)
      else if (st.isSymbolicLink()) await this.#symlink(node, dest)
      else if (st.isSocket()) this.result.skippedSockets++
      else if (!this.#opts.special && (st.isCharacterDevice() || st.isBlockDevice())) this.#withhold(node)
      else await this.#special(node, dest)
    } catch (e) {
      this.#problem(contentProblem(e, readable(node.plain), readable(node.rel), st.isSymbolicLink()))
    }
  }

  async #dir(node: TreeNode, dest: Buffer): Promise<void> {
    try {
      // Writable for us until its contents are in; the real mode comes last.
      await fsp.mkdir(dest, { mode: 0o700 })
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || !(await lstat(dest)).isDirectory()) throw e
    }
    const { entries, problems } = await this.#tree.list(node)
    for (const p of problems) this.#problem(p)
    for (const e of entries) await this.entry(e, joinPath(dest, baseName(e.plain)))
    // Last, because creating the entries changed its times.
    if (this.#opts.owners) await fsp.lchown(dest, node.st.uid, node.st.gid)
    await fsp.chmod(dest, this.#mode(node))
    setTimes(dest, node.st)
    this.result.dirs++
  }

  async #file(node: TreeNode, dest: Buffer): Promise<void> {
    const file = await this.#tree.openFile(node)
    const tmp = this.#tempName(dest)
    let out: fsp.FileHandle | undefined
    try {
      out = await fsp.open(tmp, 'wx', 0o600)
      for await (const chunk of file.chunks()) {
        await writeAll(out, chunk)
        this.result.bytes += chunk.length
        this.#opts.progress?.addBytes(chunk.length)
      }
      const st = node.st
      if (this.#opts.owners) await out.chown(st.uid, st.gid) // before chmod: chown clears set-id bits
      await out.chmod(this.#mode(node))
      await out.close()
      out = undefined
      setTimes(tmp, st)
      await fsp.rename(tmp, dest)
    } catch (e) {
      await out?.close().catch(() => {})
      await fsp.rm(tmp, { force: true })
      throw e
    } finally {
      await file.close()
    }
    this.result.files++
    this.#opts.progress?.fileDone()
  }

  async #symlink(node: TreeNode, dest: Buffer): Promise<void> {
    const target = await this.#tree.readTarget(node)
    await this.#viaTemp(dest, node.st, (tmp) => fsp.symlink(target, tmp))
    this.result.symlinks++
  }

  /** FIFOs and device nodes; Node has no mknod(2), mknod(1) does it. */
  async #special(node: TreeNode, dest: Buffer): Promise<void> {
    const st = node.st
    const [major, minor] = splitDev(st.rdev)
    const args = st.isFIFO() ? ['p'] : [st.isCharacterDevice() ? 'c' : 'b', String(major), String(minor)]
    await this.#viaTemp(dest, st, async (tmp) => {
      await run('mknod', ['-m', '600', tmp.toString(), ...args])
      await fsp.chmod(tmp, this.#mode(node))
    })
    this.result.specials++
  }

  /** Creates the entry under a temporary name, sets owner and times, renames it into place. */
  async #viaTemp(dest: Buffer, st: SourceStats, create: (tmp: Buffer) => Promise<void>): Promise<void> {
    const tmp = this.#tempName(dest)
    try {
      await create(tmp)
      if (this.#opts.owners) await fsp.lchown(tmp, st.uid, st.gid)
      setTimes(tmp, st)
      await fsp.rename(tmp, dest)
    } catch (e) {
      await fsp.rm(tmp, { force: true })
      throw e
    }
  }

  /** A short name next to dest: dest's own name may already be 255 bytes long. */
  #tempName(dest: Buffer): Buffer {
    const dir = dest.subarray(0, dest.lastIndexOf(SLASH) + 1)
    return Buffer.concat([dir, Buffer.from(`.tsreverse-restore-${process.pid}-${this.#temps++}`)])
  }
}

async function writeAll(out: fsp.FileHandle, data: Buffer): Promise<void> {
  let done = 0
  while (done < data.length) done += (await out.write(data, done, data.length - done)).bytesWritten
}

/** A time as utimensat's seconds and nanoseconds (0..999999999), also before 1970. */
function timespec(ms: number, nsPart: number): [number, number] {
  const sec = Math.floor(ms / 1000)
  return [sec, (ms - sec * 1000) * 1e6 + nsPart]
}

/**
 * The copy's atime and mtime on `path` (not following a symlink), to the nanosecond: Node's
 * utimes takes a double of seconds, which cannot hold a present-day time to the nanosecond.
 */
function setTimes(path: Buffer, st: SourceStats): void {
  sys.utimens(path, ...timespec(st.atimeMs, st.atimeNsPart), ...timespec(st.mtimeMs, st.mtimeNsPart))
}

function baseName(p: Buffer): Buffer {
  return p.subarray(p.lastIndexOf(SLASH) + 1)
}
