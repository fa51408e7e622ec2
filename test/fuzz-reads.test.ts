// Differential read fuzzing: random (file, offset, length) reads through our mount and through
// `gocryptfs -reverse` on the same source and config must return the same bytes. Most reads use
// O_DIRECT, so the kernel hands each request to the servers as it is (unaligned offsets and
// lengths, block and header edges, past end of file); the rest go through the page cache as
// ordinary reads do. The kernel completes a short O_DIRECT reply through the page cache, which
// would hide a server that returns too few bytes, so every read that reaches a server is also
// made on a ReverseView in this process, whose byte count nothing tops up.
// FUZZ_SEED=<n> replays a run, FUZZ_READS=<n> changes its length.
import t from 'tap'
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, truncateSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { parseConfig } from '../src/format/config.js'
import { settingsFromConfig } from '../src/format/settings.js'
import { CIPHER_BLOCK, HEADER_LEN } from '../src/format/sizes.js'
import { ReverseView } from '../src/view/reverse.js'
import { processGone } from './lib/mounts.js'
import { Prng, seedFrom } from './lib/prng.js'
import { initSource, listTree, mountDir, mountGocryptfs, mountOurs, scratchDir } from './lib/reverse-mounts.js'

const SEED = seedFrom('FUZZ_SEED')
const READS = Number(process.env.FUZZ_READS ?? 100_000)
const MiB = 1 << 20
const SIZES = [0, 1, 15, 16, 17, 4095, 4096, 4097, 8191, 8192, 8193, 131071, 131072, 131073, MiB, MiB + 4129, 3 * MiB + 17, 5 * MiB - 1]
const MAX_LEN = 300_000

/** The source tree: every size class, a sparse file, a subdirectory and a hashed long name. */
function makeTree(src: string, rng: Prng): void {
  for (const size of SIZES) writeFileSync(path.join(src, `size-${size}`), rng.bytes(size))
  const sparse = path.join(src, 'sparse')
  writeFileSync(sparse, rng.bytes(5000))
  truncateSync(sparse, 2 * MiB + 3)
  mkdirSync(path.join(src, 'sub', 'deeper'), { recursive: true })
  writeFileSync(path.join(src, 'sub', 'deeper', 'inner'), rng.bytes(70_000))
  writeFileSync(path.join(src, 'sub', 'L'.repeat(200)), rng.bytes(5000))
}

/** Every regular file below root (virtual ones included), relative. */
function regularFiles(root: string, rel = ''): string[] {
  const out: string[] = []
  for (const name of readdirSync(path.join(root, rel)).sort()) {
    const r = path.join(rel, name)
    const st = lstatSync(path.join(root, r))
    if (st.isDirectory()) out.push(...regularFiles(root, r))
    else if (st.isFile()) out.push(r)
  }
  return out
}

interface Target {
  rel: string
  size: number
  /** [ours, gocryptfs] for O_DIRECT and for page-cache reads. */
  direct: [number, number]
  cached: [number, number]
  /** Handle of the in-process view. */
  handle: number
}

function openBoth(ours: string, theirs: string, rel: string, flags: number): [number, number] {
  return [openSync(path.join(ours, rel), flags), openSync(path.join(theirs, rel), flags)]
}

function randomLength(rng: Prng): number {
  const r = rng.float()
  if (r < 0.05) return 0
  if (r < 0.1) return 1
  if (r < 0.2) return rng.range(2, 64)
  if (r < 0.55) return rng.range(4095, 4129)
  if (r < 0.6) return rng.pick([131071, 131072, 131073])
  if (r < 0.63) return rng.range(131074, MAX_LEN)
  if (r < 0.7) return rng.range(8190, 8260)
  return rng.range(1, 16384)
}

function randomOffset(rng: Prng, size: number): number {
  const r = rng.float()
  let pos: number
  if (r < 0.25) pos = rng.int(size + 1)
  else if (r < 0.55) pos = HEADER_LEN + rng.int(Math.ceil(size / CIPHER_BLOCK) + 1) * CIPHER_BLOCK + rng.range(-40, 40)
  else if (r < 0.65) pos = rng.int(64)
  else if (r < 0.75) pos = size - rng.int(5000)
  else if (r < 0.85) pos = size + rng.int(MiB)
  else if (r < 0.9) pos = rng.pick([2 ** 31 - 1, 2 ** 31, 2 ** 32 + 5, 2 ** 40, 2 ** 52]) + rng.range(-10, 10)
  else pos = rng.int(Math.floor(size / 4096) + 1) * 4096
  return Math.max(0, pos)
}

t.test(`${READS} random reads give the same bytes as gocryptfs -reverse (seed ${SEED})`, async (t) => {
  t.comment(`FUZZ_SEED=${SEED}`)
  const dir = scratchDir(t, 'tsreverse-fuzz-')
  const source = initSource(t, dir, { empty: true })
  const rng = new Prng(SEED)
  makeTree(source.src, rng)
  const flags = ['-passfile', source.passfile, source.src]
  const ours = mountOurs(t, [...flags, mountDir(dir, 'ours')])
  const theirs = mountGocryptfs(t, ['-reverse', ...flags, mountDir(dir, 'theirs')])
  t.same(listTree(ours.mnt, { hash: true }), listTree(theirs.mnt, { hash: true }), 'whole files and listings agree')

  const confPath = path.join(source.src, '.gocryptfs.reverse.conf')
  const view = await ReverseView.create({
    source: source.src,
    settings: settingsFromConfig(parseConfig(readFileSync(confPath, 'utf8'), confPath)),
    masterKey: source.masterKey,
  })
  const targets: Target[] = []
  for (const rel of regularFiles(ours.mnt)) {
    targets.push({
      rel,
      size: lstatSync(path.join(ours.mnt, rel)).size,
      direct: openBoth(ours.mnt, theirs.mnt, rel, constants.O_RDONLY | constants.O_DIRECT),
      cached: openBoth(ours.mnt, theirs.mnt, rel, constants.O_RDONLY),
      handle: await view.open('/' + rel),
    })
  }
  t.teardown(async () => {
    targets.forEach((f) => [...f.direct, ...f.cached].forEach((fd) => closeSync(fd)))
    await Promise.all(targets.map((f) => view.release(f.handle)))
  })
  // Larger files get most reads: a 35-byte file has few interesting offsets.
  const large = targets.filter((f) => f.size > CIPHER_BLOCK)
  t.ok(targets.some((f) => f.rel.endsWith('.name')) && targets.some((f) => f.rel.endsWith('gocryptfs.diriv')), 'virtual files are among the targets')
  for (const f of targets) t.equal(fstatSync(f.direct[1]).size, f.size, `${f.rel}: same size in both views`)

  const a = Buffer.alloc(MAX_LEN)
  const b = Buffer.alloc(MAX_LEN)
  const c = Buffer.alloc(MAX_LEN)
  const counts = { direct: 0, cached: 0, pastEof: 0, empty: 0, reopened: 0, bytes: 0 }
  const failures: string[] = []
  const started = Date.now()
  for (let i = 0; i < READS && failures.length < 5; i++) {
    if (i > 0 && i % 2500 === 0) {
      // Fresh opens: exercises open/release and drops the page cache of that file.
      const f = rng.pick(targets)
      ;[...f.direct, ...f.cached].forEach((fd) => closeSync(fd))
      f.direct = openBoth(ours.mnt, theirs.mnt, f.rel, constants.O_RDONLY | constants.O_DIRECT)
      f.cached = openBoth(ours.mnt, theirs.mnt, f.rel, constants.O_RDONLY)
      counts.reopened++
    }
    const f = rng.pick(rng.float() < 0.7 ? large : targets)
    const direct = rng.float() < 0.75
    const [fa, fb] = direct ? f.direct : f.cached
    const pos = randomOffset(rng, f.size)
    const len = randomLength(rng)
    const what = () => `read #${i} ${f.rel} (${f.size} bytes) ${direct ? 'O_DIRECT' : 'cached'} pos ${pos} len ${len}`
    let na: number
    let nb: number
    let nc: number
    try {
      na = readSync(fa, a, 0, len, pos)
      nb = readSync(fb, b, 0, len, pos)
      // The kernel sends no read at or past the size it knows (gocryptfs would serve header
      // bytes of an empty file, and so does the view): only what reaches a server is compared.
      nc = pos < f.size ? await view.read(f.handle, c, len, pos) : 0
    } catch (e) {
      failures.push(`${what()}: ${(e as Error).message}`)
      continue
    }
    const expected = Math.max(0, Math.min(len, f.size - pos))
    if (na !== expected || nb !== expected || nc !== expected) {
      failures.push(`${what()}: got ${na} (mount), ${nc} (view) and ${nb} (gocryptfs) bytes, expected ${expected}`)
    } else if (a.compare(b, 0, nb, 0, na) !== 0 || c.compare(b, 0, nb, 0, nc) !== 0) {
      let k = 0
      while (a[k] === b[k] && c[k] === b[k]) k++
      failures.push(`${what()}: bytes differ from offset ${pos + k} (${a[k] === b[k] ? 'view' : 'mount'})`)
    }
    counts[direct ? 'direct' : 'cached']++
    if (len === 0) counts.empty++
    if (pos >= f.size) counts.pastEof++
    counts.bytes += na
  }
  const seconds = (Date.now() - started) / 1000
  t.same(failures, [], `no differences (replay with FUZZ_SEED=${SEED})`)
  t.equal(counts.direct + counts.cached, READS, 'every read was made')
  t.notOk(processGone(ours.pid), 'our daemon is still alive')
  t.comment(
    `fuzz-reads: seed ${SEED}, ${READS} reads over ${targets.length} files (${counts.direct} O_DIRECT, ${counts.cached} cached, ` +
      `${counts.pastEof} at or past EOF, ${counts.empty} of length 0, ${counts.reopened} reopens), ` +
      `${(counts.bytes / MiB).toFixed(1)} MiB compared, ${seconds.toFixed(1)} s`,
  )
})
