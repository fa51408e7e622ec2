// The README's system-wide install: `npm pack`, then `npm install -g` of the tarball with install
// scripts blocked (as npm does for packages not approved), so the prebuilt addon must serve; the
// installed command runs the demo, its manual page renders, and a project install runs too.
// Packs a copy of the sources: the checkout's build/ and dist/, which other suites load
// meanwhile, stay as they are.
import { spawnSync, type SpawnSyncOptions } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { ROOT } from './lib/vectors.js'

// What `npm pack` needs of a checkout; node_modules is linked (TypeScript for "prepare").
const SOURCES = ['package.json', 'package-lock.json', 'tsconfig.json', 'README.md', 'binding.gyp', 'src', 'bin', 'native', 'scripts', 'man', 'docs']
const PREBUILT = `prebuilds/${process.platform}-${process.arch}/tsreverse_sys.node`

const tmp = mkdtempSync(path.join(tmpdir(), 'tsreverse-install-'))
t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
const copy = path.join(tmp, 'src')
for (const f of SOURCES) cpSync(path.join(ROOT, f), path.join(copy, f), { recursive: true })
symlinkSync(path.join(ROOT, 'node_modules'), path.join(copy, 'node_modules'))

const run = (cmd: string, args: string[], opts: SpawnSyncOptions = {}) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000, ...opts })
  return { code: r.status, stdout: String(r.stdout), stderr: String(r.stderr) }
}
const npm = (cwd: string, ...args: string[]) => run('npm', ['--no-audit', '--no-fund', '--prefer-offline', ...args], { cwd })

t.test('without a prebuild or libfuse3-dev, the fallback build says in one line what to install', async (t) => {
  const r = run(process.execPath, ['scripts/build-native.js', '--if-needed'], { cwd: copy, env: { ...process.env, PKG_CONFIG_LIBDIR: path.join(tmp, 'none') } })
  t.equal(r.code, 1)
  t.match(r.stderr, /^build-native: cannot build the native addon, missing libfuse3-dev .*: apt-get install fuse3 libfuse3-dev .*\n$/)
  t.notOk(existsSync(path.join(copy, 'build')), 'node-gyp was not run')
})

t.test('npm pack, npm install -g --ignore-scripts, the installed command', async (t) => {
  const pack = npm(copy, 'pack', '--pack-destination', tmp)
  t.equal(pack.code, 0, pack.stderr)
  const tarball = readdirSync(tmp).find((f) => f.endsWith('.tgz'))
  if (!t.ok(tarball, 'a tarball')) return
  t.notOk(existsSync(path.join(copy, 'prebuilds')), 'postpack removed the prebuild from the sources')

  const files = run('tar', ['tzf', path.join(tmp, tarball!)])
    .stdout.split('\n')
    .map((f) => f.replace(/^package\//, ''))
  for (const f of [
    PREBUILT,
    'dist/src/cli/main.js',
    'bin/tsreverse',
    'bin/package.json',
    'native/fuse.c',
    'native/sys.c',
    'binding.gyp',
    'scripts/build-native.js',
    'man/tsreverse.1',
    'docs/fstab.md',
    'README.md',
  ]) {
    t.ok(files.includes(f), `ships ${f}`)
  }
  t.same(
    files.filter((f) => /^dist\/(?!src\/)|\.map$|^test\//.test(f)),
    [],
    'no tests, no source maps',
  )

  const prefix = path.join(tmp, 'prefix')
  const inst = npm(tmp, 'install', '-g', '--ignore-scripts', '--prefix', prefix, path.join(tmp, tarball!))
  t.equal(inst.code, 0, inst.stderr)
  t.notOk(existsSync(path.join(prefix, 'lib/node_modules/tsreverse/build')), 'nothing was built: the prebuild serves')

  // mount.fuse3 finds the command on PATH, where npm links it.
  const demo = run('tsreverse', ['-demo'], { cwd: tmp, env: { ...process.env, PATH: `${path.join(prefix, 'bin')}:${process.env.PATH}` } })
  t.equal(demo.code, 0, demo.stderr)
  t.match(demo.stdout, /6\. Checked: all \d+ entries \(\d+ files\) restored with identical bytes/)

  // Into a project, without devDependencies: its own copy runs.
  const proj = path.join(tmp, 'project')
  const local = npm(tmp, 'install', '--omit=dev', '--ignore-scripts', '--prefix', proj, path.join(tmp, tarball!))
  t.equal(local.code, 0, local.stderr)
  const version = run(path.join(proj, 'node_modules/.bin/tsreverse'), ['-version'])
  t.equal(version.code, 0, version.stderr)
  t.match(version.stdout, /^tsreverse \S+; libfuse 3\./, 'the addon loads')

  const man = run('man', ['-l', path.join(prefix, 'share/man/man1/tsreverse.1')], { env: { ...process.env, MANWIDTH: '80', MANPAGER: 'cat', PAGER: 'cat' } })
  if (man.code === null) {
    t.comment('man(1) is not installed')
    return
  }
  t.equal(man.code, 0, man.stderr)
  t.match(man.stdout, /EXIT STATUS/)
})
