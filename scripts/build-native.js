// Builds our native addon (binding.gyp, native/: source syscalls and the FUSE binding on
// libfuse 3) with node-gyp, offline, against the headers installed with Node, into build/Release.
//   (no flag)    always rebuild; any failure exits non-zero.
//   --if-needed  the "install" script: nothing to do when a prebuild or an up-to-date build
//                loads, so installs from the tarball (which ships a prebuild) need no compiler.
//   --prebuild   "prepack": rebuild, then copy into prebuilds/<platform>-<arch>/ for the tarball.
import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const ADDON = 'tsreverse_sys.node'
const BUILT = `build/Release/${ADDON}`
const PREBUILT = `prebuilds/${process.platform}-${process.arch}/${ADDON}`
const APT = 'apt-get install fuse3 libfuse3-dev pkgconf g++ make python3'
const mode = process.argv[2]

function fail(msg) {
  console.error(`build-native: ${msg}`)
  process.exit(1)
}

/** Whether rel loads in a fresh Node and has what src/native/sys.ts needs. */
function loads(rel) {
  const check = `const m = require(${JSON.stringify(path.join(root, rel))}); if (typeof m.lstat !== 'function' || typeof m.fuseMount !== 'function') process.exit(1)`
  return existsSync(path.join(root, rel)) && spawnSync(process.execPath, ['-e', check], { stdio: 'ignore' }).status === 0
}

/** A build older than a source it came from (a checkout after a pull) is built again. */
function upToDate(rel) {
  const built = statSync(path.join(root, rel)).mtimeMs
  const sources = ['binding.gyp', ...readdirSync(path.join(root, 'native')).map((f) => `native/${f}`)]
  return sources.every((f) => statSync(path.join(root, f)).mtimeMs <= built)
}

/** What the build needs and this machine lacks, as the commands or packages that provide it. */
function missingTools() {
  const has = (cmd, ...args) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0
  const missing = []
  if (!has('pkg-config', '--exists', 'fuse3')) missing.push('libfuse3-dev (pkg-config fuse3)')
  for (const tool of [process.env.CC ?? 'cc', process.env.CXX ?? 'g++', 'make', 'python3']) {
    if (!has(tool, '--version')) missing.push(tool)
  }
  return missing
}

if (mode === '--if-needed' && (loads(PREBUILT) || (loads(BUILT) && upToDate(BUILT)))) process.exit(0)

// Without the tools node-gyp fails with pages of output; one line says what to install.
const missing = missingTools()
if (missing.length) fail(`cannot build the native addon, missing ${missing.join(', ')}: ${APT}`)

// npm hands lifecycle scripts its bundled node-gyp; run by hand, npm's copy beside Node.
const nodedir = path.resolve(path.dirname(process.execPath), '..')
const gyp = process.env.npm_config_node_gyp ?? path.join(nodedir, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js')
const args = [gyp, 'rebuild']
// Offline, node-gyp must use the headers installed with Node instead of downloading them.
if (!process.env.npm_config_nodedir && existsSync(path.join(nodedir, 'include/node/node_api.h'))) {
  args.push(`--nodedir=${nodedir}`)
}

const started = Date.now()
const run = spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' })
if (run.error) fail(`cannot run node-gyp: ${run.error.message}`)
if (run.status !== 0) {
  const log = path.join(root, 'build-native.log')
  writeFileSync(log, `${args.join(' ')} exited with ${run.status}\n${run.stdout}${run.stderr}`)
  fail(`node-gyp could not build the native addon (its output: ${log}); it needs ${APT}`)
}
// What was built must be what loads.
if (!loads(BUILT)) fail(`the addon built at ${path.join(root, BUILT)} does not load`)
if (mode === '--prebuild') {
  mkdirSync(path.dirname(path.join(root, PREBUILT)), { recursive: true })
  copyFileSync(path.join(root, BUILT), path.join(root, PREBUILT))
}
console.log(`build-native: built ${mode === '--prebuild' ? PREBUILT : BUILT} in ${((Date.now() - started) / 1000).toFixed(1)} s`)
