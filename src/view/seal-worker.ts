// The thread side of SealPool: reads the plaintext range from the source fd itself (pread,
// blocking this thread only) and seals it with its own cipher object (the fast backend keeps
// per-object state); the ciphertext goes back by transfer, not by copy. The source syscalls of
// lookups, listings, opens and releases run here too (source-sync.ts), several per message.
import { parentPort, workerData } from 'node:worker_threads'
import { createAesSiv, type AesSivBackend } from '../format/aes-siv.js'
import { asBuffer, ownsBuffer, type Job, type JobDone, type SealReply } from './seal-pool.js'
import { SourceCalls } from './source-sync.js'

const { key, backend } = workerData as { key: Uint8Array; backend: AesSivBackend }
const calls = new SourceCalls(createAesSiv(key, backend))
// The cipher objects hold their own copies; this one came by transfer and is ours alone.
key.fill(0)

function reply(e: unknown): SealReply {
  const err = e as NodeJS.ErrnoException
  return { message: err.message, code: err.code, syscall: err.syscall }
}

/** The job's result, and the bytes in it that may go back by transfer. */
function run(job: Job): { done: unknown; bytes?: Buffer } {
  switch (job.kind) {
    case 'seal': {
      const sealed = calls.seal(job.fd, job.firstBlock, job.length, job.ids.subarray(0, 16), job.ids.subarray(16, 32))
      return { done: sealed, bytes: sealed.cipher }
    }
    case 'lstat':
      return { done: calls.lstat(job.check, asBuffer(job.path)) }
    case 'list':
      return { done: calls.list(asBuffer(job.path)) }
    case 'walk':
      return { done: calls.walk(asBuffer(job.first), job.names.map(asBuffer), job.list) }
    case 'lstatEach': {
      const { stats, dir } = calls.lstatEach(job.paths.map(asBuffer), asBuffer(job.dir))
      // Structured cloning would drop an error's code.
      return { done: { stats: stats.map((st) => (st instanceof Error ? reply(st) : st)), dir } }
    }
    case 'open': {
      const whole = job.whole && { below: job.whole.below, fileId: job.whole.ids.subarray(0, 16), iv0: job.whole.ids.subarray(16, 32) }
      const opened = calls.open(job.check, asBuffer(job.path), job.expected, whole)
      return { done: opened, bytes: 'data' in opened ? opened.data : undefined }
    }
    case 'close':
      return { done: calls.closeFile(job.fd) }
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
