// The golden vectors through the real CLI and FUSE: `tsreverse SRC MNT` (daemonized) on the
// plaintext tree with each vector's config must show exactly the captured view (view.tar and
// view.listing), with the password and with -masterkey plus flags, and must equal what real
// `gocryptfs -reverse` shows for the same source at the same time (timestamps included).
import t from 'tap'
import { chmodSync, copyFileSync, mkdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { diffTrees, listTree, mountDir, mountGocryptfs, mountOurs, run, scratchDir } from './lib/reverse-mounts.js'
import { VECTORS } from './lib/vectors.js'

// The flags that describe each config when it is not read (vectors README, check 3).
const MASTERKEY_FLAGS: Record<string, string[]> = {
  A: ['-aessiv', '-plaintextnames'],
  B: ['-aessiv'],
  C: ['-aessiv', '-deterministic-names', '-longnamemax', '100'],
}

function untar(tarFile: string, dir: string): void {
  mkdirSync(dir, { recursive: true })
  const r = run('tar', ['-C', dir, '-xf', tarFile])
  if (r.status !== 0) throw new Error(`tar -xf ${tarFile}: ${r.stderr}`)
}

for (const name of Object.keys(MASTERKEY_FLAGS)) {
  t.test(`vector ${name}`, async (t) => {
    const v = path.join(VECTORS, name)
    const work = scratchDir(t)
    const src = path.join(work, 'src')
    untar(path.join(VECTORS, 'plaintext-tree.tar'), src)
    const conf = path.join(src, '.gocryptfs.reverse.conf')
    copyFileSync(path.join(v, 'gocryptfs.conf'), conf)
    chmodSync(conf, 0o400)
    const expected = path.join(work, 'expected')
    untar(path.join(v, 'view.tar'), expected)
    const vectorListing = readFileSync(path.join(v, 'view.listing'), 'utf8').split('\n').filter(Boolean).sort()
    const passfile = path.join(v, 'passfile.txt')
    const key = readFileSync(path.join(v, 'masterkey.txt'), 'ascii').trim()

    const mnt = (n: string): string => mountDir(work, n)
    const ways: [string, string[], string[]][] = [
      ['-passfile', ['-passfile', passfile], ['-passfile', passfile]],
      ['-masterkey', ['-masterkey', key, ...MASTERKEY_FLAGS[name]!], ['-masterkey', key, ...MASTERKEY_FLAGS[name]!]],
    ]
    for (const [how, ourFlags, theirFlags] of ways) {
      const ours = mountOurs(t, [...ourFlags, src, mnt(`ours${how}`)]).mnt
      const theirs = mountGocryptfs(t, ['-reverse', ...theirFlags, src, mnt(`gocryptfs${how}`)]).mnt
      t.equal(diffTrees(ours, expected), '', `${how}: diff -r against view.tar`)
      t.same(listTree(ours, { hash: true }), vectorListing, `${how}: listing equals view.listing`)
      t.equal(diffTrees(ours, theirs), '', `${how}: diff -r against gocryptfs`)
      const full = { hash: true, mtime: true, nlink: true, dirSize: true }
      t.same(listTree(ours, full), listTree(theirs, full), `${how}: listing with times and link counts equals gocryptfs's`)
    }
  })
}
