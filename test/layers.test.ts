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

t.test('the scanner sees every kind of import', async (t) => {
  const text = "import a from './a.js'\nimport './b.js'\nexport { c } from '../c.js'\nconst d = await import('./d.js')\nimport x from 'node:fs'\n"
  t.same(imports(text), ['./a.js', './b.js', '../c.js', './d.js'])
})
