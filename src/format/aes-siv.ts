// AES-SIV (RFC 5297) as gocryptfs uses it for file contents, symlink targets and xattr values
// (spec 3.1, 3.2). Two interchangeable backends: 'fast' composes S2V and CTR from node:crypto
// AES primitives and batches whole reads; 'noble' is the pure-JS reference from @noble/ciphers.
import { FastAesSiv } from './aes-siv-fast.js'
import { checkSivKey, type AesSiv, type AesSivBackend } from './aes-siv-backend.js'

export type { AesSiv, AesSivBackend } from './aes-siv-backend.js'

/**
 * `key` is the 64-byte content key (first half for S2V, second for CTR). 32- and 48-byte keys
 * (AES-128/192 halves) are accepted too, which is what the RFC 5297 test vectors use.
 */
export function createAesSiv(key: Uint8Array, backend: AesSivBackend = 'fast'): AesSiv {
  checkSivKey(key)
  if (backend === 'fast') return new FastAesSiv(key)
  if (!noble) throw new Error("AES-SIV backend 'noble' used before loadAesSivBackend('noble')")
  return new noble.NobleAesSiv(key)
}

// @noble/ciphers builds its tables when loaded, about 2 MB that a daemon on the fast backend
// would carry all day: the reference backend loads only for those who ask for it.
let noble: typeof import('./aes-siv-noble.js') | undefined

/** Loads `backend`'s code, which createAesSiv needs for the 'noble' backend. */
export async function loadAesSivBackend(backend: AesSivBackend): Promise<void> {
  if (backend === 'noble') noble ??= await import('./aes-siv-noble.js')
}
