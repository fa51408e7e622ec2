// Where the golden vectors are: shared/ sits beside the project checkout (here and in CI).
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** The project root (tests run from dist/test/, compiled). */
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
export const VECTORS = process.env.TSREVERSE_VECTORS ?? path.resolve(ROOT, '../shared/vectors')
