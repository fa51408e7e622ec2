// Checks a ciphertext copy without writing anything: every name, every gocryptfs.diriv and
// .name file, every content block and every symlink target, reporting each problem and going on.
import { readable } from '../view/byte-string.js'
import type { CipherTree, TreeNode } from './cipher-tree.js'
import { contentProblem, type Problem } from './problems.js'

export interface FsckResult {
  dirs: number
  files: number
  symlinks: number
  /** Plaintext bytes that passed authentication. */
  bytes: number
  problems: number
}

export async function fsck(tree: CipherTree, onProblem: (p: Problem) => void): Promise<FsckResult> {
  const result: FsckResult = { dirs: 0, files: 0, symlinks: 0, bytes: 0, problems: 0 }
  const report = (p: Problem): void => {
    result.problems++
    onProblem(p)
  }

  const check = async (node: TreeNode): Promise<void> => {
    const path = readable(node.plain)
    const cipherPath = readable(node.rel)
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
