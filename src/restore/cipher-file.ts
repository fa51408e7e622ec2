// One ciphertext file of a copied reverse view, read with every block authenticated before a
// byte of it is used. Beyond what gocryptfs forward mode checks, the header must carry the file
// ID derived from the file's own path (spec 4), which catches renamed and moved files; only a
// file of a forward-mode filesystem, whose ID is random, is read with whatever ID it carries.
import type { promises as fsp } from 'node:fs'
import type { SourceStats } from '../view/stat.js'
import type { AesSiv } from '../format/aes-siv.js'
import { decryptRange, parseHeader } from '../format/content.js'
import { CorruptError } from '../format/errors.js'
import { CIPHER_BLOCK, HEADER_LEN, PLAIN_BLOCK, blockNoToCipherOff } from '../format/sizes.js'
import { openRegular, preadFully } from '../view/source.js'
import { MisplacedError } from './problems.js'

/** Blocks per read when streaming: 129 KiB of ciphertext, about one FUSE read. */
export const CHUNK_BLOCKS = 32

export class CipherFile {
  private constructor(
    private readonly fh: fsp.FileHandle,
    private readonly siv: AesSiv,
    private readonly fileId: Buffer,
    private readonly cipherSize: number,
  ) {}

  /**
   * Opens the file `st` (its lstat) describes and checks its header. A file ID other than
   * `expectedFileId` is MisplacedError whatever the copy says about the file: link counts and
   * inodes are the server's to choose. That also refuses a hard link kept with another path's
   * ciphertext (gocryptfs gives all links of a file the IVs of whichever path was opened first,
   * spec 4): nothing tells it from a planted one. An empty or header-only file reads as empty.
   * Without `expectedFileId`, the header's is used unchecked.
   */
  static async open(abs: Buffer, st: SourceStats, expectedFileId: Buffer | undefined, siv: AesSiv): Promise<CipherFile> {
    const fh = await openRegular(abs, st)
    try {
      // Nothing to decrypt, so no file ID is ever used.
      if (st.size === 0) return new CipherFile(fh, siv, Buffer.alloc(0), 0)
      const header = await preadFully(fh, 0, HEADER_LEN)
      if (header.length < HEADER_LEN) throw new CorruptError(`file is truncated inside its header (${header.length} bytes)`)
      const fileId = parseHeader(header)
      if (expectedFileId && !fileId.equals(expectedFileId)) {
        throw new MisplacedError('the file header belongs to another path (file renamed, moved, or a hard link copied as one?)')
      }
      return new CipherFile(fh, siv, fileId, st.size)
    } catch (e) {
      await fh.close()
      throw e
    }
  }

  /** Plaintext [offset, offset+length), short at the end; CorruptError names the first bad block. */
  async read(offset: number, length: number): Promise<Buffer> {
    if (this.cipherSize <= HEADER_LEN) return Buffer.alloc(0)
    let cipher: Buffer = Buffer.alloc(0)
    try {
      return await decryptRange(this.siv, {
        offset,
        length,
        fileId: this.fileId,
        readCipher: async (position, len) => (cipher = await preadFully(this.fh, position, len)),
      })
    } catch (e) {
      throw explainZeros(e, cipher, Math.floor(offset / PLAIN_BLOCK))
    }
  }

  /** The whole plaintext in pieces of at most CHUNK_BLOCKS blocks; stops at the first bad block. */
  async *chunks(): AsyncGenerator<Buffer> {
    const buf = Buffer.allocUnsafe(CHUNK_BLOCKS * CIPHER_BLOCK)
    for (let first = 0; blockNoToCipherOff(first) < this.cipherSize; first += CHUNK_BLOCKS) {
      const cipher = await preadFully(this.fh, blockNoToCipherOff(first), buf.length, buf)
      if (cipher.length === 0) return
      let plain: Buffer
      try {
        plain = this.siv.openBlocks(cipher, first, this.fileId)
      } catch (e) {
        throw explainZeros(e, cipher, first)
      }
      yield plain
    }
  }

  /** Authenticates every block, reporting each bad one and going on; returns the plaintext bytes that passed. */
  async verify(onBad: (e: CorruptError) => void): Promise<number> {
    const buf = Buffer.allocUnsafe(CHUNK_BLOCKS * CIPHER_BLOCK)
    let good = 0
    for (let first = 0; blockNoToCipherOff(first) < this.cipherSize; first += CHUNK_BLOCKS) {
      const cipher = await preadFully(this.fh, blockNoToCipherOff(first), buf.length, buf)
      let start = 0
      while (start * CIPHER_BLOCK < cipher.length) {
        try {
          good += this.siv.openBlocks(cipher.subarray(start * CIPHER_BLOCK), first + start, this.fileId).length
          break
        } catch (e) {
          if (!(e instanceof CorruptError) || e.block === undefined) throw e
          onBad(explainZeros(e, cipher, first) as CorruptError)
          // openBlocks reports the lowest bad block: the ones before it in this slice are good.
          good += (e.block - first - start) * PLAIN_BLOCK
          start = e.block - first + 1
        }
      }
    }
    return good
  }

  close(): Promise<void> {
    return this.fh.close()
  }
}

/**
 * An all-zero block that is not a full hole (those decrypt to zeros) fails as having a zero
 * nonce; say what it most likely is. gocryptfs -reverse answers SEEK_HOLE with the plaintext's
 * holes, so copying its view with cp (or tar --sparse) writes zeros there. Full blocks survive
 * that by the hole rule; a partial last block cannot.
 */
function explainZeros(e: unknown, cipher: Buffer, first: number): unknown {
  if (!(e instanceof CorruptError) || e.block === undefined) return e
  const start = (e.block - first) * CIPHER_BLOCK
  const block = cipher.subarray(start, start + CIPHER_BLOCK)
  if (block.length === 0 || block.some((b) => b !== 0)) return e
  return new CorruptError(
    `block ${e.block} is all zeros: a hole in the copy (cp and tar --sparse write zeros where a gocryptfs -reverse view reports holes; copy such views with rsync)`,
    e.block,
  )
}
