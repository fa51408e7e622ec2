// More than 10,000 hostile names looked up in a mounted view: undecodable and non-canonical
// base64, wrong lengths, forged ciphertexts of invalid names, aliases of real names, names of
// excluded entries, forged long names, overlong names, config-name variants, raw non-UTF-8
// bytes. Each class may only give its own errors; afterwards the same daemon still serves the
// same view (equal to gocryptfs -reverse), without having grown in memory or file descriptors.
// HOSTILE_SEED=<n> replays a run.
import t from 'tap'
import { lstatSync, openSync, closeSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { Eme } from '../src/format/eme.js'
import { deriveKeys } from '../src/format/keys.js'
import { encode64, isLongNameHash, pad16 } from '../src/format/names.js'
import { derivePathIv } from '../src/format/pathiv.js'
import { runCli } from './lib/cli.js'
import { fdCount, isMounted, processGone, status } from './lib/mounts.js'
import { Prng, seedFrom } from './lib/prng.js'
import { initSource, listTree, mountDir, mountGocryptfs, mountOurs, scratchDir } from './lib/reverse-mounts.js'

const SEED = seedFrom('HOSTILE_SEED')
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
// Never '/' (a separator) or NUL (refused by Node before any lookup).
const NOT_B64 = ['+', '=', '.', ' ', '!', '~', '%', '\\', '\t', '\r', '\n', ':', '*', '?', '"', "'", 'é', '😀', '\u00a0', '\ufeff']
const EXCLUDED_LONG = 'excluded-' + 'x'.repeat(190)
const EXCLUDED_LONG_IN_A = 'secret-' + 'y'.repeat(200)
const EXCLUDES = ['file-15', 'a/b', EXCLUDED_LONG, `a/${EXCLUDED_LONG_IN_A}`]
const MAX_RSS_GROWTH_KB = 30 * 1024

/** The errors each class may give (plus ENAMETOOLONG for components over 255 bytes). */
const ALLOWED: Record<string, string[]> = {
  'invalid base64': ['ENOENT'],
  'raw non-UTF-8 bytes': ['ENOENT'],
  'decoded length not a multiple of 16': ['ENOENT'],
  'random ciphertext': ['ENOENT'],
  'forged ciphertext of an invalid name': ['ENOENT'],
  'valid ciphertext of a missing name': ['ENOENT'],
  'real name from another directory': ['ENOENT'],
  'non-canonical alias of a real name': ['ENOENT'],
  'real name with one character changed': ['ENOENT'],
  'real name truncated or extended': ['ENOENT'],
  'full spelling of a hashed name': ['ENOENT'],
  'dot names': ['ENOENT'],
  'excluded entry': ['EPERM'],
  'below an excluded directory': ['EPERM'],
  'forged gocryptfs.longname': ['ENOENT'],
  '255 bytes': ['ENOENT'],
  '256 bytes and more': ['ENOENT', 'ENAMETOOLONG'],
  'config and diriv name variants': ['ENOENT'],
  'below a regular file': ['ENOTDIR'],
}

interface Probe {
  cls: string
  rel: Buffer
}

function errorCode(fn: () => void): string {
  try {
    fn()
    return 'ok'
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e)
  }
}

/** raw64 base64url of bytes, canonical. */
const b64 = (data: Uint8Array): string => encode64(data, true)

/** Significant bits of the last base64 character of n bytes' encoding; the rest must be zero. */
const unusedBits = (n: number): number => [0, 4, 2][n % 3]!

t.test(`hostile names looked up in the mounted view (seed ${SEED})`, async (t) => {
  t.comment(`HOSTILE_SEED=${SEED}`)
  const rng = new Prng(SEED)
  const dir = scratchDir(t, 'tsreverse-hostile-')
  const source = initSource(t, dir)
  writeFileSync(path.join(source.src, EXCLUDED_LONG), 'excluded\n')
  writeFileSync(path.join(source.src, 'a', EXCLUDED_LONG_IN_A), 'excluded too\n')
  const flags = [...EXCLUDES.flatMap((e) => ['-exclude', e]), '-passfile', source.passfile, source.src]
  const ours = mountOurs(t, [...flags, mountDir(dir, 'ours')])
  const mnt = ours.mnt
  const viewBefore = listTree(mnt, { hash: true })

  // View names of the excluded entries, from the CLI.
  const plainPaths = [...EXCLUDES, 'a/b/c', 'a/b/at-level-2.txt', 'a/b/c/deep.txt']
  const enc = runCli(['-encrypt-paths', '-passfile', source.passfile, source.src], { input: plainPaths.join('\n') + '\n' })
  t.equal(enc.code, 0, enc.stderr)
  const excludedViewPaths = enc.stdout.split('\n').slice(0, plainPaths.length)
  t.equal(excludedViewPaths.filter((p) => p !== '').length, plainPaths.length, 'every excluded path has a view path')
  const aName = excludedViewPaths[1]!.split('/')[0]!
  const excludedDir = excludedViewPaths[1]!
  t.match(excludedViewPaths[2], /^gocryptfs\.longname\./, 'the excluded long name is hashed')

  // Directories probed, with the tweak of their names.
  const rootNames = readdirSync(mnt)
  const longDir = rootNames.find((n) => n.startsWith('gocryptfs.longname.') && !n.endsWith('.name') && lstatSync(path.join(mnt, n)).isDirectory())!
  t.ok(longDir, 'the tree has a directory with a hashed name')
  const dirs = [
    { rel: '', names: rootNames },
    { rel: aName, names: readdirSync(path.join(mnt, aName)) },
    { rel: longDir, names: readdirSync(path.join(mnt, longDir)) },
  ].map((d) => ({ ...d, iv: derivePathIv(d.rel, 'DIRIV') }))
  const realPaths = dirs.flatMap((d) => d.names.map((n) => (d.rel === '' ? n : `${d.rel}/${n}`)))
  const regularFile = rootNames.find((n) => !n.startsWith('gocryptfs.') && lstatSync(path.join(mnt, n)).isFile() && lstatSync(path.join(mnt, n)).size > 0)!
  const eme = new Eme(deriveKeys(source.masterKey, { hkdf: true }).eme)

  const probes: Probe[] = []
  const seen = new Set<string>()
  const add = (cls: string, dirRel: string, name: string | Buffer): boolean => {
    const rel = Buffer.concat([Buffer.from(dirRel === '' ? '' : dirRel + '/'), Buffer.from(name)])
    const key = rel.toString('latin1')
    // A real entry is no hostile name; '.' and '..' never reach the server.
    const last = Buffer.from(name).toString('latin1')
    if (seen.has(key) || realPaths.includes(key) || last === '.' || last === '..') return false
    seen.add(key)
    probes.push({ cls, rel })
    return true
  }
  const each = (cls: string, count: number, make: () => [string, string | Buffer]): void => {
    let made = 0
    for (let tries = 0; made < count && tries < count * 20; tries++) if (add(cls, ...make())) made++
  }
  const someDir = () => rng.pick(dirs)
  // Encrypted and hashed names; not gocryptfs.diriv, gocryptfs.conf or .name files.
  const realIn = (d: (typeof dirs)[number]) => rng.pick(d.names.filter((n) => !n.startsWith('gocryptfs.') || isLongNameHash(n)))
  const randomB64 = (len: number) => Array.from({ length: len }, () => rng.pick([...B64])).join('')

  each('invalid base64', 1500, () => {
    const chars = Array.from({ length: rng.range(1, 120) }, () => (rng.float() < 0.8 ? rng.pick([...B64]) : rng.pick(NOT_B64)))
    chars[rng.int(chars.length)] = rng.pick(NOT_B64)
    return [someDir().rel, chars.join('')]
  })
  each('raw non-UTF-8 bytes', 500, () => {
    const bytes = Buffer.from(Array.from({ length: rng.range(1, 200) }, () => rng.pick([rng.range(1, 0x2e), rng.range(0x30, 0xff), 0xff, 0xc0, 0x80])))
    bytes[rng.int(bytes.length)] = rng.range(0x80, 0xff)
    return [someDir().rel, bytes]
  })
  each('decoded length not a multiple of 16', 1200, () => {
    let n = rng.range(1, 191)
    if (n % 16 === 0) n++
    return [someDir().rel, b64(rng.bytes(n))]
  })
  each('random ciphertext', 1200, () => [someDir().rel, b64(rng.bytes(16 * rng.range(1, 11)))])
  // Ciphertexts made with the real name key and tweak, of plaintexts the view must refuse.
  const invalidPlain = (): Buffer => {
    switch (rng.int(7)) {
      case 0:
        return pad16(Buffer.from(rng.pick(['.', '..'])))
      case 1:
        return pad16(Buffer.alloc(0))
      case 2:
        return pad16(Buffer.from(`${randomB64(rng.range(0, 20))}/${randomB64(rng.range(0, 20))}`))
      case 3:
        return pad16(Buffer.from(`${randomB64(rng.range(0, 20))}\0${randomB64(rng.range(0, 20))}`))
      case 4:
        return pad16(Buffer.from(randomB64(256))) // pads to 272 bytes: longer than any valid name
      case 5: {
        // last byte 0 or above 16
        const p = pad16(Buffer.from(randomB64(rng.range(1, 40))))
        p[p.length - 1] = rng.pick([0, 17, 0x80, 0xff])
        return p
      }
      default: {
        // padding bytes that disagree with the count
        const p = pad16(Buffer.from(randomB64(rng.range(1, 13))))
        const k = p[p.length - 1]!
        if (k > 1) p[p.length - 1 - rng.range(1, k - 1)] ^= rng.range(1, 255)
        else p[p.length - 1] = 0
        return p
      }
    }
  }
  each('forged ciphertext of an invalid name', 1200, () => {
    const d = someDir()
    return [d.rel, b64(eme.encrypt(d.iv, invalidPlain()))]
  })
  each('valid ciphertext of a missing name', 500, () => {
    const d = someDir()
    return [d.rel, b64(eme.encrypt(d.iv, pad16(Buffer.from(`missing-${rng.u32()}`))))]
  })
  each('real name from another directory', 200, () => {
    const from = someDir()
    const to = rng.pick(dirs.filter((d) => d !== from))
    return [to.rel, realIn(from)]
  })
  each('non-canonical alias of a real name', 600, () => {
    const d = someDir()
    const real = realIn(d)
    const hashed = real.startsWith('gocryptfs.longname.')
    const b64part = hashed ? real.slice('gocryptfs.longname.'.length) : real
    const n = Buffer.from(b64part, 'base64url').length
    const unused = unusedBits(n)
    if (unused === 0) return [d.rel, real] // no spare bits in this name: skipped as a duplicate
    const last = B64.indexOf(b64part[b64part.length - 1]!)
    const alias = b64part.slice(0, -1) + B64[last | rng.range(1, (1 << unused) - 1)]
    return [d.rel, hashed ? 'gocryptfs.longname.' + alias : alias]
  })
  each('real name with one character changed', 800, () => {
    const d = someDir()
    const real = [...realIn(d)]
    const i = rng.int(real.length)
    const c = rng.pick([...B64, ...NOT_B64])
    if (c === real[i]) return [d.rel, real.join('')]
    real[i] = c
    return [d.rel, real.join('')]
  })
  each('real name truncated or extended', 400, () => {
    const d = someDir()
    const real = realIn(d)
    return [d.rel, rng.pick([real.slice(0, -rng.range(1, 4)), real + rng.pick(['=', '==', 'A', '_', '.name', ' ', '\n']), rng.pick(['A', '-', '=']) + real])]
  })
  for (const d of dirs) {
    for (const n of d.names.filter((x) => x.endsWith('.name'))) {
      add('full spelling of a hashed name', d.rel, readFileSync(path.join(mnt, d.rel, n), 'latin1'))
    }
  }
  each('dot names', 150, () => {
    const dots = '.'.repeat(rng.range(1, 5))
    return [
      someDir().rel,
      rng.pick([dots, `${dots}${rng.pick(NOT_B64)}`, `${dots}${randomB64(rng.range(1, 30))}`, '.'.repeat(255), '.gocryptfs.reverse.conf', `. ${dots}`]),
    ]
  })
  for (const p of excludedViewPaths) {
    const [dirRel, name] = [path.dirname(p) === '.' ? '' : path.dirname(p), path.basename(p)]
    add('excluded entry', dirRel, name)
    if (name.startsWith('gocryptfs.longname.')) add('excluded entry', dirRel, name + '.name')
  }
  each('below an excluded directory', 500, () => [
    excludedDir,
    rng.pick([b64(rng.bytes(16 * rng.range(1, 4))), randomB64(rng.range(1, 60)), 'gocryptfs.diriv', `gocryptfs.longname.${b64(rng.bytes(32))}`]),
  ])
  each('forged gocryptfs.longname', 1200, () => {
    const d = someDir()
    const hash = b64(rng.bytes(32))
    return [
      d.rel,
      rng.pick([
        `gocryptfs.longname.${hash}`,
        `gocryptfs.longname.${hash}.name`,
        `gocryptfs.longname.${randomB64(rng.range(0, 236))}`,
        `gocryptfs.longname.${randomB64(rng.range(0, 231))}.name`,
        `gocryptfs.longname.${hash}.name.name`,
        `Gocryptfs.longname.${hash}`,
        `gocryptfs.longname${hash}`,
        `gocryptfs.longname.${hash}${rng.pick(NOT_B64)}`,
        `gocryptfs.longname..name`,
        `gocryptfs.longname.`,
        // the hash of a long name of another directory
        `${rng.pick(dirs.filter((x) => x !== d)).names.find((n) => n.startsWith('gocryptfs.longname.')) ?? `gocryptfs.longname.${hash}`}`,
      ]),
    ]
  })
  each('255 bytes', 300, () => [someDir().rel, rng.pick([randomB64(255), `gocryptfs.longname.${randomB64(236)}`, `gocryptfs.longname.${randomB64(231)}.name`])])
  each('256 bytes and more', 600, () => {
    const len = rng.pick([256, 257, rng.range(258, 1024), 1024, 1025, rng.range(1026, 4000)])
    return [
      someDir().rel,
      rng.pick([randomB64(len), `gocryptfs.longname.${randomB64(len)}`, b64(rng.bytes(Math.ceil((len * 3) / 4 / 16) * 16)), '.'.repeat(len)]),
    ]
  })
  const variants = ['gocryptfs.conf', 'gocryptfs.diriv']
  each('config and diriv name variants', 150, () => {
    const base = rng.pick(variants)
    const d = someDir()
    const v = rng.pick([
      base.toUpperCase(),
      base[0]!.toUpperCase() + base.slice(1),
      `${base}.name`,
      `${base}.bak`,
      `${base}~`,
      `${base} `,
      ` ${base}`,
      `${base}\n`,
      `${base}.`,
      `.${base}`,
      `${base}${rng.pick(NOT_B64)}`,
      base.replace('.', '_'),
      base.replace('.', ''),
      `${base}${randomB64(rng.range(1, 10))}`,
      'gocryptfs.reverse.conf',
      '.gocryptfs.reverse.conf.tmp',
      'gocryptfs.conf.tmp',
    ])
    return [d.rel, v]
  })
  for (const d of dirs.slice(1)) add('config and diriv name variants', d.rel, 'gocryptfs.conf')
  each('below a regular file', 300, () => [regularFile, rng.pick([randomB64(rng.range(1, 40)), 'gocryptfs.diriv', 'gocryptfs.conf', b64(rng.bytes(16))])])

  t.ok(probes.length >= 10_000, `${probes.length} hostile names`)
  for (const cls of Object.keys(ALLOWED))
    t.ok(
      probes.some((p) => p.cls === cls),
      `class "${cls}" has names`,
    )

  // Shuffled, so no class runs against a cache the previous one warmed.
  for (let i = probes.length - 1; i > 0; i--) {
    const j = rng.int(i + 1)
    ;[probes[i], probes[j]] = [probes[j]!, probes[i]!]
  }
  // The baseline is taken after a warm-up share of the probes: a fresh daemon's heap and JIT
  // grow during its first thousands of requests whatever they are.
  const WARM_UP = 2000
  let rssBefore = 0
  let rssPeak = 0
  const fdsBefore = fdCount(ours.pid)
  const codes = new Map<string, Map<string, number>>()
  const failures: string[] = []
  const mntBuf = Buffer.from(mnt + '/')
  const started = Date.now()
  probes.forEach((p, i) => {
    if (i === WARM_UP) rssPeak = rssBefore = status(ours.pid, 'VmRSS')
    const abs = Buffer.concat([mntBuf, p.rel])
    const viaOpen = i % 4 === 0
    const code = errorCode(viaOpen ? () => closeSync(openSync(abs, 'r')) : () => lstatSync(abs))
    const perClass = codes.get(p.cls) ?? new Map<string, number>()
    codes.set(p.cls, perClass.set(code, (perClass.get(code) ?? 0) + 1))
    const tooLong = p.rel
      .toString('latin1')
      .split('/')
      .some((c) => c.length > 255)
    const allowed = [...ALLOWED[p.cls]!, ...(tooLong ? ['ENAMETOOLONG'] : [])]
    if (!allowed.includes(code) && failures.length < 20) {
      failures.push(`${p.cls}: ${viaOpen ? 'open' : 'lstat'} ${JSON.stringify(p.rel.toString('latin1'))} gave ${code}, allowed ${allowed.join('|')}`)
    }
    if (i % 250 === 0) {
      const real = rng.pick(realPaths)
      const ok = errorCode(() => lstatSync(path.join(mnt, real)))
      if (ok !== 'ok') failures.push(`after ${i} probes a real entry ${real} gave ${ok}`)
      if (i > WARM_UP && i % 1000 === 0) rssPeak = Math.max(rssPeak, status(ours.pid, 'VmRSS'))
    }
  })
  const seconds = (Date.now() - started) / 1000
  const rssAfter = status(ours.pid, 'VmRSS')
  rssPeak = Math.max(rssPeak, rssAfter)

  t.same(failures, [], 'every hostile name gave only the errors of its class')
  t.equal(processGone(ours.pid), false, 'the same daemon is alive')
  t.ok(isMounted(mnt), 'and still mounted')
  t.same(listTree(mnt, { hash: true }), viewBefore, 'the view is unchanged')
  const theirs = mountGocryptfs(t, ['-reverse', ...flags, mountDir(dir, 'theirs')])
  t.same(viewBefore, listTree(theirs.mnt, { hash: true }), 'and equals the view of gocryptfs -reverse')
  t.ok(rssAfter - rssBefore < MAX_RSS_GROWTH_KB, `VmRSS ${rssBefore} kB after ${WARM_UP} names, ${rssAfter} kB after all (peak ${rssPeak} kB)`)
  t.ok(fdCount(ours.pid) <= fdsBefore, `no file descriptors leaked (${fdsBefore} before, ${fdCount(ours.pid)} after)`)

  const table = [...codes].map(([cls, m]) => `  ${cls}: ${[...m].map(([c, n]) => `${c} ${n}`).join(', ')}`)
  t.comment(
    `hostile-lookups: seed ${SEED}, ${probes.length} names in ${codes.size} classes, ${seconds.toFixed(1)} s, ` +
      `VmRSS ${rssBefore} -> ${rssAfter} kB (peak ${rssPeak} kB)\n${table.join('\n')}`,
  )
})
