// The thread side of SealPool: seals whole reads with its own cipher object (the fast backend
// keeps per-object state) and hands the ciphertext back by transfer, not by copy.
import { parentPort, workerData } from 'node:worker_threads'
import { createAesSiv, type AesSivBackend } from '../format/aes-siv.js'
import { ownsBuffer, type SealJob } from './seal-pool.js'

const { key, backend } = workerData as { key: Uint8Array; backend: AesSivBackend }
const siv = createAesSiv(key, backend)
// The cipher objects hold their own copies; this one came by transfer and is ours alone.
key.fill(0)

parentPort!.on('message', (job: SealJob) => {
  const out = siv.sealBlocks(job.plain, job.firstBlock, job.ids.subarray(0, 16), job.ids.subarray(16, 32))
  // A small result may sit in the worker's shared Buffer pool, which must not be given away.
  parentPort!.postMessage(out, ownsBuffer(out) ? [out.buffer as ArrayBuffer] : [])
})
