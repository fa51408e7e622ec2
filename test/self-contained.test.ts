// The repository stands alone: no tracked file may point at material beside the checkout (a
// sibling "shared" directory) or into the work directory of one machine. Binary files are not read.
import { execFileSync } from 'node:child_process'
import { lstatSync, readFileSync, readlinkSync, realpathSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { ROOT } from './lib/vectors.js'

// Regex literals, so that this file does not match itself.
const FORBIDDEN = /\.\.\/shared\b|\/work\//

const git = (...args: string[]): string => execFileSync('git', ['-C', ROOT, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })

/** Whether ROOT is the top of a git checkout (not an install or an unpacked tarball). */
function isCheckout(): boolean {
  try {
    return realpathSync(git('rev-parse', '--show-toplevel').trim()) === realpathSync(ROOT)
  } catch {
    return false
  }
}

t.test('no tracked file refers to paths outside the repository', { skip: isCheckout() ? false : 'not a git checkout' }, async (t) => {
  const hits: string[] = []
  for (const rel of git('ls-files', '-z').split('\0').filter(Boolean)) {
    const abs = path.join(ROOT, rel)
    let text: string
    try {
      const st = lstatSync(abs)
      if (st.isSymbolicLink()) text = readlinkSync(abs)
      else {
        const data = readFileSync(abs)
        if (data.includes(0)) continue // binary, e.g. the vectors' tar files
        text = data.toString('utf8')
      }
    } catch {
      continue // deleted in the work tree, not yet committed
    }
    text.split('\n').forEach((line, i) => {
      if (FORBIDDEN.test(line)) hits.push(`${rel}:${i + 1}: ${line.trim()}`)
    })
  }
  t.same(hits, [], 'every reference stays inside the repository')
})
