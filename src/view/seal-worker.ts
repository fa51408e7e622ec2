// The thread side of SealPool: reads the plaintext range from the source fd itself (pread,
// blocking this thread only) and seals it with its own cipher object (the fast backend keeps
// per-object state); the ciphertext goes back by transfer, not by copy.
import { fstatSync, readSync } from 'node:fs'
import { parentPort, workerData } from 'node:worker_threads'
import { createAesSiv, type AesSivBackend } from '../format/aes-siv.js'
import { PLAIN_BLOCK } from '../format/sizes.js'
import { ownsBuffer, type SealJob, type SealReply, type SealedRead } from './seal-pool.js'

const { key, backend } = workerData as { key: Uint8Array; backend: AesSivBackend }
const siv = createAesSiv(key, backend)
// The cipher objects hold their own copies; this one came by transfer and is ours alone.
key.fill(0)

// sealBlocks copies what it reads, so one buffer serves every FUSE-sized read.
const kept = Buffer.allocUnsafeSlow(32 * PLAIN_BLOCK)

function readPlain(job: SealJob): Buffer {
  const plain = job.length <= kept.length ? kept : Buffer.allocUnsafeSlow(job.length)
  const position = job.firstBlock * PLAIN_BLOCK
  let got = 0
  while (got < job.length) {
    const n = readSync(job.fd, plain, got, job.length - got, position + got)
    if (n === 0) break
    got += n
  }
  return plain.subarray(0, got)
}

parentPort!.on('message', (job: SealJob) => {
  let out: Buffer
  let status: SealedRead['status']
  try {
    const plain = readPlain(job)
    // For the consistency check (consistency.ts): here it costs the main thread nothing.
    const { size, mtimeMs, ctimeMs } = fstatSync(job.fd)
    status = { size, mtimeMs, ctimeMs }
    out = siv.sealBlocks(plain, job.firstBlock, job.ids.subarray(0, 16), job.ids.subarray(16, 32))
  } catch (e) {
    const err = e as NodeJS.ErrnoException
    parentPort!.postMessage({ message: err.message, code: err.code, syscall: err.syscall } satisfies SealReply)
    return
  }
  // A small result may sit in the worker's shared Buffer pool, which must not be given away.
  parentPort!.postMessage({ cipher: out, status } satisfies SealedRead, ownsBuffer(out) ? [out.buffer as ArrayBuffer] : [])
})
