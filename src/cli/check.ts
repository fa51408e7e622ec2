// -check MOUNTPOINT: exit 0 only while a live tsreverse mount serves MOUNTPOINT. The pulling
// side runs it before each pull (docs/backup-server.md): a dead mount (a crashed server), a hung
// one, or the bare directory under the mount point must fail the pull, never copy an empty tree.
import { realpath } from 'node:fs/promises'
import path from 'node:path'
import { ExitCode, UserError } from '../exitcodes.js'
import { PROBE_MS, probeMount } from '../fuse/adapter.js'
import { findMount, readMountinfo } from '../fuse/mountinfo.js'
import { plural } from '../plural.js'

export async function runCheck(positional: string[]): Promise<void> {
  if (positional.length !== 1) throw new UserError(`-check needs MOUNTPOINT, got ${plural(positional.length, 'argument')}`, ExitCode.Usage)
  // Only the parent is resolved: a path walk through a hung mount would hang.
  const abs = path.resolve(positional[0]!)
  const mnt = path.join(await realpath(path.dirname(abs)), path.basename(abs))
  const mount = findMount(await readMountinfo(), mnt)
  if (mount?.fsType !== 'fuse.tsreverse') {
    throw new UserError(`${mnt}: no tsreverse mount (${mount ? mount.fsType : 'nothing mounted'})`, ExitCode.MountPoint)
  }
  let state: string
  try {
    state = await probeMount(mnt, PROBE_MS)
  } catch (err) {
    state = (err as Error).message
  }
  if (state === 'dead') state = 'its server is gone (Transport endpoint is not connected)'
  if (state === 'hung') state = `no answer within ${PROBE_MS / 1000} s`
  if (state !== 'live') throw new UserError(`${mnt}: the tsreverse mount does not serve: ${state}`, ExitCode.MountPoint)
}
