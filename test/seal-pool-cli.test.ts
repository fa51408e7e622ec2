// -threads and -openssl through the real CLI: sealing on the native pool (with any bound on its
// sealing threads) or on the main thread, with either backend, gives the same view.
import t from 'tap'
import { randomFillSync } from 'node:crypto'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { runCli } from './lib/cli.js'
import { initSource, mountDir, mountOurs, scratchDir } from './lib/reverse-mounts.js'

t.test('out-of-range -threads fails before the password is read', async (t) => {
  const dir = scratchDir(t)
  const src = mountDir(dir, 'src')
  const mnt = mountDir(dir, 'mnt')
  for (const n of ['-1', '257']) {
    const r = runCli(['-fg', '-threads', n, '-passfile', path.join(dir, 'no-such-passfile'), src, mnt])
    t.equal(r.code, 1, `-threads ${n}: usage error`)
    t.match(r.stderr, /-threads/)
  }
})

t.test('-threads 0, 1 and 3 and -openssl=false serve byte-identical views', async (t) => {
  const dir = scratchDir(t)
  const { src, passfile } = initSource(t, dir)
  // Sizes that make whole 128 KiB reads, short tails, and a file read whole at open.
  for (const [name, size] of [
    ['big', 3 * 1024 * 1024 + 4097],
    ['mid', 200_000],
    ['small', 9000],
  ] as const) {
    writeFileSync(path.join(src, name), randomFillSync(Buffer.alloc(size)))
  }
  const variants = [
    ['-threads', '0'],
    ['-threads', '1'],
    ['-threads', '3'],
    ['-openssl=false', '-threads', '1'],
  ]
  const views = variants.map((flags, i) => mountOurs(t, [...flags, '-passfile', passfile, src, mountDir(dir, `mnt-${i}`)]))
  const names = readdirSync(views[0]!.mnt).sort()
  for (const v of views.slice(1)) t.same(readdirSync(v.mnt).sort(), names)
  let files = 0
  for (const name of names) {
    let inline: Buffer
    try {
      inline = readFileSync(path.join(views[0]!.mnt, name))
    } catch {
      continue // a directory
    }
    files++
    for (const v of views.slice(1)) {
      if (!readFileSync(path.join(v.mnt, name)).equals(inline)) t.fail(`${name} differs under ${v.mnt}`)
    }
  }
  t.ok(files >= 3, `${files} files compared`)
})
