// Master key text: the -masterkey syntax of the vectors, every malformed input (exit 14, key not
// echoed), and the -init reminder layout.
import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { ExitCode } from '../src/exitcodes.js'
import { MASTERKEY_CLI_WARNING, formatMasterKey, formatMasterKeyReminder, parseMasterKey } from '../src/format/masterkey.js'
import { VECTORS } from './lib/vectors.js'

t.test('vector master keys parse to sha256 of their label and format back unchanged', async (t) => {
  for (const v of ['A', 'B', 'C']) {
    const text = readFileSync(`${VECTORS}/${v}/masterkey.txt`, 'utf8').trim()
    const key = parseMasterKey(text)
    t.equal(key.toString('hex'), createHash('sha256').update(`gocryptfs-reverse-vector-${v}`).digest('hex'), v)
    t.equal(formatMasterKey(key), text, v)
  }
})

t.test('accepted spellings: either case, any dashes, none at all', async (t) => {
  const key = randomBytes(32)
  const plain = key.toString('hex')
  t.match(formatMasterKey(key), /^[0-9a-f]{8}(-[0-9a-f]{8}){7}$/)
  for (const text of [plain, plain.toUpperCase(), formatMasterKey(key).toUpperCase(), `--${plain.slice(0, 5)}-${plain.slice(5)}-`]) {
    t.equal(parseMasterKey(text).toString('hex'), plain, text)
  }
})

t.test('malformed keys give exit code 14 without echoing the input', async (t) => {
  const secret = randomBytes(32).toString('hex')
  const cases: [string, string][] = [
    ['non-hex character', secret.slice(0, 63) + 'g'],
    ['trailing newline', secret + '\n'],
    ['inner space', secret.slice(0, 32) + ' ' + secret.slice(32)],
    ['odd length', secret.slice(0, 63)],
    ['31 bytes', secret.slice(0, 62)],
    ['33 bytes', secret + 'ab'],
    ['empty', ''],
    ['only dashes', '--------'],
  ]
  for (const [name, text] of cases) {
    t.throws(() => parseMasterKey(text), { name: 'UserError', exitCode: ExitCode.MasterKey }, name)
    try {
      parseMasterKey(text)
    } catch (err) {
      const message = (err as Error).message
      t.notOk(text.length >= 8 && message.includes(text.slice(0, 8)), `${name}: message does not quote the key`)
    }
  }
})

t.test('formatMasterKey refuses a key of the wrong length', async (t) => {
  t.throws(() => formatMasterKey(Buffer.alloc(16)), RangeError)
})

t.test('the -init reminder shows the key on two lines of four groups', async (t) => {
  const key = randomBytes(32)
  const groups = formatMasterKey(key).split('-')
  const lines = formatMasterKeyReminder(key).split('\n')
  const keyLines = lines.filter((l) => /[0-9a-f]{8}-[0-9a-f]{8}/.test(l))
  t.same(keyLines, [`    ${groups.slice(0, 4).join('-')}-`, `    ${groups.slice(4).join('-')}`])
  // The two lines pasted together form a valid -masterkey value.
  t.equal(parseMasterKey(keyLines.map((l) => l.trim()).join('')).toString('hex'), key.toString('hex'))
  t.ok(lines.length > 4, 'explanatory text around the key')
})

t.test('the command-line warning is one line about ps and shell history', async (t) => {
  t.notOk(MASTERKEY_CLI_WARNING.includes('\n'))
  t.match(MASTERKEY_CLI_WARNING, /ps ax/)
  t.match(MASTERKEY_CLI_WARNING, /history/)
})
