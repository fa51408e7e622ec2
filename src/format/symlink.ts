// Symlink targets with encrypted names (spec 5.7): the target is sealed like content block 0
// without a file ID, nonce(16) || V(16) || ciphertext, and base64-encoded like a name.
// The nonce is derivePathIv(symlinkIvPath(cPath), 'SYMLINKIV'). PlaintextNames passes targets through.
import type { AesSiv } from './aes-siv.js'
import { CorruptError } from './errors.js'
import { decode64, encode64, encodedLength } from './names.js'

const NONCE = 16
const TAG = 16
const AD_BLOCK0 = new Uint8Array(8) // BE64(0), no file ID

/**
 * PATH_MAX. gocryptfs answers readlink with ENAMETOOLONG (and lstat with size 0) when the
 * encoded target is longer than this. A target of exactly this length is returned, but the
 * kernel's FUSE readlink then fails with EIO; plaintext targets up to 3039 bytes work (Raw64).
 */
export const SYMLINK_TARGET_MAX = 4096

/** Encoded target length for a plaintext target of `plainLength` (> 0) bytes: the lstat size. */
export function encryptedTargetLength(plainLength: number, raw64: boolean): number {
  return encodedLength(NONCE + TAG + plainLength, raw64)
}

export function encryptSymlinkTarget(siv: AesSiv, target: Uint8Array, nonce: Uint8Array, raw64: boolean): string {
  // Linux has no empty symlinks; gocryptfs would encode one as '' without nonce.
  if (target.length === 0) throw new RangeError('empty symlink target')
  if (nonce.length !== NONCE) throw new RangeError('symlink nonce must be 16 bytes')
  const sealed = siv.seal([AD_BLOCK0, nonce], target)
  const blob = Buffer.allocUnsafe(NONCE + sealed.length)
  blob.set(nonce)
  blob.set(sealed, NONCE)
  return encode64(blob, raw64)
}

/** Inverse of encryptSymlinkTarget, with the nonce taken from the blob (as forward mode does). */
export function decryptSymlinkTarget(siv: AesSiv, text: string, raw64: boolean): Buffer {
  const blob = decode64(text, raw64)
  if (blob.length <= NONCE + TAG) throw new CorruptError('symlink target too short')
  const nonce = blob.subarray(0, NONCE)
  // Forward mode refuses an all-zero nonce (a zeroed block), so do we.
  if (nonce.every((b) => b === 0)) throw new CorruptError('all-zero symlink nonce')
  return siv.open([AD_BLOCK0, nonce], blob.subarray(NONCE))
}
