// Counts in messages: "1 file", "2 files".

/** `n noun`, with the noun in the plural unless n is 1. */
export function plural(n: number, singular: string, pluralForm = singular + 's'): string {
  return `${n} ${n === 1 ? singular : pluralForm}`
}
