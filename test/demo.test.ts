// The README's "run the main job" command, as a user runs it.
import { existsSync } from 'node:fs'
import t from 'tap'
import { runCli } from './lib/cli.js'
import { isMounted } from './lib/mounts.js'

t.test('tsreverse -demo mounts, shows ciphertext, restores and checks', async (t) => {
  const r = runCli(['-demo'])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /encrypted view at (\S+)/)
  t.match(r.stdout, /gocryptfs\.diriv/)
  t.match(r.stdout, /0000  00 02 /, 'a ciphertext header is shown')
  t.match(r.stdout, /6\. Checked: all \d+ entries \(\d+ files\) restored with identical bytes/)
  const work = /Demo finished; (\S+) removed\./.exec(r.stdout)?.[1]
  t.ok(work, 'names its work directory')
  t.notOk(existsSync(work!), 'work directory removed')
  t.notOk(isMounted(`${work}/view`), 'nothing left mounted')
})
