// Process faults against real mounts of our daemon, each run in the foreground as a child of
// this process so its exit code is seen: SIGTERM and SIGKILL while readers stream, an external
// `umount -l` while files are open, a descriptor limit of 64 with 100 files opened through the
// mount, and a filesystem under SRC that is unmounted mid-read. Bytes are checked against
// `gocryptfs -reverse` serving the same source. A fault that never settles fails the test after
// BOUND_MS instead of hanging it.
import { createHash } from 'node:crypto'
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, statfsSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { ExitCode } from '../src/exitcodes.js'
import { BOUND_MS, startReader, startServer, within, type ReadResult, type Server } from './lib/fault-processes.js'
import { isMounted, lstatCode, waitFor } from './lib/mounts.js'
import { Prng, seedFrom } from './lib/prng.js'
import {
  diffTrees,
  initSource,
  listTree,
  mountDir,
  mountGocryptfs,
  run,
  scratchDir,
  sha256Fd,
  sha256File,
  viewPath,
  type Source,
} from './lib/reverse-mounts.js'

const seed = seedFrom('FAULTS_SEED')
t.comment(`FAULTS_SEED=${seed}`)
const prng = new Prng(seed)

const HUGE = 2 ** 31 // sparse: readers cannot finish it while a fault is being made
const MID = 16 << 20
const MANY = 100
const READERS = 4
/** How a reader of a mount whose server went away may fail. */
const CUT_OFF = ['ENOTCONN', 'ECONNABORTED', 'EIO']

const dir = scratchDir(t, 'tsreverse-faults-')
const { src, passfile, masterKey } = initSource(t, dir, { empty: true })
for (let i = 0; i < READERS; i++) {
  writeFileSync(path.join(src, `huge-${i}`), '')
  truncateSync(path.join(src, `huge-${i}`), HUGE)
  writeFileSync(path.join(src, `mid-${i}`), prng.bytes(MID))
}
mkdirSync(path.join(src, 'many'))
// At least 128 KiB each: a smaller file is read whole at open and holds no descriptor.
for (let i = 0; i < MANY; i++) writeFileSync(path.join(src, 'many', `f${i}`), prng.bytes(128 * 1024 + prng.int(50_000)))

const inView = (mnt: string, ...plain: string[]): string => path.join(mnt, ...viewPath(masterKey, plain))

// The expected ciphertext, from gocryptfs: every mid file and every file of `many`.
const expected = new Map<string, string>()

let nextMnt = 0
const newMountpoint = (): string => mountDir(dir, `mnt-${nextMnt++}`)

{
  const g = mountGocryptfs(t, ['-reverse', '-passfile', passfile, src, newMountpoint()])
  for (let i = 0; i < READERS; i++) expected.set(`mid-${i}`, sha256File(inView(g.mnt, `mid-${i}`)))
  for (const name of readdirSync(inView(g.mnt, 'many'))) expected.set(`many/${name}`, sha256File(path.join(inView(g.mnt, 'many'), name)))
}

/** Every reader ends (within the bound); returns their results. */
function allEnd(readers: { done: Promise<ReadResult> }[]): Promise<ReadResult[]> {
  return within('the readers to end', Promise.all(readers.map((r) => r.done)))
}

/** Streams the huge files with READERS readers, then signals the server; what each side saw. */
async function signalDuringReads(t: Test, server: Server, signal: NodeJS.Signals): Promise<{ results: ReadResult[]; exit: Awaited<Server['exited']> }> {
  const readers = Array.from({ length: READERS }, (_, i) => startReader(t, inView(server.mnt, `huge-${i}`)))
  await within('the readers to start', Promise.all(readers.map((r) => r.started)))
  process.kill(server.pid, signal)
  const exit = await within(`the server to exit after ${signal}`, server.exited)
  const results = await allEnd(readers)
  return { results, exit }
}

t.test('SIGTERM during heavy reads: clean unmount, readers cut off, exit code as gocryptfs', async (t) => {
  for (const gocryptfs of [false, true]) {
    const name = gocryptfs ? 'gocryptfs' : 'tsreverse'
    const server = await startServer(t, src, passfile, newMountpoint(), { gocryptfs })
    const { results, exit } = await signalDuringReads(t, server, 'SIGTERM')
    const codes = results.map((r) => (r.ok ? `ok@${r.bytes}` : `${r.code}@${r.bytes}`))
    t.comment(`${name}: exit ${exit.code}, readers ${codes.join(' ')}`)
    t.notOk(isMounted(server.mnt), `${name}: no mount left`)
    t.equal(lstatCode(server.mnt), 'ok', `${name}: the mount point is a plain directory again`)
    t.ok(
      results.every((r) => !r.ok && CUT_OFF.includes(r.code)),
      `${name}: every reader got an error: ${codes}`,
    )
    if (gocryptfs) continue
    // gocryptfs means 15 too (its signal handler exits with SigInt), but its main goroutine
    // races it and sometimes exits 0 first once the unmount ends Serve (1 run in 4 here).
    t.equal(exit.code, ExitCode.SigInt, 'we exit 15, the code gocryptfs exits with on SIGTERM')
    t.notMatch(server.output(), /internal error|unmount failed/, 'a clean unmount')
  }
})

t.test('SIGKILL during reads: readers end, the next mount over the same directory serves', async (t) => {
  const first = await startServer(t, src, passfile, newMountpoint())
  const { results, exit } = await signalDuringReads(t, first, 'SIGKILL')
  t.equal(exit.signal, 'SIGKILL')
  t.ok(
    results.every((r) => !r.ok && CUT_OFF.includes(r.code)),
    `every reader got an error: ${results.map((r) => (r.ok ? 'ok' : r.code))}`,
  )
  // The dead mount stays (a pull fails rather than copy the empty directory under it); the
  // next mount clears it.
  const left = lstatCode(path.join(first.mnt, 'gocryptfs.conf'))
  t.ok(['ENOTCONN', 'ECONNABORTED'].includes(left), `dead (${left})`)
  t.ok(isMounted(first.mnt), 'and still there')
  const second = await startServer(t, src, passfile, first.mnt)
  t.equal(sha256File(inView(second.mnt, 'mid-0')), expected.get('mid-0'), 'the new mount serves the right bytes')
  process.kill(second.pid, 'SIGTERM')
  t.equal((await within('the second server to exit', second.exited)).code, ExitCode.SigInt)
})

t.test('external umount -l while files are read: readers finish with the right bytes, the daemon exits 0', async (t) => {
  const server = await startServer(t, src, passfile, newMountpoint())
  // Slow readers, so the detach lands mid-file.
  const readers = Array.from({ length: READERS }, (_, i) => startReader(t, inView(server.mnt, `mid-${i}`), 40))
  await within('the readers to start', Promise.all(readers.map((r) => r.started)))
  const u = run('umount', ['-l', server.mnt])
  t.equal(u.status, 0, u.stderr)
  t.notOk(isMounted(server.mnt), 'detached at once')
  // A lazily detached mount lives on for its open files: the kernel keeps serving them.
  const results = await allEnd(readers)
  results.forEach((r, i) => t.same(r, { ok: true, bytes: MID + 18 + 32 * (MID / 4096), sha256: expected.get(`mid-${i}`) }, `reader ${i}`))
  const exit = await within('the daemon to notice', server.exited)
  t.equal(exit.code, ExitCode.Success, 'exit 0 once the last file is closed')
  t.match(server.output(), /unmounted externally/)
})

t.test(`RLIMIT_NOFILE 64 and ${MANY} files opened through the mount`, async (t) => {
  const server = await startServer(t, src, passfile, newMountpoint(), { nofile: 64, extra: ['-threads', '2'] })
  const many = inView(server.mnt, 'many')
  const names = readdirSync(many).filter((n) => n !== 'gocryptfs.diriv')
  t.equal(names.length, MANY)
  const sealed = openSync(inView(server.mnt, 'mid-0'), 'r') // read through the seal pool below
  t.teardown(() => closeSync(sealed))

  const fds: { name: string; fd: number }[] = []
  const failures = new Map<string, number>()
  for (const name of names) {
    try {
      fds.push({ name, fd: openSync(path.join(many, name), 'r') })
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'unknown'
      failures.set(code, (failures.get(code) ?? 0) + 1)
    }
  }
  const closeAll = (): void => fds.splice(0).forEach(({ fd }) => closeSync(fd))
  t.teardown(closeAll)
  const failed = MANY - fds.length
  t.comment(`${fds.length} opens succeeded, ${failed} failed: ${JSON.stringify(Object.fromEntries(failures))}`)
  t.ok(fds.length >= 10 && failed > 0, 'the limit was reached')
  t.ok(
    [...failures.keys()].every((c) => c === 'EMFILE' || c === 'EIO'),
    'with EMFILE or EIO only',
  )
  const logged = (): number => server.output().match(/^open \/\S+: EMFILE: too many open files/gm)?.length ?? 0
  await waitFor('the log lines', () => logged() >= failed, BOUND_MS).catch(() => {})
  t.equal(logged(), failed, 'one log line per failed open')

  for (const { name, fd } of fds) {
    if (sha256Fd(fd) !== expected.get(`many/${name}`)) t.fail(`wrong bytes in ${name}`)
  }
  t.pass(`the ${fds.length} open files read right`)

  // Out of descriptors: what needs none works, what needs one fails cleanly.
  t.equal(statSync(path.join(many, names[0]!)).isFile(), true, 'getattr')
  t.ok(statfsSync(server.mnt).blocks > 0, 'statfs')
  t.equal(sha256Fd(sealed), expected.get('mid-0'), 'a 16 MiB read through the seal pool')
  try {
    t.same(readdirSync(server.mnt).sort(), readdirSync(server.mnt).sort(), 'readdir succeeded (served from a cache)')
  } catch (e) {
    t.equal((e as NodeJS.ErrnoException).code, 'EMFILE', 'readdir fails with EMFILE')
  }
  t.ok(server.alive(), 'the daemon is alive')

  closeAll()
  let right = 0
  for (const name of names) if (sha256File(path.join(many, name)) === expected.get(`many/${name}`)) right++
  t.equal(right, MANY, 'after closing, every file opens and reads right')
  t.equal(readdirSync(many).length, MANY + 1, 'and readdir works again')

  // SIGTERM while out of descriptors: fusermount cannot even be started.
  for (const name of names) {
    try {
      fds.push({ name, fd: openSync(path.join(many, name), 'r') })
    } catch {
      // the limit again
    }
  }
  process.kill(server.pid, 'SIGTERM')
  const exit = await within('the daemon to exit', server.exited)
  t.equal(exit.code, ExitCode.SigInt, 'exits 15')
  t.notMatch(server.output(), /internal error/, 'no crash')
  closeAll()
  await waitFor('the mount to go', () => !isMounted(server.mnt), BOUND_MS)
  t.pass('no mount left: detached in-process when fusermount3 cannot start')
})

t.test('a filesystem under SRC unmounted mid-read: old bytes or an error, the view follows', async (t) => {
  const d = scratchDir(t, 'tsreverse-faults-tmpfs-')
  const s: Source = initSource(t, d, { empty: true })
  writeFileSync(path.join(s.src, 'outside'), prng.bytes(5000))
  const sub = path.join(s.src, 'sub')
  mkdirSync(sub)
  writeFileSync(path.join(sub, 'under-tmpfs'), 'hidden by the tmpfs while it is mounted\n')
  const tmpfs = run('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', sub])
  t.equal(tmpfs.status, 0, tmpfs.stderr)
  writeFileSync(path.join(sub, 'stream'), prng.bytes(MID))
  mkdirSync(path.join(sub, 'd'))
  writeFileSync(path.join(sub, 'd', 'small'), prng.bytes(300))

  const view = (mnt: string, ...plain: string[]): string => path.join(mnt, ...viewPath(s.masterKey, plain))
  const ref = mountGocryptfs(t, ['-reverse', '-passfile', s.passfile, s.src, mountDir(d, 'ref')])
  const oldStream = readFileSync(view(ref.mnt, 'sub', 'stream'))
  const server = await startServer(t, s.src, s.passfile, mountDir(d, 'mnt'))
  t.same(listTree(server.mnt, { hash: true }), listTree(ref.mnt, { hash: true }), 'the view before')

  const reader = startReader(t, view(server.mnt, 'sub', 'stream'), 40)
  await within('the reader to start', reader.started)
  const u = run('umount', ['-l', sub])
  t.equal(u.status, 0, u.stderr)
  const result = await within('the reader to end', reader.done)
  t.comment(`the reader: ${result.ok ? `all ${result.bytes} bytes` : `${result.code} after ${result.bytes} bytes`}`)
  if (result.ok) t.equal(result.bytes, oldStream.length, 'the reader got all of the old file')
  else t.ok(['EIO', 'ENOENT', 'ESTALE'].includes(result.code), `or an error (${result.code})`)
  const before = createHash('sha256').update(oldStream.subarray(0, result.bytes)).digest('hex')
  t.equal(result.sha256, before, 'and every byte it got is the old ciphertext')
  t.ok(server.alive() && isMounted(server.mnt), 'the daemon survives')

  const fresh = mountGocryptfs(t, ['-reverse', '-passfile', s.passfile, s.src, mountDir(d, 'fresh')])
  // The kernel may keep the old attributes of sub for attr_timeout (1 s).
  const want = listTree(fresh.mnt, { hash: true })
  await waitFor('the view to follow', () => diffTrees(server.mnt, fresh.mnt) === '', 5000).catch(() => {})
  t.same(listTree(server.mnt, { hash: true }), want, 'the view after equals a fresh gocryptfs mount')
  t.ok(
    want.some((l) => l.includes(viewPath(s.masterKey, ['sub', 'under-tmpfs'])[1]!)),
    'which shows the directory under the tmpfs',
  )
  process.kill(server.pid, 'SIGTERM')
  t.equal((await within('the daemon to exit', server.exited)).code, ExitCode.SigInt)
})
