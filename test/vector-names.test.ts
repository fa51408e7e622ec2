// Recomputes, from plaintext-tree.tar and each vector's master key and flags, the set of view
// paths with their types and every name, gocryptfs.diriv, .name file and symlink target, and
// compares them with the view captured from real gocryptfs 2.3 (view.tar and view.listing).
// File contents are checked elsewhere.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { createHash, hkdfSync } from 'node:crypto'
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createAesSiv, type AesSiv } from '../src/format/aes-siv.js'
import { CONF_NAME, DIRIV_NAME, LONGNAME_SUFFIX, NameCipher, isLongNameFile } from '../src/format/names.js'
import { derivePathIv, symlinkIvPath } from '../src/format/pathiv.js'
import { decryptSymlinkTarget, encryptSymlinkTarget, encryptedTargetLength } from '../src/format/symlink.js'
import { VECTORS } from './lib/vectors.js'

type Kind = 'f' | 'd' | 'l'
/** View path (raw bytes as latin1, no leading './') -> type, plus the bytes this test owns. */
type View = Map<string, { kind: Kind; bytes?: Buffer }>

interface Vector {
  plaintextNames: boolean
  dirIv: boolean
  raw64: boolean
  names?: NameCipher
  siv: AesSiv
}

function loadVector(dir: string): Vector {
  const conf = JSON.parse(readFileSync(join(dir, 'gocryptfs.conf'), 'utf8')) as {
    FeatureFlags: string[]
    LongNameMax?: number
  }
  const flags = new Set(conf.FeatureFlags)
  const masterKey = Buffer.from(readFileSync(join(dir, 'masterkey.txt'), 'ascii').replace(/[-\s]/g, ''), 'hex')
  const hkdf = (info: string, length: number) => Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), info, length))
  const raw64 = flags.has('Raw64')
  const plaintextNames = flags.has('PlaintextNames')
  return {
    plaintextNames,
    dirIv: flags.has('DirIV'),
    raw64,
    names: plaintextNames
      ? undefined
      : new NameCipher(hkdf('EME filename encryption', 32), {
          raw64,
          longNameMax: conf.LongNameMax ?? 0,
          longNames: flags.has('LongNames'),
        }),
    siv: createAesSiv(hkdf('AES-SIV file content encryption', 64)),
  }
}

function child(dir: Buffer, name: Buffer): Buffer {
  return dir.length === 0 ? name : Buffer.concat([dir, Buffer.from('/'), name])
}

function kindOf(path: Buffer): Kind {
  const st = lstatSync(path)
  return st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : 'f'
}

function expectedView(plainRoot: string, v: Vector): View {
  const view: View = new Map([[CONF_NAME, { kind: 'f' as Kind }]])
  const add = (path: Buffer, kind: Kind, bytes?: Buffer) => view.set(path.toString('latin1'), { kind, bytes })
  const walk = (plainDir: Buffer, cDir: Buffer) => {
    const dirIv = v.dirIv ? derivePathIv(cDir, 'DIRIV') : Buffer.alloc(16)
    if (v.dirIv) add(child(cDir, Buffer.from(DIRIV_NAME)), 'f', dirIv)
    for (const name of readdirSync(plainDir, { encoding: 'buffer' })) {
      const plainPath = Buffer.concat([plainDir, Buffer.from('/'), name])
      let cName = name
      if (v.names) {
        const { name: shown, full } = v.names.viewName(name, dirIv)
        cName = Buffer.from(shown)
        if (shown !== full) add(child(cDir, Buffer.from(shown + LONGNAME_SUFFIX)), 'f', Buffer.from(full))
      }
      const cPath = child(cDir, cName)
      const kind = kindOf(plainPath)
      if (kind === 'l') {
        const target = readlinkSync(plainPath, { encoding: 'buffer' })
        if (v.plaintextNames) {
          add(cPath, kind, target)
        } else {
          const nonce = derivePathIv(symlinkIvPath(cPath.toString('latin1')), 'SYMLINKIV')
          add(cPath, kind, Buffer.from(encryptSymlinkTarget(v.siv, target, nonce, v.raw64)))
        }
      } else {
        add(cPath, kind)
      }
      if (kind === 'd') walk(plainPath, cPath)
    }
  }
  walk(Buffer.from(plainRoot), Buffer.alloc(0))
  return view
}

/** The extracted view, reading only the bytes this test owns. */
function actualView(viewRoot: string): View {
  const view: View = new Map()
  const walk = (dir: Buffer, rel: Buffer) => {
    for (const name of readdirSync(dir, { encoding: 'buffer' })) {
      const path = Buffer.concat([dir, Buffer.from('/'), name])
      const relPath = child(rel, name)
      const kind = kindOf(path)
      const nameText = name.toString('latin1')
      let bytes: Buffer | undefined
      if (kind === 'l') bytes = readlinkSync(path, { encoding: 'buffer' })
      else if (kind === 'f' && (nameText === DIRIV_NAME || isLongNameFile(nameText))) bytes = readFileSync(path)
      view.set(relPath.toString('latin1'), { kind, bytes })
      if (kind === 'd') walk(path, relPath)
    }
  }
  walk(Buffer.from(viewRoot), Buffer.alloc(0))
  return view
}

/** One comparable line per entry; sorted so a failure shows a readable diff. */
function render(view: View): string[] {
  return [...view].map(([path, { kind, bytes }]) => `${kind} ${path}${bytes ? ' = ' + bytes.toString('hex') : ''}`).sort()
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}

const work = mkdtempSync(join(tmpdir(), 'tsreverse-names-'))
t.teardown(() => rmSync(work, { recursive: true, force: true }))
const plainRoot = join(work, 'plain')
mkdirSync(plainRoot)
execFileSync('tar', ['-xf', join(VECTORS, 'plaintext-tree.tar'), '-C', plainRoot])

for (const id of ['A', 'B', 'C']) {
  t.test(`vector ${id}`, async (t) => {
    const dir = join(VECTORS, id)
    const v = loadVector(dir)
    const viewRoot = join(work, `view${id}`)
    mkdirSync(viewRoot)
    execFileSync('tar', ['-xf', join(dir, 'view.tar'), '-C', viewRoot])

    const expected = expectedView(plainRoot, v)
    t.same(render(actualView(viewRoot)), render(expected), 'paths, types, diriv, .name and symlink bytes equal view.tar')

    const count = (pred: (path: string, kind: Kind) => boolean) =>
      [...expected].filter(([path, { kind }]) => pred(path.slice(path.lastIndexOf('/') + 1), kind)).length
    t.equal(count((name) => name === DIRIV_NAME) > 0, v.dirIv, 'diriv files exactly when DirIV')
    t.equal(count((name) => isLongNameFile(name)) > 0, !v.plaintextNames, '.name files exactly with encrypted names')
    t.equal(
      count((_, kind) => kind === 'l'),
      4,
      'all four symlinks covered',
    )

    // view.listing: "f MODE SIZE SHA256 PATH", "l MODE SIZE TARGET PATH", "d MODE - - PATH".
    const listed = new Map<string, string[]>()
    for (const line of readFileSync(join(dir, 'view.listing')).toString('latin1').split('\n')) {
      if (line === '') continue
      const fields = line.split(' ')
      listed.set(fields.slice(4).join(' ').replace(/^\.\//, ''), fields.slice(0, 4))
    }
    t.same([...listed.keys()].sort(), [...expected.keys()].sort(), 'view.listing has the same paths')
    for (const [path, { kind, bytes }] of expected) {
      const [lKind, , lSize, lData] = listed.get(path) ?? []
      if (lKind !== kind) t.fail(`listing type of ${path}`)
      if (!bytes) continue
      if (kind === 'f' && lData !== sha256(bytes)) t.fail(`listing sha256 of ${path}`)
      if (kind === 'l') {
        if (lData !== bytes.toString('latin1')) t.fail(`listing target of ${path}`)
        if (Number(lSize) !== bytes.length) t.fail(`listing size of ${path}`)
      }
    }

    if (!v.plaintextNames) {
      // The captured targets decrypt to the plaintext targets, and their lengths (the lstat
      // size) follow from the plaintext length alone.
      const plainTargets = expectedView(plainRoot, { ...v, plaintextNames: true, dirIv: false, names: undefined })
      const want = [...plainTargets].filter(([, e]) => e.kind === 'l').map(([, e]) => e.bytes!.toString('latin1'))
      const got = [...expected]
        .filter(([, e]) => e.kind === 'l')
        .map(([, e]) => {
          const plain = decryptSymlinkTarget(v.siv, e.bytes!.toString('latin1'), v.raw64)
          t.equal(encryptedTargetLength(plain.length, v.raw64), e.bytes!.length)
          return plain.toString('latin1')
        })
      t.same(got.sort(), want.sort(), 'symlink targets decrypt')
    }
  })
}
