// -filter-from: ordered include/exclude rules on plaintext paths, in rsync's filter syntax, so a
// pull backup that can only name plaintext paths (rsync --include lists, PlanB) can be served
// through the encrypted view. Paths and patterns are compared byte for byte, as rsync does.
// User documentation: docs/filters.md.
//
// Syntax (a subset of rsync 3's merge-file syntax, exclude.c): one rule per line, `+ PATTERN` /
// `- PATTERN` or `include PATTERN` / `exclude PATTERN` (`_` also separates, a `,` may follow
// the rule); lines that are empty, blank, or start with `#` or `;` are ignored; CR, LF and CRLF
// end lines. The pattern is the rest of the line, spaces included. Anything else (modifiers,
// merge and dir-merge rules, `!`, hide/show/protect/risk, a class without `]`, an unknown
// [:class:], a trailing backslash) is an error naming the line.
//
// Matching (rsync's rule_matches and wildmatch): a leading `/` anchors at the source root; a
// pattern with another `/` (or a `**`) is matched against the path's tail at a component
// boundary; otherwise against the last component. A trailing `/` matches directories only.
// `*` stays within a component, `**` crosses `/`, `?` is one byte other than `/`, `[...]`
// (`!`/`^` negation, ranges, [:alpha:] etc.) never matches `/`, `\` escapes; a pattern without
// `*?[` is literal, backslashes included. `dir/***` matches dir and everything below it. The
// first matching rule decides.
//
// Visibility, walking down from the root (always shown). A path is
// * included when its first matching rule is an include, or when no rule matches and its
//   parent is included (rsync's verdict);
// * a container when it is a directory that is not included, and some include rule before
//   the rule that excluded it (any include rule, when none matched) can match a path strictly
//   below it. That is judged from the pattern read from the root: anchored patterns as they
//   are, unanchored ones as if anchored (`+ var/backups/***` keeps `var` as a container, as
//   `+ /var/backups/***` does; `+ *.txt` opens nothing). A `**` may cross any directory, so
//   every directory it could cross is a container, possibly an empty one;
// * hidden otherwise.
// Containers are the one deliberate difference from rsync, which never enters an excluded
// directory: the PlanB-style list `+ /etc/***`, `+ /var/backups/***`, `- *` needs no
// `+ /var/` here. A container lists its included entries and its containers only (unmatched
// entries inside it are hidden), so an excluded directory hides its subtree except what is
// explicitly included; an exclude written before the include still wins
// (`- .cache/`, `+ /home/***` hides every .cache).
import { readFileSync } from 'node:fs'
import { ExitCode, UserError } from '../exitcodes.js'

/** How a shown path is shown: see the file comment. Hidden paths have none. */
export type Visibility = 'included' | 'container'

interface Rule {
  include: boolean
  match: RegExp
  dirOnly: boolean
  /** The pattern starts with `**`: rsync matches it against "/" + path. */
  leadingSlash: boolean
  /** The pattern ends with `***`: a directory is matched as "path/". */
  dirSlash: boolean
  /** Includes only: tests "D/" for "a path below directory D can match" (from the root). */
  below: RegExp | undefined
}

/** One unit of a compiled pattern. */
interface Atom {
  src: string
  slash?: boolean // a literal `/`
  any?: boolean // `**`
}

const SLASH = 0x2f

function hex(code: number): string {
  return '\\x' + code.toString(16).padStart(2, '0')
}

function literal(c: string): Atom {
  const code = c.charCodeAt(0)
  return { src: /[A-Za-z0-9]/.test(c) ? c : hex(code), slash: code === SLASH }
}

// wildmatch's [:name:] classes; rsync runs them on bytes, and only ASCII bytes qualify.
const POSIX_CLASSES: Record<string, string> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  blank: '\\x20\\x09',
  cntrl: '\\x00-\\x1f\\x7f',
  digit: '0-9',
  graph: '\\x21-\\x7e',
  lower: 'a-z',
  print: '\\x20-\\x7e',
  punct: '\\x21-\\x2f\\x3a-\\x40\\x5b-\\x60\\x7b-\\x7e',
  space: '\\x09-\\x0d\\x20',
  upper: 'A-Z',
  xdigit: '0-9A-Fa-f',
}

class RuleError extends Error {}

/** A `[...]` class starting at p[start]; returns its atom and the index of its `]`. */
function parseClass(p: string, start: number): { atom: Atom; end: number } {
  let i = start + 1
  const negated = p[i] === '!' || p[i] === '^'
  if (negated) i++
  let set = ''
  let prev = -1 // the previous member, for ranges (none after a range or a [:class:])
  for (let first = true; ; first = false, i++) {
    if (i >= p.length) throw new RuleError('a [ character class has no closing ]')
    let c = p[i]!
    if (c === ']' && !first) break
    if (c === '\\') {
      if (++i >= p.length) throw new RuleError('the pattern ends with a lone backslash')
      c = p[i]!
      set += hex(c.charCodeAt(0))
      prev = c.charCodeAt(0)
    } else if (c === '-' && prev >= 0 && i + 1 < p.length && p[i + 1] !== ']') {
      let e = p[++i]!
      if (e === '\\') {
        if (++i >= p.length) throw new RuleError('the pattern ends with a lone backslash')
        e = p[i]!
      }
      // A reversed range matches nothing in wildmatch; a RegExp would refuse it.
      if (prev <= e.charCodeAt(0)) set += `${hex(prev)}-${hex(e.charCodeAt(0))}`
      prev = -1
    } else if (c === '[' && p[i + 1] === ':') {
      const close = p.indexOf(']', i + 2)
      if (close < 0) throw new RuleError('a [ character class has no closing ]')
      if (close - (i + 2) >= 1 && p[close - 1] === ':') {
        const name = p.slice(i + 2, close - 1)
        const cls = POSIX_CLASSES[name]
        if (cls === undefined) throw new RuleError(`unknown character class [:${name}:]`)
        set += cls
        prev = -1
        i = close
      } else {
        // No `:]` before the `]`: wildmatch takes the `[` as an ordinary member.
        set += hex(c.charCodeAt(0))
        prev = c.charCodeAt(0)
      }
    } else {
      set += hex(c.charCodeAt(0))
      prev = c.charCodeAt(0)
    }
  }
  // A class never matches `/`.
  return { atom: { src: negated ? `[^${set}\\x2f]` : `(?!\\x2f)[${set}]` }, end: i }
}

function atomsOf(pattern: string, wild: boolean): Atom[] {
  if (!wild) return [...pattern].map(literal)
  const atoms: Atom[] = []
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!
    if (c === '\\') {
      if (++i >= pattern.length) throw new RuleError('the pattern ends with a lone backslash')
      atoms.push(literal(pattern[i]!))
    } else if (c === '?') {
      atoms.push({ src: '[^\\x2f]' })
    } else if (c === '*') {
      let j = i
      while (pattern[j + 1] === '*') j++
      atoms.push(j > i ? { src: '[^]*', any: true } : { src: '[^\\x2f]*' })
      i = j
    } else if (c === '[') {
      const { atom, end } = parseClass(pattern, i)
      atoms.push(atom)
      i = end
    } else {
      atoms.push(literal(c))
    }
  }
  return atoms
}

/**
 * "D/" is a prefix of a match exactly when the match can pass a `/` there: after a literal `/`
 * that has more pattern behind it, or inside a `**`. The segments up to such points are nested
 * optionally, so the RegExp accepts just those prefixes.
 */
function belowRegExp(atoms: Atom[]): RegExp | undefined {
  const segments: string[] = []
  let current = ''
  atoms.forEach((a, i) => {
    current += a.src
    if ((a.slash && i < atoms.length - 1) || a.any) {
      segments.push(current)
      current = ''
    }
  })
  if (segments.length === 0) return undefined
  const nested = segments.reduceRight((rest, s, i) => (i === 0 ? s + rest : `(?:${s}${rest})?`), '')
  return new RegExp(`^${nested}$`)
}

/** A pattern as rsync's add_rule prepares it (pattern: latin1, one char per byte). */
function compileRule(include: boolean, pattern: string): Rule {
  let dirOnly = false
  if (pattern.length > 1 && pattern.endsWith('/')) {
    pattern = pattern.slice(0, -1)
    dirOnly = true
  }
  // rsync derives these flags from the raw text, escapes included.
  const wild = /[*?[]/.test(pattern)
  const any = wild && pattern.includes('**')
  const leadingSlash = any && pattern.startsWith('**')
  const dirSlash = any && pattern.endsWith('***')
  const anchored = pattern.startsWith('/')
  const atoms = atomsOf(anchored ? pattern.slice(1) : pattern, wild)
  const body = atoms.map((a) => a.src).join('')
  // Unanchored patterns match at the start or after any `/`: with a `/` inside and no `**` that
  // is rsync's "last N components", with `**` its "after every slash", without `/` the name.
  const match = new RegExp((anchored || leadingSlash ? '^' : '(?:^|\\x2f)') + body + '$')
  return { include, match, dirOnly, leadingSlash, dirSlash, below: include ? belowRegExp(atoms) : undefined }
}

function matches(rule: Rule, path: string, isDir: boolean): boolean {
  if (rule.dirOnly && !isDir) return false
  let subject = rule.leadingSlash ? '/' + path : path
  if (rule.dirSlash && isDir) subject += '/'
  return rule.match.test(subject)
}

const UNSUPPORTED_WORDS = ['clear', 'dir-merge', 'hide', 'merge', 'protect', 'risk', 'show']

/** The rule of one line (latin1), or undefined for comments and blank lines. */
function parseLine(line: string): Rule | undefined {
  if (line.trim() === '' || line.startsWith('#') || line.startsWith(';')) return undefined
  const word = /^([a-z-]+)(?=[ _,]|$)/.exec(line)?.[1]
  let include: boolean
  let rest: string
  if (word === 'include' || word === 'exclude') {
    include = word === 'include'
    rest = line.slice(word.length)
  } else if (word !== undefined && UNSUPPORTED_WORDS.includes(word)) {
    throw new RuleError(`the rsync rule "${word}" is not supported (only include/exclude rules are)`)
  } else if (line[0] === '+' || line[0] === '-') {
    include = line[0] === '+'
    rest = line.slice(1)
  } else if (':.HSPR!'.includes(line[0]!)) {
    throw new RuleError(`the rsync rule "${line[0]}" is not supported (only + and - rules are)`)
  } else {
    throw new RuleError('unknown rule: lines start with "+ ", "- ", "include " or "exclude "')
  }
  // rsync allows a comma between the rule and its (here unsupported) modifiers.
  if (rest[0] === ',') rest = rest.slice(1)
  if (rest === '') throw new RuleError('the rule has no pattern')
  if (rest[0] !== ' ' && rest[0] !== '_') {
    throw new RuleError(`rule modifiers ("${rest.split(/[ _]/)[0]}") are not supported`)
  }
  const pattern = rest.slice(1)
  if (pattern === '') throw new RuleError('the rule has no pattern')
  return compileRule(include, pattern)
}

function latin1(text: string | Uint8Array): string {
  return (typeof text === 'string' ? Buffer.from(text, 'utf8') : Buffer.from(text.buffer, text.byteOffset, text.byteLength)).toString(
    'latin1',
  )
}

export class Filter {
  readonly #rules: Rule[]

  private constructor(rules: Rule[]) {
    this.#rules = rules
  }

  /** Rules from text; a bad line is a UserError (exit code 1) naming `source` and the line. */
  static parse(text: string | Uint8Array, source = 'filter rules'): Filter {
    const rules: Rule[] = []
    latin1(text)
      .split(/\r\n|\r|\n/)
      .forEach((line, i) => {
        try {
          const rule = parseLine(line)
          if (rule) rules.push(rule)
        } catch (e) {
          if (!(e instanceof RuleError)) throw e
          const shown = JSON.stringify(Buffer.from(line, 'latin1').toString())
          throw new UserError(`${source} line ${i + 1}: ${e.message}: ${shown}`, ExitCode.Usage)
        }
      })
    return new Filter(rules)
  }

  /** The rules of each file in turn; an unreadable file exits 29, like -exclude-from. */
  static fromFiles(files: readonly string[]): Filter {
    const rules: Rule[] = []
    for (const file of files) {
      let content: Buffer
      try {
        content = readFileSync(file)
      } catch (e) {
        throw new UserError(`-filter-from: cannot read ${file}: ${(e as Error).message}`, ExitCode.ExcludeError)
      }
      // A loop, not push(...): an include list of ~150,000 rules would overflow the stack.
      for (const rule of Filter.parse(content, `-filter-from ${file}`).#rules) rules.push(rule)
    }
    return new Filter(rules)
  }

  /**
   * How the entry `rel` (relative to the source root, no leading slash) shows when its parent
   * directory shows as `parent` (the root: 'included'); undefined when it is hidden.
   */
  visibility(rel: string | Uint8Array, isDir: boolean, parent: Visibility): Visibility | undefined {
    const path = latin1(rel)
    const rules = this.#rules
    let decided = rules.length
    for (let i = 0; i < rules.length; i++) {
      if (matches(rules[i]!, path, isDir)) {
        decided = i
        break
      }
    }
    if (decided < rules.length ? rules[decided]!.include : parent === 'included') return 'included'
    if (!isDir) return undefined
    const dir = path + '/'
    for (let i = 0; i < decided; i++) {
      const below = rules[i]!.below
      if (below && below.test(rules[i]!.leadingSlash ? '/' + dir : dir)) return 'container'
    }
    return undefined
  }
}
