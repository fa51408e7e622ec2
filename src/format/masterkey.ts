// The master key as text: 8 dash-separated groups of 8 hex digits (gocryptfs -masterkey syntax).
import { ExitCode, UserError } from '../exitcodes.js'
import { plural } from '../plural.js'

export const MASTER_KEY_LEN = 32

/** Printed when -masterkey is given on the command line. */
export const MASTERKEY_CLI_WARNING =
  'Warning: a master key given on the command line can be seen by other users (ps ax) and may be ' +
  'kept in your shell history. Use -masterkey only to recover from a lost password or config file.'

/** The value of a hex digit (either case), or -1. */
function nibble(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  const lower = c | 0x20
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x57 : -1
}

/**
 * Accepts what gocryptfs accepts: dashes anywhere, hex in either case, exactly 32 bytes. Works
 * on bytes, so a key read from stdin never becomes a string, which could not be wiped.
 */
export function parseMasterKey(input: string | Uint8Array): Buffer {
  const text = typeof input === 'string' ? Buffer.from(input, 'utf8') : input
  try {
    const digits = text.filter((c) => c !== 0x2d)
    // The messages describe the problem without quoting the input: it is secret.
    try {
      if (digits.some((c) => nibble(c) < 0)) {
        throw new UserError('Could not parse the master key: it contains a character that is not a hex digit or "-"', ExitCode.MasterKey)
      }
      if (digits.length % 2 !== 0) {
        throw new UserError('Could not parse the master key: odd number of hex digits', ExitCode.MasterKey)
      }
      if (digits.length !== MASTER_KEY_LEN * 2) {
        throw new UserError(`Master key has ${plural(digits.length / 2, 'byte')}, but ${MASTER_KEY_LEN} are required`, ExitCode.MasterKey)
      }
      const key = Buffer.alloc(MASTER_KEY_LEN)
      for (let i = 0; i < MASTER_KEY_LEN; i++) key[i] = (nibble(digits[2 * i]!) << 4) | nibble(digits[2 * i + 1]!)
      return key
    } finally {
      digits.fill(0)
    }
  } finally {
    if (text !== input) text.fill(0)
  }
}

function hexGroups(key: Uint8Array): string[] {
  if (key.length !== MASTER_KEY_LEN) throw new RangeError(`master key must be ${MASTER_KEY_LEN} bytes, got ${key.length}`)
  const hex = Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex')
  const groups: string[] = []
  for (let i = 0; i < hex.length; i += 8) groups.push(hex.slice(i, i + 8))
  return groups
}

export function formatMasterKey(key: Uint8Array): string {
  return hexGroups(key).join('-')
}

/**
 * The note -init shows once on a terminal. Like gocryptfs, the key is split over two lines of
 * four groups and the first line keeps its trailing dash, so the two lines can be pasted together.
 */
export function formatMasterKeyReminder(key: Uint8Array): string {
  const g = hexGroups(key)
  return [
    '',
    'Your master key is:',
    '',
    `    ${g.slice(0, 4).join('-')}-`,
    `    ${g.slice(4).join('-')}`,
    '',
    'It is the only way back to your files if the config file is damaged or the password is',
    'forgotten. Write it on paper and keep it somewhere safe; it will not be shown again.',
  ].join('\n')
}
