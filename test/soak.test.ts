// Soak: for TSREVERSE_SOAK_SECONDS (default 600) one daemon serves a source that a seeded mutator
// keeps changing (create, append, rewrite, truncate, rename, delete, for files, directories and
// symlinks), while `rsync -a --delete` pulls the view again and again. Each pull must end
// (PULL_LIMIT_MS, else it hangs) with 0, 24 (files vanished) or 23, every complaint explained
// by the moving source; the daemon keeps its PID; its VmRSS, sampled after each pull, must
// level off.
// Then the mutator stops, one more pull must exit 0, and the copy, decrypted by gocryptfs,
// must equal the final source byte for byte.
import { spawn } from 'node:child_process'
import {
  appendFileSync,
  mkdirSync,
  openSync,
  closeSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { startServer, within } from './lib/fault-processes.js'
import { waitFor } from './lib/mounts.js'
import { Prng, seedFrom } from './lib/prng.js'
import { DEFAULT_FDS as DIR_FDS_KEPT } from '../src/view/source-tree.js'
import { diffTrees, initSource, listTree, mountDir, mountGocryptfs, scratchDir } from './lib/reverse-mounts.js'

const SECONDS = Number(process.env.TSREVERSE_SOAK_SECONDS ?? 600)
const seed = seedFrom('SOAK_SEED')
t.comment(`SOAK_SEED=${seed} TSREVERSE_SOAK_SECONDS=${SECONDS}`)
const prng = new Prng(seed)
/** A pull of this tree takes seconds; one that takes minutes hangs. */
const PULL_LIMIT_MS = 300_000
/** The mutator pauses this long between changes, so pulls see a tree in motion but not a blur. */
const MUTATION_PAUSE_MS = 25
/** Above this many source bytes the mutator deletes more than it creates. */
const BUDGET = 96 << 20
/** How far the median RSS of the last quarter of the pulls may rise over the first quarter's. */
const RSS_MARGIN_KB = 48 * 1024
/** What the daemon may hold right after any pull: docs/reliability.md. */
const RSS_BOUND_KB = 256 * 1024
/**
 * What rsync may complain about while the source moves: entries that vanished between listing
 * and opening, and files that shrank while read (rsync pads them with zeros, reports ENODATA
 * and sends them again next time). Plus the summary lines these lead to.
 */
const EXPLAINED = [
  /No such file or directory \(2\)$/,
  /^(file|directory) has vanished: /,
  // Changed again while rsync re-sent it after a checksum mismatch.
  /^ERROR: .* failed verification -- update discarded\.$/,
  /^rsync: \[sender\] read errors mapping ".*": No data available \(61\)$/,
  /^rsync warning: some files vanished before they could be transferred \(code 24\)/,
  /^rsync error: some files\/attrs were not transferred \(see previous errors\) \(code 23\)/,
]
/** The kernel keeps attributes and entries this long (attr_timeout, entry_timeout: 1 s). */
const KERNEL_CACHE_MS = 1000
/**
 * rsync's quick check compares mtimes in whole seconds by default, so a same-size change in
 * the second of an earlier pull would stay unseen (measured with rsync 3.5.0 on plain
 * directories); -1 compares them exactly.
 */
const PULL_FLAGS = ['-a', '--delete', '--modify-window=-1']

// ---- the mutator: a model of the tree under src/data, changed through the real filesystem ----

class Mutator {
  readonly files = new Map<string, number>() // relative path -> size
  readonly dirs: string[] = ['']
  readonly links: string[] = []
  readonly counts: Record<string, number> = {}
  bytes = 0
  #serial = 0

  constructor(readonly root: string) {}

  abs = (rel: string): string => path.join(this.root, rel)

  #name(): string {
    return `n${this.#serial++}-${prng.bytes(3).toString('hex')}`
  }

  #size(): number {
    const r = prng.float()
    return r < 0.6 ? prng.int(16 << 10) : r < 0.9 ? prng.int(512 << 10) : prng.int(4 << 20)
  }

  #setSize(rel: string, size: number): void {
    this.bytes += size - (this.files.get(rel) ?? 0)
    this.files.set(rel, size)
  }

  #inDir(rel: string, removed: string): boolean {
    return rel === removed || rel.startsWith(removed + '/')
  }

  /** Drops everything at or below rel from the model. */
  #forget(rel: string): void {
    for (const [f, size] of this.files) if (this.#inDir(f, rel)) (this.files.delete(f), (this.bytes -= size))
    for (let i = this.dirs.length - 1; i >= 0; i--) if (this.#inDir(this.dirs[i]!, rel)) this.dirs.splice(i, 1)
    for (let i = this.links.length - 1; i >= 0; i--) if (this.#inDir(this.links[i]!, rel)) this.links.splice(i, 1)
  }

  /** Moves everything at or below from to to in the model. */
  #move(from: string, to: string): void {
    const re = (p: string): string => to + p.slice(from.length)
    for (const [f, size] of [...this.files]) if (this.#inDir(f, from)) (this.files.delete(f), this.files.set(re(f), size))
    for (let i = 0; i < this.dirs.length; i++) if (this.#inDir(this.dirs[i]!, from)) this.dirs[i] = re(this.dirs[i]!)
    for (let i = 0; i < this.links.length; i++) if (this.#inDir(this.links[i]!, from)) this.links[i] = re(this.links[i]!)
  }

  #anyFile(): string | undefined {
    if (this.files.size === 0) return undefined
    return [...this.files.keys()][prng.int(this.files.size)]
  }

  create(): void {
    const rel = path.join(prng.pick(this.dirs), this.#name())
    const size = this.#size()
    writeFileSync(this.abs(rel), prng.bytes(size))
    this.#setSize(rel, size)
  }

  step(): void {
    const over = this.bytes > BUDGET
    const r = prng.float()
    const op =
      r < (over ? 0.05 : 0.25)
        ? 'create'
        : r < 0.4
          ? 'append'
          : r < 0.52
            ? 'rewrite'
            : r < 0.58
              ? 'overwrite'
              : r < 0.62
                ? 'truncate'
                : r < 0.72
                  ? 'rename'
                  : r < (over ? 0.92 : 0.8)
                    ? 'delete'
                    : r < 0.86
                      ? 'mkdir'
                      : r < 0.9
                        ? 'renamedir'
                        : r < 0.93
                          ? 'rmdir'
                          : r < 0.97
                            ? 'symlink'
                            : 'unlink'
    const file = this.#anyFile()
    switch (op) {
      case 'create':
        this.create()
        break
      case 'append': {
        if (!file) return this.create()
        const n = prng.range(1, 200 << 10)
        appendFileSync(this.abs(file), prng.bytes(n))
        this.#setSize(file, this.files.get(file)! + n)
        break
      }
      case 'rewrite': {
        if (!file) return this.create()
        const size = this.#size()
        writeFileSync(this.abs(file), prng.bytes(size))
        this.#setSize(file, size)
        break
      }
      case 'overwrite': {
        // Same size, new bytes in the middle: only the mtime tells rsync.
        if (!file) return this.create()
        const size = this.files.get(file)!
        const at = prng.int(size + 1)
        const n = Math.min(prng.range(1, 64 << 10), size - at)
        const fd = openSync(this.abs(file), 'r+')
        writeSync(fd, prng.bytes(n), 0, n, at)
        closeSync(fd)
        break
      }
      case 'truncate': {
        if (!file) return this.create()
        const size = prng.int((this.files.get(file)! + 1) * 2)
        truncateSync(this.abs(file), size)
        this.#setSize(file, size)
        break
      }
      case 'rename': {
        if (!file) return this.create()
        const to = path.join(prng.pick(this.dirs), this.#name())
        renameSync(this.abs(file), this.abs(to))
        this.#move(file, to)
        break
      }
      case 'delete':
        if (!file) return this.create()
        rmSync(this.abs(file))
        this.#forget(file)
        break
      case 'mkdir': {
        const rel = path.join(prng.pick(this.dirs), this.#name())
        mkdirSync(this.abs(rel))
        this.dirs.push(rel)
        break
      }
      case 'renamedir': {
        const from = prng.pick(this.dirs)
        if (from === '') return
        // Into a directory that is not below itself.
        const parents = this.dirs.filter((d) => !this.#inDir(d, from))
        const to = path.join(prng.pick(parents), this.#name())
        renameSync(this.abs(from), this.abs(to))
        this.#move(from, to)
        break
      }
      case 'rmdir': {
        // Small ones only, or one draw could empty the tree.
        const rel = prng.pick(this.dirs)
        if (rel === '' || [...this.files.keys()].filter((f) => this.#inDir(f, rel)).length > 5) return
        rmSync(this.abs(rel), { recursive: true })
        this.#forget(rel)
        break
      }
      case 'symlink': {
        const rel = path.join(prng.pick(this.dirs), this.#name())
        symlinkSync(file ? path.relative(path.dirname(this.abs(rel)), this.abs(file)) : 'dangling', this.abs(rel))
        this.links.push(rel)
        break
      }
      case 'unlink': {
        if (this.links.length === 0) return
        const rel = this.links.splice(prng.int(this.links.length), 1)[0]!
        rmSync(this.abs(rel))
        break
      }
    }
    this.counts[op] = (this.counts[op] ?? 0) + 1
  }
}

// ---- pulls ----

interface Pull {
  code: number | null
  signal: NodeJS.Signals | null
  stderr: string
}

function pull(from: string, to: string): Promise<Pull> {
  return new Promise((resolve) => {
    const child = spawn('rsync', [...PULL_FLAGS, from + '/', to + '/'], { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s))
    const timer = setTimeout(() => child.kill('SIGKILL'), PULL_LIMIT_MS)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stderr })
    })
  })
}

/** rsync's complaints that a moving source does not explain. */
const unexplained = (stderr: string): string[] => stderr.split('\n').filter((l) => l !== '' && !EXPLAINED.some((re) => re.test(l)))

const openFds = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length

function rssKb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  if (!m) throw new Error(`no VmRSS for ${pid}`)
  return Number(m[1])
}

const max = (xs: number[]): number => Math.max(...xs)
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!

t.test(`soak: ${SECONDS} s of rsync pulls while the source changes`, async (t) => {
  const dir = scratchDir(t, 'tsreverse-soak-')
  const { src, passfile } = initSource(t, dir, { empty: true })
  const data = path.join(src, 'data')
  mkdirSync(data)
  const mutator = new Mutator(data)
  for (let i = 0; i < 600; i++) mutator.step()
  const server = await startServer(t, src, passfile, mountDir(dir, 'mnt'))
  const copy = mountDir(dir, 'copy')

  let running = true
  const mutations = (async () => {
    while (running) {
      mutator.step()
      await new Promise((r) => setTimeout(r, MUTATION_PAUSE_MS))
    }
  })()

  const codes: Record<string, number> = {}
  const rss: number[] = []
  const fds: number[] = []
  const complaints: string[] = []
  const seconds: number[] = []
  const end = Date.now() + SECONDS * 1000
  while (Date.now() < end) {
    const started = Date.now()
    const p = await within('a pull', pull(server.mnt, copy), PULL_LIMIT_MS + 10_000)
    seconds.push((Date.now() - started) / 1000)
    codes[String(p.code ?? p.signal)] = (codes[String(p.code ?? p.signal)] ?? 0) + 1
    if (p.code !== 0 && p.code !== 24 && p.code !== 23) t.fail(`rsync exit ${p.code ?? p.signal}: ${p.stderr}`)
    complaints.push(...unexplained(p.stderr))
    if (!server.alive()) break
    rss.push(rssKb(server.pid))
    fds.push(openFds(server.pid))
  }
  running = false
  await mutations

  const total = Object.values(mutator.counts).reduce((a, b) => a + b, 0)
  const sorted = [...seconds].sort((a, b) => a - b)
  t.comment(
    `pulls ${rss.length}, rsync exit codes ${JSON.stringify(codes)}, seconds per pull min ${sorted[0]} median ${sorted[sorted.length >> 1]} max ${sorted[sorted.length - 1]}`,
  )
  t.comment(`mutations ${total}: ${JSON.stringify(mutator.counts)}`)
  t.comment(
    `final source: ${mutator.files.size} files, ${(mutator.bytes / 2 ** 20).toFixed(1)} MiB, ${mutator.dirs.length} directories, ${mutator.links.length} symlinks`,
  )
  t.ok(server.alive(), `the daemon (PID ${server.pid}) is still serving`)
  t.same(complaints, [], 'every rsync complaint is explained by the moving source')
  t.ok(rss.length >= 8, `enough pulls to judge memory (${rss.length})`)

  // A leak raises every later sample; one pull that ends while large reads are in flight
  // raises one. So the quarters' medians must agree, and every sample stays under a bound.
  const q = Math.max(1, Math.floor(rss.length / 4))
  const first = median(rss.slice(0, q))
  const last = median(rss.slice(-q))
  const mb = (kb: number): string => (kb / 1024).toFixed(1)
  t.comment(`VmRSS MiB: min ${mb(Math.min(...rss))}, max ${mb(max(rss))}, first-quarter median ${mb(first)}, last-quarter median ${mb(last)}`)
  const tenth = Math.max(1, Math.floor(rss.length / 10))
  const tenths = Array.from({ length: Math.ceil(rss.length / tenth) }, (_, i) => mb(max(rss.slice(i * tenth, (i + 1) * tenth))))
  t.comment(`VmRSS max per tenth of the run, MiB: ${tenths.join(' ')}`)
  t.ok(last <= first + RSS_MARGIN_KB, `RSS levels off (last quarter median <= first quarter median + ${mb(RSS_MARGIN_KB)} MiB)`)
  t.ok(max(rss) <= RSS_BOUND_KB, `RSS stays bounded (every sample <= ${mb(RSS_BOUND_KB)} MiB)`)
  t.comment(`open descriptors of the daemon after each pull: ${Math.min(...fds)}-${max(fds)}`)

  // A change in the last second may still be hidden by the kernel's caches: let them expire,
  // as they have long before any real backup's next pull.
  await new Promise((r) => setTimeout(r, 2 * KERNEL_CACHE_MS))
  const final = await within('the final pull', pull(server.mnt, copy), PULL_LIMIT_MS + 10_000)
  t.equal(final.code, 0, `the final pull is clean ${final.stderr}`)
  // The kernel sends release after close returns: give it a moment before counting.
  // Counted against the first pull's (startup leaves a few descriptors that close later), plus
  // the directory descriptors the source walk keeps (a bounded cache, filled as pulls go on).
  const fdLimit = fds[0]! + DIR_FDS_KEPT
  await waitFor('the daemon to close what the pulls opened', () => openFds(server.pid) <= fdLimit, 5000).catch(() => {})
  t.ok(
    openFds(server.pid) <= fdLimit,
    `the daemon holds no more descriptors than after the first pull plus the ${DIR_FDS_KEPT} directories it keeps (${fdLimit})`,
  )
  const plain = mountDir(dir, 'plain')
  mountGocryptfs(t, ['-ro', '-passfile', passfile, copy, plain])
  const notInView = ['-x', '.gocryptfs.reverse.conf']
  t.equal(diffTrees(src, plain, notInView), '', 'the copy decrypts to the final source (diff -r --no-dereference)')
  const skip = new Set(['.gocryptfs.reverse.conf'])
  t.same(listTree(plain, { mtime: true }), listTree(src, { mtime: true, skip }), 'names, types, modes, sizes and mtimes too')
})
