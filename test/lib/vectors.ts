// Where the golden vectors are: test/vectors/ of this repository (see its README.md).
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** The project root (tests run from dist/test/, compiled). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
export const VECTORS = path.join(ROOT, 'test/vectors')
