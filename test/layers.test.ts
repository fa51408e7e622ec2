// Imports run one way: format -> view -> fuse | restore -> cli. Each directory of src/ is a layer
// and may import only the layers this table allows it; the files at the top of src/ (exit codes,
// plurals) and the native addon's typed surface are shared by all. A module that needs a higher
// layer belongs in that layer.
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { ROOT } from './lib/vectors.js'

const SRC = path.join(ROOT, 'src')
const BASE = ['', 'native']
const ALLOWED: Record<string, string[]> = {
  '': [''],
  native: [''],
  format: [...BASE, 'format'],
  view: [...BASE, 'format', 'view'],
  fuse: [...BASE, 'format', 'view', 'fuse'],
  restore: [...BASE, 'format', 'view', 'restore'],
  cli: [...BASE, 'format', 'view', 'fuse', 'restore', 'cli'],
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const abs = path.join(dir, e.name)
    return e.isDirectory() ? sources(abs) : e.name.endsWith('.ts') ? [abs] : []
  })
}

/** The layer of a file under src/: its top directory, '' for the files at the top. */
const layerOf = (abs: string): string => {
  const parts = path.relative(SRC, abs).split(path.sep)
  return parts.length === 1 ? '' : parts[0]!
}

/** Relative specifiers of static imports, re-exports and dynamic imports. */
function imports(text: string): string[] {
  const found = [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^import\s+)'(\.[^']*)'/gm)]
  return found.map((m) => m[1]!)
}

t.test('every import in src/ goes down the layers', async (t) => {
  const files = sources(SRC)
  t.ok(files.length > 50, `found the sources (${files.length} files)`)
  const wrong: string[] = []
  for (const file of files) {
    const from = layerOf(file)
    t.ok(from in ALLOWED, `${path.relative(ROOT, file)} is in a known layer`)
    for (const spec of imports(readFileSync(file, 'utf8'))) {
      const target = path.resolve(path.dirname(file), spec)
      const to = target.startsWith(SRC + path.sep) ? layerOf(target) : `outside src (${spec})`
      if (!ALLOWED[from]?.includes(to)) wrong.push(`${path.relative(ROOT, file)} (${from || 'top'}) imports ${spec} (${to || 'top'})`)
    }
  }
  t.same(wrong, [], 'no import goes up or sideways')
})

t.test('no import cycles: each module can be read after the ones it imports', async (t) => {
  const graph = new Map<string, string[]>()
  for (const file of sources(SRC)) {
    const deps = imports(readFileSync(file, 'utf8')).map((spec) => path.resolve(path.dirname(file), spec).replace(/\.js$/, '.ts'))
    graph.set(
      file,
      deps.filter((d) => d.startsWith(SRC + path.sep)),
    )
  }
  const cycles = findCycles(graph).map((c) => c.map((f) => path.relative(SRC, f)).join(' -> '))
  t.same(cycles, [], 'no module imports itself through others')
})

t.test('the cycle finder finds cycles', async (t) => {
  const g = new Map([
    ['a', ['b']],
    ['b', ['c']],
    ['c', ['a']],
    ['d', ['a']],
  ])
  t.same(findCycles(g), [['a', 'b', 'c', 'a']])
})

/** One cycle per strongly connected part of the graph that has one, as a path back to its start. */
function findCycles(graph: Map<string, string[]>): string[][] {
  const state = new Map<string, 'open' | 'done'>()
  const stack: string[] = []
  const found: string[][] = []
  const visit = (n: string): void => {
    state.set(n, 'open')
    stack.push(n)
    for (const d of graph.get(n) ?? []) {
      if (state.get(d) === 'open') found.push([...stack.slice(stack.indexOf(d)), d])
      else if (!state.has(d)) visit(d)
    }
    stack.pop()
    state.set(n, 'done')
  }
  for (const n of [...graph.keys()].sort()) if (!state.has(n)) visit(n)
  return found
}

t.test('the scanner sees every kind of import', async (t) => {
  const text = "import a from './a.js'\nimport './b.js'\nexport { c } from '../c.js'\nconst d = await import('./d.js')\nimport x from 'node:fs'\n"
  t.same(imports(text), ['./a.js', './b.js', '../c.js', './d.js'])
})
