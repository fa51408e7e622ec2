import { statSync } from 'node:fs'

/** True for an existing directory (following symlinks); the CLI checks its arguments with it. */
export function isDir(p: string): boolean {
  return statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false
}
