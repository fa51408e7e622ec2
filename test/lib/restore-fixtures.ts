// Ciphertext copies for the restore-side tests: the golden vectors' captured views, a varied
// tree encrypted by real `gocryptfs -reverse` and copied out with `cp -a`, views of our own
// ReverseView written to disk (for settings the vectors do not cover), and ways to damage them.
import { createHash } from 'node:crypto'
import {
  chmodSync,
  chownSync,
  linkSync,
  mkdirSync,
  openSync,
  closeSync,
  readFileSync,
  readSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import { promises as fsp } from 'node:fs'
import path from 'node:path'
import { parseConfig } from '../../src/format/config.js'
import { deriveKeys } from '../../src/format/keys.js'
import { parseMasterKey } from '../../src/format/masterkey.js'
import { settingsFromConfig, type FormatSettings } from '../../src/format/settings.js'
import { CIPHER_BLOCK, HEADER_LEN } from '../../src/format/sizes.js'
import { sys } from '../../src/native/sys.js'
import { PathMapper } from '../../src/restore/paths.js'
import type { ProblemKind } from '../../src/restore/problems.js'
import { bytesOf } from '../../src/view/byte-string.js'
import type { ViewFs } from '../../src/view/fs.js'
import { runCli } from './cli.js'
import { mountGocryptfs, run, scratchDir, stopMount } from './reverse-mounts.js'
import { VECTORS } from './vectors.js'
import { unpacked } from './listing.js'

interface Teardown {
  teardown(fn: () => void | Promise<void>): void
}

export function untar(tarFile: string, dir: string): void {
  mkdirSync(dir, { recursive: true })
  const r = run('tar', ['-C', dir, '-xf', tarFile])
  if (r.status !== 0) throw new Error(`tar -xf ${tarFile}: ${r.stderr}`)
}

export function cpA(from: string, to: string): void {
  const r = run('cp', ['-a', from, to])
  if (r.status !== 0) throw new Error(`cp -a ${from} ${to}: ${r.stderr}`)
}

export interface Copy {
  /** Scratch directory for the test (removed on teardown). */
  work: string
  /** The ciphertext copy. */
  view: string
  /** The plaintext it decrypts to. */
  plain: string
  passfile: string
  /** In -masterkey syntax. */
  key: string
  settings: FormatSettings
  /** Ciphertext path (relative) of a plaintext path (relative), computed with the settings and key. */
  cipherPath(plainRel: string): string
}

function copyOf(work: string, view: string, plain: string, passfile: string, key: string, settings: FormatSettings): Copy {
  const mapper = new PathMapper(settings, deriveKeys(parseMasterKey(key), { hkdf: settings.hkdf }).eme)
  return {
    work,
    view,
    plain,
    passfile,
    key,
    settings,
    cipherPath: (p) => mapper.encryptPath(Buffer.from(p)).toString('latin1'),
  }
}

/** A vector's view.tar extracted (optionally without its gocryptfs.conf) plus its plaintext tree. */
export function vectorCopy(t: Teardown, name: string, opts: { withoutConf?: boolean } = {}): Copy {
  const v = path.join(VECTORS, name)
  const work = scratchDir(t, 'tsreverse-restore-')
  const view = path.join(work, 'view')
  const plain = path.join(work, 'plain')
  untar(path.join(v, 'view.tar'), view)
  untar(path.join(VECTORS, 'plaintext-tree.tar'), plain)
  if (opts.withoutConf) rmSync(path.join(view, 'gocryptfs.conf'))
  // tar restores the passfile's mode 0444; a private copy avoids the permission warning.
  const passfile = path.join(work, 'passfile.txt')
  writeFileSync(passfile, readFileSync(path.join(v, 'passfile.txt')), { mode: 0o600 })
  const confPath = path.join(v, 'gocryptfs.conf')
  const settings = settingsFromConfig(parseConfig(readFileSync(confPath, 'utf8'), confPath))
  return copyOf(work, view, plain, passfile, readFileSync(path.join(v, 'masterkey.txt'), 'ascii').trim(), settings)
}

/** plaintext-tree.listing, sorted (the format of listTree()). */
export function plainListing(): string[] {
  return readFileSync(path.join(VECTORS, 'plaintext-tree.listing'), 'utf8').split('\n').filter(Boolean).sort()
}

/** Deterministic bytes for generated files. */
function content(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size)
  let block = createHash('sha256').update(seed).digest()
  for (let off = 0; off < size; off += 32) {
    block.copy(out, off)
    block = createHash('sha256').update(block).digest()
  }
  return out
}

/**
 * A tree with what the vectors lack: files of many sizes (one spans several restore chunks),
 * a plaintext hole, modes 0444/0600/0755/4755, a read-only directory, a hard link, a FIFO,
 * dangling and long symlinks, long and non-ASCII names, varied times to the nanosecond, and
 * secret.txt owned by OTHER_OWNER (the tests run as root).
 */
export const OTHER_OWNER = { uid: 1234, gid: 4321 }

export function makeVariedTree(root: string): { fifo: string } {
  mkdirSync(root, { recursive: true })
  const sizes = [0, 1, 31, 32, 33, 4095, 4096, 4097, 8191, 65536, 131072 + 5, 300_000]
  const dirs = ['', 'docs', 'docs/deeper', 'docs/deeper/deepest', 'src', 'ünïcödé dir', 'L'.repeat(255)]
  for (const d of dirs) mkdirSync(path.join(root, d), { recursive: true })
  let n = 0
  for (const d of dirs) {
    for (const size of sizes.slice(n % 3, (n % 3) + 6)) {
      const p = path.join(root, d, `file-${n}-${size}.bin`)
      writeFileSync(p, content(p.slice(root.length), size))
      n++
    }
  }
  writeFileSync(path.join(root, 'big.bin'), content('big', 1_500_000)) // 367 blocks: 12 chunks
  // Holes end on a block boundary: a cp copy of a gocryptfs view has zeros there (see
  // explainZeros in src/restore/cipher-file.ts), which decrypt to zeros only as full blocks.
  const holey = path.join(root, 'docs/holey.bin')
  writeFileSync(holey, 'start')
  truncateSync(holey, 49 * 4096)
  writeFileSync(path.join(root, 'N'.repeat(200) + '.txt'), 'a 204-byte name\n')
  writeFileSync(path.join(root, 'ro.txt'), 'read only\n', { mode: 0o444 })
  writeFileSync(path.join(root, 'secret.txt'), 'owner only\n', { mode: 0o600 })
  chownSync(path.join(root, 'secret.txt'), OTHER_OWNER.uid, OTHER_OWNER.gid)
  writeFileSync(path.join(root, 'tool.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 })
  writeFileSync(path.join(root, 'setuid-tool'), 'not really\n')
  chmodSync(path.join(root, 'setuid-tool'), 0o4755)
  writeFileSync(path.join(root, 'docs/shared.bin'), content('shared', 10_000))
  linkSync(path.join(root, 'docs/shared.bin'), path.join(root, 'src/hardlink.bin'))
  symlinkSync('docs/deeper/deepest', path.join(root, 'link-to-dir'))
  symlinkSync('/nonexistent/target', path.join(root, 'src/dangling'))
  symlinkSync('../' + 'N'.repeat(200) + '.txt', path.join(root, 'docs/link-to-long-name'))
  symlinkSync('x/'.repeat(500) + 'end', path.join(root, 'long-target'))
  const fifo = 'a-fifo'
  run('mkfifo', [path.join(root, fifo)])
  mkdirSync(path.join(root, 'readonly-dir'))
  writeFileSync(path.join(root, 'readonly-dir/inside.txt'), 'inside\n')
  chmodSync(path.join(root, 'readonly-dir'), 0o555)
  mkdirSync(path.join(root, 'empty'), { mode: 0o700 })
  // Times last, as creating entries changed them; nanoseconds that a double of seconds cannot
  // hold (x.999999999 rounds to the next second). Atimes lie ahead of the clock, so relatime
  // leaves them as they are while gocryptfs, cp and the tests read the tree (the root too, whose
  // atime a copy gets): listings compare them.
  const NS = [0, 1, 999, 1000, 123_456_789, 500_000_000, 999_999, 999_999_999]
  const ahead = Math.floor(Date.now() / 1000) + 2 * 86_400
  for (const [i, rel] of ['', ...readdirSync(root, { recursive: true, encoding: 'utf8' }).sort()].entries()) {
    sys.utimens(Buffer.from(path.join(root, rel)), ahead + i, NS[i % NS.length]!, 1_500_000_000 + i * 86_399, NS[(i + 3) % NS.length]!)
  }
  return { fifo }
}

/**
 * makeVariedTree encrypted by `gocryptfs -reverse` (config from `-init -reverse -scryptn 10`),
 * copied out of the mount with `cp -a`; the mount is gone when this returns.
 */
export async function gocryptfsCopy(t: Teardown): Promise<Copy & { fifo: string; conf: string }> {
  const work = scratchDir(t, 'tsreverse-gocryptfs-')
  const plain = path.join(work, 'plain')
  const { fifo } = makeVariedTree(plain)
  const passfile = path.join(work, 'passfile.txt')
  writeFileSync(passfile, 'varied tree password\n', { mode: 0o600 })
  const init = run('gocryptfs', ['-q', '-init', '-reverse', '-scryptn', '10', '-passfile', passfile, plain])
  if (init.status !== 0) throw new Error(`gocryptfs -init: ${init.stderr}`)
  const dump = runCli(['-dumpmasterkey', '-passfile', passfile, plain])
  if (dump.code !== 0) throw new Error(`-dumpmasterkey: ${dump.stderr}`)
  const mnt = path.join(work, 'mnt')
  mkdirSync(mnt)
  const m = mountGocryptfs(t, ['-reverse', '-passfile', passfile, plain, mnt])
  const view = path.join(work, 'view')
  try {
    cpA(mnt, view)
  } finally {
    await stopMount(m)
  }
  // The source's config stays out of the plaintext comparisons.
  const conf = path.join(work, 'reverse.conf')
  renameSync(path.join(plain, '.gocryptfs.reverse.conf'), conf)
  const settings = settingsFromConfig(parseConfig(readFileSync(conf, 'utf8'), conf))
  return { ...copyOf(work, view, plain, passfile, dump.stdout.trim(), settings), fifo, conf }
}

/** Writes a view (e.g. a ReverseView) to disk as `cp -a` of its mount would. */
export async function materialize(view: ViewFs, dest: string): Promise<void> {
  // View names and targets are byte strings: written as the bytes they stand for.
  const walk = async (viewPath: string, to: Buffer): Promise<void> => {
    const { names, attrs } = unpacked(await view.readdir(viewPath))
    for (const [i, name] of names.entries()) {
      const a = attrs[i]!
      const p = viewPath === '/' ? `/${name}` : `${viewPath}/${name}`
      const out = Buffer.concat([to, Buffer.from('/'), bytesOf(name)])
      const type = a.mode & 0o170000
      if (type === 0o040000) {
        await fsp.mkdir(out)
        await walk(p, out)
      } else if (type === 0o120000) {
        await fsp.symlink(bytesOf(await view.readlink(p)), out)
      } else {
        const h = await view.open(p)
        const buf = Buffer.alloc(a.size)
        const got = await view.read(h, buf, a.size, 0)
        await view.release(h)
        await fsp.writeFile(out, buf.subarray(0, got))
      }
      if (type !== 0o120000) await fsp.chmod(out, a.mode & 0o7777)
      await fsp.lutimes(out, a.atimeMs / 1000, a.mtimeMs / 1000)
    }
  }
  await walk('/', Buffer.from(dest))
}

// ---- damage -----------------------------------------------------------------------------

/** Ciphertext offset of block n. */
export const blockOffset = (n: number): number => HEADER_LEN + n * CIPHER_BLOCK

function patch(file: string, offset: number, data: Buffer): void {
  const fd = openSync(file, 'r+')
  try {
    writeSync(fd, data, 0, data.length, offset)
  } finally {
    closeSync(fd)
  }
}

function readAt(file: string, offset: number, length: number): Buffer {
  const fd = openSync(file, 'r')
  try {
    const buf = Buffer.alloc(length)
    return buf.subarray(0, readSync(fd, buf, 0, length, offset))
  } finally {
    closeSync(fd)
  }
}

export function flipBit(file: string, offset: number): void {
  const b = readAt(file, offset, 1)
  b[0]! ^= 0x10
  patch(file, offset, b)
}

export function swapBlocks(file: string, i: number, j: number): void {
  const a = readAt(file, blockOffset(i), CIPHER_BLOCK)
  const b = readAt(file, blockOffset(j), CIPHER_BLOCK)
  patch(file, blockOffset(i), b)
  patch(file, blockOffset(j), a)
}

/** Block `i` of `from` written over block `j` of `to` (both full blocks). */
export function moveBlock(from: string, i: number, to: string, j: number): void {
  patch(to, blockOffset(j), readAt(from, blockOffset(i), CIPHER_BLOCK))
}

/** Zeros the bytes of block i that exist (a partial last block stays partial). */
export function zeroBlock(file: string, i: number): void {
  patch(file, blockOffset(i), Buffer.alloc(readAt(file, blockOffset(i), CIPHER_BLOCK).length))
}

/**
 * Swaps two entries of the copy (files or symlinks) and gives each a hard link outside it, as
 * a server may: link counts are its to set.
 */
export function swapWithHardLinks(c: Copy, a: string, b: string): void {
  const [pa, pb] = [a, b].map((p) => path.join(c.view, c.cipherPath(p))) as [string, string]
  const tmp = path.join(c.work, 'swapping')
  renameSync(pa, tmp)
  renameSync(pb, pa)
  renameSync(tmp, pb)
  const outside = path.join(c.work, 'outside')
  mkdirSync(outside, { recursive: true })
  linkSync(pa, path.join(outside, a))
  linkSync(pb, path.join(outside, b))
}

export interface DamageProblem {
  path: string
  kind: ProblemKind
  block?: number
  text?: RegExp
}

export interface Damage {
  name: string
  vector: string
  damage(c: Copy): void
  /** The problems restore and fsck must name: plaintext path ('' = root), kind, block. */
  problems: DamageProblem[]
  /** What fsck reports on top: it goes on after a bad block, restore gives up on the file. */
  moreInFsck?: DamageProblem[]
  /** Plaintext entries that cannot come back. */
  lost: string[]
}

const L255 = 'L255-' + '0'.repeat(250)

/** Each kind of damage a copy can suffer, applied to a fresh vector copy. */
export const DAMAGES: Damage[] = [
  {
    name: 'one bit flipped',
    vector: 'B',
    damage: (c) => flipBit(path.join(c.view, c.cipherPath('file-100000')), blockOffset(3) + 100),
    problems: [{ path: 'file-100000', kind: 'block', block: 3, text: /failed authentication/ }],
    lost: ['file-100000'],
  },
  {
    name: 'a file truncated inside a block',
    vector: 'B',
    damage: (c) => truncateSync(path.join(c.view, c.cipherPath('file-4097')), blockOffset(1) + 20),
    problems: [{ path: 'file-4097', kind: 'block', block: 1, text: /truncated/ }],
    lost: ['file-4097'],
  },
  {
    name: 'a file truncated inside its header',
    vector: 'A',
    damage: (c) => truncateSync(path.join(c.view, c.cipherPath('file-16')), 10),
    problems: [{ path: 'file-16', kind: 'header', text: /header/ }],
    lost: ['file-16'],
  },
  {
    name: 'two blocks swapped',
    vector: 'B',
    damage: (c) => swapBlocks(path.join(c.view, c.cipherPath('file-8192')), 0, 1),
    problems: [{ path: 'file-8192', kind: 'block', block: 0 }],
    moreInFsck: [{ path: 'file-8192', kind: 'block', block: 1 }],
    lost: ['file-8192'],
  },
  {
    name: 'a block moved to another file',
    vector: 'C',
    damage: (c) => moveBlock(path.join(c.view, c.cipherPath('file-4096')), 0, path.join(c.view, c.cipherPath('a/b/c/deep.txt')), 0),
    problems: [{ path: 'a/b/c/deep.txt', kind: 'block', block: 0 }],
    lost: ['deep.txt'],
  },
  {
    name: 'a missing gocryptfs.diriv',
    vector: 'B',
    damage: (c) => rmSync(path.join(c.view, c.cipherPath('a/b'), 'gocryptfs.diriv')),
    problems: [{ path: 'a/b', kind: 'diriv', text: /missing/ }],
    lost: [],
  },
  {
    name: 'a renamed ciphertext file',
    vector: 'B',
    damage: (c) => renameSync(path.join(c.view, c.cipherPath('file-1')), path.join(c.view, c.cipherPath('renamed-file'))),
    problems: [{ path: 'renamed-file', kind: 'misplaced', text: /another path/ }],
    lost: ['file-1'],
  },
  {
    name: 'a ciphertext file moved to another directory (deterministic names still decrypt)',
    vector: 'C',
    damage: (c) => renameSync(path.join(c.view, c.cipherPath('file-1')), path.join(c.view, c.cipherPath('a'), c.cipherPath('file-1'))),
    problems: [{ path: 'a/file-1', kind: 'misplaced' }],
    lost: ['file-1'],
  },
  ...(
    [
      ['files', 'file-1', 'file-15', 'misplaced'],
      ['symlinks', 'link-relative', 'link-absolute', 'symlink'],
    ] as const
  ).map(([what, a, b, kind]): Damage => ({
    name: `two ${what} swapped, each with a hard link outside the copy`,
    vector: 'B',
    damage: (c) => swapWithHardLinks(c, a, b),
    problems: [a, b].map((path) => ({ path, kind, text: /another path/ })),
    lost: [a, b],
  })),
  {
    name: 'a name that does not decrypt',
    vector: 'B',
    damage: (c) => renameSync(path.join(c.view, c.cipherPath('file-15')), path.join(c.view, 'AAAAAAAAAAAAAAAAAAAAAA')),
    problems: [{ path: '', kind: 'name', text: /does not decrypt/ }],
    lost: ['file-15'],
  },
  {
    name: 'a long-named entry lost, its .name file left',
    vector: 'B',
    damage: (c) => rmSync(path.join(c.view, c.cipherPath(L255))),
    problems: [{ path: '', kind: 'orphan' }],
    lost: [L255],
  },
  {
    name: 'a damaged symlink target',
    vector: 'B',
    damage: (c) => {
      const link = path.join(c.view, c.cipherPath('link-relative'))
      const target = readlinkSync(link)
      rmSync(link)
      symlinkSync(target.slice(0, 30) + (target[30] === 'A' ? 'B' : 'A') + target.slice(31), link)
    },
    problems: [{ path: 'link-relative', kind: 'symlink' }],
    lost: ['link-relative'],
  },
  {
    name: 'a last block zeroed (a sparse copy)',
    vector: 'B',
    damage: (c) => zeroBlock(path.join(c.view, c.cipherPath('file-4097')), 1),
    problems: [{ path: 'file-4097', kind: 'block', block: 1, text: /all zeros.*rsync/ }],
    lost: ['file-4097'],
  },
]

/** The formatted problem line (formatProblem) that names `p`. */
export function problemPattern(p: DamageProblem): RegExp {
  const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const block = p.block === undefined ? '' : `block ${p.block} `
  return new RegExp(`^\\s*${esc(p.path || '/')}: ${block}.*\\[${p.kind}, ciphertext `, 'm')
}
