// "prepare": compiles the TypeScript into dist/. TypeScript is a devDependency, so an install
// without it (npm ci --omit=dev in a clone that was built before) keeps the dist/ it has.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
let tsc
try {
  tsc = createRequire(path.join(root, 'package.json')).resolve('typescript/bin/tsc')
} catch {
  if (existsSync(path.join(root, 'dist/src/cli/main.js'))) {
    console.log('compile: TypeScript is not installed; keeping the compiled dist/')
    process.exit(0)
  }
  console.error('compile: TypeScript is not installed and dist/ is not compiled: run npm ci with the devDependencies')
  process.exit(1)
}
process.exit(spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.json')], { stdio: 'inherit' }).status ?? 1)
