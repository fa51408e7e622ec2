// Exclusion patterns of reverse mode (spec 6.8): each line becomes a regular expression the way
// go-gitignore (commit 54b8a0bf510f, the one gocryptfs 2.3 uses) builds it, which is not git's
// semantics (`?` is literal, regex metacharacters leak through, inner-slash patterns are not
// anchored). Option values are split at commas as gocryptfs 2.3 splits them (splitOptionValue).
import { readFileSync } from 'node:fs'
import { isUtf8 } from 'node:buffer'
import { ExitCode, UserError } from '../exitcodes.js'
import { goString } from './byte-string.js'
import { compileGoRegexp } from './goregexp.js'

interface Pattern {
  regexp: RegExp
  negate: boolean
}

export interface ExcludeOptions {
  /** -exclude/-e: plaintext paths relative to the source root. */
  exclude: string[]
  /** -exclude-wildcard/-ew: gitignore-like patterns. */
  excludeWildcard: string[]
  /** -exclude-from: files with one pattern per line. */
  excludeFrom: string[]
}

// go-gitignore marks the stars it generates with this string and turns it into `*` at the very
// end, so the same three characters typed by the user also become a `*`; kept for fidelity.
const MAGIC_STAR = '#$~'

/** go-gitignore's translation of one line; undefined for comments, blank lines, bad regexps. */
export function patternFromLine(line: string): Pattern | undefined {
  line = line.replace(/\r+$/, '')
  if (line.startsWith('#')) return undefined
  line = line.replace(/^ +| +$/g, '')
  if (line === '') return undefined
  let negate = false
  if (line.startsWith('!')) {
    negate = true
    line = line.slice(1)
  }
  if (line.startsWith('#') || line.startsWith('!')) line = line.slice(1)
  // `dir/*.txt` style patterns are anchored at the root (Go: `([^\/+])/.*\*\.`, `.` never \n).
  if (/[^/+]\/[^\n]*\*\./u.test(line) && !line.startsWith('/')) line = '/' + line
  line = line.replaceAll('.', '\\.')
  if (line.startsWith('/**/')) line = line.slice(1)
  line = line.replaceAll('/**/', '(/|/.+/)')
  line = line.replaceAll('**/', `(|.${MAGIC_STAR}/)`)
  line = line.replaceAll('/**', `(|/.${MAGIC_STAR})`)
  line = line.replaceAll('\\*', '\\' + MAGIC_STAR)
  line = line.replaceAll('*', '([^/]*)')
  line = line.replaceAll('?', '\\?')
  line = line.replaceAll(MAGIC_STAR, '*')
  let expr = line + (line.endsWith('/') ? '(|.*)$' : '(|/.*)$')
  expr = expr.startsWith('/') ? '^(|/)' + expr.slice(1) : '^(|.*/)' + expr
  const regexp = compileGoRegexp(expr)
  return regexp && { regexp, negate }
}

/**
 * One value of -exclude, -exclude-wildcard or -exclude-from as gocryptfs 2.3 takes it: pflag's
 * StringSlice reads it as one record of Go's encoding/csv. Commas split; a field in double
 * quotes may hold commas ("" is a quote); a quote elsewhere is an error (exit 1, as gocryptfs);
 * only the first line counts, blank lines before it skipped; an empty value gives nothing.
 */
export function splitOptionValue(flag: string, value: string, warn: (msg: string) => void): string[] {
  if (value === '') return []
  const bad = (why: string): never => {
    throw new UserError(`invalid argument ${JSON.stringify(value)} for ${flag}: ${why}`, ExitCode.Usage)
  }
  // encoding/csv reads \r\n as \n and drops a \r before the end.
  const text = value.replace(/\r\n/g, '\n').replace(/\r$/, '').replace(/^\n+/, '')
  if (text === '') bad('no field before the end')
  const fields: string[] = []
  let i = 0
  for (;;) {
    let field = ''
    if (text[i] === '"') {
      for (i++; ;) {
        const quote = text.indexOf('"', i)
        if (quote < 0) bad('a quoted field has no closing quote')
        field += text.slice(i, quote)
        i = quote + 1
        if (text[i] !== '"') break
        field += '"'
        i++
      }
      if (i < text.length && text[i] !== ',' && text[i] !== '\n') bad('extraneous " after a quoted field')
    } else {
      const end = text.slice(i).search(/[,\n]|$/) + i
      field = text.slice(i, end)
      if (field.includes('"')) bad('bare " in a field without quotes')
      i = end
    }
    fields.push(field)
    if (text[i] !== ',') break
    i++
  }
  if (fields.length > 1 || value.includes('\n')) {
    const parts = fields.map((f) => JSON.stringify(f)).join(', ')
    warn(
      `warning: ${flag} ${JSON.stringify(value)} means ${parts} as in gocryptfs 2.3, not the one value ${JSON.stringify(value)} (to keep a comma, put the value in double quotes: '"a,b"')`,
    )
  }
  return fields
}

export class Excluder {
  readonly #patterns: Pattern[]

  constructor(lines: string[]) {
    this.#patterns = lines.map(patternFromLine).filter((p): p is Pattern => p !== undefined)
  }

  /**
   * The pattern list in gocryptfs's order; an unreadable -exclude-from file exits 29. `warn`
   * hears of every value that a comma splits.
   */
  static fromOptions(opts: ExcludeOptions, warn: (msg: string) => void = () => {}): Excluder {
    const split = (flag: string, values: string[]): string[] => values.flatMap((v) => splitOptionValue(flag, v, warn))
    const lines = [...split('-exclude', opts.exclude).map((p) => '/' + p), ...split('-exclude-wildcard', opts.excludeWildcard)]
    for (const file of split('-exclude-from', opts.excludeFrom)) {
      let content: Buffer
      try {
        content = readFileSync(file)
      } catch (e) {
        throw new UserError(`-exclude-from: cannot read ${file}: ${(e as Error).message}`, ExitCode.ExcludeError)
      }
      // Go cannot compile a line that is not UTF-8; keep such lines out rather than mangle them.
      let start = 0
      for (let nl = content.indexOf(10); ; nl = content.indexOf(10, start)) {
        const line = content.subarray(start, nl < 0 ? content.length : nl)
        if (isUtf8(line)) lines.push(line.toString('utf8'))
        if (nl < 0) break
        start = nl + 1
      }
    }
    return new Excluder(lines)
  }

  get empty(): boolean {
    return this.#patterns.length === 0
  }

  /** plainRelPath: relative to the source root, no leading slash; the root is never excluded. */
  isExcluded(plainRelPath: string | Uint8Array): boolean {
    if (this.#patterns.length === 0 || plainRelPath.length === 0) return false
    const path = typeof plainRelPath === 'string' ? plainRelPath : goString(plainRelPath)
    let excluded = false
    for (const p of this.#patterns) {
      if (p.regexp.test(path)) {
        if (!p.negate) excluded = true
        else if (excluded) excluded = false
      }
    }
    return excluded
  }
}
