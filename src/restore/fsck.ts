// Checks a ciphertext copy without writing anything: every name, every gocryptfs.diriv and
// .name file, every content block and every symlink target, reporting each problem and going on.
// Set-id bits and device nodes are listed too, but are not problems: the format cannot tell a
// planted one from a real one, and -restore leaves them out by default.
import { readable } from '../view/byte-string.js'
import type { CipherTree, TreeNode } from './cipher-tree.js'
import { contentProblem, type Problem } from './problems.js'
import { privilege } from './special.js'

export interface FsckResult {
  dirs: number
  files: number
  symlinks: number
  /** Plaintext bytes that passed authentication. */
  bytes: number
  problems: number
  /** Entries with set-id bits or device nodes (reported with kind 'special', not problems). */
  special: number
}

export async function fsck(tree: CipherTree, onProblem: (p: Problem) => void): Promise<FsckResult> {
  const result: FsckResult = { dirs: 0, files: 0, symlinks: 0, bytes: 0, problems: 0, special: 0 }
  const report = (p: Problem): void => {
    result.problems++
    onProblem(p)
  }

  const check = async (node: TreeNode): Promise<void> => {
    const path = readable(node.plain)
    const cipherPath = readable(node.rel)
    const privileged = privilege(node.st)
    if (privileged) {
      result.special++
      onProblem({ kind: 'special', path, cipherPath, message: `${privileged}: not authenticated; -restore leaves it out without -restore-special` })
    }
    try {
      if (node.st.isDirectory()) {
        result.dirs++
        const { entries, problems } = await tree.list(node)
        problems.forEach(report)
        for (const e of entries) await check(e)
      } else if (node.st.isFile()) {
        result.files++
        const file = await tree.openFile(node)
        try {
          result.bytes += await file.verify((e) => report(contentProblem(e, path, cipherPath)))
        } finally {
          await file.close()
        }
      } else if (node.st.isSymbolicLink()) {
        result.symlinks++
        await tree.readTarget(node)
      }
    } catch (e) {
      report(contentProblem(e, path, cipherPath, node.st.isSymbolicLink()))
    }
  }

  await check(await tree.rootNode())
  return result
}
