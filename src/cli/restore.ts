// `tsreverse -restore CIPHERPATH DEST`: decrypts a file or subtree of a ciphertext copy into
// DEST without FUSE. Like cp: an existing directory DEST receives the entry under its plaintext
// name, otherwise DEST is the new name; the tree root's contents go into DEST itself.
import { promises as fsp } from 'node:fs'
import path from 'node:path'
import { ExitCode, UserError } from '../exitcodes.js'
import { CorruptError } from '../format/errors.js'
import { CONF_NAME, DIRIV_NAME } from '../format/names.js'
import { CipherTree, type TreeNode } from '../restore/cipher-tree.js'
import { PATH_HINT, formatProblem, pathProblem } from '../restore/problems.js'
import { Progress, formatBytes } from '../restore/progress.js'
import { measure, restore, type RestoreResult } from '../restore/restore.js'
import { findTreeRoot } from '../restore/root.js'
import { readable } from '../view/byte-string.js'
import { joinPath } from '../view/source.js'
import type { Flags } from './args.js'
import { cipherKeys, treeFlags } from './cipher-keys.js'
import { isInside } from './dirs.js'
import { plural } from '../plural.js'

/** The tree root: -cipherdir, else found by walking up from the path. */
async function treeRootOf(flags: Flags, cipherPath: string, what: string): Promise<string> {
  if (flags.cipherdir !== undefined) return path.resolve(flags.cipherdir)
  // Nothing marks the top of a subdirectory's copy.
  if (flags.prefix !== undefined) throw new UserError('-prefix needs -cipherdir: the directory of the copy that holds the prefix', ExitCode.Usage)
  const root = await findTreeRoot(cipherPath)
  if (root === undefined) {
    throw new UserError(
      `cannot find the root of the ciphertext tree above ${what} (no ${CONF_NAME} and no root ${DIRIV_NAME}); add -cipherdir DIR`,
      ExitCode.Usage,
    )
  }
  return root
}

/** CIPHERPATH with its directories resolved (not its last component: a symlink is restored as one). */
async function realEntryPath(p: string): Promise<string> {
  const abs = path.resolve(p)
  if (path.dirname(abs) === abs) return abs
  return path.join(await fsp.realpath(path.dirname(abs)), path.basename(abs))
}

async function isDirectory(p: string | Buffer): Promise<boolean> {
  return fsp.stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  )
}

/** Where the entry goes (see the file comment). */
async function destination(from: TreeNode, destArg: string): Promise<Buffer> {
  const dest = Buffer.from(path.resolve(destArg))
  if (from.rel.length > 0 && (await isDirectory(dest))) return joinPath(dest, from.plain.subarray(from.plain.lastIndexOf(0x2f) + 1))
  if (!(await isDirectory(path.dirname(dest.toString())))) {
    throw new UserError(`the directory of ${destArg} does not exist`, ExitCode.Usage)
  }
  return dest
}

function summary(r: RestoreResult): string {
  const parts = [`${plural(r.files, 'file')} (${formatBytes(r.bytes)})`, plural(r.dirs, 'directory', 'directories'), plural(r.symlinks, 'symlink')]
  if (r.specials) parts.push(plural(r.specials, 'special file'))
  if (r.withheld.length) parts.push(`${r.withheld.length} set-id bits or device nodes left out`)
  if (r.skippedSockets) parts.push(`${plural(r.skippedSockets, 'socket')} skipped (they cannot be recreated)`)
  return `restored ${parts.join(', ')}`
}

export async function runRestore(flags: Flags, positional: string[]): Promise<void> {
  if (positional.length !== 2) {
    throw new UserError(`-restore needs CIPHERPATH and DEST, got ${plural(positional.length, 'argument')}`, ExitCode.Usage)
  }
  const [cipherArg, destArg] = positional as [string, string]
  let cipherPath: string
  try {
    cipherPath = await realEntryPath(cipherArg)
    await fsp.lstat(cipherPath)
  } catch (e) {
    throw new UserError(`${cipherArg}: ${(e as Error).message}`, ExitCode.CipherDir)
  }
  const root = await fsp.realpath(await treeRootOf(flags, cipherPath, cipherArg)).catch((e: Error) => {
    throw new UserError(`invalid -cipherdir: ${e.message}`, ExitCode.CipherDir)
  })
  if (!isInside(root, cipherPath)) throw new UserError(`${cipherArg} is not inside the ciphertext tree ${root}`, ExitCode.Usage)
  if (isInside(root, path.resolve(destArg))) {
    throw new UserError(`the destination ${destArg} lies inside the ciphertext tree ${root}`, ExitCode.Usage)
  }

  const { settings, keys, siv, notes } = await cipherKeys(flags, root)
  if (!flags.quiet) for (const n of notes) process.stderr.write(n + '\n')
  const tree = await CipherTree.create({ root, settings, keys, siv, ...treeFlags(flags) })
  let from: TreeNode
  try {
    from = await tree.locate(Buffer.from(path.relative(root, cipherPath)))
  } catch (e) {
    if (e instanceof CorruptError) {
      const hint = tree.storedIvs ? '' : ` ${PATH_HINT}`
      throw new UserError(`${cipherArg}: a name on this path does not decrypt (${e.message}).${hint}`, ExitCode.FsckErrors)
    }
    throw e
  }
  const to = await destination(from, destArg)

  const progress = process.stderr.isTTY && !flags.quiet ? new Progress(process.stderr, await measure(tree, from)) : undefined
  const result = await restore({
    tree,
    from,
    to,
    owners: process.getuid?.() === 0,
    special: flags['restore-special'] === true,
    onProblem: progress && ((p) => progress.note(formatProblem(p))),
    progress,
  })
  progress?.finish()

  const { problems, withheld } = result
  if (!flags.quiet || problems.length > 0 || withheld.length > 0) process.stderr.write(`${summary(result)} to ${readable(to)}\n`)
  if (withheld.length > 0) {
    process.stderr.write(`${withheld.length} set-id bit(s) or device node(s) left out (-restore-special restores them):\n`)
    for (const p of withheld) process.stderr.write(`  ${formatProblem(p)}\n`)
  }
  if (problems.length === 0) return
  process.stderr.write(`${problems.length} problem(s):\n`)
  for (const p of problems) process.stderr.write(`  ${formatProblem(p)}\n`)
  if (!tree.storedIvs && problems.some(pathProblem)) process.stderr.write(`hint: ${PATH_HINT}\n`)
  throw new UserError(`restore finished with ${problems.length} problem(s)`, ExitCode.FsckErrors)
}
