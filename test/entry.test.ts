// bin/tsreverse starts under the loader hooks that users' Node processes carry (APM agents,
// --import and --require in NODE_OPTIONS, tap's own), whichever module type they take the
// extensionless file for, run as a program (its #! line) and as `node bin/tsreverse`.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { BIN } from './lib/cli.js'
import { scratchDir } from './lib/reverse-mounts.js'

const dir = scratchDir(t, 'tsreverse-entry-')
const write = (name: string, text: string): string => {
  const p = path.join(dir, name)
  writeFileSync(p, text)
  return p
}

/** An --import hook that declares extensionless files `format`: synchronous hooks where Node has them, as tap does. */
function importHook(format: 'commonjs' | 'module'): string {
  // A CommonJS format needs no source (Node reads the file); a module does.
  const result =
    format === 'commonjs' ? `{ format: 'commonjs', shortCircuit: true }` : `{ format: 'module', source: readFileSync(new URL(url)), shortCircuit: true }`
  write(
    `${format}-hooks.mjs`,
    `import { readFileSync } from 'node:fs'
import path from 'node:path'
export function load(url, context, next) {
  return url.startsWith('file:') && !path.extname(url) ? ${result} : next(url, context)
}
`,
  )
  return write(
    `${format}-register.mjs`,
    `import module from 'node:module'
import * as hooks from './${format}-hooks.mjs'
if (module.registerHooks) module.registerHooks(hooks)
else module.register('./${format}-hooks.mjs', import.meta.url)
`,
  )
}

// A require hook as pirates (babel, nyc, APM agents) installs it.
const requireHook = write(
  'require-hook.cjs',
  `const Module = require('node:module')
const js = Module._extensions['.js']
Module._extensions['.js'] = (module, filename) => js(module, filename)
`,
)

const cjs = importHook('commonjs')
const esm = importHook('module')
const cases: [string, string][] = [
  ['no hooks', ''],
  ['an --import hook that takes it for CommonJS', `--import=${cjs}`],
  ['an --import hook that takes it for a module', `--import=${esm}`],
  ['a --require hook', `--require=${requireHook}`],
  ['both, as tap', `--require=${requireHook} --import=${cjs}`],
]

for (const [what, options] of cases) {
  t.test(what, async (t) => {
    // Through env(1), which sets NODE_OPTIONS after tap's spawn wrapper added its own hooks. The
    // #! line finds node through PATH: this test's node first.
    const vars = [`NODE_OPTIONS=${options}`, `PATH=${path.dirname(process.execPath)}:${process.env.PATH ?? ''}`]
    for (const [how, command] of [
      ['as a program', [BIN]],
      ['as node bin/tsreverse', [process.execPath, BIN]],
    ] as const) {
      const r = spawnSync('env', [...vars, ...command, '-version'], { encoding: 'utf8', timeout: 60_000 })
      t.equal(r.status, 0, `${how}: exit 0`, { stderr: r.stderr })
      t.match(r.stdout, `; node ${process.version} `, `${how}: ran on this Node`)
    }
  })
}
