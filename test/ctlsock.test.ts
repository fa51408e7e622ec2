// -ctlsock: gocryptfs' control-socket protocol, compared byte for byte with gocryptfs 2.3's own
// socket on the same source and through gocryptfs-xray; hostile clients get errors or a closed
// connection while the mount keeps serving; the socket goes away with the mount.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { answer, CtlError, goJsonString, sanitizePath, type PathBackend } from '../src/cli/ctlsock.js'
import { runCli } from './lib/cli.js'
import { isMounted } from './lib/mounts.js'
import { initSource, mountDir, mountGocryptfs, mountOurs, scratchDir, stopMount } from './lib/reverse-mounts.js'

const hasGocryptfs = spawnSync('gocryptfs', ['-version']).status === 0
const hasXray = spawnSync('sh', ['-c', 'command -v gocryptfs-xray']).status === 0

const echo: PathBackend = {
  encryptPath: async (p) => Buffer.concat([Buffer.from('E:'), p]),
  decryptPath: async () => {
    throw new CtlError(2, 'no such file or directory')
  },
}
const ask = async (req: string): Promise<string> => (await answer(Buffer.from(req), echo)).toString('utf8')

t.test('requests and answers as ctlsocksrv spells them', async (t) => {
  t.equal(await ask('{"EncryptPath":"a/b"}'), '{"Result":"E:a/b","ErrNo":0,"ErrText":"","WarnText":""}\n')
  t.equal(await ask('{"encryptpath":"x","Other":1}'), '{"Result":"E:x","ErrNo":0,"ErrText":"","WarnText":""}\n', 'names fold case, unknown ones are ignored')
  t.equal(await ask('{"DecryptPath":"x"}'), '{"Result":"","ErrNo":2,"ErrText":"no such file or directory","WarnText":""}\n')
  t.match(await ask('{"EncryptPath":"a","DecryptPath":"b"}'), /"ErrNo":-1,"ErrText":"Ambiguous"/)
  t.match(await ask('null'), /"ErrText":"Empty input"/)
  t.match(await ask('{}'), /"ErrText":"Empty input"/)
  t.match(await ask('garbage'), /"ErrNo":-1,"ErrText":"JSON Unmarshal error: /)
  t.match(await ask('[]'), /cannot unmarshal array into Go value of type ctlsock.RequestStruct/)
  t.match(await ask('{"EncryptPath":5}'), /cannot unmarshal number into Go struct field RequestStruct.EncryptPath of type string/)
  t.equal(
    await ask('{"EncryptPath":"/a//b/../c/"}'),
    `{"Result":"E:a/c","ErrNo":0,"ErrText":"","WarnText":"Non-canonical input path '/a//b/../c/' has been interpreted as 'a/c'."}\n`,
  )
  t.match(
    await ask('{"EncryptPath":"/../x"}'),
    /"ErrText":"Empty input after canonicalization","WarnText":"Non-canonical input path '\/..\/x' has been interpreted as ''."/,
  )
})

t.test('SanitizePath and Go string encoding', async (t) => {
  const clean = (p: string): string => sanitizePath(Buffer.from(p)).toString()
  for (const [input, out] of [
    ['a', 'a'],
    ['//a/./b//', 'a/b'],
    ['a/..', ''],
    ['..', ''],
    ['a/../../x', ''],
    ['./', ''],
    ['a/b/../../c', 'c'],
  ]) {
    t.equal(clean(input!), out, JSON.stringify(input))
  }
  t.equal(goJsonString(Buffer.from('<&>"\\\n\t\x01\u2028é')), '"\\u003c\\u0026\\u003e\\"\\\\\\n\\t\\u0001\\u2028é"')
  t.equal(goJsonString(Buffer.from([0x61, 0xff, 0xe2, 0x82, 0x62])), '"a\\ufffd\\ufffd\\ufffdb"', 'each invalid byte is one \\ufffd')
})

/** Sends each request on one connection, one at a time; returns the raw answers. */
async function exchange(socket: string, requests: (string | Buffer)[]): Promise<string[]> {
  const conn = net.connect(socket)
  const answers: string[] = []
  await new Promise<void>((resolve, reject) => {
    // A connection the server drops may end in a reset.
    conn.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? resolve() : reject(e)))
    conn.on('close', () => resolve())
    const next = (): void => {
      if (answers.length === requests.length) conn.end()
      else conn.write(requests[answers.length]!)
    }
    conn.on('data', (d) => {
      answers.push(d.toString('latin1'))
      next()
    })
    conn.on('connect', next)
  })
  return answers
}

/** Every path of a tree, relative, directories included. */
function treePaths(root: string, rel = ''): string[] {
  const out: string[] = []
  for (const e of readdirSync(path.join(root, rel), { withFileTypes: true })) {
    const p = rel === '' ? e.name : `${rel}/${e.name}`
    out.push(p)
    if (e.isDirectory()) out.push(...treePaths(root, p))
  }
  return out
}

t.test('a reverse mount answers as gocryptfs -reverse -ctlsock', { skip: !hasGocryptfs && 'gocryptfs is not installed' }, async (t) => {
  const dir = scratchDir(t)
  const { src, passfile } = initSource(t, dir)
  const oursSock = path.join(dir, 'ours.sock')
  const theirsSock = path.join(dir, 'theirs.sock')
  const ours = mountOurs(t, ['-ctlsock', oursSock, '-passfile', passfile, src, mountDir(dir, 'ours')])
  mountGocryptfs(t, ['-reverse', '-ctlsock', theirsSock, '-passfile', passfile, src, mountDir(dir, 'theirs')])
  t.equal(statSync(oursSock).mode, statSync(theirsSock).mode, 'same socket mode')

  const plain = treePaths(src).filter((p) => p !== '.gocryptfs.reverse.conf')
  const cipher = treePaths(ours.mnt)
  const requests = [
    ...plain.map((p) => JSON.stringify({ EncryptPath: p })),
    ...cipher.map((p) => JSON.stringify({ DecryptPath: p })),
    ...['/a//b/', 'a/../..', '', 'x/../y', 'a/b/c/../../b/at-level-2.txt'].map((p) => JSON.stringify({ EncryptPath: p })),
    ...['gocryptfs.conf', 'nonexistent', 'AAAAAAAAAAAAAAAAAAAAAA', `${cipher[0]}/x`].map((p) => JSON.stringify({ DecryptPath: p })),
    '{"EncryptPath":"a","DecryptPath":"b"}',
    'null',
    '{"encryptPATH":"<&>\\u2028"}',
  ]
  const theirs = await exchange(theirsSock, requests)
  const mine = await exchange(oursSock, requests)
  t.equal(mine.length, requests.length)
  for (let i = 0; i < requests.length; i++) t.equal(mine[i], theirs[i], requests[i]!)
  t.ok(
    cipher.some((p) => p.includes('gocryptfs.longname.')),
    'hashed long names are among them',
  )

  if (hasXray) {
    for (const [flag, input] of [
      ['-encrypt-paths', plain],
      ['-decrypt-paths', cipher.filter((p) => !p.endsWith('.name'))],
    ] as const) {
      const xray = (sock: string): string => {
        const r = spawnSync('gocryptfs-xray', [flag, sock], { input: Buffer.from(input.join('\n') + '\n'), encoding: 'latin1', timeout: 30_000 })
        return `${r.status} ${r.stdout} ${r.stderr}`
      }
      t.equal(xray(oursSock), xray(theirsSock), `gocryptfs-xray ${flag} gives the same output`)
    }
  }
  await stopMount(ours)
  t.notOk(existsSync(oursSock), 'the socket is removed when the mount ends')
})

t.test('hostile clients: the mount keeps serving', async (t) => {
  const dir = scratchDir(t)
  const { src, passfile } = initSource(t, dir)
  const sock = path.join(dir, 'ctl.sock')
  const m = mountOurs(t, ['-ctlsock', sock, '-passfile', passfile, src, mountDir(dir, 'mnt')])
  const good = JSON.stringify({ EncryptPath: 'a/b' })
  const [expected] = await exchange(sock, [good])
  t.match(expected, /^\{"Result":"[\w-]+\/[\w-]+","ErrNo":0/)

  // A request that fills gocryptfs' read buffer ends the connection without an answer.
  t.same(await exchange(sock, [Buffer.alloc(100_000, 'x')]), [], 'oversized request: connection closed')
  const garbage = await exchange(sock, ['{"EncryptPath":', Buffer.from([0xff, 0xfe, 0x00]), '{"DecryptPath":"../../etc/passwd"}', good])
  t.match(garbage[0], /JSON Unmarshal error/)
  t.match(garbage[1], /JSON Unmarshal error/)
  t.match(garbage[2], /Empty input after canonicalization/)
  t.equal(garbage[3], expected, 'the connection still answers after errors')

  const clients = await Promise.all(Array.from({ length: 100 }, () => exchange(sock, [good, good])))
  t.ok(
    clients.every((a) => a.length === 2 && a.every((x) => x === expected)),
    '100 clients at once all get answers',
  )
  // Clients that connect and say nothing hold no answer back from the others.
  const silent = Array.from({ length: 20 }, () => net.connect(sock).on('error', () => {}))
  t.same(await exchange(sock, [good]), [expected], 'answers while silent clients wait')
  silent.forEach((c) => c.destroy())
  t.ok(isMounted(m.mnt) && readdirSync(m.mnt).length > 0, 'the mount still serves')
})

t.test("a bad socket path fails before the password, with gocryptfs' exit code 20", async (t) => {
  const dir = scratchDir(t)
  const { src } = initSource(t, dir, { empty: true })
  const r = runCli(['-ctlsock', path.join(dir, 'no-dir', 'ctl.sock'), '-passfile', path.join(dir, 'missing'), src, mountDir(dir, 'mnt')])
  t.equal(r.code, 20)
  t.match(r.stderr, /^tsreverse: ctlsock: /)
})
