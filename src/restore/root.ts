// Finding the root of a ciphertext tree from a path inside it. The root matters because every
// IV is derived from the path relative to it (spec 4). It is the directory holding
// gocryptfs.conf, or the one whose gocryptfs.diriv is the root IV, which is the same in every
// reverse view (spec 5.1).
import { promises as fsp } from 'node:fs'
import path from 'node:path'
import { ROOT_DIRIV } from './detect.js'
import { CONF_NAME, DIRIV_NAME } from '../format/names.js'

/** The nearest directory at or above `start` that is a tree root, or undefined. */
export async function findTreeRoot(start: string): Promise<string | undefined> {
  let dir = path.resolve(start)
  if (!(await fsp.lstat(dir)).isDirectory()) dir = path.dirname(dir)
  for (;;) {
    if (await isRoot(dir)) return dir
    const up = path.dirname(dir)
    if (up === dir) return undefined
    dir = up
  }
}

async function isRoot(dir: string): Promise<boolean> {
  try {
    if ((await fsp.lstat(path.join(dir, CONF_NAME))).isFile()) return true
  } catch {
    // no config here
  }
  try {
    return (await fsp.readFile(path.join(dir, DIRIV_NAME))).equals(ROOT_DIRIV)
  } catch {
    return false
  }
}
