import { statSync } from 'node:fs'
import path from 'node:path'
import { isDeadConnection } from '../fuse/mountinfo.js'

/** True for an existing directory (following symlinks); the CLI checks its arguments with it. */
export function isDir(p: string): boolean {
  return statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false
}

/**
 * A mount point the CLI accepts: a directory, or a dead mount left by a crashed server ("not
 * connected"), which the adapter clears before mounting.
 */
export function isMountpointDir(p: string): boolean {
  try {
    return isDir(p)
  } catch (err) {
    return isDeadConnection(err)
  }
}

/** Whether p is dir or lies below it (both absolute). */
export const isInside = (dir: string, p: string): boolean => {
  const rel = path.relative(dir, p)
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))
}
