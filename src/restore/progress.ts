// A one-line progress display for long restores: files, bytes, rate and time left, redrawn in
// place on a terminal at most a few times a second. Callers create it only for a TTY.
import { plural } from '../plural.js'

export interface ProgressTotals {
  files: number
  bytes: number
}

export interface ProgressSink {
  addBytes(n: number): void
  fileDone(): void
  /** A line to keep (e.g. a problem), printed above the bar. */
  note(line: string): void
}

const REDRAW_MS = 200
const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']

export function formatBytes(n: number): string {
  let v = n
  let u = 0
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024
    u++
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${UNITS[u]}`
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--'
  const s = Math.round(seconds)
  const h = Math.floor(s / 3600)
  const m = Math.floor(s / 60) % 60
  const ss = String(s % 60).padStart(2, '0')
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`
}

export class Progress implements ProgressSink {
  #files = 0
  #bytes = 0
  #drawn = 0
  readonly #start: number

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly totals: ProgressTotals,
    private readonly now: () => number = Date.now,
  ) {
    this.#start = now()
  }

  addBytes(n: number): void {
    this.#bytes += n
    this.#maybeDraw()
  }

  fileDone(): void {
    this.#files++
    this.#maybeDraw()
  }

  note(line: string): void {
    this.out.write(`\r\x1b[K${line}\n`)
    this.#draw()
  }

  /** Removes the bar. */
  finish(): void {
    this.out.write('\r\x1b[K')
  }

  /** The bar's text (no control characters). */
  line(): string {
    const elapsed = (this.now() - this.#start) / 1000
    const rate = elapsed > 0 ? this.#bytes / elapsed : 0
    const eta = rate > 0 ? (this.totals.bytes - this.#bytes) / rate : NaN
    return (
      `${this.#files}/${plural(this.totals.files, 'file')}, ${formatBytes(this.#bytes)}/${formatBytes(this.totals.bytes)}, ` +
      `${formatBytes(Math.round(rate))}/s, ETA ${formatDuration(eta)}`
    )
  }

  #maybeDraw(): void {
    if (this.now() - this.#drawn >= REDRAW_MS) this.#draw()
  }

  #draw(): void {
    this.#drawn = this.now()
    const width = this.out.columns || 80
    this.out.write(`\r\x1b[K${this.line().slice(0, width - 1)}`)
  }
}
