import { spawn, type ChildProcess } from 'node:child_process'
import { stat, writeFileSync } from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { ExitCode, UserError } from '../src/exitcodes.js'
import { bindingHolder, bindingPathEncoding, foldIno, fuseOps, mountView, scaleStatfs, toFuseStat, type MountOptions } from '../src/fuse/adapter.js'
import { findMount, parseMountinfo, unescapeMountField } from '../src/fuse/mountinfo.js'
import type { Attr, ViewFs } from '../src/view/fs.js'
import { MemView, type MemNode } from './lib/memview.js'
import { childPids, cmdline, isMounted, libDir, processGone, sh, tempMountpoint, waitFor } from './lib/mounts.js'

const EROFS = -30
const EIO = -5

const tree = (): MemNode => ({
  kind: 'dir',
  ino: 1,
  children: {
    hello: { kind: 'file', ino: 1001, data: Buffer.from('hello world\n') },
    link2hello: { kind: 'file', ino: 1001, data: Buffer.from('hello world\n'), nlink: 2 },
    big: { kind: 'file', ino: 2 ** 40 + 7, data: Buffer.alloc(300_000, 0x5a) },
    ancient: { kind: 'file', ino: 1003, data: Buffer.from('x'), mtimeMs: -86_400_000 },
    boom: { kind: 'file', ino: 1004, data: Buffer.from('never read') },
    sub: {
      kind: 'dir',
      ino: 1005,
      children: { inner: { kind: 'file', ino: 1006, data: Buffer.from('inner\n') } },
    },
    sym: { kind: 'symlink', ino: 1007, target: 'hello' },
  },
})

function options(log: string[], extra: Partial<MountOptions> = {}): MountOptions {
  return { fsname: 'mem,view', subtype: 'tsreverse', allowOther: false, readOnly: true, log: (m) => log.push(m), ...extra }
}

t.test('foldIno keeps 32-bit numbers and folds larger ones deterministically', async (t) => {
  t.equal(foldIno(0), 0)
  t.equal(foldIno(123456), 123456)
  t.equal(foldIno(0xffffffff), 0xffffffff)
  const big = 2 ** 48 + 99 // a gocryptfs namespace-1 inode
  t.equal(foldIno(big), foldIno(big), 'deterministic')
  t.ok(foldIno(big) >= 0 && foldIno(big) <= 0xffffffff)
  t.not(foldIno(big), 99, 'the namespace changes the folded number')
  t.not(foldIno(2 ** 49 + 99), foldIno(big), 'different high words with the same low word differ')
})

t.test('scaleStatfs keeps df totals on multi-TB disks within 32-bit fields', async (t) => {
  const s = { bsize: 4096, frsize: 4096, blocks: 2 ** 40, bfree: 2 ** 39 + 4096, bavail: 2 ** 38, files: 2 ** 33, ffree: 2 ** 32, favail: 7, namemax: 255 }
  const r = scaleStatfs(s)
  for (const k of ['bsize', 'frsize', 'blocks', 'bfree', 'bavail', 'files', 'ffree', 'favail'] as const) {
    t.ok(r[k]! >= 0 && r[k]! <= 0xffffffff, `${k} fits 32 bits`)
  }
  t.equal(r.frsize! * r.blocks!, 4096 * 2 ** 40, 'total size preserved')
  t.equal(r.frsize! * r.bfree!, 4096 * (2 ** 39 + 4096), 'free space preserved')
  t.equal(r.files, 0xffffffff, 'inode counts are clamped')
  t.equal(r.favail, 7)
  t.same(scaleStatfs({ ...s, blocks: 10, bfree: 5, bavail: 4 }).frsize, 4096, 'small disks are unchanged')
})

t.test('toFuseStat clamps what the 32-bit wire format cannot carry', async (t) => {
  const a: Attr = {
    mode: 0o100644, ino: 5, nlink: 2 ** 40, uid: 1000, gid: 1000, rdev: 0, size: 2 ** 40, blocks: 8, blksize: 4096,
    atimeMs: -1000, atimeNsPart: 5, mtimeMs: Number.NaN, mtimeNsPart: 5, ctimeMs: 1_600_000_000_123, ctimeNsPart: 456_789,
  }
  const s = toFuseStat(a)
  t.equal(s.atime, 0)
  t.equal(s.atimeNsPart, 0, 'a clamped time has no nanoseconds either')
  t.equal(s.mtime, 0)
  t.equal(s.mtimeNsPart, 0)
  t.equal(s.ctime, 1_600_000_000_123)
  t.equal(s.ctimeNsPart, 456_789, 'nanoseconds past the millisecond travel apart')
  t.equal(s.nlink, 0xffffffff)
  t.equal(s.size, 2 ** 40, 'size travels as 64 bits')
})

/** Calls one handler and collects its answers; a handler must answer exactly once. */
/** `view` with some handlers replaced; the others are its own. */
const withHandlers = (view: ViewFs, handlers: Partial<ViewFs>): ViewFs => Object.assign(Object.create(view) as ViewFs, handlers)

async function call(t: Test, ops: ReturnType<typeof fuseOps>, op: string, ...args: unknown[]): Promise<unknown[]> {
  const answers: unknown[][] = []
  ops[op]!(...args, (...a: unknown[]) => answers.push(a))
  await new Promise((r) => setTimeout(r, 10))
  t.equal(answers.length, 1, `${op} answered exactly once`)
  return answers[0] ?? []
}

t.test('a listing gives the kernel the entries with their attributes (READDIRPLUS), for the timeout', async (t) => {
  const view = new MemView(tree())
  const asked: string[] = []
  const counting: ViewFs = withHandlers(view, {
    getattr: (p: string) => {
      asked.push(p)
      return view.getattr(p)
    },
  })
  const mnt = tempMountpoint(t)
  const handle = await mountView(counting, mnt, options([], { attrTimeout: 0.4, entryTimeout: 0.4 }))
  t.teardown(() => handle.unmount())

  const listing = await sh(`ls -ln --time-style=+%s ${mnt}`)
  t.match(listing.stdout, /-r[-w]-r[-w]-r[-w]- +2 .* 12 \d+ link2hello\n/, 'the kernel got the listed attributes')
  t.same(asked.filter((p) => p !== '/'), [], 'no entry of the listing went to the view')
  await sh(`stat ${path.join(mnt, 'sub', 'inner')}`)
  t.same(asked.filter((p) => p !== '/'), ['/sub/inner'], 'entries of unlisted directories do')
  await new Promise((r) => setTimeout(r, 1000))
  await sh(`stat ${path.join(mnt, 'hello')}`)
  t.ok(asked.includes('/hello'), 'after the timeout the view is asked again')
})

t.test('open hands a whole file to a binding that holds files, while it holds less than its cap', async (t) => {
  const view = new MemView(tree())
  const taken: number[] = []
  const holding: ViewFs = withHandlers(view, {
    takeData: (fh: number) => {
      taken.push(fh)
      return Buffer.from(`bytes of ${fh}`)
    },
  })
  let held = 0
  const ops = fuseOps(holding, () => {}, 'latin1', { heldBytes: () => held, hold: (data) => ({ copied: String(data) }) })
  const [err, fh, data] = await call(t, ops, 'open', '/hello', 0)
  t.equal(err, 0)
  t.same(taken, [fh], 'taken from the view')
  t.same(data, { copied: `bytes of ${fh}` }, 'and copied into the binding, what open answers with the handle')
  held = 32 * 1024 * 1024
  const [, fh2, none] = await call(t, ops, 'open', '/hello', 0)
  t.equal(none, undefined, 'not once the binding holds its cap')
  t.same(taken, [fh], 'the view keeps that one')
  t.equal((await call(t, ops, 'release', '/hello', fh2))[0], 0)
  const plain = fuseOps(holding, () => {}, 'latin1', null)
  const [, fh3, stays] = await call(t, plain, 'open', '/hello', 0)
  t.equal(stays, undefined, 'nor to a binding that holds no files')
  t.equal((await call(t, plain, 'release', '/hello', fh3))[0], 0)
})

t.test('a mount: the binding answers the reads of a file handed over at open, and frees it at release', async (t) => {
  const view = new MemView(tree())
  const paths = new Map<number, string>()
  const reads: string[] = []
  const released: number[] = []
  const holding: ViewFs = withHandlers(view, {
    open: async (p: string) => {
      const fh = await view.open(p)
      paths.set(fh, p)
      return fh
    },
    read: (fh: number, buf: Buffer, len: number, pos: number) => {
      reads.push(paths.get(fh)!)
      return view.read(fh, buf, len, pos)
    },
    release: (fh: number) => {
      released.push(fh)
      return view.release(fh)
    },
    // Same length as the file (the kernel reads up to its size), other bytes: these come from here.
    takeData: (fh: number) => (paths.get(fh) === '/sub/inner' ? Buffer.from('INNER\n') : undefined),
  })
  const mnt = tempMountpoint(t)
  const handle = await mountView(holding, mnt, options([]))
  t.teardown(() => handle.unmount())
  t.equal((await sh(`cat ${path.join(mnt, 'sub', 'inner')}`)).stdout, 'INNER\n', 'the bytes handed over')
  t.equal((await sh(`head -c 10 ${path.join(mnt, 'big')}`)).stdout, 'ZZZZZZZZZZ', 'a file kept by the view')
  t.same(reads, ['/big'], 'only the kept file was read through JavaScript')
  await waitFor('releases to arrive', () => released.length === 1 && bindingHolder?.heldBytes() === 0)
  t.pass('the held file was released in the binding, the kept one in the view')
})

t.test('handlers: errno mapping, read-only, xattrs, never throwing', async (t) => {
  const log: string[] = []
  let opened = 0
  const view = new MemView(tree(), { getattr: ['/bad'], read: ['/boom'] })
  const counting: ViewFs = withHandlers(view, {
    open: (p: string) => {
      opened++
      return view.open(p)
    },
  })
  const ops = fuseOps(counting, (m) => log.push(m))

  t.equal((await call(t, ops, 'getattr', '/missing'))[0], -2, 'FsError ENOENT -> ENOENT')
  t.equal((await call(t, ops, 'getattr', '/bad'))[0], EIO, 'plain Error -> EIO')
  t.match(log, [/getattr \/bad: Error: injected getattr fault/], 'one log line naming op and path')

  for (const [name, flags] of [['O_WRONLY', 1], ['O_RDWR', 2], ['O_APPEND', 0o2000], ['O_TRUNC', 0o1000], ['O_CREAT', 0o100]] as const) {
    t.equal((await call(t, ops, 'open', '/hello', flags))[0], EROFS, `open ${name} -> EROFS`)
  }
  t.equal(opened, 0, 'write opens never reach the view')
  const [err, fh] = await call(t, ops, 'open', '/hello', 0o100000 /* O_LARGEFILE */)
  t.equal(err, 0)
  const buf = Buffer.alloc(64)
  t.equal((await call(t, ops, 'read', '/hello', fh, buf, 64, 6))[0], 6, 'read returns the byte count')
  t.equal(buf.subarray(0, 6).toString(), 'world\n')
  t.equal((await call(t, ops, 'release', '/hello', fh))[0], 0)
  t.equal(view.openHandles, 0, 'release reaches the view')

  const [, bfh] = await call(t, ops, 'open', '/boom', 0)
  t.equal((await call(t, ops, 'read', '/boom', bfh, buf, 64, 0))[0], EIO)

  const writeOps: [string, unknown[]][] = [
    ['write', ['/hello', 1, buf, 1, 0]], ['create', ['/new', 0o644]], ['mknod', ['/n', 0o644, 0]], ['mkdir', ['/d', 0o755]],
    ['unlink', ['/hello']], ['rmdir', ['/sub']], ['rename', ['/hello', '/x']], ['link', ['/hello', '/y']],
    ['symlink', ['hello', '/z']], ['chmod', ['/hello', 0o600]], ['chown', ['/hello', 1, 1]], ['truncate', ['/hello', 0]],
    ['ftruncate', ['/hello', 1, 0]], ['utimens', ['/hello', 0, 0]], ['setxattr', ['/hello', 'user.a', buf, 0, 0]],
    ['removexattr', ['/hello', 'user.a']],
  ]
  for (const [op, args] of writeOps) t.equal((await call(t, ops, op, ...args))[0], EROFS, `${op} -> EROFS`)

  t.equal((await call(t, ops, 'getxattr', '/hello', 'user.a', 0))[0], -38, 'getxattr -> ENOSYS (the kernel stops asking)')
  t.equal((await call(t, ops, 'listxattr', '/hello'))[0], 0, 'listxattr -> empty list (size 0)')
  t.equal((await call(t, ops, 'access', '/hello', 2))[0], EROFS, 'access W_OK -> EROFS')
  t.equal((await call(t, ops, 'access', '/hello', 1))[0], -13, 'access X_OK on a non-executable file -> EACCES')
  t.equal((await call(t, ops, 'access', '/sub', 1))[0], 0, 'directories are searchable')

  const hostile: ViewFs = withHandlers(view, {
    getattr: () => {
      throw new TypeError('synchronous throw')
    },
    read: async () => 1e9,
    open: async () => -1,
  })
  const hops = fuseOps(hostile, (m) => log.push(m))
  t.equal((await call(t, hops, 'getattr', '/hello'))[0], EIO, 'a synchronous throw still answers EIO')
  t.equal((await call(t, hops, 'read', '/hello', 1, buf, 64, 0))[0], EIO, 'an impossible byte count -> EIO')
  t.equal((await call(t, hops, 'open', '/hello', 0))[0], EIO, 'a handle that cannot cross into C -> EIO')
  const throwingLog = fuseOps(hostile, () => {
    throw new Error('logger down')
  })
  t.equal((await call(t, throwingLog, 'getattr', '/hello'))[0], EIO, 'a throwing logger does not stop the answer')
})

t.test('paths cross as bytes with the build npm ci made; the stock encoding hides what it cannot carry', async (t) => {
  t.equal(bindingPathEncoding, 'latin1', 'the patched fuse-native build is the one loaded')
  // View names are byte strings: 'caf\xc3\xa9' is café in UTF-8.
  const file = (data: string, ino: number): MemNode => ({ kind: 'file', ino, data: Buffer.from(data) })
  const children: Record<string, MemNode> = {
    'a\xffb': file('ff', 2),
    'a\xfeb': file('fe', 3),
    'caf\xc3\xa9': file('cafe', 4),
    'x\xef\xbf\xbdy': file('fffd', 5),
    'bad-link': { kind: 'symlink', ino: 6, target: 't\xff' },
    'good-link': { kind: 'symlink', ino: 7, target: 'caf\xc3\xa9' },
  }
  const view = new MemView({ kind: 'dir', ino: 1, children })
  const log: string[] = []
  const bytes = fuseOps(view, (m) => log.push(m), 'latin1')
  t.same((await call(t, bytes, 'readdir', '/'))[1], Object.keys(children), 'latin1: every name as is')
  t.equal((await call(t, bytes, 'getattr', '/a\xfeb'))[0], 0, 'latin1: a\\xfeb found')
  t.same(await call(t, bytes, 'readlink', '/bad-link'), [0, 't\xff'], 'latin1: the target as is')

  const utf8 = fuseOps(view, (m) => log.push(m), 'utf8')
  for (let i = 0; i < 2; i++) {
    const [err, names, attrs] = await call(t, utf8, 'readdir', '/')
    t.equal(err, 0)
    t.same(names, ['café', 'bad-link', 'good-link'], 'utf8: only names that survive the round trip, decoded')
    t.equal((attrs as unknown[]).length, 3, 'utf8: the attributes stay aligned with the names')
  }
  t.same(log.filter((l) => l.startsWith('readdir /: not listing')), [
    'readdir /: not listing a\\xffb: the stock fuse-native build carries only UTF-8 without U+FFFD (npm ci builds the patched one)',
    'readdir /: not listing a\\xfeb: the stock fuse-native build carries only UTF-8 without U+FFFD (npm ci builds the patched one)',
    'readdir /: not listing x\uFFFDy: the stock fuse-native build carries only UTF-8 without U+FFFD (npm ci builds the patched one)',
  ], 'each hidden name logged once, readably')
  t.equal((await call(t, utf8, 'getattr', '/café'))[0], 0, 'utf8: café is found')
  t.equal((await call(t, utf8, 'getattr', '/a\uFFFDb'))[0], -2, 'utf8: U+FFFD might be any byte: ENOENT')
  t.equal((await call(t, utf8, 'getattr', '/x\uFFFDy'))[0], -2, 'utf8: even where a name really holds U+FFFD')
  t.same(await call(t, utf8, 'readlink', '/good-link'), [0, 'café'], 'utf8: a UTF-8 target decoded')
  t.equal((await call(t, utf8, 'readlink', '/bad-link'))[0], EIO, 'utf8: a target it cannot carry is EIO')
  t.match(log[log.length - 1], /^readlink \/bad-link: target t\\xff: /, 'and logged')
})

t.test('mountinfo parsing unescapes fields and finds the topmost mount', async (t) => {
  t.equal(unescapeMountField('a\\040b\\011c\\012d\\134e'), 'a b\tc\nd\\e')
  t.equal(unescapeMountField('plain'), 'plain')
  const text = [
    '22 1 0:20 / /mnt\\040x rw,relatime shared:1 - tmpfs tmp rw',
    '40 22 0:39 / /mnt\\040x ro,nosuid,nodev,relatime - fuse.tsreverse my\\040src ro,user_id=0,max_read=524288',
    'garbage line',
  ].join('\n')
  const entries = parseMountinfo(text)
  t.equal(entries.length, 2)
  const top = findMount(entries, '/mnt x')!
  t.equal(top.mountId, 40)
  t.equal(top.device, '0:39')
  t.equal(top.fsType, 'fuse.tsreverse')
  t.equal(top.source, 'my src')
  t.same(top.mountOptions, ['ro', 'nosuid', 'nodev', 'relatime'])
  t.ok(top.superOptions.includes('max_read=524288'))
})

t.test('a mounted MemView behaves like a read-only file system', async (t) => {
  const mnt = tempMountpoint(t)
  const log: string[] = []
  const view = new MemView(tree(), { read: ['/boom'] }, {
    bsize: 4096, frsize: 4096, blocks: 2 ** 40, bfree: 2 ** 39, bavail: 2 ** 38, files: 1000, ffree: 10, favail: 10, namemax: 255,
  })
  const handle = await mountView(view, mnt, options(log, { fsname: 'mem,view \\src' }))
  t.teardown(() => handle.unmount())

  const entry = findMount(parseMountinfo(await sh('cat /proc/self/mountinfo').then((r) => r.stdout)), mnt)!
  t.equal(entry.fsType, 'fuse.tsreverse')
  t.equal(entry.source, 'mem,view \\src', 'fsname with comma, space and backslash arrives intact')
  t.ok(entry.mountOptions.includes('ro'), 'mounted ro')
  t.ok(entry.mountOptions.includes('nosuid') && entry.mountOptions.includes('nodev'))
  t.ok(entry.superOptions.includes('max_read=524288'))
  const procMounts = await sh(`grep ' ${mnt} ' /proc/mounts`)
  t.match(procMounts.stdout, /^mem,view\\040\\134src \S+ fuse\.tsreverse ro,/)

  const q = (s: string): string => `'${path.join(mnt, s)}'`
  t.equal((await sh(`cat ${q('hello')}`)).stdout, 'hello world\n')
  t.equal((await sh(`cat ${q('sub/inner')}`)).stdout, 'inner\n')
  t.equal((await sh(`ls ${q('')}`)).stdout.split('\n').filter(Boolean).sort().join(' '), 'ancient big boom hello link2hello sub sym')
  t.equal((await sh(`readlink ${q('sym')}`)).stdout, 'hello\n')
  t.equal((await sh(`stat -c %F ${q('sym')}`)).stdout, 'symbolic link\n')
  t.equal((await sh(`cmp ${q('big')} - < /dev/zero 2>&1; head -c 300000 /dev/zero | tr '\\0' Z | cmp - ${q('big')} && echo same`)).stdout.trim().split('\n').pop(), 'same', 'a 300 KB file (several reads) reads back intact')

  const find = await sh(`cd ${q('')} && find . -type f | sort`)
  t.equal(find.stdout, './ancient\n./big\n./boom\n./hello\n./link2hello\n./sub/inner\n', 'find -type f (types from readdir attrs)')

  const inos = (await sh(`stat -c '%i %n' ${q('hello')} ${q('link2hello')} ${q('sub/inner')} ${q('big')}`)).stdout
  t.equal(inos, `1001 ${path.join(mnt, 'hello')}\n1001 ${path.join(mnt, 'link2hello')}\n1006 ${path.join(mnt, 'sub/inner')}\n${foldIno(2 ** 40 + 7)} ${path.join(mnt, 'big')}\n`, 'use_ino: inode numbers come through, hard links equal')
  t.equal((await sh(`ls -i ${q('sub')}`)).stdout.trim(), '1006 inner', 'readdir carries inode numbers')
  t.equal((await sh(`stat -c %Y ${q('ancient')}`)).stdout, '0\n', 'pre-1970 time clamped to the epoch')
  t.equal((await sh(`stat -c %Y ${q('hello')}`)).stdout, '1600000000\n')

  const df = (await sh(`stat -f -c '%S %b %f %a' ${q('')}`)).stdout.trim().split(' ').map(Number)
  t.equal(df[0]! * df[1]!, 4096 * 2 ** 40, 'statfs total right on a 4 PiB source')
  t.equal(df[0]! * df[3]!, 4096 * 2 ** 38, 'statfs available right')

  const writes = [
    `echo x > ${q('hello')}`, `echo x >> ${q('hello')}`, `touch ${q('new')}`, `mkdir ${q('dir')}`,
    `rm ${q('hello')}`, `mv ${q('hello')} ${q('moved')}`, `ln -s x ${q('newlink')}`, `chmod 777 ${q('hello')}`,
  ]
  for (const w of writes) {
    const r = await sh(w)
    t.not(r.code, 0, `${w} fails`)
    t.match(r.stderr, /Read-only file system/, `${w}: EROFS`)
  }
  t.equal((await sh(`cat ${q('hello')}`)).stdout, 'hello world\n', 'content unchanged')

  const boom = await sh(`cat ${q('boom')}`)
  t.match(boom.stderr, /Input\/output error/, 'a throwing handler gives EIO')
  t.ok(log.some((l) => /^read \/boom: Error: injected read fault$/.test(l)), 'and one log line')
  t.equal((await sh(`cat ${q('hello')}`)).stdout, 'hello world\n', 'the mount survives')

  const py = await sh(`command -v python3 >/dev/null && python3 -c "
import os, errno
print(os.listxattr('${path.join(mnt, 'hello')}'))
try:
    os.getxattr('${path.join(mnt, 'hello')}', 'user.x')
except OSError as e:
    print(errno.errorcode[e.errno])"`)
  if (py.code === 0) t.equal(py.stdout, '[]\nENOTSUP\n', 'no xattrs: empty list, EOPNOTSUPP (ENOTSUP to python) from the kernel')
  else t.comment('python3 not available: xattr checks skipped')
})

const exitCodeOf = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => 'mounted',
    (e: unknown) => (e instanceof UserError ? e.exitCode : e),
  )

t.test('mount refusals leave no mount behind', async (t) => {
  const mnt = tempMountpoint(t)
  const log: string[] = []
  const view = new MemView(tree())
  t.equal(await exitCodeOf(mountView(view, mnt, options(log, { subtype: 'bad,opt' }))), ExitCode.Usage)
  t.equal(await exitCodeOf(mountView(view, mnt, options(log, { attrTimeout: -1 }))), ExitCode.Usage)
  t.equal(await exitCodeOf(mountView(view, mnt + '-missing', options(log))), ExitCode.MountPoint)
  t.notOk(isMounted(mnt))

  writeFileSync(path.join(mnt, 'occupant'), 'x')
  t.equal(await exitCodeOf(mountView(view, mnt, options(log))), ExitCode.MountPoint, 'non-empty mount point refused (exit 10)')
  t.notOk(isMounted(mnt))
  const handle = await mountView(view, mnt, options(log, { nonempty: true }))
  t.teardown(() => handle.unmount())
  t.equal((await sh(`cat '${mnt}/hello'`)).stdout, 'hello world\n', 'nonempty: mounts over the occupant')
  t.equal(await exitCodeOf(mountView(view, mnt, options(log, { nonempty: true }))), ExitCode.MountPoint, 'a live mount is not replaced')
})

t.test('unmount() detaches lazily when the mount is busy', async (t) => {
  const mnt = tempMountpoint(t)
  const log: string[] = []
  const handle = await mountView(new MemView(tree()), mnt, options(log))
  // Not spawn's cwd option: the forked child would chdir into the mount before exec, while
  // spawn blocks the event loop that has to answer that lookup.
  const squatter = spawn('sh', ['-c', `cd '${mnt}' && exec sleep 30`], { stdio: 'ignore' })
  await waitFor('squatter inside the mount', () => sh(`readlink /proc/${squatter.pid}/cwd`).then((r) => r.stdout.trim() === mnt))
  t.teardown(() => {
    squatter.kill('SIGKILL')
  })
  await handle.unmount()
  t.equal(await handle.closed, 'unmounted')
  t.notOk(isMounted(mnt), 'gone from mountinfo')
  t.ok(log.some((l) => /detaching lazily/.test(l)), 'lazy fallback logged')
  await handle.unmount() // idempotent
})

function startChild(t: Test, mnt: string): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, [path.join(libDir, 'mount-child.js'), mnt], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  let out = ''
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s))
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (out += s))
  return waitFor('child mount', () => out.includes('mounted\n')).then(() => ({ child, output: () => out }))
}

t.test('external fusermount -u resolves closed and lets the process end by itself', async (t) => {
  const mnt = tempMountpoint(t)
  const { child, output } = await startChild(t, mnt)
  t.equal((await sh(`cat '${mnt}/hello'`)).stdout, 'hello from child\n')
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
  t.equal((await sh(`fusermount -u '${mnt}'`)).code, 0)
  const timeout = new Promise<string>((r) => setTimeout(() => r('still running'), 5000).unref())
  t.equal(await Promise.race([exited, timeout]), 0, 'exits with 0 without process.exit')
  t.match(output(), /closed external/)
})

t.test('an external unmount is noticed even if a new mount takes the same place at once', async (t) => {
  const mnt = tempMountpoint(t)
  const { child, output } = await startChild(t, mnt)
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
  // The kernel hands the freed mount id and device number to the very next mount.
  t.equal((await sh(`fusermount -u '${mnt}' && mount -t tmpfs tsreverse-test '${mnt}'`)).code, 0)
  const timeout = new Promise<string>((r) => setTimeout(() => r('still running'), 5000).unref())
  t.equal(await Promise.race([exited, timeout]), 0)
  t.match(output(), /closed external/)
})

t.test('after an external lazy unmount the server stays until the last user has left', async (t) => {
  const mnt = tempMountpoint(t)
  const { child, output } = await startChild(t, mnt)
  const squatter = spawn('sh', ['-c', `cd '${mnt}' && exec sleep 30`], { stdio: 'ignore' })
  t.teardown(() => {
    squatter.kill('SIGKILL')
  })
  await waitFor('squatter inside the mount', () => sh(`readlink /proc/${squatter.pid}/cwd`).then((r) => r.stdout.trim() === mnt))
  t.equal((await sh(`fusermount -u -z '${mnt}'`)).code, 0)
  t.notOk(isMounted(mnt), 'detached from the tree')
  await new Promise((r) => setTimeout(r, 1500))
  t.equal(child.exitCode, null, 'still serving')
  t.equal((await sh(`cat /proc/${squatter.pid}/cwd/hello`)).stdout, 'hello from child\n', 'the remaining user still reads')
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
  squatter.kill('SIGKILL')
  const timeout = new Promise<string>((r) => setTimeout(() => r('still running'), 5000).unref())
  t.equal(await Promise.race([exited, timeout]), 0, 'ends once the connection does')
  t.match(output(), /closed external/)
})

const isStale = (mnt: string): Promise<boolean> =>
  new Promise((r) => stat(mnt, (err) => r(err?.code === 'ENOTCONN')))

t.test('a SIGKILLed server: auto_unmount removes its mount, remounting works', async (t) => {
  const mnt = tempMountpoint(t)
  const { child } = await startChild(t, mnt)
  child.kill('SIGKILL')
  await waitFor('auto_unmount', () => !isMounted(mnt), 5000)
  const log: string[] = []
  const handle = await mountView(new MemView(tree()), mnt, options(log))
  t.teardown(() => handle.unmount())
  t.equal((await sh(`cat '${mnt}/hello'`)).stdout, 'hello world\n')
})

t.test('a stale mount (server and its auto_unmount helper killed) is cleared before mounting', async (t) => {
  const mnt = tempMountpoint(t)
  const { child } = await startChild(t, mnt)
  const helpers = childPids(child.pid!).filter((pid) => ['fusermount', 'fusermount3'].includes(cmdline(pid)[0]!))
  t.equal(helpers.length, 1, 'auto_unmount runs a fusermount helper')
  for (const pid of helpers) process.kill(pid, 'SIGKILL')
  await waitFor('helper gone', () => helpers.every(processGone))
  child.kill('SIGKILL')
  await waitFor('stale mount', () => isStale(mnt), 5000)
  t.ok(isMounted(mnt), 'the dead mount is still listed')

  const log: string[] = []
  const handle = await mountView(new MemView(tree()), mnt, options(log))
  t.teardown(() => handle.unmount())
  t.ok(log.some((l) => /clearing stale fuse\.tsreverse mount of mount-child/.test(l)), 'recovery logged')
  t.equal((await sh(`cat '${mnt}/hello'`)).stdout, 'hello world\n')
})
