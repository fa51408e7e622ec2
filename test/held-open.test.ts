// The open of a small file, unchanged since its lookup, is answered by the native pool thread
// that read and sealed it: the view's openHeld gives no handle for it, the bytes are the view's.
// Anything else (a large file, a file changed since its lookup) comes back to JavaScript.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { mountView } from '../src/fuse/adapter.js'
import { fuse } from '../src/fuse/binding.js'
import { createAesSiv } from '../src/format/aes-siv.js'
import { decryptFile } from '../src/format/content.js'
import { deriveKeys } from '../src/format/keys.js'
import { settingsFromFlags } from '../src/format/settings.js'
import { ReverseView } from '../src/view/reverse.js'
import type { ViewFs } from '../src/view/fs.js'
import { sh, tempMountpoint, waitFor } from './lib/mounts.js'

t.test('small unchanged files are answered on the pool; large and changed ones in JavaScript', async (t) => {
  const src = mkdtempSync(path.join(os.tmpdir(), 'tsreverse-held-'))
  t.teardown(() => rmSync(src, { recursive: true, force: true }))
  const files = { a: randomBytes(1), b: randomBytes(5000), c: randomBytes(4096 * 31), big: randomBytes(4096 * 40) }
  for (const [name, data] of Object.entries(files)) writeFileSync(path.join(src, name), data)
  // Times far in the past: the open then sees exactly what the lookup saw.
  for (const name of Object.keys(files)) utimesSync(path.join(src, name), 1_000_000, 1_000_000)
  const masterKey = randomBytes(32)
  const settings = settingsFromFlags({ plaintextNames: true })
  const logs: string[] = []
  const view = await ReverseView.create({ source: src, settings, masterKey, nativeSeal: true, strictConsistency: true, log: (m) => logs.push(m) })
  const settled: string[] = []
  const counting: ViewFs = {
    getattr: (p) => view.getattr(p),
    readdir: (p) => view.readdir(p),
    readlink: (p) => view.readlink(p),
    open: (p) => view.open(p),
    read: (fh, buf, len, pos) => view.read(fh, buf, len, pos),
    release: (fh) => view.release(fh),
    takeData: (fh) => view.takeData(fh),
    statfs: () => view.statfs(),
    openHeld: async (p, reply) => {
      const fh = await view.openHeld(p, reply)
      if (fh !== undefined) settled.push(p)
      return fh
    },
  }
  const mnt = tempMountpoint(t)
  const handle = await mountView(counting, mnt, { fsname: 'held', subtype: 'tsreverse', allowOther: false, readOnly: true, log: (m) => logs.push(m) })
  t.teardown(() => handle.unmount())
  const siv = createAesSiv(deriveKeys(masterKey, { hkdf: settings.hkdf }).siv)
  const viewBytes = async (name: string): Promise<Buffer> => {
    const r = await sh(`cat ${path.join(mnt, name)} | base64 -w0`)
    t.equal(r.code, 0, r.stderr)
    return Buffer.from(r.stdout, 'base64')
  }
  for (const [name, data] of Object.entries(files)) t.ok(decryptFile(siv, await viewBytes(name)).equals(data), `${name}: the view decrypts to the file`)
  t.same(settled, ['/big'], 'only the large file came back to JavaScript')
  await waitFor('held files to be released', () => fuse.heldBytes() === 0)

  // Changed between the lookup and the open: back to JavaScript, which fails the reads (strict).
  const b = path.join(src, 'b')
  const r = await sh(`stat -c %s ${path.join(mnt, 'b')} && printf more >> ${b} && cat ${path.join(mnt, 'b')} > /dev/null`)
  t.not(r.code, 0, 'the read fails')
  t.same(settled, ['/big', '/b'], 'the changed file came back to JavaScript')
  t.match(logs.join('\n'), /source file changed while it was read/)
  t.equal(readFileSync(b).length, 5004)
})
