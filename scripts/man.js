// `npm run man`: writes the manual page man/tsreverse.1 from the compiled CLI (src/cli/manpage.ts).
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { manPage } from '../dist/src/cli/manpage.js'
import { VERSION } from '../dist/src/cli/version.js'

const out = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../man/tsreverse.1')
mkdirSync(path.dirname(out), { recursive: true })
writeFileSync(out, manPage(VERSION))
console.log(`man: wrote ${path.relative(process.cwd(), out)}`)
