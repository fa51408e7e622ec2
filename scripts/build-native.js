// postinstall: compiles our native addon (binding.gyp, native/: source syscalls and the FUSE
// binding on libfuse 3) with node-gyp, offline, against the headers installed with Node, into
// build/Release. Any failure exits non-zero, so `npm ci` fails with it.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

function fail(msg) {
  console.error(`build-native: ${msg}`)
  process.exit(1)
}

// npm hands lifecycle scripts its bundled node-gyp; run by hand, npm's copy beside Node.
const nodedir = path.resolve(path.dirname(process.execPath), '..')
const gyp = process.env.npm_config_node_gyp ?? path.join(nodedir, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js')
const args = [gyp, 'rebuild']
// Offline, node-gyp must use the headers installed with Node instead of downloading them.
if (!process.env.npm_config_nodedir && existsSync(path.join(nodedir, 'include/node/node_api.h'))) {
  args.push(`--nodedir=${nodedir}`)
}

function build(dir, check) {
  const started = Date.now()
  const run = spawnSync(process.execPath, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' })
  if (run.error) fail(`cannot run node-gyp: ${run.error.message}`)
  if (run.status !== 0) fail(`${args.join(' ')} exited with ${run.status} in ${dir}:\n${run.stdout}${run.stderr}`)
  // What was built must be what loads.
  const loaded = spawnSync(process.execPath, ['-e', check], { cwd: dir, encoding: 'utf8' })
  if (loaded.status !== 0) fail(`the addon built in ${dir} does not load:\n${loaded.stderr}`)
  console.log(`build-native: built ${loaded.stdout.trim()} in ${((Date.now() - started) / 1000).toFixed(1)} s`)
}

build(
  root,
  `const p = require('path').resolve('build/Release/tsreverse_sys.node'); const m = require(p); if (typeof m.lstat !== 'function' || typeof m.fuseMount !== 'function') throw new Error(p + ' lacks lstat or fuseMount'); console.log(p)`,
)
