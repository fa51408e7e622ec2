import { spawn, type ChildProcess } from 'node:child_process'
import { stat, writeFileSync } from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
import { ExitCode, UserError } from '../src/exitcodes.js'
import { fuseOps, mountView, NodeTable, ROOT_NODE, type FuseOps, type MountOptions } from '../src/fuse/adapter.js'
import { ATTR_FIELDS, fuse, type Replies, type Request } from '../src/fuse/binding.js'
import { LISTING_CHUNK, packAttr } from '../src/view/listing.js'
import { findMount, parseMountinfo, unescapeMountField } from '../src/fuse/mountinfo.js'
import type { Attr, ViewFs } from '../src/view/fs.js'
import { MemView, type MemNode } from './lib/memview.js'
import { childPids, cmdline, isMounted, libDir, sh, tempMountpoint, waitFor } from './lib/mounts.js'

const EROFS = 30
const EIO = 5

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

t.test('packAttr: 64-bit inode numbers and sizes, nanosecond times, 32-bit fields clamped', async (t) => {
  const a: Attr = {
    mode: 0o100644,
    ino: 2 ** 48 + 99,
    nlink: 2 ** 40,
    uid: 1000,
    gid: 1000,
    rdev: 0,
    size: 2 ** 40,
    blocks: 8,
    blksize: 4096,
    atimeMs: -1000,
    atimeNsPart: 5,
    mtimeMs: Number.NaN,
    mtimeNsPart: 5,
    ctimeMs: 1_600_000_000_123,
    ctimeNsPart: 456_789,
  }
  const s = packAttr(a)
  const f = (name: (typeof ATTR_FIELDS)[number]): number => s[ATTR_FIELDS.indexOf(name)]!
  const ino = (attr: Float64Array): bigint => (BigInt(attr[ATTR_FIELDS.indexOf('inoHigh')]!) << 32n) | BigInt(attr[ATTR_FIELDS.indexOf('ino')]!)
  t.equal(ino(s), BigInt(2 ** 48 + 99), 'a gocryptfs-style namespaced inode number travels whole, in 32-bit halves')
  const spilled = (1n << 63n) | 7n
  t.equal(ino(packAttr({ ...a, ino: spilled })), spilled, 'so does a bigint one beyond 2^53')
  t.equal(f('size'), 2 ** 40, 'size travels as 64 bits')
  t.equal(f('nlink'), 0xffffffff, 'nlink is 32 bits in the protocol: clamped')
  t.same([f('atimeSec'), f('atimeNsec')], [0, 0], 'a pre-1970 time shows as the epoch')
  t.same([f('mtimeSec'), f('mtimeNsec')], [0, 0], 'NaN too')
  t.same([f('ctimeSec'), f('ctimeNsec')], [1_600_000_000, 123_456_789], 'seconds and nanoseconds')
})

/** `view` with some handlers replaced; the others are its own. */
const withHandlers = (view: ViewFs, handlers: Partial<ViewFs>): ViewFs => Object.assign(Object.create(view) as ViewFs, handlers)

/** Records every answer, as the binding would send it; `interrupted` makes replies fail as for an interrupted request. */
class Recorder implements Replies {
  answers: unknown[][] = []
  held = 0
  interrupted = false
  #rc(): number {
    return this.interrupted ? -2 : 0
  }
  replyErr(_req: Request, errno: number): number {
    this.answers.push(['err', errno])
    return this.#rc()
  }
  replyEntry(_req: Request, node: number, attr: Float64Array | null): number {
    this.answers.push(['entry', node, attr && attr[0]])
    return this.#rc()
  }
  replyAttr(_req: Request, attr: Float64Array): number {
    this.answers.push(['attr', attr[0]])
    return this.#rc()
  }
  replyReadlink(_req: Request, target: Buffer): number {
    this.answers.push(['readlink', target.toString('latin1')])
    return this.#rc()
  }
  replyOpen(_req: Request, fh: number, data?: Buffer): number {
    this.answers.push(['open', fh, data?.toString('latin1')])
    return this.#rc()
  }
  replyData(_req: Request, buf: Buffer, n: number): number {
    this.answers.push(['data', buf.subarray(0, n).toString('latin1')])
    return this.#rc()
  }
  replyStatfs(_req: Request, st: Float64Array): number {
    this.answers.push(['statfs', [...st]])
    return this.#rc()
  }
  replyDir(
    _req: Request,
    plus: boolean,
    _size: number,
    index: number,
    names: Buffer,
    offsets: Uint32Array,
    _attrs: Float64Array,
    nodes: Float64Array | null,
    base: number,
  ): number {
    const listed: string[] = []
    for (let i = index; i + 1 < offsets.length; i++) listed.push(names.subarray(offsets[i], offsets[i + 1]).toString('latin1'))
    this.answers.push(['dir', listed, plus ? [...nodes!].slice(index) : null, base])
    return this.interrupted ? 0 : listed.length
  }
  heldBytes(): number {
    return this.held
  }
}

/** Calls one handler (args after the request: node, fh, offset, n, plus, extra) and returns its one answer. */
async function call(t: Test, ops: FuseOps, rec: Recorder, op: keyof FuseOps, ...args: unknown[]): Promise<unknown[]> {
  const before = rec.answers.length
  const [node = ROOT_NODE, fh = 0, offset = 0, n = 0, plus = false, extra] = args as [number?, number?, number?, number?, boolean?, Buffer?]
  ops[op]({} as Request, node, fh, offset, n, plus, extra)
  await new Promise((r) => setTimeout(r, 10))
  t.equal(rec.answers.length - before, 1, `${op} answered exactly once`)
  return rec.answers[before] ?? []
}

/** The node of a path, looked up name by name as the kernel does. */
async function lookup(t: Test, ops: FuseOps, rec: Recorder, p: string): Promise<number> {
  let node = ROOT_NODE
  for (const name of p.split('/').filter(Boolean)) {
    const [kind, id] = await call(t, ops, rec, 'lookup', node, 0, 0, 0, false, Buffer.from(name, 'latin1'))
    if (kind !== 'entry') return -1
    node = id as number
  }
  return node
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
  t.same(
    asked.filter((p) => p !== '/'),
    [],
    'no entry of the listing went to the view',
  )
  await sh(`stat ${path.join(mnt, 'sub', 'inner')}`)
  t.same(
    asked.filter((p) => p !== '/'),
    ['/sub/inner'],
    'entries of unlisted directories do',
  )
  await new Promise((r) => setTimeout(r, 1000))
  await sh(`stat ${path.join(mnt, 'hello')}`)
  t.ok(asked.includes('/hello'), 'after the timeout the view is asked again')
})

t.test('open hands a whole file to the binding while it holds less than its cap; an interrupted open is released', async (t) => {
  const view = new MemView(tree())
  const taken: number[] = []
  const released: number[] = []
  const holding: ViewFs = withHandlers(view, {
    takeData: (fh: number) => {
      taken.push(fh)
      return Buffer.from(`bytes of ${fh}`)
    },
    release: (fh: number) => {
      released.push(fh)
      return view.release(fh)
    },
  })
  const rec = new Recorder()
  const ops = fuseOps(holding, () => {}, rec)
  const hello = await lookup(t, ops, rec, '/hello')
  const [, fh, data] = await call(t, ops, rec, 'open', hello)
  t.same(taken, [fh], 'taken from the view')
  t.equal(data, `bytes of ${fh}`, 'and handed to the binding with the open answer')
  rec.held = 32 * 1024 * 1024
  const [, fh2, none] = await call(t, ops, rec, 'open', hello)
  t.equal(none, undefined, 'not once the binding holds its cap')
  t.same(taken, [fh], 'the view keeps that one')
  t.same(await call(t, ops, rec, 'release', hello, fh2), ['err', 0])
  rec.interrupted = true
  const [, fh3] = await call(t, ops, rec, 'open', hello)
  await new Promise((r) => setTimeout(r, 10))
  t.same(released, [fh2, fh3], 'an open the kernel never got is released at once')
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
  await waitFor('releases to arrive', () => released.length === 1 && fuse.heldBytes() === 0)
  t.pass('the held file was released in the binding, the kept one in the view')
})

t.test('handlers: errno mapping, read-only, never throwing', async (t) => {
  const log: string[] = []
  let opened = 0
  const view = new MemView(tree(), { getattr: ['/bad'], read: ['/boom'] })
  const counting: ViewFs = withHandlers(view, {
    open: (p: string) => {
      opened++
      return view.open(p)
    },
  })
  const rec = new Recorder()
  const ops = fuseOps(counting, (m) => log.push(m), rec)
  const hello = await lookup(t, ops, rec, '/hello')

  t.same(await call(t, ops, rec, 'lookup', ROOT_NODE, 0, 0, 0, false, Buffer.from('missing')), ['entry', 0, null], 'ENOENT -> a negative entry')
  t.same(await call(t, ops, rec, 'lookup', ROOT_NODE, 0, 0, 0, false, Buffer.from('bad')), ['err', EIO], 'plain Error -> EIO')
  t.match(log, [/lookup \/bad: Error: injected getattr fault/], 'one log line naming op and path')
  t.same(await call(t, ops, rec, 'getattr', 12345), ['err', 116], 'a node the kernel never got -> ESTALE')

  for (const [name, flags] of [
    ['O_WRONLY', 1],
    ['O_RDWR', 2],
    ['O_APPEND', 0o2000],
    ['O_TRUNC', 0o1000],
    ['O_CREAT', 0o100],
  ] as const) {
    t.same(await call(t, ops, rec, 'open', hello, 0, 0, flags), ['err', EROFS], `open ${name} -> EROFS`)
  }
  t.equal(opened, 0, 'write opens never reach the view')
  const [kind, fh] = await call(t, ops, rec, 'open', hello, 0, 0, 0o100000 /* O_LARGEFILE */)
  t.equal(kind, 'open')
  t.same(await call(t, ops, rec, 'read', hello, fh, 6, 64), ['data', 'world\n'], 'read answers the bytes read')
  t.same(await call(t, ops, rec, 'release', hello, fh), ['err', 0])
  t.equal(view.openHandles, 0, 'release reaches the view')

  const boom = await lookup(t, ops, rec, '/boom')
  const [, bfh] = await call(t, ops, rec, 'open', boom)
  t.same(await call(t, ops, rec, 'read', boom, bfh, 0, 64), ['err', EIO])

  // Write-side requests are answered EROFS by the binding itself (native/fuse.c), never reaching
  // JavaScript; the mounted test below checks them through the kernel.
  const sub = await lookup(t, ops, rec, '/sub')
  t.same(await call(t, ops, rec, 'access', hello, 0, 0, 2), ['err', EROFS], 'access W_OK -> EROFS')
  t.same(await call(t, ops, rec, 'access', hello, 0, 0, 1), ['err', 13], 'access X_OK on a non-executable file -> EACCES')
  t.same(await call(t, ops, rec, 'access', sub, 0, 0, 1), ['err', 0], 'directories are searchable')

  const hostile: ViewFs = withHandlers(view, {
    getattr: () => {
      throw new TypeError('synchronous throw')
    },
    read: async () => 1e9,
    open: async () => -1,
  })
  const hops = fuseOps(hostile, (m) => log.push(m), rec)
  t.same(await call(t, hops, rec, 'lookup', ROOT_NODE, 0, 0, 0, false, Buffer.from('hello')), ['err', EIO], 'a synchronous throw still answers EIO')
  t.same(await call(t, hops, rec, 'read', ROOT_NODE, 1, 0, 64), ['err', EIO], 'an impossible byte count -> EIO')
  t.same(await call(t, hops, rec, 'open', ROOT_NODE), ['err', EIO], 'a handle that cannot cross into C -> EIO')
  const throwingLog = fuseOps(
    hostile,
    () => {
      throw new Error('logger down')
    },
    rec,
  )
  t.same(await call(t, throwingLog, rec, 'getattr', ROOT_NODE), ['err', EIO], 'a throwing logger does not stop the answer')
  const throwingReplies = Object.assign(new Recorder(), {
    replyAttr(): number {
      throw new TypeError('not an unanswered request')
    },
  })
  const tops = fuseOps(view, (m) => log.push(m), throwingReplies)
  tops.getattr({} as Request, ROOT_NODE, 0, 0, 0, false, undefined)
  await new Promise((r) => setTimeout(r, 10))
  t.same(throwingReplies.answers, [['err', EIO]], 'a reply that throws is answered EIO, nothing thrown into the binding')
})

t.test('the node table: lookups and READDIRPLUS entries hold nodes until forgotten', async (t) => {
  const nodes = new NodeTable()
  const rec = new Recorder()
  const ops = fuseOps(new MemView(tree()), () => {}, rec, nodes)
  const sub = await lookup(t, ops, rec, '/sub')
  t.equal(await lookup(t, ops, rec, '/sub'), sub, 'the same path keeps its node')
  t.equal(nodes.size, 2, 'root and /sub')
  const [, dfh] = await call(t, ops, rec, 'opendir', ROOT_NODE)
  const [, listed, ids] = await call(t, ops, rec, 'readdir', ROOT_NODE, dfh, 0, 4096, true)
  t.same(listed, ['hello', 'link2hello', 'big', 'ancient', 'boom', 'sub', 'sym'], 'the listing, in order')
  t.equal((ids as number[])[(listed as string[]).indexOf('sub')], sub, 'a listed entry has the node its lookup has')
  t.same(await call(t, ops, rec, 'releasedir', ROOT_NODE, dfh), ['err', 0])
  t.equal(nodes.size, 1 + (listed as string[]).length, 'each entry sent is held by the kernel')
  ops.forget(undefined, 0, 0, 0, 0, false, Float64Array.from((ids as number[]).flatMap((id) => [id, id === sub ? 3 : 1])))
  t.equal(nodes.size, 1, 'forgotten: only the root is left')
  const [, dfh2] = await call(t, ops, rec, 'opendir', ROOT_NODE)
  rec.interrupted = true
  await call(t, ops, rec, 'readdir', ROOT_NODE, dfh2, 0, 4096, true)
  rec.interrupted = false
  await call(t, ops, rec, 'releasedir', ROOT_NODE, dfh2)
  t.equal(nodes.size, 1, 'entries the kernel never got hold nothing')
})

t.test('a listing of many chunks: every entry once, in order, resuming where the kernel asks; nodes made a chunk at a time', async (t) => {
  const count = 3 * LISTING_CHUNK + 5
  const children: Record<string, MemNode> = {}
  for (let i = 0; i < count; i++) children[`entry-${i}`] = { kind: 'file', ino: 10 + i, data: Buffer.alloc(0) }
  const nodes = new NodeTable()
  const rec = new Recorder()
  const ops = fuseOps(new MemView({ kind: 'dir', ino: 1, children }), () => {}, rec, nodes)
  for (const plus of [false, true]) {
    const [, dfh] = await call(t, ops, rec, 'opendir', ROOT_NODE)
    const seen: string[] = []
    const ids: number[] = []
    for (let offset = 0; ;) {
      const [, listed, sentIds, base] = (await call(t, ops, rec, 'readdir', ROOT_NODE, dfh, offset, 4096, plus)) as [string, string[], number[] | null, number]
      if (listed.length === 0) break
      t.equal(base, offset - (offset % LISTING_CHUNK), 'entries carry their offsets in the whole listing')
      seen.push(...listed)
      if (plus) {
        ids.push(...sentIds!)
        t.ok(nodes.size <= 1 + Math.ceil(seen.length / LISTING_CHUNK) * LISTING_CHUNK, 'nodes only for the chunks reached')
      }
      offset += listed.length
    }
    t.same(seen, Object.keys(children), `${plus ? 'READDIRPLUS' : 'READDIR'}: every entry once, in order`)
    if (plus) t.equal(new Set(ids).size, count, 'a node per entry')
    await call(t, ops, rec, 'releasedir', ROOT_NODE, dfh)
    t.equal(nodes.size, 1 + (plus ? count : 0), 'entries sent stay held by the kernel')
    if (plus) {
      ops.forget(undefined, 0, 0, 0, 0, false, Float64Array.from(ids.flatMap((id) => [id, 1])))
      t.equal(nodes.size, 1, 'forgotten: only the root is left')
    }
  }
})

t.test('names and link targets cross as bytes', async (t) => {
  // View names are byte strings: 'caf\xc3\xa9' is café in UTF-8.
  const file = (data: string, ino: number): MemNode => ({ kind: 'file', ino, data: Buffer.from(data) })
  const children: Record<string, MemNode> = {
    'a\xffb': file('ff', 2),
    'a\xfeb': file('fe', 3),
    'caf\xc3\xa9': file('cafe', 4),
    'x\xef\xbf\xbdy': file('fffd', 5),
    'bad-link': { kind: 'symlink', ino: 6, target: 't\xff' },
  }
  const view = new MemView({ kind: 'dir', ino: 1, children })
  const rec = new Recorder()
  const ops = fuseOps(view, () => {}, rec)
  const [, dfh] = await call(t, ops, rec, 'opendir', ROOT_NODE)
  t.same((await call(t, ops, rec, 'readdir', ROOT_NODE, dfh, 0, 4096, false))[1], Object.keys(children), 'every name as is')
  t.same(await call(t, ops, rec, 'lookup', ROOT_NODE, 0, 0, 0, false, Buffer.from([0x61, 0xfe, 0x62])), ['entry', 2, 3], 'a\\xfeb found, not a\\xffb')
  const link = await lookup(t, ops, rec, '/bad-link')
  t.same(await call(t, ops, rec, 'readlink', link), ['readlink', 't\xff'], 'the target as is')
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
  const view = new MemView(
    tree(),
    { read: ['/boom'] },
    {
      bsize: 4096,
      frsize: 4096,
      blocks: 2 ** 40,
      bfree: 2 ** 39,
      bavail: 2 ** 38,
      files: 1000,
      ffree: 10,
      favail: 10,
      namemax: 255,
    },
  )
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
  t.equal(
    (await sh(`cmp ${q('big')} - < /dev/zero 2>&1; head -c 300000 /dev/zero | tr '\\0' Z | cmp - ${q('big')} && echo same`)).stdout.trim().split('\n').pop(),
    'same',
    'a 300 KB file (several reads) reads back intact',
  )

  const find = await sh(`cd ${q('')} && find . -type f | sort`)
  t.equal(find.stdout, './ancient\n./big\n./boom\n./hello\n./link2hello\n./sub/inner\n', 'find -type f (types from readdir attrs)')

  const inos = (await sh(`stat -c '%i %n' ${q('hello')} ${q('link2hello')} ${q('sub/inner')} ${q('big')}`)).stdout
  t.equal(
    inos,
    `1001 ${path.join(mnt, 'hello')}\n1001 ${path.join(mnt, 'link2hello')}\n1006 ${path.join(mnt, 'sub/inner')}\n${2 ** 40 + 7} ${path.join(mnt, 'big')}\n`,
    'inode numbers come through whole, hard links equal',
  )
  t.equal((await sh(`ls -i ${q('sub')}`)).stdout.trim(), '1006 inner', 'readdir carries inode numbers')
  t.equal((await sh(`stat -c %Y ${q('ancient')}`)).stdout, '0\n', 'pre-1970 time clamped to the epoch')
  t.equal((await sh(`stat -c %Y ${q('hello')}`)).stdout, '1600000000\n')

  const df = (await sh(`stat -f -c '%S %b %f %a' ${q('')}`)).stdout.trim().split(' ').map(Number)
  t.equal(df[0]! * df[1]!, 4096 * 2 ** 40, 'statfs total right on a 4 PiB source')
  t.equal(df[0]! * df[3]!, 4096 * 2 ** 38, 'statfs available right')

  const writes = [
    `echo x > ${q('hello')}`,
    `echo x >> ${q('hello')}`,
    `touch ${q('new')}`,
    `mkdir ${q('dir')}`,
    `rm ${q('hello')}`,
    `mv ${q('hello')} ${q('moved')}`,
    `ln -s x ${q('newlink')}`,
    `chmod 777 ${q('hello')}`,
  ]
  for (const w of writes) {
    const r = await sh(w)
    t.not(r.code, 0, `${w} fails`)
    t.match(r.stderr, /Read-only file system/, `${w}: EROFS`)
  }
  t.equal((await sh(`cat ${q('hello')}`)).stdout, 'hello world\n', 'content unchanged')

  const boom = await sh(`cat ${q('boom')}`)
  t.match(boom.stderr, /Input\/output error/, 'a throwing handler gives EIO')
  t.ok(
    log.some((l) => /^read \/boom: Error: injected read fault$/.test(l)),
    'and one log line',
  )
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
  t.ok(
    log.some((l) => /detaching lazily/.test(l)),
    'lazy fallback logged',
  )
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

const isStale = (mnt: string): Promise<boolean> => new Promise((r) => stat(mnt, (err) => r(err?.code === 'ENOTCONN')))

t.test('a SIGKILLed server leaves a dead mount (ENOTCONN), which the next mount clears', async (t) => {
  const mnt = tempMountpoint(t)
  const { child } = await startChild(t, mnt)
  t.same(
    childPids(child.pid!).filter((pid) => ['fusermount', 'fusermount3'].includes(cmdline(pid)[0]!)),
    [],
    'no auto_unmount helper',
  )
  child.kill('SIGKILL')
  await waitFor('the mount to be dead', () => isStale(mnt), 5000)
  await new Promise((r) => setTimeout(r, 1500))
  t.ok((await isStale(mnt)) && isMounted(mnt), 'it stays: readers get an error, never the empty directory under it')

  const log: string[] = []
  const handle = await mountView(new MemView(tree()), mnt, options(log))
  t.teardown(() => handle.unmount())
  t.ok(
    log.some((l) => /clearing stale fuse\.tsreverse mount of mount-child/.test(l)),
    'recovery logged',
  )
  t.equal((await sh(`cat '${mnt}/hello'`)).stdout, 'hello world\n')
})
