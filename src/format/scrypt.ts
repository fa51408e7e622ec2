// scrypt (RFC 7914) turns the password into the key that wraps the master key. Parameter rules
// follow gocryptfs 2.3 (internal/configfile/scrypt.go).
import { randomBytes, scrypt } from 'node:crypto'
import { ExitCode, UserError, type ExitCodeValue } from '../exitcodes.js'

/** The `ScryptObject` of the config file, member names as in the JSON. */
export interface ScryptParams {
  Salt: Buffer
  N: number
  R: number
  P: number
  KeyLen: number
}

const SCRYPT_DEFAULT_LOGN = 16
// gocryptfs documents 10..28; above 28 the memory need (128 * R * N bytes) is absurd.
const MIN_LOGN = 10
const MAX_LOGN = 28
// Minimums enforced on load, so a tampered config cannot weaken the password hashing.
const MIN_R = 8
const MIN_P = 1
const MIN_SALT_LEN = 32
const KEY_LEN = 32

/** Fresh parameters as gocryptfs -init / -passwd writes them: 32-byte salt, N = 2^logN, R 8, P 1. */
export function newScryptParams(logN: number): ScryptParams {
  return { Salt: randomBytes(32), N: 2 ** logN, R: 8, P: 1, KeyLen: KEY_LEN }
}

/**
 * The logN to use for a new wrapping: gocryptfs treats a value <= 0 as the default; anything
 * else outside 10..28 is refused with `exitCode` (gocryptfs: 24 for -init, 13 for -passwd).
 */
export function resolveLogN(logN: number | undefined, exitCode: ExitCodeValue): number {
  if (logN === undefined || logN <= 0) return SCRYPT_DEFAULT_LOGN
  if (!Number.isInteger(logN) || logN < MIN_LOGN || logN > MAX_LOGN) {
    throw new UserError(`-scryptn ${logN} is outside the allowed range ${MIN_LOGN}..${MAX_LOGN}`, exitCode)
  }
  return logN
}

/** log2(N) rounded, as gocryptfs -passwd keeps the old cost when -scryptn is not given. */
export function logNOf(params: ScryptParams): number {
  return Math.round(Math.log2(params.N))
}

/** The minimum checks of gocryptfs's validateParams; a description of the first failure, if any. */
export function scryptParamsProblem(p: ScryptParams): string | undefined {
  if (p.N < 2 ** MIN_LOGN) return `scrypt parameter N=${p.N} is below the minimum ${2 ** MIN_LOGN}`
  if (p.R < MIN_R) return `scrypt parameter R=${p.R} is below the minimum ${MIN_R}`
  if (p.P < MIN_P) return `scrypt parameter P=${p.P} is below the minimum ${MIN_P}`
  if (p.Salt.length < MIN_SALT_LEN) return `scrypt salt has ${p.Salt.length} bytes, below the minimum ${MIN_SALT_LEN}`
  if (p.KeyLen < KEY_LEN) return `scrypt parameter KeyLen=${p.KeyLen} is below the minimum ${KEY_LEN}`
  return undefined
}

/** kek = scrypt(password, Salt, N, R, P, KeyLen). Unusable parameters give exit code 13. */
export function deriveScryptKey(password: Uint8Array, p: ScryptParams): Promise<Buffer> {
  const problem = scryptParamsProblem(p)
  if (problem) return Promise.reject(new UserError(problem, ExitCode.ScryptParams))
  if (!Number.isInteger(Math.log2(p.N))) {
    return Promise.reject(new UserError(`scrypt parameter N=${p.N} is not a power of two`, ExitCode.ScryptParams))
  }
  // OpenSSL needs 128 * R * (N + 2 + P) bytes; Node's default limit of 32 MiB is below N = 2^16.
  const maxmem = 128 * p.R * (p.N + 2 + p.P) + 1024 * 1024
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => reject(new UserError(`scrypt failed: ${err.message}`, ExitCode.ScryptParams))
    try {
      scrypt(password, p.Salt, p.KeyLen, { N: p.N, r: p.R, p: p.P, maxmem }, (err, key) => {
        if (err) fail(err)
        else resolve(key)
      })
    } catch (err) {
      // Parameters Node rejects up front (e.g. R * P too large) throw synchronously.
      fail(err as Error)
    }
  })
}
