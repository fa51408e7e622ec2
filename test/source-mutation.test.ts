// Source files mutated while a reader streams them through the mount: truncated, grown,
// rewritten in place, replaced by rename, deleted, their directory renamed or swapped for a
// symlink to a directory outside SOURCE. The test process holds one O_DIRECT descriptor per
// file, reads the first half, mutates, reads the rest. Whatever it got is decrypted here, block
// by block: every block must be a block of the file before or after the change, never of the
// outside canary. A file that changed must be named once in the log; with -strict-consistency
// the first read after the change and every later one fail with EIO. The same daemons serve
// every case and must still be alive at the end.
import t, { type Test } from 'tap'
import {
  appendFileSync,
  closeSync,
  constants,
  mkdirSync,
  openSync,
  promises as fsp,
  renameSync,
  symlinkSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import path from 'node:path'
import { createAesSiv } from '../src/format/aes-siv.js'
import { CIPHER_BLOCK, HEADER_LEN, PLAIN_BLOCK, parseHeader } from '../src/format/content.js'
import { deriveKeys } from '../src/format/keys.js'
import { plainToCipherSize } from '../src/format/sizes.js'
import { isMounted, processGone } from './lib/mounts.js'
import { Prng, seedFrom } from './lib/prng.js'
import { initSource, mountDir, mountLogged, scratchDir, viewPath, type LoggedMount } from './lib/reverse-mounts.js'

const SEED = seedFrom('MUTATION_SEED')
const SIZE = 4 * 1024 * 1024 + 1234
const CHUNK = 32 * CIPHER_BLOCK
const HALF = HEADER_LEN + 16 * CHUNK // ends on a block edge
const CANARY = Buffer.from('CANARY-FROM-OUTSIDE-THE-SOURCE ')
const HANG_MS = 60_000

const prng = new Prng(SEED)
t.comment(`MUTATION_SEED=${SEED}`)

interface Case {
  name: string
  /** Whether the open file itself changes (the view must notice). */
  changes: boolean
  /** In a directory of its own (the directory is what the mutation moves). */
  inDir?: boolean
  /** Mutates; returns the file's new content when it differs from the old. */
  mutate(file: string, dir: string, old: Buffer): Buffer | undefined
}

const CASES: Case[] = [
  {
    name: 'truncate',
    changes: true,
    mutate: (file, _dir, old) => {
      const size = Math.floor((old.length * 3) / 4) + 100 // past the reader, not on a block edge
      truncateSync(file, size)
      return old.subarray(0, size)
    },
  },
  {
    name: 'grow',
    changes: true,
    mutate: (file, _dir, old) => {
      const extra = prng.bytes(100_000)
      appendFileSync(file, extra)
      return Buffer.concat([old, extra])
    },
  },
  {
    name: 'rewrite in place',
    changes: true,
    mutate: (file, _dir, old) => {
      const fresh = prng.bytes(old.length)
      const fd = openSync(file, 'r+')
      try {
        writeSync(fd, fresh, 0, fresh.length, 0)
      } finally {
        closeSync(fd)
      }
      return fresh
    },
  },
  {
    name: 'replace by rename',
    changes: true,
    mutate: (file, _dir, old) => {
      writeFileSync(`${file}.new`, prng.bytes(old.length))
      renameSync(`${file}.new`, file)
      return undefined // the open file keeps its old content; only its link count dropped
    },
  },
  { name: 'delete', changes: true, mutate: (file) => void unlinkSync(file) },
  { name: 'directory renamed', changes: false, inDir: true, mutate: (_file, dir) => void renameSync(dir, `${dir}.moved`) },
  {
    name: 'directory replaced by a symlink to outside',
    changes: false,
    inDir: true,
    mutate: (_file, dir) => {
      renameSync(dir, `${dir}.old`)
      symlinkSync(OUTSIDE, dir)
      return undefined
    },
  },
]

const work = scratchDir(t)
const { src, passfile, masterKey } = initSource(t, work, { empty: true })
const OUTSIDE = path.join(work, 'outside')
mkdirSync(OUTSIDE)
// Same name as the files inside, so a walk through the swapped symlink would find it.
writeFileSync(path.join(OUTSIDE, 'f'), Buffer.concat(Array<Buffer>(Math.ceil(SIZE / CANARY.length)).fill(CANARY)))
const siv = createAesSiv(deriveKeys(masterKey, { hkdf: true }).siv)

function bounded<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${HANG_MS} ms`)), HANG_MS)
  })
  return Promise.race([p, hang]).finally(() => clearTimeout(timer))
}

function errCode(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? String(e)
}

/** Reads CHUNK-sized pieces from `pos` until EOF, an error or `until`; returns what it got. */
async function readOn(fh: fsp.FileHandle, pos: number, until: number): Promise<{ data: Buffer; error?: string }> {
  const parts: Buffer[] = []
  // Bounded: a file that keeps growing must not keep the reader forever.
  for (let i = 0; pos < until && i < (2 * SIZE) / CHUNK; i++) {
    const len = Math.min(CHUNK, until - pos)
    const buf = Buffer.alloc(len)
    let n: number
    try {
      n = (await bounded(fh.read(buf, 0, len, pos), `read at ${pos}`)).bytesRead
    } catch (e) {
      if ((e as Error).message.includes('no answer')) throw e
      return { data: Buffer.concat(parts), error: errCode(e) }
    }
    if (n === 0) break
    parts.push(buf.subarray(0, n))
    pos += n
  }
  return { data: Buffer.concat(parts) }
}

/**
 * Decrypts view bytes block by block; each block must be that block of one of `versions`.
 * Returns the blocks checked and whether a cut-off last block failed to decrypt.
 */
function checkBlocks(t: Test, data: Buffer, versions: Buffer[]): { blocks: number; badTail: boolean } {
  const fileId = parseHeader(data)
  let blocks = 0
  for (let off = HEADER_LEN, n = 0; off < data.length; off += CIPHER_BLOCK, n++) {
    const block = data.subarray(off, off + CIPHER_BLOCK)
    let plain: Buffer
    try {
      plain = siv.openBlocks(block, n, fileId)
    } catch {
      if (block.length < CIPHER_BLOCK) return { blocks, badTail: true }
      t.fail(`block ${n} does not decrypt`)
      return { blocks, badTail: false }
    }
    if (plain.includes(CANARY.subarray(0, 16))) t.fail(`block ${n} holds the outside canary`)
    const matches = versions.some((v) => v.subarray(n * PLAIN_BLOCK, n * PLAIN_BLOCK + plain.length).equals(plain))
    if (!matches) t.fail(`block ${n} is no block of the file before or after the change`)
    blocks++
  }
  return { blocks, badTail: false }
}

function changeLines(m: LoggedMount, rel: string): string[] {
  return m
    .log()
    .split('\n')
    .filter((l) => l.includes(`(plaintext ${rel})`) && l.includes('source file changed'))
}

const lax = await mountLogged(t, ['-passfile', passfile, src, mountDir(work, 'lax')])
const strict = await mountLogged(t, ['-strict-consistency', '-passfile', passfile, src, mountDir(work, 'strict')])

for (const c of CASES) {
  for (const [mode, m] of [
    ['lax', lax],
    ['strict', strict],
  ] as const) {
    t.test(`${c.name}, ${mode === 'lax' ? 'default' : '-strict-consistency'}`, async (t) => {
      const base = `${c.name.replaceAll(' ', '-')}-${mode}`
      const comps = c.inDir ? [base, 'f'] : [base]
      const dir = path.join(src, c.inDir ? base : '')
      if (c.inDir) mkdirSync(dir)
      const file = path.join(src, ...comps)
      const old = prng.bytes(SIZE)
      writeFileSync(file, old)
      const vp = path.join(m.mnt, ...viewPath(masterKey, comps))

      const fh = await fsp.open(vp, constants.O_RDONLY | constants.O_DIRECT)
      let after: { data: Buffer; error?: string }
      let first: { data: Buffer; error?: string }
      try {
        first = await readOn(fh, 0, HALF)
        t.equal(first.error, undefined, 'the first half reads')
        t.equal(first.data.length, HALF)
        const fresh = c.mutate(file, dir, old)
        after = await readOn(fh, HALF, Infinity)
        if (mode === 'strict' && c.changes) {
          t.equal(after.error, 'EIO', 'the read after the change fails with EIO')
          t.equal(after.data.length, 0)
          const again = await readOn(fh, 0, CHUNK)
          t.equal(again.error, 'EIO', 'and so does any later read on that descriptor')
        } else {
          t.equal(after.error, undefined, 'the rest reads without error')
        }
        const { blocks, badTail } = checkBlocks(t, Buffer.concat([first.data, after.data]), fresh ? [old, fresh] : [old])
        t.ok(blocks >= HALF / CIPHER_BLOCK - 1, `${blocks} blocks decrypted to the file's content`)
        // A cut-off block: the kernel clipped the grown file's last block at the size it knew.
        if (badTail) t.ok(mode === 'lax' && c.changes, 'only a changed file, read without -strict-consistency, ends in a cut-off block')
        if (!c.changes) t.equal(first.data.length + after.data.length, plainToCipherSize(SIZE), 'all of the unchanged file')
      } finally {
        await fh.close()
      }
      const rel = comps.join('/')
      const lines = changeLines(m, rel)
      if (c.changes) {
        t.equal(lines.length, 1, 'the change is logged once, naming the view and plaintext paths')
        t.match(lines[0] ?? '', viewPath(masterKey, comps).join('/'))
        if (mode === 'strict') t.match(lines[0] ?? '', /EIO/)
      } else {
        t.same(lines, [], 'nothing to log: the open file did not change')
      }
      if (c.name.includes('symlink')) {
        // A new open walks the path again: an error, never the canary.
        const fresh = await bounded(fsp.readFile(vp), 'reopen').then(
          (b) => `read ${b.length} bytes`,
          (e) => errCode(e),
        )
        t.match(fresh, /^E[A-Z]+$/, `a new open through the swapped directory fails (${fresh})`)
      }
      t.notOk(processGone(m.pid), 'the same daemon still serves')
      t.ok(isMounted(m.mnt))
    })
  }
}
