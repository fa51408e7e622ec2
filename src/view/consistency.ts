// Source files that change while the view has them open. "Consistent" means: every byte the
// handle served is the encryption of the file as it was when open() looked it up (its lstat
// then, which getattr would report too). Each read fstats the open file after taking its
// plaintext, so if size, mtime and ctime are still those of the lookup, the plaintext predates
// any change.
// ctime covers writers that restore mtime (rsync -t, touch -r), and a file deleted or replaced
// by rename (its link count drops). Once a change is seen it is logged once per handle; with
// -strict-consistency that read and every later one on the handle fail with EIO, so rsync
// reports the file and copies it again on its next run.
import type { SourceStats } from './stat.js'
import { FsError } from './fs.js'

export interface ConsistencyOptions {
  strict: boolean
  /** A change a reader may have seen: a warning. */
  log: (msg: string) => void
  /** A change after the last read, which no reader saw: worth a line, not a warning (-wpanic). */
  info?: (msg: string) => void
}

/** What the check compares: the lookup's lstat against the open file's fstat after a read. */
export type FileStatus = Pick<SourceStats, 'size' | 'mtimeMs' | 'mtimeNsPart' | 'ctimeMs' | 'ctimeNsPart'>

/** What moved between two snapshots, e.g. "size 10 -> 4, ctime", or '' when nothing did. */
function changes(was: FileStatus, now: FileStatus): string {
  const moved: string[] = []
  if (now.size !== was.size) moved.push(`size ${was.size} -> ${now.size}`)
  if (now.mtimeMs !== was.mtimeMs || now.mtimeNsPart !== was.mtimeNsPart) moved.push('mtime')
  if (now.ctimeMs !== was.ctimeMs || now.ctimeNsPart !== was.ctimeNsPart) moved.push('ctime')
  return moved.join(', ')
}

export class ConsistencyWatch {
  #changed = false

  /** `what` names the file in log lines (view path and plaintext path). */
  constructor(
    private readonly looked: FileStatus,
    private readonly what: string,
    private readonly opts: ConsistencyOptions,
  ) {}

  /** Before a read: under -strict-consistency nothing more is served once a change was seen. */
  beforeRead(): void {
    if (this.#changed && this.opts.strict) throw new FsError('EIO')
  }

  /**
   * After a read has taken its plaintext, with the file's fstat taken after that read (by the
   * native pool thread that read it). EIO under -strict-consistency once the file changed.
   */
  afterRead(now: FileStatus): void {
    if (!this.#changed) this.#note(now, 'while it was read', this.opts.strict ? '; reads fail with EIO (-strict-consistency)' : '')
    this.beforeRead()
  }

  /**
   * At release, with the file's fstat just before it was closed: a change after the last read
   * did not reach the reader, but is worth a line.
   */
  atRelease(now: FileStatus): void {
    if (!this.#changed) this.#note(now, 'after the last read', '', this.opts.info ?? this.opts.log)
  }

  #note(now: FileStatus, when: string, outcome: string, log = this.opts.log): void {
    const moved = changes(this.looked, now)
    if (moved === '' || this.#changed) return // a concurrent read logged it already
    this.#changed = true
    log(`${this.what}: source file changed ${when} (${moved})${outcome}`)
  }
}
