// Password input with gocryptfs 2.3's rules (internal/readpassword): -passfile, -extpass, a
// no-echo terminal prompt, or one line from a non-terminal stdin. Failures exit with code 9.
import { spawn, type ChildProcessByStdio } from 'node:child_process'
import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import type { Readable } from 'node:stream'
import { isatty, type ReadStream } from 'node:tty'
import { ExitCode, UserError } from '../exitcodes.js'
import { plural } from '../plural.js'

export const MAX_PASSWORD_LEN = 2048

export interface PasswordOptions {
  /** First lines of these files, concatenated in order. */
  passfile?: string[]
  /** One value: a command line split on spaces; several values: argv verbatim. */
  extpass?: string[]
  /** Terminal prompt, e.g. 'Password: '. */
  prompt: string
  /** Ask a second time and compare (-init, -passwd); only on a terminal, like gocryptfs. */
  twice?: boolean
}

function fail(message: string): never {
  throw new UserError(message, ExitCode.ReadPassword)
}

function reason(err: unknown): string {
  return (err as Error).message
}

export async function readPassword(opts: PasswordOptions): Promise<Buffer> {
  const passfile = opts.passfile ?? []
  const extpass = opts.extpass ?? []
  if (passfile.length > 0 && extpass.length > 0) {
    throw new UserError('The options -passfile and -extpass cannot be used together', ExitCode.Usage)
  }
  if (passfile.length > 0) return readPassFiles(passfile)
  if (extpass.length > 0) return readExtpass(extpass)
  if (!isatty(0)) return readStdinLine(opts.prompt.replace(/:\s*$/, ''))
  const first = await readTerminal(opts.prompt)
  if (!opts.twice) return first
  const second = await readTerminal('Repeat: ')
  const same = first.equals(second)
  second.fill(0)
  if (!same) {
    first.fill(0)
    fail('Passwords do not match')
  }
  return first
}

function readPassFiles(paths: string[]): Buffer {
  const parts = paths.map(readPassFile)
  const password = Buffer.concat(parts)
  for (const p of parts) p.fill(0)
  return password
}

// One read() of at most 2050 bytes, as gocryptfs: room for a 2048-byte line, its newline, and
// one more byte to notice an overlong line. Nothing but the newline is stripped (a CR stays).
function readPassFile(path: string): Buffer {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch (err) {
    fail(`passfile: could not open ${path}: ${reason(err)}`)
  }
  const buf = Buffer.alloc(MAX_PASSWORD_LEN + 2)
  try {
    warnIfShared(fd, path)
    let n: number
    try {
      n = readSync(fd, buf, 0, buf.length, null)
    } catch (err) {
      fail(`passfile: could not read from ${path}: ${reason(err)}`)
    }
    if (n === 0) fail(`passfile: could not read from ${path}: the file is empty`)
    const newline = buf.subarray(0, n).indexOf(0x0a)
    const lineLen = newline < 0 ? n : newline
    if (lineLen === 0) fail(`passfile: empty first line in ${path}`)
    if (lineLen > MAX_PASSWORD_LEN) fail(`passfile: the first line of ${path} exceeds the maximum password length of ${MAX_PASSWORD_LEN} bytes`)
    if (newline >= 0 && newline + 1 < n) {
      process.stderr.write(`warning: passfile: ignoring ${plural(n - newline - 1, 'byte')} after the first line of ${path}\n`)
    }
    return Buffer.from(buf.subarray(0, lineLen))
  } finally {
    buf.fill(0)
    closeSync(fd)
  }
}

function warnIfShared(fd: number, path: string): void {
  const st = fstatSync(fd)
  if (st.isFile() && (st.mode & 0o044) !== 0) {
    const mode = (st.mode & 0o777).toString(8).padStart(4, '0')
    process.stderr.write(`warning: passfile ${path} is readable by group or others (mode ${mode}); consider chmod 600\n`)
  }
}

// The program's stdout up to the first newline; stdin is /dev/null and stderr is passed through,
// as in gocryptfs. A non-zero exit status or an empty line is an error.
function readExtpass(extpass: string[]): Promise<Buffer> {
  const argv = extpass.length === 1 ? extpass[0]!.split(' ') : extpass
  const [program, ...args] = argv as [string, ...string[]]
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let length = 0
    let complete = false
    let error: UserError | undefined
    const wipe = () => {
      for (const c of chunks) c.fill(0)
    }
    const cannotStart = (err: unknown) => new UserError(`extpass: could not start ${JSON.stringify(program)}: ${reason(err)}`, ExitCode.ReadPassword)
    let child: ChildProcessByStdio<null, Readable, null>
    try {
      child = spawn(program, args, { stdio: ['ignore', 'pipe', 'inherit'] })
    } catch (err) {
      // e.g. an empty program name is refused before anything runs
      reject(cannotStart(err))
      return
    }
    child.on('error', (err) => {
      error ??= cannotStart(err)
    })
    child.stdout.on('data', (chunk: Buffer) => {
      if (complete) return
      const newline = chunk.indexOf(0x0a)
      const part = Buffer.from(newline < 0 ? chunk : chunk.subarray(0, newline))
      chunk.fill(0)
      chunks.push(part)
      length += part.length
      if (length > MAX_PASSWORD_LEN) {
        error ??= new UserError(`extpass: the password exceeds the maximum length of ${MAX_PASSWORD_LEN} bytes`, ExitCode.ReadPassword)
      }
      if (newline >= 0 || error) {
        // Like gocryptfs, stop reading: the rest of the output is not ours to consume.
        complete = true
        child.stdout.destroy()
      }
    })
    child.on('close', (code, signal) => {
      // Closing the pipe after the first line kills a program that prints more (`pass show`
      // prints the whole entry): that SIGPIPE is our doing, not a failure of the program.
      const ownSigpipe = complete && signal === 'SIGPIPE'
      if (!error && code !== 0 && !ownSigpipe) {
        const status = code === null ? `was killed by ${signal}` : `exited with status ${code}`
        error = new UserError(`extpass: the program ${JSON.stringify(program)} ${status}`, ExitCode.ReadPassword)
      }
      if (!error && length === 0) error = new UserError('extpass: the password is empty', ExitCode.ReadPassword)
      if (error) {
        wipe()
        reject(error)
        return
      }
      const password = Buffer.concat(chunks)
      wipe()
      resolve(password)
    })
  })
}

// Byte by byte, so nothing after the newline is taken from a stdin that others read later.
function readStdinLine(label: string): Buffer {
  const buf = Buffer.alloc(MAX_PASSWORD_LEN + 1)
  let len = 0
  try {
    for (;;) {
      if (len > MAX_PASSWORD_LEN) fail(`the ${label} from stdin exceeds the maximum length of ${MAX_PASSWORD_LEN} bytes`)
      let n: number
      try {
        n = readSync(0, buf, len, 1, null)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
          // stdin is a non-blocking pipe: wait a little for the writer
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10)
          continue
        }
        fail(`could not read the ${label} from stdin: ${reason(err)}`)
      }
      if (n === 0 || buf[len] === 0x0a) break
      len++
    }
    if (len === 0) fail(`got an empty ${label} from stdin`)
    return Buffer.from(buf.subarray(0, len))
  } finally {
    buf.fill(0)
  }
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

// Raw mode turns echo off. It also hands us line editing (backspace, Ctrl-U) and Ctrl-C, which
// the terminal would otherwise turn into SIGINT; every way out restores the terminal first.
function readTerminal(prompt: string): Promise<Buffer> {
  const input = process.stdin as ReadStream
  const buf = Buffer.alloc(MAX_PASSWORD_LEN)
  let len = 0
  return new Promise((resolve, reject) => {
    const restore = () => {
      input.off('data', onData)
      input.setRawMode(false)
      input.pause()
      process.off('exit', restore)
      for (const sig of SIGNALS) process.off(sig, onSignal)
    }
    const onSignal = (sig: NodeJS.Signals) => {
      restore()
      process.stderr.write('\n')
      buf.fill(0)
      // Our handler is gone, so this gets the default action (or the program's own handler).
      process.kill(process.pid, sig)
      reject(new UserError(`password entry interrupted by ${sig}`, ExitCode.ReadPassword))
    }
    const finish = (error?: string) => {
      restore()
      process.stderr.write('\n')
      if (error === undefined && len === 0) error = 'Password is empty'
      if (error !== undefined) {
        buf.fill(0)
        reject(new UserError(error, ExitCode.ReadPassword))
        return
      }
      const password = Buffer.from(buf.subarray(0, len))
      buf.fill(0)
      resolve(password)
    }
    const onData = (chunk: Buffer) => {
      try {
        for (const b of chunk) {
          if (b === 0x0d || b === 0x0a || (b === 0x04 && len === 0)) return finish()
          if (b === 0x03) return onSignal('SIGINT')
          if (b === 0x7f || b === 0x08) {
            // erase one UTF-8 character: continuation bytes, then the lead byte
            while (len > 0 && (buf[len - 1]! & 0xc0) === 0x80) len--
            if (len > 0) len--
          } else if (b === 0x15) {
            len = 0
          } else if (len === MAX_PASSWORD_LEN) {
            return finish(`the password exceeds the maximum length of ${MAX_PASSWORD_LEN} bytes`)
          } else {
            buf[len++] = b
          }
        }
      } finally {
        chunk.fill(0)
      }
    }
    input.setRawMode(true)
    process.stderr.write(prompt)
    process.once('exit', restore)
    for (const sig of SIGNALS) process.once(sig, onSignal)
    input.on('data', onData)
    input.resume()
  })
}
