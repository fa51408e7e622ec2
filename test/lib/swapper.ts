// `node swapper.js DIR SECONDS TARGET...`: for SECONDS, swaps the directory DIR with symlinks to
// each TARGET in turn, as fast as renames go (DIR moves to DIR.parked meanwhile), then puts DIR
// back and prints the number of swaps. A racing mutator for the symlink-race test.
import { renameSync, symlinkSync } from 'node:fs'

const [dir, seconds, ...targets] = process.argv.slice(2) as [string, string, ...string[]]
const parked = `${dir}.parked`
const links = targets.map((target, i) => {
  const link = `${dir}.link${i}`
  symlinkSync(target, link)
  return link
})
const deadline = Date.now() + Number(seconds) * 1000
let swaps = 0
while (Date.now() < deadline) {
  for (const link of links) {
    renameSync(dir, parked)
    renameSync(link, dir)
    renameSync(dir, link)
    renameSync(parked, dir)
    swaps++
  }
}
process.stdout.write(`${swaps}\n`)
