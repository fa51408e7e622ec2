import { createRequire } from 'node:module'
import { fuse } from '../fuse/binding.js'

const require = createRequire(import.meta.url)
const pkg = require('../../../package.json') as { version: string }

export const VERSION: string = pkg.version

export function versionLine(): string {
  const libfuse = `${Math.floor(fuse.libfuseVersion / 100)}.${fuse.libfuseVersion % 100}`
  return `tsreverse ${VERSION}; libfuse ${libfuse}; node ${process.version} ${process.platform}/${process.arch}`
}
