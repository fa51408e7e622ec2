// The manual page: generated from the flag table, tracked up to date, rendered by man(1) without warnings.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { flagList, helpText } from '../src/cli/args.js'
import { manPage } from '../src/cli/manpage.js'
import { VERSION } from '../src/cli/version.js'
import { ROOT } from './lib/vectors.js'

const page = path.join(ROOT, 'man/tsreverse.1')

t.test('man/tsreverse.1 is what `npm run man` writes now', async (t) => {
  t.equal(readFileSync(page, 'utf8'), manPage(VERSION), 'run `npm run man` after changing a flag')
})

t.test('every flag of -help is in the manual', async (t) => {
  const text = manPage(VERSION)
  for (const f of flagList()) {
    const name = `.B ${f.names.map((n) => `\\-${n.replace(/-/g, '\\-')}`).join(', ')}`
    t.ok(text.includes(name), f.names[0]!)
    t.ok(helpText().includes(`-${f.names[0]}`), `-help lists -${f.names[0]}`)
  }
  t.match(helpText(), /man tsreverse/, '-help points to the manual')
})

t.test('man renders it without warnings', async (t) => {
  const r = spawnSync('man', ['--warnings', '-l', page], { encoding: 'utf8', env: { ...process.env, MANWIDTH: '80', MANPAGER: 'cat', PAGER: 'cat' } })
  if (r.error) {
    t.comment(`man(1) is not installed: ${r.error.message}`)
    return
  }
  t.equal(r.status, 0)
  t.equal(r.stderr, '', 'no warnings')
  t.match(r.stdout, /EXIT STATUS/)
})
