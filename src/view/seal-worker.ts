// The thread side of SealPool: reads the plaintext range from the source fd (through the native
// thread pool, so a hung read holds only its own job) and seals it with its own cipher object
// (the fast backend keeps per-object state); the ciphertext goes back by transfer, not by copy.
import { parentPort, workerData } from 'node:worker_threads'
import { createAesSiv, type AesSivBackend } from '../format/aes-siv.js'
import { PLAIN_BLOCK } from '../format/sizes.js'
import { ownsBuffer, type JobDone, type SealJob, type SealReply } from './seal-pool.js'
import { preadAt } from './source-io.js'

const { key, backend } = workerData as { key: Uint8Array; backend: AesSivBackend }
const siv = createAesSiv(key, backend)
// The cipher object holds its own copy; this one came by transfer and is ours alone.
key.fill(0)

async function seal(job: SealJob): Promise<JobDone> {
  const { plain, status } = await preadAt(job.fd, job.length, job.firstBlock * PLAIN_BLOCK)
  const cipher = siv.sealBlocks(plain, job.firstBlock, job.ids.subarray(0, 16), job.ids.subarray(16, 32))
  return { id: job.id, done: { cipher, status } }
}

parentPort!.on('message', (job: SealJob) => {
  seal(job).then(
    (out) => {
      const cipher = out.done.cipher
      // A small result may sit in the worker's shared Buffer pool, which must not be given away.
      parentPort!.postMessage(out, ownsBuffer(cipher) ? [cipher.buffer as ArrayBuffer] : [])
    },
    (e: NodeJS.ErrnoException) => parentPort!.postMessage({ id: job.id, message: e.message, code: e.code, syscall: e.syscall } satisfies SealReply),
  )
})
