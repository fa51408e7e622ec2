// gocryptfs' control socket (-ctlsock): a unix stream socket where each read is one JSON request,
// {"EncryptPath": P} or {"DecryptPath": P}, answered by one JSON line
// {"Result","ErrNo","ErrText","WarnText"} spelled as Go's encoding/json spells it, so
// gocryptfs-xray and scripts see the same bytes as from gocryptfs 2.3. A request is bounded
// (5000 bytes, as gocryptfs), each connection has one request in flight, connections are capped:
// a hostile client costs a closed connection, never the mount.
import { unlinkSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { ExitCode, UserError } from '../exitcodes.js'

/** gocryptfs' ReadBufSize: a read that fills it is a request too big, and ends the connection. */
const READ_BUF_SIZE = 5000
const MAX_CONNECTIONS = 128
/** Answers a client has not read yet; beyond this it is not reading and is dropped. */
const MAX_UNREAD_BYTES = 1 << 20

/** An answer's error: a POSIX errno, or -1 when it has none (as gocryptfs). */
export class CtlError extends Error {
  constructor(
    readonly errno: number,
    text: string,
  ) {
    super(text)
  }
}

export const ENOENT_ERROR = (): CtlError => new CtlError(2, 'no such file or directory')
/** What gocryptfs answers for a name it cannot encrypt (EBADMSG, without the errno). */
export const BAD_NAME_ERROR = (): CtlError => new CtlError(-1, 'bad message')

/** Paths are relative, canonical and non-empty byte strings. */
export interface PathBackend {
  encryptPath(plain: Buffer): Promise<Buffer>
  decryptPath(cipher: Buffer): Promise<Buffer>
}

export interface CtlSock {
  /** Starts answering (requests that came earlier wait for this). */
  serve(backend: PathBackend): void
  /** Stops listening and removes the socket file. */
  close(): void
}

interface Request {
  encrypt: Buffer
  decrypt: Buffer
}

/** Go's json type names, for its unmarshal errors. */
function goType(v: unknown): string {
  if (Array.isArray(v)) return 'array'
  if (typeof v === 'boolean') return 'bool'
  return typeof v
}

/** json.Unmarshal into gocryptfs' RequestStruct: field names match case-insensitively, the last duplicate wins. */
export function parseRequest(data: Buffer): Request | CtlError {
  const fail = (why: string): CtlError => new CtlError(-1, `JSON Unmarshal error: ${why}`)
  let v: unknown
  try {
    v = JSON.parse(data.toString('utf8'))
  } catch (e) {
    return fail((e as Error).message)
  }
  const req: Request = { encrypt: Buffer.alloc(0), decrypt: Buffer.alloc(0) }
  if (v === null) return req
  if (typeof v !== 'object' || Array.isArray(v)) return fail(`json: cannot unmarshal ${goType(v)} into Go value of type ctlsock.RequestStruct`)
  for (const [key, value] of Object.entries(v)) {
    const field = key.toLowerCase() === 'encryptpath' ? 'EncryptPath' : key.toLowerCase() === 'decryptpath' ? 'DecryptPath' : undefined
    if (field === undefined || value === null) continue
    if (typeof value !== 'string') return fail(`json: cannot unmarshal ${goType(value)} into Go struct field RequestStruct.${field} of type string`)
    req[field === 'EncryptPath' ? 'encrypt' : 'decrypt'] = Buffer.from(value, 'utf8')
  }
  return req
}

/** Go's filepath.Clean of a relative path, on bytes. */
function cleanRelative(p: Buffer): Buffer {
  const out: Buffer[] = []
  let ups = 0
  for (const part of p.toString('latin1').split('/')) {
    if (part === '' || part === '.') continue
    if (part !== '..') out.push(Buffer.from(part, 'latin1'))
    else if (out.length > 0) out.pop()
    else ups++
  }
  const parts = [...Array<Buffer>(ups).fill(Buffer.from('..')), ...out]
  return parts.length === 0 ? Buffer.from('.') : Buffer.from(parts.map((b) => b.toString('latin1')).join('/'), 'latin1')
}

/** ctlsocksrv.SanitizePath: no leading slashes, cleaned, '' for the root and for paths above it. */
export function sanitizePath(p: Buffer): Buffer {
  let start = 0
  while (start < p.length && p[start] === 0x2f) start++
  const clean = cleanRelative(p.subarray(start))
  const text = clean.toString('latin1')
  if (text === '.' || text === '..' || text.startsWith('../')) return Buffer.alloc(0)
  return clean
}

/** A Go string (bytes) as encoding/json writes it: HTML-safe, U+2028/9 escaped, \ufffd for each invalid byte. */
export function goJsonString(b: Buffer): string {
  let out = '"'
  for (let i = 0; i < b.length;) {
    const c = b[i]!
    if (c < 0x80) {
      if (c === 0x22) out += '\\"'
      else if (c === 0x5c) out += '\\\\'
      else if (c === 0x0a) out += '\\n'
      else if (c === 0x0d) out += '\\r'
      else if (c === 0x09) out += '\\t'
      else if (c < 0x20 || c === 0x3c || c === 0x3e || c === 0x26) out += `\\u00${c.toString(16).padStart(2, '0')}`
      else out += String.fromCharCode(c)
      i++
      continue
    }
    const size = utf8Size(b, i)
    if (size === 0) {
      out += '\\ufffd'
      i++
      continue
    }
    const ch = b.toString('utf8', i, i + size)
    out += ch === '\u2028' ? '\\u2028' : ch === '\u2029' ? '\\u2029' : ch
    i += size
  }
  return out + '"'
}

/** Length of the valid UTF-8 sequence at b[i] (lead byte >= 0x80), 0 when invalid (Go's rules). */
function utf8Size(b: Buffer, i: number): number {
  const c = b[i]!
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean => i + k < b.length && b[i + k]! >= lo && b[i + k]! <= hi
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0
  if (c >= 0xe0 && c <= 0xef) {
    const lo = c === 0xe0 ? 0xa0 : 0x80
    const hi = c === 0xed ? 0x9f : 0xbf
    return cont(1, lo, hi) && cont(2) ? 3 : 0
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const lo = c === 0xf0 ? 0x90 : 0x80
    const hi = c === 0xf4 ? 0x8f : 0xbf
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0
  }
  return 0
}

function response(result: Buffer, err: CtlError | undefined, warn: Buffer): Buffer {
  const json =
    `{"Result":${goJsonString(err ? Buffer.alloc(0) : result)},"ErrNo":${err?.errno ?? 0},` +
    `"ErrText":${goJsonString(Buffer.from(err?.message ?? ''))},"WarnText":${goJsonString(warn)}}\n`
  return Buffer.from(json, 'utf8')
}

/** One request's answer, as ctlsocksrv.handleRequest gives it. */
export async function answer(data: Buffer, backend: PathBackend): Promise<Buffer> {
  const none = Buffer.alloc(0)
  const req = parseRequest(data)
  if (req instanceof CtlError) return response(none, req, none)
  if (req.encrypt.length > 0 && req.decrypt.length > 0) return response(none, new CtlError(-1, 'Ambiguous'), none)
  if (req.encrypt.length === 0 && req.decrypt.length === 0) return response(none, new CtlError(-1, 'Empty input'), none)
  const input = req.encrypt.length > 0 ? req.encrypt : req.decrypt
  const clean = sanitizePath(input)
  const warn = clean.equals(input)
    ? none
    : Buffer.concat([Buffer.from("Non-canonical input path '"), input, Buffer.from("' has been interpreted as '"), clean, Buffer.from("'.")])
  if (clean.length === 0) return response(none, new CtlError(-1, 'Empty input after canonicalization'), warn)
  try {
    const out = req.encrypt.length > 0 ? await backend.encryptPath(clean) : await backend.decryptPath(clean)
    return response(out, undefined, warn)
  } catch (e) {
    return response(none, e instanceof CtlError ? e : new CtlError(-1, (e as Error).message), warn)
  }
}

/**
 * Binds the socket at once, so a bad path fails before any password prompt (exit 20, as
 * gocryptfs); answers once serve() gives the backend. The file is removed by close() and at exit.
 */
export async function openCtlSock(socketPath: string, log: (msg: string) => void): Promise<CtlSock> {
  // Absolute: the server changes its directory to / once mounted.
  const abs = path.resolve(socketPath)
  let ready!: (backend: PathBackend) => void
  const backend = new Promise<PathBackend>((resolve) => (ready = resolve))
  const server = net.createServer((conn) => handleConnection(conn, backend, log))
  server.maxConnections = MAX_CONNECTIONS
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new UserError(`ctlsock: ${e.message}`, ExitCode.CtlSock)))
    server.listen(abs, resolve)
  })
  server.on('error', (e) => log(`ctlsock: ${e.message}`))
  let closed = false
  const close = (): void => {
    if (closed) return
    closed = true
    server.close()
    try {
      unlinkSync(abs)
    } catch {
      // already gone
    }
  }
  process.once('exit', close)
  return { serve: ready, close }
}

function handleConnection(conn: net.Socket, backend: Promise<PathBackend>, log: (msg: string) => void): void {
  conn.on('error', () => conn.destroy())
  conn.on('data', (data: Buffer) => {
    if (data.length >= READ_BUF_SIZE) {
      log(`ctlsock: request too big (max = ${READ_BUF_SIZE - 1} bytes), closing the connection`)
      conn.destroy()
      return
    }
    // One request at a time per connection: the next read waits for this answer.
    conn.pause()
    void backend
      .then((b) => answer(data, b))
      .then((reply) => {
        if (conn.destroyed) return
        conn.write(reply)
        if (conn.writableLength > MAX_UNREAD_BYTES) conn.destroy()
        else conn.resume()
      })
      .catch((e: Error) => {
        log(`ctlsock: ${e.message}`)
        conn.destroy()
      })
  })
}
