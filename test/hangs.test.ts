// Source paths that hang, against real mounts of our daemon: the view bound into its own source
// (each request through the bind is a request to the daemon itself), a forward mount of a copy
// of the view under the source, and a FUSE mount under the source whose server is stopped.
// Requests that do not touch the hung path must answer meanwhile, and SIGTERM must unmount.
// Everything that may hang runs in a child process (a syscall stuck in the kernel cannot be
// interrupted in this one); a server that outlives SIGKILL has its connection aborted.
import { mkdirSync, readdirSync, truncateSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { ExitCode } from '../src/exitcodes.js'
import { plainToCipherSize } from '../src/format/sizes.js'
import { answer, pendingAfter, startReader, startServer, within, type ProbeResult, type Server } from './lib/fault-processes.js'
import { isMounted } from './lib/mounts.js'
import { Prng, seedFrom } from './lib/prng.js'
import { initSource, mountDir, mountGocryptfs, run, scratchDir, viewPath as viewNames, type Source } from './lib/reverse-mounts.js'

const seed = seedFrom('HANGS_SEED')
t.comment(`HANGS_SEED=${seed}`)
const prng = new Prng(seed)

/** More than the native pool's 4 base threads. */
const HUNG_READERS = 12
/** Past the kernel's attribute cache (1 s), so a stat reaches the server again. */
const ATTR_EXPIRY_MS = 1500
/** How long a hung request is watched to stay hung. */
const STAYS_MS = 1000

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Files that do not touch the hung paths: big ones are not read at open, small ones are. */
function unrelatedFiles(src: string): string[] {
  const files = ['big-0', 'big-1', 'small-0', 'small-1']
  for (const f of files) writeFileSync(path.join(src, f), prng.bytes(f.startsWith('big') ? 300_000 + prng.int(10_000) : 100 + prng.int(1000)))
  mkdirSync(path.join(src, 'd', 'e'), { recursive: true })
  writeFileSync(path.join(src, 'd', 'e', 'f'), 'deep\n')
  return files
}

const viewPath = (s: Source, plain: string[]): string[] => viewNames(s.masterKey, plain)
const view = (s: Source, mnt: string, ...plain: string[]): string => path.join(mnt, ...viewPath(s, plain))

/** `find DIR` with type, size and name of each entry, and SHA-256 of every file, sorted: run in a child. */
const treeArgv = (dir: string): string[] => [
  'sh',
  '-c',
  'cd "$1" && find . -printf "%y %s %p\\n" | sort && find . -type f -exec sha256sum {} + | sort',
  'tree',
  dir,
]

/** Listings and reads that must answer while something else hangs; each compared with gocryptfs. */
async function othersAnswer(t: Test, s: Source, server: Server, ref: string, files: string[]): Promise<void> {
  const at = (mnt: string, ...plain: string[]): string => view(s, mnt, ...plain)
  const probes: [string, string[], string[]][] = [
    ['listing of the root', ['ls', '-la', '--time-style=+', server.mnt], ['ls', '-la', '--time-style=+', ref]],
    ['getattr of d/e/f', ['stat', '-c', '%s %a %F', at(server.mnt, 'd', 'e', 'f')], ['stat', '-c', '%s %a %F', at(ref, 'd', 'e', 'f')]],
    [
      'getattr of gocryptfs.conf',
      ['stat', '-c', '%s %a %F', path.join(server.mnt, 'gocryptfs.conf')],
      ['stat', '-c', '%s %a %F', path.join(ref, 'gocryptfs.conf')],
    ],
    ...files.map((f): [string, string[], string[]] => [`read of ${f}`, ['sha256sum', at(server.mnt, f)], ['sha256sum', at(ref, f)]]),
  ]
  const started = Date.now()
  const got = await Promise.all(probes.map(([, argv]) => answer(t, argv).catch((e: Error) => e)))
  t.comment(`${probes.length} unrelated requests answered in ${Date.now() - started} ms`)
  for (const [i, [what, , refArgv]] of probes.entries()) {
    const r = got[i]!
    if (r instanceof Error) {
      t.fail(`${what}: ${r.message}`)
      continue
    }
    const want = await answer(t, refArgv)
    const strip = (p: ProbeResult): string =>
      p.stdout
        .replaceAll(server.mnt, '')
        .replaceAll(ref, '')
        .replace(/^total \d+\n/, '')
    t.equal(strip(r), strip(want), `${what} answers, as gocryptfs does (exit ${r.code})`)
  }
}

/** SIGTERM: the daemon exits 15 within the bound and leaves no mount. */
async function sigtermUnmounts(t: Test, server: Server, what: string): Promise<void> {
  process.kill(server.pid, 'SIGTERM')
  const exit = await within(`the daemon to exit on SIGTERM ${what}`, server.exited).catch((e: Error) => e)
  if (exit instanceof Error) return void t.fail(exit.message)
  t.equal(exit.code, ExitCode.SigInt, `SIGTERM ${what}: the daemon exits 15`)
  t.notOk(isMounted(server.mnt), `SIGTERM ${what}: no mount left`)
}

t.test('the view bound into its own source answers, and SIGTERM unmounts it', async (t) => {
  const dir = scratchDir(t, 'tsreverse-hangs-jail-')
  const s = initSource(t, dir, { empty: true })
  const files = unrelatedFiles(s.src)
  const rootfs = path.join(s.src, 'jail', 'rootfs')
  mkdirSync(rootfs, { recursive: true })
  const ref = mountGocryptfs(t, ['-reverse', '-passfile', s.passfile, s.src, mountDir(dir, 'ref')])
  const server = await startServer(t, s.src, s.passfile, mountDir(dir, 'mnt'))

  const bind = run('mount', ['--bind', server.mnt, rootfs])
  t.equal(bind.status, 0, bind.stderr)
  t.teardown(() => void run('umount', ['-l', rootfs]))
  await sleep(ATTR_EXPIRY_MS)
  // gocryptfs reaches our view through the bind as well: its answers are the reference.
  const jail = (mnt: string): string => view(s, mnt, 'jail')
  const inside = (mnt: string): string => view(s, mnt, 'jail', 'rootfs')
  const twice = (mnt: string, f: string): string => path.join(inside(mnt), viewPath(s, ['jail', 'rootfs', viewPath(s, [f])[0]!])[2]!)
  const probes: [string, (mnt: string) => string[]][] = [
    ['ls -l of the jail', (mnt) => ['ls', '-l', '--time-style=+', jail(mnt)]],
    ['ls -la of jail/rootfs (the view itself)', (mnt) => ['ls', '-la', '--time-style=+', inside(mnt)]],
    ['a read through the bind', (mnt) => ['sha256sum', twice(mnt, 'big-0')]],
    ['the tree of jail/rootfs/d', (mnt) => treeArgv(path.join(inside(mnt), viewPath(s, ['jail', 'rootfs', viewPath(s, ['d'])[0]!])[2]!))],
  ]
  for (const [what, argv] of probes) {
    const r = await answer(t, argv(server.mnt)).catch((e: Error) => e)
    if (r instanceof Error) {
      t.fail(`${what}: ${r.message}`)
      continue
    }
    const want = await answer(t, argv(ref.mnt))
    const strip = (p: ProbeResult, mnt: string): string => p.stdout.replaceAll(mnt, 'MNT')
    t.equal(r.code, 0, `${what}: exit 0 ${r.stderr}`)
    t.equal(strip(r, server.mnt), strip(want, ref.mnt), `${what}: as gocryptfs`)
  }
  await othersAnswer(t, s, server, ref.mnt, files)
  await sigtermUnmounts(t, server, 'with the view bound into its source')
})

t.test('gocryptfs -reverse bound into its own source answers too', async (t) => {
  const dir = scratchDir(t, 'tsreverse-hangs-gojail-')
  const s = initSource(t, dir, { empty: true })
  unrelatedFiles(s.src)
  const rootfs = path.join(s.src, 'jail', 'rootfs')
  mkdirSync(rootfs, { recursive: true })
  const server = await startServer(t, s.src, s.passfile, mountDir(dir, 'mnt'), { gocryptfs: true })
  const bind = run('mount', ['--bind', server.mnt, rootfs])
  t.equal(bind.status, 0, bind.stderr)
  t.teardown(() => void run('umount', ['-l', rootfs]))
  await sleep(ATTR_EXPIRY_MS)
  const r = await answer(t, ['ls', '-l', view(s, server.mnt, 'jail')]).catch((e: Error) => e)
  t.comment(`gocryptfs: ls -l of the jail ${r instanceof Error ? r.message : `exit ${r.code}`}`)
  t.notOk(r instanceof Error, 'answers')
})

t.test('a forward mount of a copy of the view, under the source, lists through the view', async (t) => {
  const dir = scratchDir(t, 'tsreverse-hangs-check-')
  const s = initSource(t, dir, { empty: true })
  const files = unrelatedFiles(s.src)
  const check = path.join(s.src, 'check')
  mkdirSync(check)
  const ref = mountGocryptfs(t, ['-reverse', '-passfile', s.passfile, s.src, mountDir(dir, 'ref')])
  const server = await startServer(t, s.src, s.passfile, mountDir(dir, 'mnt'))
  const copy = path.join(dir, 'copy')
  const rsync = run('rsync', ['-a', server.mnt + '/', copy + '/'], { timeoutMs: 60_000 })
  t.equal(rsync.status, 0, rsync.stderr)
  const forward = await startServer(t, copy, s.passfile, check, { extra: ['-forward'] })
  t.same(readdirSync(check).sort(), ['big-0', 'big-1', 'check', 'd', 'small-0', 'small-1'], 'the forward mount shows the plaintext copy')
  await sleep(ATTR_EXPIRY_MS)

  const [ours, want] = await Promise.all([answer(t, treeArgv(view(s, server.mnt, 'check'))), answer(t, treeArgv(view(s, ref.mnt, 'check')))])
  t.equal(ours.code, 0, ours.stderr)
  t.ok(ours.stdout.split('\n').length > 10, 'a whole tree')
  t.equal(ours.stdout, want.stdout, 'the tree of check, with every file hashed, as gocryptfs shows it')
  await othersAnswer(t, s, server, ref.mnt, files)
  await sigtermUnmounts(t, forward, 'of the forward mount')
  await sigtermUnmounts(t, server, 'of the view')
})

interface HungSetup {
  s: Source
  files: string[]
  ref: string
  server: Server
  hung: Server
  /** The view path of the i-th file of the hung mount. */
  hungFile(i: number): string
}

/** A source with a FUSE mount at m/hung (our own daemon over a small tree), and our view of it. */
async function withHungMount(t: Test, name: string): Promise<HungSetup> {
  const dir = scratchDir(t, `tsreverse-hangs-${name}-`)
  const s = initSource(t, dir, { empty: true })
  const files = unrelatedFiles(s.src)
  const mountpoint = path.join(s.src, 'm', 'hung')
  mkdirSync(mountpoint, { recursive: true })
  const inner = initSource(t, mountDir(dir, 'inner'), { empty: true })
  for (let i = 0; i < HUNG_READERS; i++) writeFileSync(path.join(inner.src, `h-${i}`), '')
  for (let i = 0; i < HUNG_READERS; i++) truncateSync(path.join(inner.src, `h-${i}`), 1 << 20)
  const hung = await startServer(t, inner.src, inner.passfile, mountpoint)
  const ref = mountGocryptfs(t, ['-reverse', '-passfile', s.passfile, s.src, mountDir(dir, 'ref')]).mnt
  const server = await startServer(t, s.src, s.passfile, mountDir(dir, 'mnt'))
  const hungFile = (i: number): string => view(s, server.mnt, 'm', 'hung', viewPath(inner, [`h-${i}`])[0]!)
  return { s, files, ref, server, hung, hungFile }
}

/** Stops the inner server (continued on teardown, before it is killed) and lets its cached attributes expire. */
async function stopServer(t: Test, hung: Server): Promise<void> {
  process.kill(hung.pid, 'SIGSTOP')
  t.teardown(() => {
    if (hung.alive()) process.kill(hung.pid, 'SIGCONT')
  })
  await sleep(ATTR_EXPIRY_MS)
}

t.test('a stopped FUSE server under the source stalls only the requests that touch it', async (t) => {
  const { s, files, ref, server, hung, hungFile } = await withHungMount(t, 'stopped')
  await stopServer(t, hung)

  const first = startReader(t, hungFile(0))
  t.ok(await pendingAfter(first.done, STAYS_MS), 'a reader of a file in the stopped mount hangs')
  await othersAnswer(t, s, server, ref, files)
  t.ok(await pendingAfter(first.done, 0), 'and still hangs meanwhile')

  const more = Array.from({ length: HUNG_READERS - 1 }, (_, i) => startReader(t, hungFile(i + 1)))
  t.ok(await pendingAfter(Promise.race(more.map((r) => r.done)), STAYS_MS), `${HUNG_READERS} readers of the stopped mount hang`)
  await othersAnswer(t, s, server, ref, files)

  process.kill(hung.pid, 'SIGCONT')
  const results = await within('the hung readers to end once the server runs again', Promise.all([first, ...more].map((r) => r.done)))
  const size = plainToCipherSize(plainToCipherSize(1 << 20)) // encrypted by the inner mount, then by ours
  t.same(
    results.map((r) => (r.ok ? r.bytes : r.code)),
    Array(HUNG_READERS).fill(size),
    'each reads its whole file',
  )
  await sigtermUnmounts(t, server, 'after the hang')
})

t.test('SIGTERM unmounts while requests hang', async (t) => {
  const { server, hung, hungFile } = await withHungMount(t, 'sigterm')
  await stopServer(t, hung)
  const readers = Array.from({ length: HUNG_READERS }, (_, i) => startReader(t, hungFile(i)))
  t.ok(await pendingAfter(Promise.race(readers.map((r) => r.done)), STAYS_MS), 'the readers hang')
  await sigtermUnmounts(t, server, 'with hung requests')
  process.kill(hung.pid, 'SIGCONT')
  const results = await within('the hung readers to end', Promise.all(readers.map((r) => r.done)))
  t.ok(
    results.every((r) => !r.ok && ['ENOTCONN', 'ECONNABORTED', 'EIO', 'ENOENT'].includes(r.code)),
    `the cut-off readers fail cleanly: ${results.map((r) => (r.ok ? 'ok' : r.code))}`,
  )
})
