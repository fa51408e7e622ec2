// `-speed`: throughput of tsreverse's AES-SIV backends in gocryptfs's -speed format
// (internal/speed/speed.go): one 4096-byte block with 24 bytes of associated data per call, as
// gocryptfs measures, and whole reads per call, as mounts seal; MB = 10^6 bytes.
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createAesSiv, type AesSivBackend, loadAesSivBackend } from '../format/aes-siv.js'

// The reference backend loads on demand (aes-siv.ts).
await loadAesSivBackend('noble')

const BACKENDS: [name: string, backend: AesSivBackend][] = [
  ['AES-SIV-512-TS-fast', 'fast'],
  ['AES-SIV-512-TS-noble', 'noble'],
]
const MEASURE_MS = 600

/**
 * MB/s of sealBlocks on `blocks` 4 KiB blocks per call (each block: 24-byte aData + nonce), run
 * for at least `ms` milliseconds.
 */
export function sealThroughput(backend: AesSivBackend, blocks: number, ms: number): number {
  const siv = createAesSiv(randomBytes(64), backend)
  const fileId = randomBytes(16)
  const iv0 = randomBytes(16)
  const plain = Buffer.alloc(blocks * 4096)
  for (let i = 0; i < 20; i++) siv.sealBlocks(plain, i * blocks, fileId, iv0) // let the JIT settle
  let calls = 0
  const start = performance.now()
  let elapsed = 0
  do {
    siv.sealBlocks(plain, calls * blocks, fileId, iv0)
    calls++
    elapsed = performance.now() - start
  } while (elapsed < ms)
  return (calls * plain.length) / (elapsed * 1000)
}

// What a mount seals per call: a FUSE read of up to 512 KiB is 128 blocks in one sealBlocks.
const READ_BLOCKS = 128
// The backend mounts use unless -openssl=false asks for the other (args.ts sivBackend).
const MOUNT_BACKEND: AesSivBackend = 'fast'

/**
 * gocryptfs' lines (one 4 KiB block per call), then the same backends as mounts call them (a
 * whole read per call), the one mounts use marked as gocryptfs marks its choice.
 */
export function speedLines(): string[] {
  const line = (name: string, backend: AesSivBackend, blocks: number): string => {
    const mbs = sealThroughput(backend, blocks, MEASURE_MS)
    const chosen = backend === MOUNT_BACKEND ? '\t(selected in auto mode)' : ''
    return `${name.padEnd(26)}\t${mbs.toFixed(2).padStart(7)} MB/s${chosen}`
  }
  return [
    ...BACKENDS.map(([name, backend]) => line(name, backend, 1)),
    ...BACKENDS.map(([name, backend]) => line(`${name}-${(READ_BLOCKS * 4096) / 1024}K`, backend, READ_BLOCKS)),
  ]
}

/** `cpu: <model>; with AES acceleration` as gocryptfs prints it, from /proc/cpuinfo. */
export function cpuLine(): string {
  let info = ''
  try {
    info = readFileSync('/proc/cpuinfo', 'utf8')
  } catch {
    // not Linux: gocryptfs prints an empty model too
  }
  // gocryptfs takes "model name", or "Hardware" on ARM boards that have none.
  const model = /^model name\s*:(.*)$/m.exec(info) ?? /^Hardware\s*:(.*)$/m.exec(info)
  const aes = /^(flags|Features)\s*:.*\baes\b/m.test(info)
  return `cpu: ${model?.[1]?.trim() ?? ''}; ${aes ? 'with' : 'no'} AES acceleration`
}
