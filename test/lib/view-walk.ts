// Walks a view through its listings alone, as a copy would see it.
import type { ViewFs } from '../../src/view/fs.js'
import { unpacked } from './listing.js'

/** Every path below `dir`, sorted; with `slash`, directories end in "/" (as rsync's %n prints them). */
export async function viewPaths(view: ViewFs, dir = '', slash = false): Promise<string[]> {
  const { names, attrs } = unpacked(await view.readdir('/' + dir))
  const out: string[] = []
  for (const [i, name] of names.entries()) {
    const p = dir === '' ? name : `${dir}/${name}`
    const isDir = (attrs[i]!.mode & 0o170000) === 0o040000
    out.push(isDir && slash ? p + '/' : p)
    if (isDir) out.push(...(await viewPaths(view, p, slash)))
  }
  return out.sort()
}
