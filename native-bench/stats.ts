// Summaries shared by the benchmarks: each figure is a median over rounds, shown with its spread.

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

/** `(min..max)` with the given decimals. */
export function spread(xs: readonly number[], decimals = 1): string {
  return `(${Math.min(...xs).toFixed(decimals)}..${Math.max(...xs).toFixed(decimals)})`
}
