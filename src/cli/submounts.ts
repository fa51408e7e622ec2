// Which other filesystems a view of SOURCE would serve. A source of `/` spans /proc, /sys, /dev
// and /run: their files say one size and read another, some block or change state when read,
// and a backup of them is useless. The view serves them like any directory (as gocryptfs does),
// so the mount warns about every one that is neither excluded nor filtered out.
import path from 'node:path'
import type { MountEntry } from '../fuse/mountinfo.js'
import type { Excluder } from '../view/exclude.js'
import type { Filter, Visibility } from '../view/filter.js'

/** Whether the directory at `rel` (relative to SOURCE) is hidden by the excludes or the filter. */
export function hiddenDir(rel: string, exclude: Excluder | undefined, filter: Filter | undefined): boolean {
  const parts = rel.split('/')
  let shown: Visibility | undefined = 'included'
  for (let i = 1; i <= parts.length; i++) {
    const prefix = parts.slice(0, i).join('/')
    if (exclude?.isExcluded(prefix)) return true
    shown = filter ? filter.visibility(prefix, true, shown) : shown
    if (shown === undefined) return true
  }
  return false
}

/** The mounts strictly inside `source` that the view would serve, outermost first. */
export function servedSubmounts(source: string, mounts: readonly MountEntry[], hidden: (rel: string) => boolean): MountEntry[] {
  const served: MountEntry[] = []
  for (const m of mounts) {
    const rel = path.relative(source, m.mountPoint)
    if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) continue
    if (!hidden(rel) && !served.some((s) => s.mountPoint === m.mountPoint)) served.push(m)
  }
  return served.sort((a, b) => a.mountPoint.length - b.mountPoint.length)
}

const LISTED = 6

/** The warning for those mounts, or undefined when there are none. */
export function submountWarning(source: string, served: readonly MountEntry[]): string | undefined {
  if (served.length === 0) return undefined
  const named = served.slice(0, LISTED).map((m) => `${m.mountPoint} (${m.fsType})`)
  const more = served.length > LISTED ? ` and ${served.length - LISTED} more` : ''
  return (
    `warning: ${source} spans other filesystems, which the view serves: ${named.join(', ')}${more}; ` +
    'exclude them or use -one-file-system (see docs/backup-server.md)'
  )
}
