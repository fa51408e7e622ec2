// A racing mutator against the view's walk: two child processes swap SOURCE/a and SOURCE/b/d
// between the real directory and symlinks to a directory outside SOURCE and to an excluded one,
// as fast as rename(2) goes, while readers in this process walk, list and read through the
// mount and through an in-process ReverseView. The outside and excluded trees hold the same
// file names with their own marker plaintext. Every file read is decrypted here and must be
// exactly the inside file; no listing may show a name that exists only outside or behind the
// exclude. The daemon must survive without growing. RACE_SECONDS (default 20) sets the length,
// RACE_SEED seeds the readers' choices.
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdirSync, promises as fsp, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { createAesSiv } from '../src/format/aes-siv.js'
import { parseConfig } from '../src/format/config.js'
import { decryptFile } from '../src/format/content.js'
import { deriveKeys } from '../src/format/keys.js'
import { settingsFromConfig } from '../src/format/settings.js'
import { Excluder } from '../src/view/exclude.js'
import { ReverseView } from '../src/view/reverse.js'
import { fdCount, isMounted, libDir, processGone, status, waitFor } from './lib/mounts.js'
import { Prng, seedFrom } from './lib/prng.js'
import { initSource, mountDir, mountLogged, scratchDir, viewPath } from './lib/reverse-mounts.js'
import { unpacked } from './lib/listing.js'

const SECONDS = Number(process.env.RACE_SECONDS) || 20
const SEED = seedFrom('RACE_SEED')
const MAX_RSS_GROWTH_KB = 30 * 1024
// EINVAL: the kernel follows the view's symlink, whose readlink finds a directory again.
const ALLOWED_ERRORS = new Set(['ENOENT', 'ENOTDIR', 'ELOOP', 'EINVAL'])
// Through the mount also EIO: libfuse's path API keeps one node per path, and the kernel marks
// a node bad when its type changes (directory, then symlink) while it holds it.
const ALLOWED_MOUNT_ERRORS = new Set([...ALLOWED_ERRORS, 'EIO'])
const FILES = ['f0', 'f1', 'f2']
const rng = new Prng(SEED)
t.comment(`RACE_SEED=${SEED} RACE_SECONDS=${SECONDS}`)

const work = scratchDir(t)
const { src, passfile, masterKey } = initSource(t, work, { empty: true })
const outside = path.join(work, 'outside')
const secret = path.join(src, 'secret')

/** Files `FILES` in root/dir and root/dir/d, plus one only this tree has; returns inside's contents by path. */
function fill(root: string, marker: string, dirs: string[]): Map<string, Buffer> {
  const contents = new Map<string, Buffer>()
  for (const dir of dirs) {
    mkdirSync(path.join(root, dir), { recursive: true })
    for (const [i, name] of [...FILES, `only-${marker}`].entries()) {
      const rel = path.join(dir, name)
      const data = Buffer.from(`${marker} ${rel} `.repeat(Math.ceil((9000 + 1000 * i) / (marker.length + rel.length + 2))))
      writeFileSync(path.join(root, rel), data)
      contents.set(rel, data)
    }
  }
  return contents
}
const inside = fill(src, 'inside', ['a', 'a/d', 'b/d'])
fill(outside, 'outside', ['.', 'd'])
fill(secret, 'secret', ['.', 'd'])

const view = (rel: string): string => viewPath(masterKey, rel.split('/')).join('/')
const files = [...inside.keys()].map((rel) => ({ rel, vp: view(rel), plain: inside.get(rel)! }))
const listed = ['a', 'a/d', 'b/d'].map((rel) => ({
  vp: view(rel),
  allowed: new Set(['gocryptfs.diriv', ...[...inside.keys(), `${rel}/d`].filter((p) => path.dirname(p) === rel).map((p) => path.basename(view(p)))]),
  forbidden: new Set(['outside', 'secret'].map((who) => path.basename(view(`${rel}/only-${who}`)))),
}))

const siv = createAesSiv(deriveKeys(masterKey, { hkdf: true }).siv)
const confPath = path.join(src, '.gocryptfs.reverse.conf')
const inProcess = await ReverseView.create({
  source: src,
  settings: settingsFromConfig(parseConfig(readFileSync(confPath, 'utf8'), confPath)),
  masterKey,
  exclude: Excluder.fromOptions({ exclude: ['secret'], excludeWildcard: [], excludeFrom: [] }),
})
const mounted = await mountLogged(t, ['-exclude', 'secret', '-passfile', passfile, src, mountDir(work, 'mnt')])

interface Tally {
  reads: number
  listings: number
  errors: Map<string, number>
  failures: string[]
}
const tally: Tally = { reads: 0, listings: 0, errors: new Map(), failures: [] }

function fail(what: string): void {
  if (tally.failures.length < 20) tally.failures.push(what)
}

function checkFile(where: string, f: (typeof files)[number], bytes: Buffer): void {
  tally.reads++
  let plain: Buffer
  try {
    plain = decryptFile(siv, bytes)
  } catch (e) {
    return fail(`${where} ${f.rel}: ${bytes.length} bytes that do not decrypt (${(e as Error).message})`)
  }
  if (plain.equals(f.plain)) return
  const marker = ['outside', 'secret'].find((m) => plain.includes(Buffer.from(`${m} `)))
  fail(`${where} ${f.rel}: got ${marker ? `the ${marker} file` : `${plain.length} other bytes`}`)
}

function checkListing(where: string, l: (typeof listed)[number], names: string[]): void {
  tally.listings++
  for (const n of names) {
    if (l.forbidden.has(n)) fail(`${where} listing of ${l.vp} shows a name that exists only outside or behind the exclude`)
    else if (!l.allowed.has(n)) fail(`${where} listing of ${l.vp} shows an unknown name ${n}`)
  }
}

function failed(where: string, e: unknown): void {
  const code = (e as NodeJS.ErrnoException).code ?? String(e)
  const key = `${where.split(' ')[0]} ${code}`
  tally.errors.set(key, (tally.errors.get(key) ?? 0) + 1)
  const allowed = where.startsWith('mount') ? ALLOWED_MOUNT_ERRORS : ALLOWED_ERRORS
  if (!allowed.has(code)) fail(`${where}: ${code} ${(e as Error).message}`)
}

async function readInProcess(vp: string): Promise<Buffer> {
  const h = await inProcess.open(`/${vp}`)
  try {
    const buf = Buffer.alloc(64 * 1024)
    return buf.subarray(0, await inProcess.read(h, buf, buf.length, 0))
  } finally {
    await inProcess.release(h)
  }
}

/** One reader: random reads and listings until `running` says stop. */
async function reader(where: 'mount' | 'in-process', running: () => boolean): Promise<void> {
  while (running()) {
    // The in-process view answers from this thread (its syscalls are inline for a local
    // source) without ever waiting for the event loop: let the swappers' ends get through.
    await new Promise((resolve) => setImmediate(resolve))
    if (rng.int(10) < 7) {
      const f = rng.pick(files)
      await (where === 'mount' ? fsp.readFile(path.join(mounted.mnt, f.vp)) : readInProcess(f.vp)).then(
        (bytes) => checkFile(where, f, bytes),
        (e) => failed(`${where} read ${f.rel}`, e),
      )
    } else {
      const l = rng.pick(listed)
      await (where === 'mount' ? fsp.readdir(path.join(mounted.mnt, l.vp)) : inProcess.readdir(`/${l.vp}`).then((d) => unpacked(d).names)).then(
        (names) => checkListing(where, l, names),
        (e) => failed(`${where} readdir ${l.vp}`, e),
      )
    }
  }
}

function swapper(dir: string, ...targets: string[]): Promise<number> {
  const child = spawn(process.execPath, [path.join(libDir, 'swapper.js'), dir, String(SECONDS), ...targets], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s))
  return new Promise((resolve, reject) => child.on('close', (code) => (code === 0 ? resolve(Number(out)) : reject(new Error(`swapper ${dir} exited ${code}`)))))
}

t.test(`${SECONDS} s of symlink swaps under readers`, async (t) => {
  // Warm-up, so the baseline is not a fresh daemon's heap.
  let warm = 0
  await reader('mount', () => warm++ < 300)
  t.same(tally.failures, [], 'before the race the view reads')
  const rssBefore = status(mounted.pid, 'VmRSS')
  const fdsBefore = fdCount(mounted.pid)
  const logBefore = mounted.log().split('\n').length
  const before = { reads: tally.reads, listings: tally.listings }

  let racing = true
  const swaps = Promise.all([
    swapper(path.join(src, 'a'), outside, secret),
    swapper(path.join(src, 'b/d'), path.join(outside, 'd'), path.join(secret, 'd')),
  ]).finally(() => (racing = false))
  const readers = [1, 2, 3].map(() => reader('mount', () => racing))
  readers.push(...[1, 2].map(() => reader('in-process', () => racing)))
  const [[swapsA, swapsBD]] = await Promise.all([swaps, ...readers])

  const rssAfter = status(mounted.pid, 'VmRSS')
  const errors = [...tally.errors]
    .sort()
    .map(([key, n]) => `${key} ${n}`)
    .join(', ')
  t.comment(
    `swaps: a ${swapsA}, b/d ${swapsBD}; reads checked ${tally.reads - before.reads}, listings ${tally.listings - before.listings}; ` +
      `errors: ${errors || 'none'}; VmRSS ${rssBefore} -> ${rssAfter} kB; log lines ${mounted.log().split('\n').length - logBefore}`,
  )
  t.same(tally.failures, [], 'no read gave other bytes, no listing another name, no unexpected error')
  if (tally.failures.length > 0) t.comment(`daemon log:\n${mounted.log().split('\n').slice(-10).join('\n')}`)
  t.ok(swapsA! > 1000 && swapsBD! > 1000, 'thousands of swaps each')
  t.ok(tally.reads - before.reads > 50 * SECONDS, 'reads got through and were checked')
  t.notOk(processGone(mounted.pid), 'the same daemon still serves')
  t.ok(isMounted(mounted.mnt))
  t.ok(rssAfter - rssBefore < MAX_RSS_GROWTH_KB, `VmRSS grew by ${rssAfter - rssBefore} kB`)
  t.ok(fdCount(mounted.pid) <= fdsBefore, `no file descriptors leaked (${fdsBefore} before, ${fdCount(mounted.pid)} after)`)

  // Afterwards the tree is whole again and reads as before, once the kernel forgets the misses.
  tally.failures.length = 0
  for (const f of files) {
    const p = path.join(mounted.mnt, f.vp)
    await waitFor(`${f.rel} to reappear`, () =>
      fsp.access(p).then(
        () => true,
        () => false,
      ),
    )
    checkFile('after the race', f, await fsp.readFile(p))
  }
  t.same(tally.failures, [], 'every file reads as before')
})
