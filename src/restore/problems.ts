// What can be wrong in a ciphertext copy, as restore, fsck and the forward view report it:
// one record per damaged thing, naming the plaintext path where it is known, the ciphertext
// path always, and the block for content damage.
import { CorruptError } from '../format/errors.js'

export type ProblemKind =
  /** An entry name that does not decrypt (renamed, moved to another directory, damaged). */
  | 'name'
  /** A gocryptfs.longname.* entry whose .name file is missing or does not match. */
  | 'longname'
  /** A .name file whose entry is missing: the entry was lost. */
  | 'orphan'
  /** gocryptfs.diriv missing or not the IV of this path (the path-derived IV is used). */
  | 'diriv'
  /** A file header that is not a gocryptfs header. */
  | 'header'
  /** A file whose header belongs to another path: renamed or moved. */
  | 'misplaced'
  /** A content block that is truncated or fails authentication. */
  | 'block'
  /** A symlink target that does not decrypt or belongs to another path. */
  | 'symlink'
  /** Reading the copy or writing the restored file failed. */
  | 'io'
  /**
   * Not damage: a set-uid/set-gid bit or a device node, which the format does not authenticate
   * (src/restore/special.ts). -restore leaves it out unless -restore-special.
   */
  | 'special'

export interface Problem {
  kind: ProblemKind
  /** Plaintext path relative to the tree root, or a description such as "a/<undecryptable name>". */
  path: string
  /** Ciphertext path relative to the tree root. */
  cipherPath: string
  block?: number
  message: string
}

/** What to do when the copy's paths are not the ones its IVs were derived from. */
export const PATH_HINT =
  "If the copy holds a subdirectory of the view, give -prefix with that directory's plaintext path in the view; " +
  'if gocryptfs wrote it in forward mode, give -stored-ivs.'

/** Whether a problem may come from reading a tree with the wrong idea of its paths (PATH_HINT helps). */
export function pathProblem(p: Problem): boolean {
  return p.kind === 'misplaced' || p.kind === 'name' || (p.kind === 'symlink' && / another path /.test(p.message))
}

/** One line: `PATH: MESSAGE [KIND, ciphertext CIPHERPATH]`. */
export function formatProblem(p: Problem): string {
  return `${p.path || '/'}: ${p.message} [${p.kind}, ciphertext ${p.cipherPath || '/'}]`
}

/** A file whose header is intact but derived from another path (spec 4: FILEID hashes the path). */
export class MisplacedError extends CorruptError {
  constructor(message: string) {
    super(message)
    this.name = 'MisplacedError'
  }
}

/** The problem for an error met while reading an entry (a symlink's target when `symlink`). */
export function contentProblem(e: unknown, path: string, cipherPath: string, symlink = false): Problem {
  if (e instanceof CorruptError) {
    if (symlink) return { kind: 'symlink', path, cipherPath, message: e.message }
    if (e instanceof MisplacedError) return { kind: 'misplaced', path, cipherPath, message: e.message }
    if (e.block !== undefined) return { kind: 'block', path, cipherPath, block: e.block, message: e.message }
    return { kind: 'header', path, cipherPath, message: e.message }
  }
  return { kind: 'io', path, cipherPath, message: e instanceof Error ? e.message : String(e) }
}
