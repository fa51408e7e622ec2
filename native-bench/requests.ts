// FUSE requests by opcode, counted from the servers' own debug output: gocryptfs -fusedebug
// (go-fuse: "rx 12: LOOKUP n1 [...]") and tsreverse -fusedebug (libfuse's -d: "unique: 12,
// opcode: LOOKUP (1), ..."). Both print one line per request the kernel sends, so the counts
// compare alike. Not part of the test suite.
import type { Tool } from './servers.js'

const LIBFUSE_REQUEST = /^unique: \d+, opcode: (\S+) \((\d+)\)/gm
const GOFUSE_REQUEST = /\brx \d+: (\w+)/g

/** Requests per opcode in a stretch of a server's debug output. */
export function countRequests(tool: Tool, output: string): Map<string, number> {
  const counts = new Map<string, number>()
  const add = (op: string): void => void counts.set(op, (counts.get(op) ?? 0) + 1)
  if (tool === 'tsreverse') {
    // libfuse names an opcode it does not know "???"; the number still says which.
    for (const m of output.matchAll(LIBFUSE_REQUEST)) add(m[1] === '???' ? `OP${m[2]}` : m[1]!)
  } else {
    for (const m of output.matchAll(GOFUSE_REQUEST)) add(m[1]!)
  }
  return counts
}

/** "total 4.02: LOOKUP 1.00 GETATTR 0.02 ..." per file, opcodes by count, then name. */
export function perFileLine(counts: Map<string, number>, files: number): string {
  const total = [...counts.values()].reduce((a, b) => a + b, 0)
  const ops = [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
  return `total ${(total / files).toFixed(2)}: ${ops.map(([op, n]) => `${op} ${(n / files).toFixed(2)}`).join(' ')}`
}
