// The master key as text: 8 dash-separated groups of 8 hex digits (gocryptfs -masterkey syntax).
import { ExitCode, UserError } from '../exitcodes.js'
import { plural } from '../plural.js'

export const MASTER_KEY_LEN = 32

/** Printed when -masterkey is given on the command line. */
export const MASTERKEY_CLI_WARNING =
  'Warning: a master key given on the command line can be seen by other users (ps ax) and may be ' +
  'kept in your shell history. Use -masterkey only to recover from a lost password or config file.'

/** Accepts what gocryptfs accepts: dashes anywhere, hex in either case, exactly 32 bytes. */
export function parseMasterKey(text: string): Buffer {
  const hex = text.replaceAll('-', '')
  // The messages describe the problem without quoting the input: it is secret.
  if (/[^0-9a-fA-F]/.test(hex)) {
    throw new UserError('Could not parse the master key: it contains a character that is not a hex digit or "-"', ExitCode.MasterKey)
  }
  if (hex.length % 2 !== 0) {
    throw new UserError('Could not parse the master key: odd number of hex digits', ExitCode.MasterKey)
  }
  if (hex.length !== MASTER_KEY_LEN * 2) {
    throw new UserError(`Master key has ${plural(hex.length / 2, 'byte')}, but ${MASTER_KEY_LEN} are required`, ExitCode.MasterKey)
  }
  return Buffer.from(hex, 'hex')
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
