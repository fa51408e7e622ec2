import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const pkg = require('../../../package.json') as { version: string }

export const VERSION: string = pkg.version

export function versionLine(): string {
  const fuse = require('fuse-native/package.json') as { version: string }
  return `tsreverse ${VERSION}; fuse-native ${fuse.version}; node ${process.version} ${process.platform}/${process.arch}`
}
