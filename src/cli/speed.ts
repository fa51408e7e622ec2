// `-speed`: throughput of tsreverse's AES-SIV sealings (the addon's and the TypeScript backends) in gocryptfs's -speed format
// (internal/speed/speed.go): one 4096-byte block with 24 bytes of associated data per call, as
// gocryptfs measures, and whole reads per call, as mounts seal; MB = 10^6 bytes.
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createAesSiv, type AesSivBackend, loadAesSivBackend } from '../format/aes-siv.js'
import { sys } from '../native/sys.js'

// The reference backend loads on demand (aes-siv.ts).
await loadAesSivBackend('noble')

/** Where content is sealed: the addon (native/seal.c, what mounts use) or a TypeScript backend. */
export type Sealing = 'native' | AesSivBackend

const SEALINGS: [name: string, sealing: Sealing][] = [
  ['AES-SIV-512-C-OpenSSL', 'native'],
  ['AES-SIV-512-TS-fast', 'fast'],
  ['AES-SIV-512-TS-noble', 'noble'],
]
const MEASURE_MS = 600

type SealBlocks = (plain: Buffer, firstBlock: number, fileId: Buffer, iv0: Buffer) => Buffer

function sealerOf(sealing: Sealing, key: Buffer): SealBlocks {
  if (sealing !== 'native') {
    const siv = createAesSiv(key, sealing)
    return (plain, first, fileId, iv0) => siv.sealBlocks(plain, first, fileId, iv0)
  }
  const sealer = sys.sealer(key)
  return (plain, first, fileId, iv0) => sys.sealBlocks(sealer, plain, first, fileId, iv0)
}

/**
 * MB/s of sealing `blocks` 4 KiB blocks per call (each block: 24-byte aData + nonce), run for at
 * least `ms` milliseconds.
 */
export function sealThroughput(sealing: Sealing, blocks: number, ms: number): number {
  const seal = sealerOf(sealing, randomBytes(64))
  const fileId = randomBytes(16)
  const iv0 = randomBytes(16)
  const plain = Buffer.alloc(blocks * 4096)
  for (let i = 0; i < 20; i++) seal(plain, i * blocks, fileId, iv0) // let the JIT settle
  let calls = 0
  const start = performance.now()
  let elapsed = 0
  do {
    seal(plain, calls * blocks, fileId, iv0)
    calls++
    elapsed = performance.now() - start
  } while (elapsed < ms)
  return (calls * plain.length) / (elapsed * 1000)
}

// What a mount seals per call: a FUSE read of up to 512 KiB is 128 blocks at once.
const READ_BLOCKS = 128
// Mounts seal in the addon unless -threads 0 or -openssl=false ask for a TypeScript backend.
const MOUNT_SEALING: Sealing = 'native'

/**
 * gocryptfs' lines (one 4 KiB block per call), then the same sealings as mounts call them (a
 * whole read per call), the one mounts use marked as gocryptfs marks its choice.
 */
export function speedLines(): string[] {
  const line = (name: string, sealing: Sealing, blocks: number): string => {
    const mbs = sealThroughput(sealing, blocks, MEASURE_MS)
    const chosen = sealing === MOUNT_SEALING ? '\t(selected in auto mode)' : ''
    return `${name.padEnd(26)}\t${mbs.toFixed(2).padStart(7)} MB/s${chosen}`
  }
  return [
    ...SEALINGS.map(([name, sealing]) => line(name, sealing, 1)),
    ...SEALINGS.map(([name, sealing]) => line(`${name}-${(READ_BLOCKS * 4096) / 1024}K`, sealing, READ_BLOCKS)),
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
