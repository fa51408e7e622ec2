// postinstall, after patch-package: compiles fuse-native from its patched source (libfuse 3,
// paths cross as bytes, see patches/) into node_modules/fuse-native/build/Release, which node-gyp-build loads
// before the stock prebuild. Any failure exits non-zero, so `npm ci` fails with it.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'

const require = createRequire(import.meta.url)
const dir = path.dirname(require.resolve('fuse-native/package.json'))

function fail(msg) {
  console.error(`build-fuse-native: ${msg}`)
  process.exit(1)
}

// npm hands lifecycle scripts its bundled node-gyp; run by hand, npm's copy beside Node.
const nodedir = path.resolve(path.dirname(process.execPath), '..')
const gyp = process.env.npm_config_node_gyp ?? path.join(nodedir, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js')
const cmd = process.execPath
const args = [gyp, 'rebuild']
// Offline, node-gyp must use the headers installed with Node instead of downloading them.
if (!process.env.npm_config_nodedir && existsSync(path.join(nodedir, 'include/node/node_api.h'))) {
  args.push(`--nodedir=${nodedir}`)
}

const started = Date.now()
const build = spawnSync(cmd, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' })
if (build.error) fail(`cannot run node-gyp: ${build.error.message}`)
if (build.status !== 0) fail(`${args.join(' ')} exited with ${build.status} in ${dir}:\n${build.stdout}${build.stderr}`)

// The build must be what loads, and it must be the patched one.
const check = spawnSync(
  process.execPath,
  ['-e', `const b = require('node-gyp-build'); const p = b.path(${JSON.stringify(dir)}); const m = b(${JSON.stringify(dir)}); if (m.path_encoding_latin1 !== 1 || m.libfuse_major !== 3 || m.held_files !== 1) throw new Error(p + ' lacks the patch'); console.log(p)`],
  { cwd: dir, encoding: 'utf8' },
)
if (check.status !== 0) fail(`the built binding does not load as the patched one:\n${check.stderr}`)
console.log(`build-fuse-native: built ${check.stdout.trim()} in ${((Date.now() - started) / 1000).toFixed(1)} s`)
