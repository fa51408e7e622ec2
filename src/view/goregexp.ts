// Go regular expressions (RE2 syntax with the flags of Go's regexp.Compile) as JavaScript
// RegExps. Exclusion patterns are turned into Go regexps (spec 6.8) and user text leaks into
// them unescaped, so the JS engine must accept and reject what Go does and match the same way:
// Go's `.` excludes only \n, its \s is ASCII, a leading `]` in a class is literal, `{` that is
// not a repeat count is literal, it rejects \q, backreferences and lookarounds, and it knows
// (?i) (?m) (?s) (?U) groups, \Q..\E and POSIX classes. Everything is emitted in a canonical
// form for the `u` flag (code points, like Go's runes). Not reproduced: Go's limits on nesting
// depth and program size, and Unicode class names that only one of the two engines knows.

class GoSyntaxError extends Error {}

interface Flags {
  fold: boolean // (?i)
  multiLine: boolean // (?m)
  dotNl: boolean // (?s)
  ungreedy: boolean // (?U)
}

/** One element of a concatenation: JS source, plus Go's nested-repeat budget (repeatIsValid). */
interface Item {
  src: string
  atom: boolean // false for '|', which a repetition operator cannot follow
  budget: number // smallest n for which Go's repeatIsValid(item, n) holds
}

interface Frame {
  items: Item[]
  saved: Flags
  capture: boolean
}

type Range = [number, number]

const MAX_RUNE = 0x10ffff
const MAX_REPEAT = 1000

const PERL_CLASSES: Record<string, Range[]> = {
  d: [[0x30, 0x39]],
  s: [
    [0x09, 0x0a],
    [0x0c, 0x0d],
    [0x20, 0x20],
  ],
  w: [
    [0x30, 0x39],
    [0x41, 0x5a],
    [0x5f, 0x5f],
    [0x61, 0x7a],
  ],
}

const POSIX_CLASSES: Record<string, Range[]> = {
  alnum: [
    [0x30, 0x39],
    [0x41, 0x5a],
    [0x61, 0x7a],
  ],
  alpha: [
    [0x41, 0x5a],
    [0x61, 0x7a],
  ],
  ascii: [[0x00, 0x7f]],
  blank: [
    [0x09, 0x09],
    [0x20, 0x20],
  ],
  cntrl: [
    [0x00, 0x1f],
    [0x7f, 0x7f],
  ],
  digit: [[0x30, 0x39]],
  graph: [[0x21, 0x7e]],
  lower: [[0x61, 0x7a]],
  print: [[0x20, 0x7e]],
  punct: [
    [0x21, 0x2f],
    [0x3a, 0x40],
    [0x5b, 0x60],
    [0x7b, 0x7e],
  ],
  space: [
    [0x09, 0x0d],
    [0x20, 0x20],
  ],
  upper: [[0x41, 0x5a]],
  word: [
    [0x30, 0x39],
    [0x41, 0x5a],
    [0x5f, 0x5f],
    [0x61, 0x7a],
  ],
  xdigit: [
    [0x30, 0x39],
    [0x41, 0x46],
    [0x61, 0x66],
  ],
}

/** Compiles a Go regexp; undefined where Go's regexp.Compile would fail. */
export function compileGoRegexp(expr: string): RegExp | undefined {
  try {
    return new RegExp(new Translator(expr).translate(), 'u')
  } catch (e) {
    if (e instanceof GoSyntaxError || e instanceof SyntaxError) return undefined
    throw e
  }
}

const hex = (cp: number): string => `\\u{${cp.toString(16)}}`
const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9'
const isOctal = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '7'
const isAlnum = (c: string): boolean => /^[0-9A-Za-z]$/.test(c)

function classSource(ranges: Range[], negate: boolean, extra = ''): string {
  const body = ranges.map(([lo, hi]) => (lo === hi ? hex(lo) : `${hex(lo)}-${hex(hi)}`)).join('')
  return `[${negate ? '^' : ''}${body}${extra}]`
}

function complement(ranges: Range[]): Range[] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0])
  const out: Range[] = []
  let next = 0
  for (const [lo, hi] of sorted) {
    if (lo > next) out.push([next, lo - 1])
    next = Math.max(next, hi + 1)
  }
  if (next <= MAX_RUNE) out.push([next, MAX_RUNE])
  return out
}

/** Case-fold orbits (what Go's SimpleFold cycles through), built once from JS case mappings. */
let foldOrbits: Map<number, number[]> | undefined

function orbits(): Map<number, number[]> {
  if (foldOrbits) return foldOrbits
  const parent = new Map<number, number>()
  const find = (x: number): number => {
    let r = x
    while (parent.has(r) && parent.get(r) !== r) r = parent.get(r)!
    parent.set(x, r)
    return r
  }
  const single = (s: string): number | undefined => {
    const cp = s.codePointAt(0)!
    return s.length === String.fromCodePoint(cp).length ? cp : undefined
  }
  // No cased letters exist beyond plane 1.
  for (let cp = 0; cp <= 0x1ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue
    const ch = String.fromCodePoint(cp)
    for (const mapped of [single(ch.toLowerCase()), single(ch.toUpperCase())]) {
      if (mapped !== undefined && mapped !== cp) parent.set(find(cp), find(mapped))
    }
  }
  const groups = new Map<number, number[]>()
  for (const cp of parent.keys()) {
    const root = find(cp)
    const g = groups.get(root)
    if (g) g.push(cp)
    else groups.set(root, [cp])
  }
  foldOrbits = new Map()
  for (const g of groups.values()) for (const cp of g) foldOrbits.set(cp, g)
  return foldOrbits
}

function foldRanges(ranges: Range[]): Range[] {
  const out = [...ranges]
  const table = orbits()
  for (const [lo, hi] of ranges) {
    for (const [cp, orbit] of table) {
      if (cp >= lo && cp <= hi) for (const o of orbit) out.push([o, o])
    }
  }
  return out
}

class Translator {
  readonly #runes: string[]
  #pos = 0
  #flags: Flags = { fold: false, multiLine: false, dotNl: false, ungreedy: false }
  #stack: Frame[] = []
  #lastWasRepeat = false
  readonly #groupNames = new Set<string>()

  constructor(expr: string) {
    this.#runes = Array.from(expr)
  }

  translate(): string {
    let frame: Frame = { items: [], saved: this.#flags, capture: false }
    while (this.#pos < this.#runes.length) {
      const c = this.#runes[this.#pos]!
      let repeated = false
      switch (c) {
        case '(':
          frame = this.#openGroup(frame)
          break
        case ')': {
          const parent = this.#stack.pop()
          if (!parent) throw new GoSyntaxError('unexpected )')
          this.#pos++
          const inner = frame.items
          parent.items.push({
            src: (frame.capture ? '(' : '(?:') + inner.map((i) => i.src).join('') + ')',
            atom: true,
            budget: inner.reduce((b, i) => Math.max(b, i.budget), 0),
          })
          this.#flags = frame.saved
          frame = parent
          break
        }
        case '|':
          this.#pos++
          frame.items.push({ src: '|', atom: false, budget: 0 })
          break
        case '*':
        case '+':
        case '?':
          this.#pos++
          this.#repeat(frame, c, 0, 0)
          repeated = true
          break
        case '{': {
          const counts = this.#repeatCounts()
          if (!counts) {
            this.#pos++
            this.#literal(frame, '{')
            break
          }
          const [min, max] = counts
          if (min < 0 || min > MAX_REPEAT || max > MAX_REPEAT || (max >= 0 && min > max)) {
            throw new GoSyntaxError('invalid repeat count')
          }
          this.#repeat(frame, max < 0 ? `{${min},}` : min === max ? `{${min}}` : `{${min},${max}}`, min, max)
          repeated = true
          break
        }
        case '[':
          this.#pos++
          frame.items.push({ src: this.#class(), atom: true, budget: 0 })
          break
        case '.':
          this.#pos++
          frame.items.push({ src: this.#flags.dotNl ? '[^]' : '[^\\n]', atom: true, budget: 0 })
          break
        case '^':
          this.#pos++
          frame.items.push({ src: this.#flags.multiLine ? '(?<![^\\n])' : '(?:^)', atom: true, budget: 0 })
          break
        case '$':
          this.#pos++
          frame.items.push({ src: this.#flags.multiLine ? '(?![^\\n])' : '(?:$)', atom: true, budget: 0 })
          break
        case '\\':
          this.#escape(frame)
          break
        default:
          this.#pos++
          this.#literal(frame, c)
      }
      this.#lastWasRepeat = repeated
    }
    if (this.#stack.length > 0) throw new GoSyntaxError('missing )')
    return frame.items.map((i) => i.src).join('')
  }

  #openGroup(frame: Frame): Frame {
    const r = this.#runes
    let p = this.#pos + 1
    if (r[p] !== '?') {
      this.#pos = p
      this.#stack.push(frame)
      return { items: [], saved: this.#flags, capture: true }
    }
    p++
    if (r[p] === 'P' && r[p + 1] === '<') {
      const end = r.indexOf('>', p + 2)
      const name = end < 0 ? '' : r.slice(p + 2, end).join('')
      if (!/^[0-9A-Za-z_]+$/.test(name) || this.#groupNames.has(name)) {
        throw new GoSyntaxError('invalid named capture')
      }
      this.#groupNames.add(name)
      this.#pos = end + 1
      this.#stack.push(frame)
      return { items: [], saved: this.#flags, capture: true }
    }
    // Flag group: (?flags) changes the rest of the enclosing group, (?flags:re) opens one.
    const flags = { ...this.#flags }
    let negate = false
    let sawFlag = false
    for (; p < r.length; p++) {
      const c = r[p]!
      if (c === 'i' || c === 'm' || c === 's' || c === 'U') {
        const key = ({ i: 'fold', m: 'multiLine', s: 'dotNl', U: 'ungreedy' } as const)[c]
        flags[key] = !negate
        sawFlag = true
      } else if (c === '-' && !negate) {
        negate = true
        sawFlag = false
      } else if (c === ':' || c === ')') {
        if (negate && !sawFlag) break
        this.#pos = p + 1
        if (c === ')') {
          this.#flags = flags
          return frame
        }
        this.#stack.push(frame)
        const group: Frame = { items: [], saved: this.#flags, capture: false }
        this.#flags = flags
        return group
      } else {
        break
      }
    }
    throw new GoSyntaxError('invalid or unsupported Perl syntax')
  }

  /**
   * {n}, {n,} or {n,m} at the current position as [min, max] (max -1 = unbounded, min -1 = a
   * number too large), or undefined when `{` is a literal there (Go parseRepeat).
   */
  #repeatCounts(): [number, number] | undefined {
    const r = this.#runes
    let p = this.#pos + 1
    const int = (): number | undefined => {
      if (!isDigit(r[p]) || (r[p] === '0' && isDigit(r[p + 1]))) return undefined
      let n = 0
      for (; isDigit(r[p]); p++) if (n >= 0) n = n >= 1e8 ? -1 : n * 10 + Number(r[p])
      return n
    }
    let min = int()
    if (min === undefined) return undefined
    let max = min
    if (r[p] === ',') {
      p++
      if (r[p] === '}') max = -1
      else {
        const m = int()
        if (m === undefined) return undefined
        if (m < 0) min = -1
        max = m
      }
    }
    if (r[p] !== '}') return undefined
    this.#pos = p + 1
    return [min, max]
  }

  #repeat(frame: Frame, op: string, min: number, max: number): void {
    let lazy = this.#flags.ungreedy
    if (this.#runes[this.#pos] === '?') {
      this.#pos++
      lazy = !lazy
    }
    if (this.#lastWasRepeat) throw new GoSyntaxError('invalid nested repetition operator')
    const last = frame.items.at(-1)
    if (!last?.atom) throw new GoSyntaxError('missing argument to repetition operator')
    let budget = last.budget
    if (op.startsWith('{')) {
      const m = max < 0 ? min : max
      budget = m === 0 ? 0 : Math.max(m, last.budget * m)
      if ((min >= 2 || max >= 2) && budget > MAX_REPEAT) throw new GoSyntaxError('invalid repeat count')
    }
    frame.items[frame.items.length - 1] = {
      src: `(?:${last.src})${op}${lazy ? '?' : ''}`,
      atom: true,
      budget,
    }
  }

  #literal(frame: Frame, c: string): void {
    const cp = c.codePointAt(0)!
    const orbit = this.#flags.fold ? orbits().get(cp) : undefined
    const src = orbit
      ? classSource(
          orbit.map((o): Range => [o, o]),
          false,
        )
      : isAlnum(c)
        ? c
        : hex(cp)
    frame.items.push({ src, atom: true, budget: 0 })
  }

  #escape(frame: Frame): void {
    const r = this.#runes
    const next = r[this.#pos + 1]
    const assertions: Record<string, string> = { A: '(?:^)', z: '(?:$)', b: '(?:\\b)', B: '(?:\\B)' }
    if (next !== undefined && next in assertions) {
      this.#pos += 2
      frame.items.push({ src: assertions[next]!, atom: true, budget: 0 })
      return
    }
    if (next === 'Q') {
      let end = this.#pos + 2
      while (end < r.length && !(r[end] === '\\' && r[end + 1] === 'E')) end++
      const text = r.slice(this.#pos + 2, end)
      this.#pos = Math.min(end + 2, r.length)
      for (const ch of text) this.#literal(frame, ch)
      return
    }
    if (next === 'C') throw new GoSyntaxError('\\C is not supported')
    const cls = this.#classEscape()
    if (cls !== undefined) {
      frame.items.push({ src: `[${cls}]`, atom: true, budget: 0 })
      return
    }
    this.#literal(frame, String.fromCodePoint(this.#escapedRune()))
  }

  /** \d \s \w \p{..} and their negations at the current position, as JS class content. */
  #classEscape(): string | undefined {
    const r = this.#runes
    const c = r[this.#pos + 1]
    if (c === undefined) return undefined
    if (/^[dswDSW]$/.test(c)) {
      this.#pos += 2
      const lower = c.toLowerCase()
      let ranges = PERL_CLASSES[lower]!
      if (this.#flags.fold) ranges = foldRanges(ranges)
      if (c !== lower) ranges = complement(ranges)
      return classSource(ranges, false).slice(1, -1)
    }
    if (c !== 'p' && c !== 'P') return undefined
    let name: string
    let p = this.#pos + 2
    if (r[p] === '{') {
      const end = r.indexOf('}', p)
      if (end < 0) throw new GoSyntaxError('invalid character class range')
      name = r.slice(p + 1, end).join('')
      p = end + 1
    } else {
      if (p >= r.length) throw new GoSyntaxError('invalid character class range')
      name = r[p]!
      p++
    }
    let negate = c === 'P'
    if (name.startsWith('^')) {
      negate = !negate
      name = name.slice(1)
    }
    this.#pos = p
    if (name === 'Any') return negate ? '' : `${hex(0)}-${hex(MAX_RUNE)}`
    const prop = /^[A-Z][a-z]?$/.test(name) ? `gc=${name}` : `sc=${name}`
    const src = `\\${negate ? 'P' : 'p'}{${prop}}`
    try {
      new RegExp(src, 'u')
    } catch {
      throw new GoSyntaxError('invalid character class range')
    }
    return src
  }

  /** A single escaped rune (Go parseEscape): punctuation, octal, \x, C escapes. */
  #escapedRune(): number {
    const r = this.#runes
    let p = this.#pos + 1
    const c = r[p++]
    if (c === undefined) throw new GoSyntaxError('trailing backslash')
    const done = (v: number): number => {
      this.#pos = p
      return v
    }
    const cEscapes: Record<string, number> = { a: 7, f: 12, n: 10, r: 13, t: 9, v: 11 }
    if (c in cEscapes) return done(cEscapes[c]!)
    if (c === '0' || (c >= '1' && c <= '7' && isOctal(r[p]))) {
      let v = Number(c)
      for (let i = 1; i < 3 && isOctal(r[p]); i++) v = v * 8 + Number(r[p++])
      return done(v)
    }
    if (c === 'x') {
      if (r[p] === '{') {
        p++
        let v = 0
        let digits = 0
        for (; r[p] !== '}'; p++, digits++) {
          const d = r[p] === undefined ? NaN : parseInt(r[p]!, 16)
          if (Number.isNaN(d) || (v = v * 16 + d) > MAX_RUNE) throw new GoSyntaxError('invalid escape')
        }
        p++
        if (digits === 0) throw new GoSyntaxError('invalid escape')
        return done(v)
      }
      const two = (r[p] ?? '') + (r[p + 1] ?? '')
      if (!/^[0-9A-Fa-f]{2}$/.test(two)) throw new GoSyntaxError('invalid escape')
      p += 2
      return done(parseInt(two, 16))
    }
    if (c.codePointAt(0)! < 0x80 && !isAlnum(c)) return done(c.codePointAt(0)!)
    throw new GoSyntaxError('invalid escape')
  }

  /** A bracket class after its `[` (Go parseClass with Perl flags). */
  #class(): string {
    const r = this.#runes
    let negate = false
    if (r[this.#pos] === '^') {
      negate = true
      this.#pos++
    }
    let ranges: Range[] = []
    let extra = ''
    let first = true
    while (first || r[this.#pos] !== ']') {
      if (this.#pos >= r.length) throw new GoSyntaxError('missing closing ]')
      first = false
      if (r[this.#pos] === '[' && r[this.#pos + 1] === ':') {
        const end = r.indexOf(':', this.#pos + 2)
        if (end > 0 && r[end + 1] === ']') {
          let name = r.slice(this.#pos + 2, end).join('')
          const neg = name.startsWith('^')
          if (neg) name = name.slice(1)
          const named = POSIX_CLASSES[name]
          if (!named) throw new GoSyntaxError('invalid character class range')
          ranges.push(...(neg ? complement(named) : named))
          this.#pos = end + 2
          continue
        }
      }
      if (r[this.#pos] === '\\') {
        const save = this.#pos
        const cls = this.#classEscape()
        if (cls !== undefined) {
          extra += cls
          continue
        }
        this.#pos = save
      }
      const lo = this.#classRune()
      let hi = lo
      if (r[this.#pos] === '-' && r[this.#pos + 1] !== ']' && this.#pos + 1 < r.length) {
        this.#pos++
        hi = this.#classRune()
        if (hi < lo) throw new GoSyntaxError('invalid character class range')
      }
      ranges.push([lo, hi])
    }
    this.#pos++
    if (this.#flags.fold) ranges = foldRanges(ranges)
    return classSource(ranges, negate, extra)
  }

  #classRune(): number {
    const c = this.#runes[this.#pos]
    if (c === undefined) throw new GoSyntaxError('missing closing ]')
    if (c === '\\') return this.#escapedRune()
    this.#pos++
    return c.codePointAt(0)!
  }
}
