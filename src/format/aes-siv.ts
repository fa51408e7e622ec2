// AES-SIV (RFC 5297) as gocryptfs uses it for file contents, symlink targets and xattr values
// (spec 3.1, 3.2). Two interchangeable backends: 'fast' composes S2V and CTR from node:crypto
// AES primitives and batches whole reads; 'noble' is the pure-JS reference from @noble/ciphers.
import { FastAesSiv } from './aes-siv-fast.js'
import { NobleAesSiv } from './aes-siv-noble.js'
import { checkSivKey, type AesSiv, type AesSivBackend } from './aes-siv-backend.js'

export type { AesSiv, AesSivBackend } from './aes-siv-backend.js'

/**
 * `key` is the 64-byte content key (first half for S2V, second for CTR). 32- and 48-byte keys
 * (AES-128/192 halves) are accepted too, which is what the RFC 5297 test vectors use.
 */
export function createAesSiv(key: Uint8Array, backend: AesSivBackend = 'fast'): AesSiv {
  checkSivKey(key)
  return backend === 'fast' ? new FastAesSiv(key) : new NobleAesSiv(key)
}
