// compileGoRegexp must accept, reject and match like Go's regexp.Compile where the two
// engines differ. Expectations follow Go's documented RE2 syntax (regexp/syntax).
import t from 'tap'
import { compileGoRegexp } from '../src/view/goregexp.js'

function matches(expr: string, input: string): boolean {
  const re = compileGoRegexp(expr)
  if (!re) throw new Error(`${expr} did not compile`)
  return re.test(input)
}

t.test('rejected like Go', async (t) => {
  for (const expr of [
    'a**',
    'a+*',
    'a{2}*',
    '*a',
    'a|*',
    '(*)',
    '(?i)*',
    'x{1001}',
    'x{2,1}',
    '(a{500}){3}',
    'x{1,100000000000}',
    '\\q',
    '\\1',
    '\\8',
    '\\',
    '\\C',
    '\\x',
    '\\xZZ',
    '\\x{}',
    '\\x{110000}',
    '(?=a)',
    '(?!a)',
    '(?<=a)',
    '(?<n>a)',
    '(?P<>a)',
    '(?P<n>a)(?P<n>b)',
    '(?-)',
    '(?i-)',
    '(?z)',
    '(a',
    'a)',
    '[a',
    '[]',
    '[z-a]',
    '[[:foo:]]',
    '[\\b]',
    '\\p{NoSuchScript}',
    '\\p',
  ]) {
    t.equal(compileGoRegexp(expr), undefined, expr)
  }
})

t.test('accepted where JavaScript alone would differ', async (t) => {
  t.ok(matches('^a{,3}$', 'a{,3}'), '{ that is not a count is literal')
  t.ok(matches('^x{01}$', 'x{01}'), 'leading zero: not a count')
  t.ok(matches('^[]a]+$', ']a]'), '] first in a class is literal')
  t.ok(matches('^[^]a]$', 'b') && !matches('^[^]a]$', ']'))
  t.ok(matches('^\\_\\ \\#$', '_ #'), 'escaped punctuation is literal')
  t.ok(matches('^\\Qa.b*\\E$', 'a.b*') && !matches('^\\Qa.b\\E$', 'axb'), '\\Q..\\E')
  t.ok(matches('^\\x41\\x{1F600}\\101\\0$', 'A\u{1F600}A\0'), 'hex and octal escapes')
  t.ok(matches('^(?P<n>a)$', 'a'), 'named group')
  t.ok(matches('^[[:alpha:]][[:^digit:]]$', 'xy') && !matches('^[[:^digit:]]$', '5'), 'POSIX classes')
  t.ok(matches('^\\pL\\p{Greek}\\PL$', 'aβ1'), 'Unicode classes')
  t.ok(matches('^*$', ''), 'a repeated assertion')
  t.ok(matches('a(?i)b', 'xaB'), 'a flag group applies to the rest')
  t.notOk(matches('^(?i:a)b$', 'AB'), 'scoped flags end with their group')
  t.ok(matches('^(?i)k$', '\u212A'), 'case folding includes the Kelvin sign, as in Go')
})

t.test('matching semantics', async (t) => {
  t.notOk(matches('^a.b$', 'a\nb'), '. does not match newline')
  t.ok(matches('^a.b$', 'a\rb'), '. matches \\r (JavaScript would not)')
  t.ok(matches('^a.b$', 'a\u2028b'), '. matches U+2028')
  t.ok(matches('^(?s)a.b$', 'a\nb'), '(?s)')
  t.ok(matches('^.$', '\u{1F600}'), 'one rune, not two UTF-16 units')
  t.notOk(matches('^\\s$', '\v'), '\\s is [\\t\\n\\f\\r ]')
  t.notOk(matches('^\\s$', '\u00a0'))
  t.notOk(matches('^a$', 'a\n'), '$ is the end of text only')
  t.ok(matches('(?m)^b$', 'a\nb\nc'), '(?m)')
  t.notOk(matches('(?m)^b$', 'a\rb\rc'), '(?m) lines end at \\n only')
  const greedy = compileGoRegexp('a+')!.exec('aaa')![0]
  const ungreedy = compileGoRegexp('(?U)a+')!.exec('aaa')![0]
  const both = compileGoRegexp('(?U)a+?')!.exec('aaa')![0]
  t.same([greedy, ungreedy, both], ['aaa', 'a', 'aaa'], '(?U) swaps greediness')
  t.ok(matches('^(a|b)+$', 'abba'))
  t.ok(matches('^\\bx\\B', 'xy'))
})
