// Keys derived from the 32-byte master key (gocryptfs internal/cryptocore). Every key is its
// own HKDF-SHA256 run with an empty salt; slicing one long output stream would give other bytes.
import { createHash, hkdfSync } from 'node:crypto'

export const HKDF_INFO_SIV = 'AES-SIV file content encryption'
export const HKDF_INFO_EME = 'EME filename encryption'
export const HKDF_INFO_GCM = 'AES-GCM file content encryption'

const EMPTY_SALT = Buffer.alloc(0)

export function hkdfSha256(ikm: Uint8Array, info: string, length: number): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, EMPTY_SALT, info, length))
}

export interface DerivedKeys {
  /** AES-SIV-512 key for file contents, symlink targets and xattr values. */
  siv: Buffer
  /** AES-256 key for EME name encryption. */
  eme: Buffer
}

/** Without HKDF (file systems from gocryptfs 1.2 and older): EME uses the master key, SIV its SHA-512. */
export function deriveKeys(masterKey: Uint8Array, opts: { hkdf: boolean }): DerivedKeys {
  if (masterKey.length !== 32) throw new RangeError(`master key must be 32 bytes, got ${masterKey.length}`)
  if (opts.hkdf) {
    return { siv: hkdfSha256(masterKey, HKDF_INFO_SIV, 64), eme: hkdfSha256(masterKey, HKDF_INFO_EME, 32) }
  }
  return { siv: createHash('sha512').update(masterKey).digest(), eme: Buffer.from(masterKey) }
}
