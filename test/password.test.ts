// Password sources with gocryptfs 2.3's rules (spec 1.7): -passfile, -extpass, stdin that is not
// a terminal (in a child process), and the no-echo terminal prompt (in a pty made by script(1)).
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ExitCode } from '../src/exitcodes.js'
import { readPassword, type PasswordOptions } from '../src/cli/password.js'
import { VECTORS } from './lib/vectors.js'

const userError = (exitCode: number) => ({ name: 'UserError', exitCode })
const PASSWORD_MODULE = fileURLToPath(new URL('../src/cli/password.js', import.meta.url))

const dir = mkdtempSync(join(tmpdir(), 'tsreverse-password-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

let fileCount = 0
function file(content: string | Buffer, mode = 0o600): string {
  const path = join(dir, `pass${fileCount++}`)
  writeFileSync(path, content)
  chmodSync(path, mode)
  return path
}

/** Runs `fn` and returns what it wrote to stderr along with its result or error. */
async function withStderr<T>(fn: () => Promise<T>): Promise<{ value?: T; error?: unknown; stderr: string }> {
  const original = process.stderr.write
  let stderr = ''
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += chunk.toString()
    return true
  }) as typeof process.stderr.write
  try {
    return { value: await fn(), stderr }
  } catch (error) {
    return { error, stderr }
  } finally {
    process.stderr.write = original
  }
}

const prompt = 'Password: '
const fromFiles = (...passfile: string[]) => readPassword({ passfile, prompt })
const text = (b: Buffer) => b.toString('latin1')

t.test('passfile: first line only, nothing but the newline stripped', async (t) => {
  t.equal(text(await fromFiles(join(VECTORS, 'B', 'passfile.txt'))), 'vector-B-password')
  t.equal(text(await fromFiles(file('crlf\r\n'))), 'crlf\r', 'a CR stays part of the password')
  t.equal(text(await fromFiles(file('no newline'))), 'no newline')
  t.equal(text(await fromFiles(file('  spaces \t\n'))), '  spaces \t')
  t.equal(text(await fromFiles(file('p\n'), file('w\n'))), 'pw', 'several files are concatenated')
  t.equal(text(await fromFiles(file(Buffer.from([0xff, 0x00, 0x41, 0x0a])))), '\xff\x00A', 'raw bytes')
})

t.test('passfile: length limit of 2048 bytes, one read of 2050', async (t) => {
  t.equal((await fromFiles(file('a'.repeat(2048) + '\n'))).length, 2048)
  t.equal((await fromFiles(file('a'.repeat(2048)))).length, 2048)
  await t.rejects(fromFiles(file('a'.repeat(2049) + '\n')), userError(ExitCode.ReadPassword))
  await t.rejects(fromFiles(file('a'.repeat(5000))), userError(ExitCode.ReadPassword))
  // The read stops at 2050 bytes, so only what fits there is reported as trailing garbage.
  const { value, stderr } = await withStderr(() => fromFiles(file('a'.repeat(2048) + '\n' + 'x'.repeat(100))))
  t.equal(value!.length, 2048)
  t.match(stderr, /ignoring 1 byte after the first line/)
})

t.test('passfile: errors give exit code 9 and name the file', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['empty file', file(''), /empty/],
    ['empty first line', file('\nsecret\n'), /empty first line/],
    ['missing file', join(dir, 'does-not-exist'), /could not open/],
    ['a directory', dir, /could not read/],
  ]
  for (const [name, path, why] of cases) {
    await t.rejects(fromFiles(path), { ...userError(ExitCode.ReadPassword), message: why }, name)
    await t.rejects(fromFiles(path), { message: path }, `${name}: names the file`)
  }
  // One bad file fails the whole concatenation.
  await t.rejects(fromFiles(file('good\n'), file('')), userError(ExitCode.ReadPassword))
})

t.test('passfile: warnings for trailing content and for group/other-readable files', async (t) => {
  // Contents no temporary file name can hold (mkdtemp suffixes are alphanumeric).
  const garbage = await withStderr(() => fromFiles(file('pw-1\nmore-2\n')))
  t.equal(text(garbage.value!), 'pw-1')
  t.match(garbage.stderr, /ignoring 7 bytes after the first line/)
  t.notMatch(garbage.stderr, /pw-1|more-2/, 'the content is not printed')
  const clean = await withStderr(() => fromFiles(file('pw\n')))
  t.equal(clean.stderr, '', 'no warning for a private file with one line')
  const shared = await withStderr(() => fromFiles(file('pw\n', 0o644)))
  t.match(shared.stderr, /readable by group or others \(mode 0644\)/)
  const groupOnly = await withStderr(() => fromFiles(file('pw\n', 0o640)))
  t.match(groupOnly.stderr, /mode 0640/)
})

t.test('-passfile and -extpass together are a usage error', async (t) => {
  await t.rejects(readPassword({ passfile: [file('a\n')], extpass: ['echo a'], prompt }), userError(ExitCode.Usage))
})

const fromExtpass = (...extpass: string[]) => readPassword({ extpass, prompt })

t.test('extpass: first line of stdout; one value split on spaces, several used as argv', async (t) => {
  t.equal(text(await fromExtpass('echo hunter2')), 'hunter2')
  t.equal(text(await fromExtpass('echo two  spaces')), 'two  spaces', 'split on single spaces: an empty argument')
  t.equal(text(await fromExtpass('sh', '-c', 'echo "a b"; echo second')), 'a b')
  t.equal(text(await fromExtpass('printf', 'no-newline')), 'no-newline')
  t.equal(text(await fromExtpass('printf', 'cr\\r\\n')), 'cr\r')
  t.equal((await fromExtpass('sh', '-c', 'head -c 2048 /dev/zero | tr "\\0" a')).length, 2048)
  // stdin is not passed on to the program
  t.equal(text(await fromExtpass('sh', '-c', 'cat; echo done')), 'done')
})

t.test('extpass: failures give exit code 9', async (t) => {
  const cases: [string, string[], RegExp][] = [
    ['non-zero exit', ['sh', '-c', 'echo pw; exit 3'], /status 3/],
    ['empty output', ['true'], /empty/],
    ['empty first line', ['sh', '-c', 'echo; echo pw'], /empty/],
    ['missing program', ['/nonexistent/program'], /could not start/],
    ['empty command line', [''], /could not start/],
    ['killed by a signal', ['sh', '-c', 'echo pw; kill -9 $$'], /SIGKILL/],
    ['longer than 2048 bytes', ['sh', '-c', 'head -c 3000 /dev/zero | tr "\\0" a'], /maximum length/],
  ]
  for (const [name, argv, why] of cases) {
    await t.rejects(fromExtpass(...argv), { ...userError(ExitCode.ReadPassword), message: why }, name)
  }
})

// ---- stdin and terminal, in a child process -------------------------------------------------

const childScript = join(dir, 'child.mjs')
writeFileSync(
  childScript,
  `import { readFileSync } from 'node:fs'
import { readPassword } from ${JSON.stringify(PASSWORD_MODULE)}
const opts = JSON.parse(process.argv[2])
try {
  const pw = await readPassword(opts)
  process.stdout.write('OK ' + pw.toString('hex') + '\\n')
  if (opts.rest) process.stdout.write('REST ' + readFileSync(0).toString('hex') + '\\n')
} catch (err) {
  process.stdout.write('ERR ' + err.exitCode + ' ' + err.message + '\\n')
  process.exitCode = err.exitCode ?? 99
}
`,
)

function runWithStdin(opts: Partial<PasswordOptions> & { rest?: boolean }, input: string) {
  return spawnSync(process.execPath, [childScript, JSON.stringify({ prompt, ...opts })], { input, encoding: 'utf8', timeout: 20_000 })
}
const hexOf = (s: string) => Buffer.from(s, 'latin1').toString('hex')

t.test('stdin that is not a terminal: one line, read byte by byte', async (t) => {
  const line = runWithStdin({ rest: true }, 'secret\r\nleft for later\n')
  t.equal(line.stdout, `OK ${hexOf('secret\r')}\nREST ${hexOf('left for later\n')}\n`, 'nothing after the newline is consumed')
  t.equal(line.stderr, '', 'no prompt when stdin is not a terminal')
  t.equal(runWithStdin({}, 'no newline').stdout, `OK ${hexOf('no newline')}\n`)
  t.equal(runWithStdin({ twice: true }, 'once\n').stdout, `OK ${hexOf('once')}\n`, 'asked only once when not on a terminal')
  t.equal(runWithStdin({}, 'a'.repeat(2048)).stdout, `OK ${hexOf('a'.repeat(2048))}\n`)
  for (const [name, input] of [
    ['empty stdin', ''],
    ['empty line', '\nsecond\n'],
    ['too long', 'a'.repeat(2049) + '\n'],
  ]) {
    const r = runWithStdin({}, input!)
    t.equal(r.status, ExitCode.ReadPassword, name)
    t.match(r.stdout, /^ERR 9 /, name)
  }
})

const haveScript = spawnSync('script', ['--version']).status === 0

/** Runs the child on a pty; `answers` are typed one by one, each after the next prompt appears. */
function runOnTerminal(opts: Partial<PasswordOptions>, answers: string[]): Promise<{ output: string; status: number | null }> {
  const command = [process.execPath, childScript, JSON.stringify({ prompt, ...opts })].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')
  const child = spawn('script', ['-q', '-e', '-f', '-c', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] })
  let output = ''
  let prompts = 0
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString('latin1')
    // Type only after a prompt is shown, when echo is already off.
    const seen = (output.match(/Password: |Repeat: /g) ?? []).length
    while (prompts < seen && prompts < answers.length) child.stdin.write(answers[prompts++]!)
  })
  const timer = setTimeout(() => child.kill(), 20_000)
  return new Promise((resolve) => {
    child.on('close', (status) => {
      clearTimeout(timer)
      child.stdin.destroy()
      resolve({ output, status })
    })
  })
}

t.test('terminal: no echo, line editing, asking twice', { skip: !haveScript && 'script(1) not available' }, async (t) => {
  const typed = await runOnTerminal({}, ['secx\x7fret\r'])
  t.match(typed.output, /^Password: /)
  t.match(typed.output, `OK ${hexOf('secret')}`, 'backspace erased the x')
  t.notMatch(typed.output, /sec/, 'nothing typed was echoed')
  t.equal(typed.status, 0)

  const utf8 = await runOnTerminal({}, ['pässé\x7f\x7fa\r'])
  t.match(utf8.output, `OK ${Buffer.from('päsa').toString('hex')}`, 'backspace erases whole UTF-8 characters')

  const killLine = await runOnTerminal({}, ['wrong\x15right\n'])
  t.match(killLine.output, `OK ${hexOf('right')}`, 'Ctrl-U clears the line')

  const twice = await runOnTerminal({ twice: true }, ['same\r', 'same\r'])
  t.match(twice.output, /Password: [\s\S]*Repeat: /)
  t.match(twice.output, `OK ${hexOf('same')}`)

  const mismatch = await runOnTerminal({ twice: true }, ['one\r', 'two\r'])
  t.match(mismatch.output, /ERR 9 Passwords do not match/)
  t.equal(mismatch.status, ExitCode.ReadPassword)

  const empty = await runOnTerminal({}, ['\r'])
  t.match(empty.output, /ERR 9 Password is empty/)

  const eof = await runOnTerminal({}, ['\x04'])
  t.match(eof.output, /ERR 9 Password is empty/, 'Ctrl-D on an empty line ends the input')

  // Ctrl-C restores the terminal and ends the process with SIGINT, as a cooked terminal would.
  const interrupted = await runOnTerminal({}, ['abc\x03'])
  t.notMatch(interrupted.output, /OK|abc/)
  t.not(interrupted.status, 0)
})
