// postinstall, after patch-package: compiles the native addons with node-gyp, offline, against
// the headers installed with Node: our own source-syscall addon (binding.gyp, native/) into
// build/Release, and fuse-native from its patched source (libfuse 3, paths cross as bytes, see
// patches/) into node_modules/fuse-native/build/Release, which node-gyp-build loads before the
// stock prebuild. Any failure exits non-zero, so `npm ci` fails with it.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const fuseDir = path.dirname(require.resolve('fuse-native/package.json'))

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

build(root, `const p = require('path').resolve('build/Release/tsreverse_sys.node'); if (typeof require(p).lstat !== 'function') throw new Error(p + ' lacks lstat'); console.log(p)`)
build(
  fuseDir,
  `const b = require('node-gyp-build'); const p = b.path(${JSON.stringify(fuseDir)}); const m = b(${JSON.stringify(fuseDir)}); if (m.path_encoding_latin1 !== 1 || m.libfuse_major !== 3 || m.held_files !== 1) throw new Error(p + ' lacks the patch'); console.log(p)`,
)
