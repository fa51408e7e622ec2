// -filter-from: ordered include/exclude rules on plaintext paths, in rsync's filter syntax, so a
// pull backup that can only name plaintext paths (rsync --include lists, PlanB) can be served
// through the encrypted view. Paths and patterns are compared byte for byte, as rsync does.
// User documentation: docs/filters.md.
//
// Syntax (a subset of rsync 3's merge-file syntax, exclude.c): one rule per line, `+ PATTERN` /
// `- PATTERN` or `include PATTERN` / `exclude PATTERN` (`_` also separates, a `,` may follow
// the rule); lines that are empty, blank, or start with `#` or `;` are ignored; CR, LF and CRLF
// end lines. The pattern is the rest of the line, spaces included. `. FILE` / `merge FILE`
// splices FILE's rules in (read at once), `: NAME` / `dir-merge NAME` the rules of the file NAME
// of each directory (DirRules reads them), with the modifiers `-`/`+` (every line is an
// exclude/include pattern), `e` (exclude NAME itself) and `n` (not inherited). Anything else
// (other modifiers, `!`, hide/show/protect/risk, a class without `]`, an unknown [:class:], a
// trailing backslash) is an error naming the line.
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
// A directory's dir-merge rules take the place of their dir-merge rule: its own first, then those
// inherited from its parent's; a `/` pattern there is anchored at that directory (rsync prefixes
// the directory's path to the pattern text, wildcards in it included).
// Containers are the one deliberate difference from rsync, which never enters an excluded
// directory: the PlanB-style list `+ /etc/***`, `+ /var/backups/***`, `- *` needs no
// `+ /var/` here. A container lists its included entries and its containers only (unmatched
// entries inside it are hidden), so an excluded directory hides its subtree except what is
// explicitly included; an exclude written before the include still wins
// (`- .cache/`, `+ /home/***` hides every .cache).
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { ExitCode, UserError } from '../exitcodes.js'

/** How a shown path is shown: see the file comment. Hidden paths have none. */
export type Visibility = 'included' | 'container'

interface Rule {
  include: boolean
  /** The pattern as written (latin1), `/` anchoring it at the root. */
  pattern: string
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
function compileRule(include: boolean, text: string): Rule {
  let pattern = text
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
  return { include, pattern: text, match, dirOnly, leadingSlash, dirSlash, below: include ? belowRegExp(atoms) : undefined }
}

function matches(rule: Rule, path: string, isDir: boolean): boolean {
  if (rule.dirOnly && !isDir) return false
  let subject = rule.leadingSlash ? '/' + path : path
  if (rule.dirSlash && isDir) subject += '/'
  return rule.match.test(subject)
}

const UNSUPPORTED_WORDS = ['clear', 'hide', 'protect', 'risk', 'show']
const WORDS: Record<string, string> = { include: '+', exclude: '-', merge: '.', 'dir-merge': ':' }
const MERGE_MODIFIERS = '-+en'

/** A merge (`.`) or dir-merge (`:`) rule: `only` makes every line of its file a pattern of that kind. */
interface Merge {
  kind: '.' | ':'
  name: string
  only: 'include' | 'exclude' | undefined
  excludeSelf: boolean
  noInherit: boolean
}

/** What a line says: a rule, a merge, or nothing (comments, blank lines). */
type Line = Rule | Merge | undefined

/** The rule of one line (latin1). `only`: a `-`/`+` merge file's line, a pattern as it stands. */
function parseLine(line: string, only?: 'include' | 'exclude'): Line {
  if (line.trim() === '' || line.startsWith('#') || line.startsWith(';')) return undefined
  if (only) return compileRule(only === 'include', line)
  const word = /^([a-z-]+)(?=[ _,]|$)/.exec(line)?.[1]
  let kind: string
  let rest: string
  if (word !== undefined && WORDS[word] !== undefined) {
    kind = WORDS[word]!
    rest = line.slice(word.length)
  } else if (word !== undefined && UNSUPPORTED_WORDS.includes(word)) {
    throw new RuleError(`the rsync rule "${word}" is not supported (only include, exclude, merge and dir-merge rules are)`)
  } else if ('+-.:'.includes(line[0]!)) {
    kind = line[0]!
    rest = line.slice(1)
  } else if ('HSPR!'.includes(line[0]!)) {
    throw new RuleError(`the rsync rule "${line[0]}" is not supported (only +, -, . and : rules are)`)
  } else {
    throw new RuleError('unknown rule: lines start with "+ ", "- ", ". ", ": " or their long forms')
  }
  // rsync allows a comma between the rule and its modifiers.
  if (rest[0] === ',') rest = rest.slice(1)
  const sep = rest.search(/[ _]/)
  const modifiers = sep < 0 ? rest : rest.slice(0, sep)
  const pattern = sep < 0 ? '' : rest.slice(sep + 1)
  const merge = kind === '.' || kind === ':'
  if (modifiers !== '' && (!merge || [...modifiers].some((m) => !MERGE_MODIFIERS.includes(m)))) {
    throw new RuleError(`rule modifiers ("${modifiers}") are not supported${merge ? ` (merge rules take ${MERGE_MODIFIERS})` : ''}`)
  }
  if (pattern === '') throw new RuleError(merge ? 'the rule has no file name' : 'the rule has no pattern')
  if (!merge) return compileRule(kind === '+', pattern)
  if (modifiers.includes('+') && modifiers.includes('-')) throw new RuleError('a merge file cannot be both "+" and "-"')
  if (kind === ':' && pattern.includes('/')) {
    throw new RuleError('a dir-merge file is a plain name, looked for in each directory (no "/")')
  }
  return {
    kind: kind as Merge['kind'],
    name: pattern,
    only: modifiers.includes('+') ? 'include' : modifiers.includes('-') ? 'exclude' : undefined,
    excludeSelf: modifiers.includes('e'),
    noInherit: modifiers.includes('n'),
  }
}

const isRule = (l: Rule | Merge): l is Rule => 'match' in l

/** Where a dir-merge rule stands in the list, and what its files hold. */
export interface DirMerge {
  /** The file's name, as bytes. */
  name: Buffer
  only: 'include' | 'exclude' | undefined
  noInherit: boolean
}

/** A directory's rules of one dir-merge rule: its own file's, then those it inherits. */
interface Chain {
  rules: readonly Rule[]
  next: Chain | undefined
}

/**
 * The rules in force inside one directory: the global list with each dir-merge rule replaced by
 * the directory's chain. Directories without files of their own share their parent's scope.
 */
export class Scope {
  /** The rule lists to try in order. */
  readonly parts: readonly (readonly Rule[])[]

  constructor(
    readonly chains: readonly (Chain | undefined)[],
    segments: readonly (readonly Rule[])[],
  ) {
    const parts: (readonly Rule[])[] = [segments[0]!]
    chains.forEach((chain, i) => {
      for (let c = chain; c; c = c.next) parts.push(c.rules)
      parts.push(segments[i + 1]!)
    })
    this.parts = parts.filter((p) => p.length > 0)
  }
}

/** The rules of a directory's dir-merge file, and the lines that were left out (for the log). */
export interface LocalRules {
  rules: Rule[]
  errors: string[]
}

function latin1(text: string | Uint8Array): string {
  return (typeof text === 'string' ? Buffer.from(text, 'utf8') : Buffer.from(text.buffer, text.byteOffset, text.byteLength)).toString('latin1')
}

// Merge files including each other: deeper than this is taken as a loop.
const MAX_MERGE_DEPTH = 16

export class Filter {
  /** The rules around the dir-merge rules: segments[i] stands before dirMerges[i]. */
  readonly #segments: Rule[][]
  readonly dirMerges: readonly DirMerge[]
  /** The scope of a directory no dir-merge file reaches. */
  readonly #base: Scope

  private constructor(segments: Rule[][], dirMerges: DirMerge[]) {
    this.#segments = segments
    this.dirMerges = dirMerges
    this.#base = new Scope(
      dirMerges.map(() => undefined),
      segments,
    )
  }

  /**
   * Rules from text; a bad line is a UserError (exit code 1) naming `source` and the line. A
   * merge file's relative name is taken from `dir`; an unreadable one exits 29.
   */
  static parse(text: string | Uint8Array, source = 'filter rules', dir = process.cwd()): Filter {
    const segments: Rule[][] = [[]]
    const dirMerges: DirMerge[] = []
    Filter.#collect(text, source, dir, undefined, 0, segments, dirMerges)
    return new Filter(segments, dirMerges)
  }

  /** The rules of each file in turn, as one list; an unreadable file exits 29, like -exclude-from. */
  static fromFiles(files: readonly string[]): Filter {
    const segments: Rule[][] = [[]]
    const dirMerges: DirMerge[] = []
    for (const file of files) Filter.#collect(readRules('-filter-from', file), `-filter-from ${file}`, path.dirname(file), undefined, 0, segments, dirMerges)
    return new Filter(segments, dirMerges)
  }

  static #collect(text: string | Uint8Array, source: string, dir: string, only: Merge['only'], depth: number, segments: Rule[][], dirMerges: DirMerge[]): void {
    eachLine(text, only, (parsed, line) => {
      if ('error' in parsed) throw new UserError(`${source} line ${line}: ${parsed.error}`, ExitCode.Usage)
      // A loop, not push(...): an include list of ~150,000 rules would overflow the stack.
      const push = (rule: Rule) => segments[segments.length - 1]!.push(rule)
      if (isRule(parsed)) return push(parsed)
      // rsync's `e`: an exclude of the file's own name, just before the merge rule.
      if (parsed.excludeSelf) push(compileRule(false, parsed.name.slice(parsed.name.lastIndexOf('/') + 1)))
      if (parsed.kind === ':') {
        dirMerges.push({ name: Buffer.from(parsed.name, 'latin1'), only: parsed.only, noInherit: parsed.noInherit })
        segments.push([])
        return
      }
      if (depth >= MAX_MERGE_DEPTH) throw new UserError(`${source} line ${line}: merge files nest deeper than ${MAX_MERGE_DEPTH} (a loop?)`, ExitCode.Usage)
      const file = path.resolve(dir, Buffer.from(parsed.name, 'latin1').toString())
      Filter.#collect(readRules(`${source} line ${line}: merge`, file), `merge file ${file}`, path.dirname(file), parsed.only, depth + 1, segments, dirMerges)
    })
  }

  /**
   * The rules of the dir-merge file `dirMerges[slot]` of the directory `dirRel` (relative to
   * the source root): `/` patterns anchored there. Lines that are not +/- rules are left out
   * (errors): a live file cannot stop the mount.
   */
  localRules(slot: number, dirRel: Uint8Array, text: Uint8Array): LocalRules {
    const prefix = dirRel.length === 0 ? '' : '/' + latin1(dirRel)
    const out: LocalRules = { rules: [], errors: [] }
    eachLine(text, this.dirMerges[slot]!.only, (rule, line) => {
      if ('error' in rule) return void out.errors.push(`line ${line}: ${rule.error}`)
      if (!isRule(rule)) return void out.errors.push(`line ${line}: merge and dir-merge rules are not read from per-directory files`)
      if (!rule.pattern.startsWith('/') || prefix === '') return void out.rules.push(rule)
      try {
        out.rules.push(compileRule(rule.include, prefix + rule.pattern))
      } catch (e) {
        // The directory's name is pattern text too (as in rsync), and may not compile.
        if (!(e instanceof RuleError)) throw e
        out.errors.push(`line ${line}: ${e.message} (with the directory's path in front)`)
      }
    })
    return out
  }

  /** The root's scope: no directory's files yet. */
  get base(): Scope {
    return this.#base
  }

  /**
   * The scope inside a directory whose parent's scope is `parent` and whose own dir-merge files
   * hold `own` (one entry per dir-merge rule, undefined where it has none).
   */
  scope(parent: Scope, own: readonly (readonly Rule[] | undefined)[]): Scope {
    const chains = this.dirMerges.map((m, i) => {
      const inherited = m.noInherit ? undefined : parent.chains[i]
      const rules = own[i]
      return rules && rules.length > 0 ? { rules, next: inherited } : inherited
    })
    return chains.every((c, i) => c === parent.chains[i]) ? parent : new Scope(chains, this.#segments)
  }

  /**
   * How the entry `rel` (relative to the source root, no leading slash) shows when its parent
   * directory shows as `parent` (the root: 'included') with the rules `scope` (the parent's; by
   * default the global rules); undefined when it is hidden.
   */
  visibility(rel: string | Uint8Array, isDir: boolean, parent: Visibility, scope: Scope = this.#base): Visibility | undefined {
    const path = latin1(rel)
    const parts = scope.parts
    let decidedPart = parts.length
    let decided = 0
    search: for (let p = 0; p < parts.length; p++) {
      const rules = parts[p]!
      for (let i = 0; i < rules.length; i++) {
        if (matches(rules[i]!, path, isDir)) {
          decidedPart = p
          decided = i
          break search
        }
      }
    }
    if (decidedPart < parts.length ? parts[decidedPart]![decided]!.include : parent === 'included') return 'included'
    if (!isDir) return undefined
    const dir = path + '/'
    for (let p = 0; p <= decidedPart && p < parts.length; p++) {
      const rules = parts[p]!
      const end = p === decidedPart ? decided : rules.length
      for (let i = 0; i < end; i++) {
        const below = rules[i]!.below
        if (below && below.test(rules[i]!.leadingSlash ? '/' + dir : dir)) return 'container'
      }
    }
    return undefined
  }
}

/** A rule file's bytes; exit 29 when it cannot be read. */
function readRules(what: string, file: string): Buffer {
  try {
    return readFileSync(file)
  } catch (e) {
    throw new UserError(`${what}: cannot read ${file}: ${(e as Error).message}`, ExitCode.ExcludeError)
  }
}

/** What each line of a rule file that says something says, or why it cannot be parsed; with its number. */
function eachLine(text: string | Uint8Array, only: Merge['only'], fn: (parsed: Rule | Merge | { error: string }, line: number) => void): void {
  latin1(text)
    .split(/\r\n|\r|\n/)
    .forEach((line, i) => {
      let parsed: Line
      try {
        parsed = parseLine(line, only)
      } catch (e) {
        if (!(e instanceof RuleError)) throw e
        return fn({ error: `${e.message}: ${JSON.stringify(Buffer.from(line, 'latin1').toString())}` }, i + 1)
      }
      if (parsed) fn(parsed, i + 1)
    })
}
