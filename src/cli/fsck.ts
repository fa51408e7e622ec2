// `tsreverse -fsck CIPHERDIR`: checks a ciphertext copy (every name, block and symlink target)
// without writing anything. Problems go to stdout one per line; exit code 26 when there are
// any, as gocryptfs -fsck. Set-id bits and device nodes are listed the same way but do not
// count as problems.
import path from 'node:path'
import { ExitCode, UserError } from '../exitcodes.js'
import { CipherTree } from '../restore/cipher-tree.js'
import { fsck } from '../restore/fsck.js'
import { PATH_HINT, formatProblem, pathProblem } from '../restore/problems.js'
import { formatBytes } from '../restore/progress.js'
import type { Flags } from './args.js'
import { cipherKeys, treeFlags } from './cipher-keys.js'
import { isDir } from './dirs.js'
import { plural } from '../plural.js'

export async function runFsck(flags: Flags, positional: string[]): Promise<void> {
  if (positional.length !== 1) throw new UserError(`-fsck needs CIPHERDIR, got ${plural(positional.length, 'argument')}`, ExitCode.Usage)
  const root = path.resolve(positional[0]!)
  if (!isDir(root)) {
    throw new UserError(`ciphertext directory ${positional[0]} does not exist or is not a directory`, ExitCode.CipherDir)
  }
  const { settings, keys, siv, notes } = await cipherKeys(flags, root)
  if (!flags.quiet) for (const n of notes) process.stderr.write(n + '\n')
  const tree = await CipherTree.create({ root, settings, keys, siv, ...treeFlags(flags) })
  let hint = false
  const r = await fsck(tree, (p) => {
    hint ||= pathProblem(p)
    process.stdout.write(formatProblem(p) + '\n')
  })
  let checked = `${plural(r.dirs, 'directory', 'directories')}, ${plural(r.files, 'file')} (${formatBytes(r.bytes)} authenticated), ${plural(r.symlinks, 'symlink')}`
  if (r.special) checked += `; ${r.special} with set-id bits or device nodes, listed [special]`
  if (r.problems === 0) {
    if (!flags.quiet) process.stdout.write(`fsck summary: no problems found (${checked})\n`)
    return
  }
  process.stdout.write(`fsck summary: ${r.problems} problem(s) (${checked})\n`)
  if (hint && !tree.storedIvs) process.stdout.write(`hint: ${PATH_HINT}\n`)
  throw new UserError(`fsck found ${r.problems} problem(s)`, ExitCode.FsckErrors)
}
