// The gocryptfs file content format around the cipher: header, block nonces, and serving a byte
// range of the view file from the plaintext (spec 3.3, 4, 6.11). No I/O here: reading and
// sealing come in as callbacks so that the FUSE view can plug in its own.
import { CorruptError } from './errors.js'
import { CIPHER_BLOCK, HEADER_LEN, PLAIN_BLOCK, blockNoToCipherOff, cipherOffToBlockNo } from './sizes.js'
import type { AesSiv } from './aes-siv-backend.js'
import { plural } from '../plural.js'

export { CIPHER_BLOCK, HEADER_LEN, PLAIN_BLOCK } from './sizes.js'

const HEADER_VERSION = 2

/** The 18-byte file header BE16(2) || fileId. */
export function fileHeader(fileId: Uint8Array): Buffer {
  if (fileId.length !== 16) throw new RangeError(`file ID must be 16 bytes, got ${fileId.length}`)
  const h = Buffer.allocUnsafe(HEADER_LEN)
  h.writeUInt16BE(HEADER_VERSION, 0)
  h.set(fileId, 2)
  return h
}

/** Validates a file header as gocryptfs forward mode does and returns the file ID. */
export function parseHeader(buf: Uint8Array): Buffer {
  if (buf.length < HEADER_LEN) throw new CorruptError(`file header too short (${plural(buf.length, 'byte')})`)
  const version = (buf[0] << 8) | buf[1]
  if (version !== HEADER_VERSION) throw new CorruptError(`file header version ${version}, want ${HEADER_VERSION}`)
  const id = Buffer.from(buf.subarray(2, HEADER_LEN))
  if (id.every((b) => b === 0)) throw new CorruptError('file header has an all-zero file ID')
  return id
}

export interface CipherRangeSource {
  /** Byte range of the view file (header + blocks) being read. */
  offset: number
  length: number
  fileId: Uint8Array
  iv0: Uint8Array
  /** Reads plaintext at position; may return fewer bytes only at end of file. */
  readPlain(position: number, length: number): Promise<Buffer>
  /** Seals `plain` (whole blocks except maybe the last) starting at block firstBlock, e.g. AesSiv.sealBlocks. */
  seal(plain: Buffer, firstBlock: number, fileId: Uint8Array, iv0: Uint8Array): Buffer | Promise<Buffer>
  /**
   * Reads and seals `length` plaintext bytes from block firstBlock in one step (e.g. on the
   * thread that reads), with readPlain's end-of-file rule; absent: readPlain, then seal.
   */
  readSealed?(firstBlock: number, length: number): Promise<Buffer>
}

/**
 * Serves [offset, offset+length) of the view file into target, returning the byte count
 * (short at end of file). Follows gocryptfs reverse mode (spec 6.11): the header is synthesized,
 * the covered blocks come from one plaintext read, and when that read finds no data the reply
 * is empty even if it included header bytes.
 */
export async function readCipherRange(src: CipherRangeSource, target: Buffer): Promise<number> {
  let { offset, length } = src
  let done = 0
  if (offset < HEADER_LEN && length > 0) {
    done = Math.min(HEADER_LEN, offset + length) - offset
    fileHeader(src.fileId).copy(target, 0, offset, offset + done)
    offset += done
    length -= done
  }
  if (length <= 0) return done

  const first = cipherOffToBlockNo(offset)
  const last = cipherOffToBlockNo(offset + length - 1)
  const plainLen = (last - first + 1) * PLAIN_BLOCK
  const cipher = await (src.readSealed?.(first, plainLen) ?? readAndSeal(src, first, plainLen))
  if (cipher.length === 0) return 0
  const skip = offset - blockNoToCipherOff(first)
  const end = Math.min(cipher.length, skip + length)
  if (end <= skip) return done
  return done + cipher.copy(target, done, skip, end)
}

/** readPlain, then seal: a read without readSealed. */
async function readAndSeal(src: Pick<CipherRangeSource, 'readPlain' | 'seal' | 'fileId' | 'iv0'>, first: number, length: number): Promise<Buffer> {
  const plain = await src.readPlain(first * PLAIN_BLOCK, length)
  return plain.length === 0 ? plain : src.seal(plain, first, src.fileId, src.iv0)
}

/** Decrypts a whole view file (header + blocks); an empty or header-only file is empty. */
export function decryptFile(siv: Pick<AesSiv, 'openBlocks'>, file: Uint8Array): Buffer {
  if (file.length === 0) return Buffer.alloc(0)
  const fileId = parseHeader(file)
  return siv.openBlocks(file.subarray(HEADER_LEN), 0, fileId)
}

export interface PlainRangeSource {
  /** Plaintext byte range wanted. */
  offset: number
  length: number
  fileId: Uint8Array
  /** Reads ciphertext of the view file at position; may return fewer bytes only at end of file. */
  readCipher(position: number, length: number): Promise<Buffer>
}

/**
 * Decrypts plaintext [offset, offset+length) of a view file whose header has already been
 * parsed, authenticating every block it touches; short at end of file.
 */
export async function decryptRange(siv: Pick<AesSiv, 'openBlocks'>, src: PlainRangeSource): Promise<Buffer> {
  if (src.length <= 0) return Buffer.alloc(0)
  const first = Math.floor(src.offset / PLAIN_BLOCK)
  const last = Math.floor((src.offset + src.length - 1) / PLAIN_BLOCK)
  const cipher = await src.readCipher(blockNoToCipherOff(first), (last - first + 1) * CIPHER_BLOCK)
  const plain = siv.openBlocks(cipher, first, src.fileId)
  const skip = src.offset - first * PLAIN_BLOCK
  return plain.subarray(Math.min(skip, plain.length), Math.min(skip + src.length, plain.length))
}
