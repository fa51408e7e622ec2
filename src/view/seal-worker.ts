// The thread side of SealPool: reads the plaintext range from the source fd itself (pread,
// blocking this thread only) and seals it with its own cipher object (the fast backend keeps
// per-object state); the ciphertext goes back by transfer, not by copy. The source syscalls of
// lookups, opens and releases run here too, synchronously, several per message.
import { closeSync, fstatSync, lstatSync, opendirSync, openSync, readSync } from 'node:fs'
import { parentPort, workerData } from 'node:worker_threads'
import { createAesSiv, type AesSivBackend } from '../format/aes-siv.js'
import { fileHeader } from '../format/content.js'
import { PLAIN_BLOCK } from '../format/sizes.js'
import type { FileStatus } from './consistency.js'
import { FsError } from './fs.js'
import {
  asBuffer,
  ownsBuffer,
  type CloseJob,
  type Job,
  type JobDone,
  type ListJob,
  type LstatEachJob,
  type LstatJob,
  type OpenJob,
  type SealJob,
  type SealReply,
} from './seal-pool.js'
import { OPEN_FLAGS, isExpectedFile } from './source.js'
import { dirMoved, isDirAt, type DirCheck, type Opened } from './source-tree.js'

const { key, backend } = workerData as { key: Uint8Array; backend: AesSivBackend }
const siv = createAesSiv(key, backend)
// The cipher objects hold their own copies; this one came by transfer and is ours alone.
key.fill(0)

// sealBlocks copies what it reads, so one buffer serves every FUSE-sized read.
const kept = Buffer.allocUnsafeSlow(32 * PLAIN_BLOCK)


function readPlain(fd: number, firstBlock: number, length: number): Buffer {
  const plain = length <= kept.length ? kept : Buffer.allocUnsafeSlow(length)
  const position = firstBlock * PLAIN_BLOCK
  let got = 0
  while (got < length) {
    const n = readSync(fd, plain, got, length - got, position + got)
    if (n === 0) break
    got += n
  }
  return plain.subarray(0, got)
}

function fileStatus(fd: number): FileStatus {
  const { size, mtimeMs, ctimeMs } = fstatSync(fd)
  return { size, mtimeMs, ctimeMs }
}

/** The sealed blocks and, for the consistency check (consistency.ts), the fstat after the pread. */
function seal(job: SealJob): { cipher: Buffer; status: FileStatus } {
  const plain = readPlain(job.fd, job.firstBlock, job.length)
  const status = fileStatus(job.fd)
  return { cipher: siv.sealBlocks(plain, job.firstBlock, job.ids.subarray(0, 16), job.ids.subarray(16, 32)), status }
}

function checkDir(check: DirCheck | undefined): void {
  if (check && !isDirAt(lstatSync(asBuffer(check.path), { throwIfNoEntry: false }), check)) throw dirMoved()
}

function lstat(job: LstatJob): unknown {
  checkDir(job.check)
  return lstatSync(asBuffer(job.path))
}

function list(job: ListJob): Buffer[] {
  // Node accepts encoding 'buffer' here and yields Buffer names; the type declarations lack it.
  const dir = opendirSync(asBuffer(job.path), { encoding: 'buffer' as BufferEncoding, bufferSize: 256 })
  try {
    const names: Buffer[] = []
    for (let e = dir.readSync(); e !== null; e = dir.readSync()) names.push(e.name as unknown as Buffer)
    return names
  } finally {
    dir.closeSync()
  }
}

function lstatEach(job: LstatEachJob): unknown[] {
  return job.paths.map((p) => {
    try {
      return lstatSync(asBuffer(p))
    } catch (e) {
      return reply(e)
    }
  })
}

function reply(e: unknown): SealReply {
  const err = e as NodeJS.ErrnoException
  return { message: err.message, code: err.code, syscall: err.syscall }
}

/** The whole view file (header and blocks) when the file ends before `below` bytes. */
function readWhole(fd: number, whole: NonNullable<OpenJob['whole']>): Opened | undefined {
  const plain = readPlain(fd, 0, whole.below)
  if (plain.length >= whole.below) return undefined
  const status = fileStatus(fd)
  const fileId = whole.ids.subarray(0, 16)
  // An empty file has no header either (spec 6.11).
  const data = plain.length === 0 ? Buffer.alloc(0) : Buffer.concat([fileHeader(fileId), siv.sealBlocks(plain, 0, fileId, whole.ids.subarray(16, 32))])
  return { data, status }
}

function open(job: OpenJob): Opened {
  checkDir(job.check)
  const fd = openSync(asBuffer(job.path), OPEN_FLAGS)
  let whole: Opened | undefined
  try {
    if (!isExpectedFile(fstatSync(fd), job.expected)) throw new FsError('ENOENT')
    whole = job.whole && readWhole(fd, job.whole)
  } catch (e) {
    closeSync(fd)
    throw e
  }
  if (!whole) return { fd }
  // Outside the try: Linux frees the descriptor even when close fails, so it is never closed twice.
  closeSync(fd)
  return whole
}

function close(job: CloseJob): FileStatus {
  try {
    return fileStatus(job.fd)
  } finally {
    closeSync(job.fd)
  }
}

/** The job's result, and the bytes in it that may go back by transfer. */
function run(job: Job): { done: unknown; bytes?: Buffer } {
  switch (job.kind) {
    case 'seal': {
      const sealed = seal(job)
      return { done: sealed, bytes: sealed.cipher }
    }
    case 'lstat':
      return { done: lstat(job) }
    case 'list':
      return { done: list(job) }
    case 'lstatEach':
      return { done: lstatEach(job) }
    case 'open': {
      const opened = open(job)
      return { done: opened, bytes: 'data' in opened ? opened.data : undefined }
    }
    case 'close':
      return { done: close(job) }
  }
}

parentPort!.on('message', (job: Job) => {
  let out: ReturnType<typeof run>
  try {
    out = run(job)
  } catch (e) {
    parentPort!.postMessage(reply(e))
    return
  }
  // A small result may sit in the worker's shared Buffer pool, which must not be given away.
  const { done, bytes } = out
  parentPort!.postMessage({ done } satisfies JobDone, bytes && ownsBuffer(bytes) ? [bytes.buffer as ArrayBuffer] : [])
})
