// Rules that live in the directories themselves: -exclude-caches (a CACHEDIR.TAG with the Cache
// Directory Tagging signature hides its directory), -exclude-if-present NAME (an entry NAME
// hides its directory) and the files of -filter-from's dir-merge rules (rsync's per-directory
// rules, spliced in by Filter.scope).
//
// Another user must not be able to hide what is not theirs (a `.rsync-filter` with `- *` or a
// marker planted in /tmp would hide everyone's files there from the backup), so such a file
// counts only when root or the owner of its directory owns it, and a dir-merge file only when
// neither its group nor others may write it. Symlinks never count as CACHEDIR.TAG or dir-merge
// files. Each file left out is logged once.
//
// State is kept per directory (Own), keyed by its path and checked against its identity: what
// its files say, with the stamps they had when read. It is trusted for FRESH_MS; after that a
// directory is checked again in one native call (lstat of its few names and fstat of itself),
// or for free where a listing already holds those stats. A file is read again only when its
// stamp (ino, mtime, ctime, size) changed or was too recent to tell a later change (RACY_MS).
// A directory whose own stamp is old and unchanged has gained or lost no entry, so a listing
// of its parent need not look inside it when it holds none of the names.
import type { Filter, LocalRules, Scope, Visibility } from './filter.js'
import { Lru } from './lru.js'
import { readable } from './byte-string.js'
import { joinPath } from './source.js'
import { closeFile, lstatEachAt, openAt, preadAt } from './source-io.js'
import { baseName, dirMoved, sameDir as sameId, type DirId, type SourceTree } from './source-tree.js'
import type { SourceStats } from './stat.js'

/** The Cache Directory Tagging Specification's file and the signature it must start with. */
export const CACHEDIR_TAG = 'CACHEDIR.TAG'
const SIGNATURE = Buffer.from('Signature: 8a477f597d28d172789f06886806bc55')
/** How long a directory's state is used without a syscall: with the kernel's 1 s attribute timeout, changes show within 2 s. */
const FRESH_MS = 1000
/** A file or directory changed this recently may change again within the same timestamp. */
const RACY_MS = 1000
/** dir-merge files larger than this are left out (logged). */
const MERGE_MAX = 1024 * 1024
const LOGGED_MAX = 1024

export interface DirRulesOptions {
  tree: SourceTree
  /** The source's root directory as the view resolved it. */
  root: DirId
  /** Its dir-merge rules name the per-directory files. */
  filter?: Filter
  excludeCaches: boolean
  excludeIfPresent: readonly string[]
  log: (msg: string) => void
  /** Directories whose state is kept. */
  cacheSize: number
}

/** What applies inside a shown directory: its scope of rules and how it shows itself. */
export interface Context {
  scope: Scope | undefined
  shown: Visibility
}

/** What a per-directory file said, for as long as its stamp stays. */
interface Read {
  stamp: string
  /** The stamp cannot have hidden a later change. */
  settled: boolean
  counts: boolean
  rules?: LocalRules['rules']
}

/** A directory's own files, as last seen. */
interface Own {
  dev: number
  ino: number
  birth: number
  stamp: string
  settled: boolean
  at: number
  /** One per name (NAMES order); undefined where absent. */
  files: (Read | undefined)[]
  hidden: boolean
  local: (LocalRules['rules'] | undefined)[]
  /** The context last derived, and the parent context it was derived from. */
  ctx?: { parent: Context | undefined; value: Context | undefined }
}

const stampOf = (st: SourceStats): string => `${st.ino}:${st.mtimeMs}.${st.mtimeNsPart}:${st.ctimeMs}.${st.ctimeNsPart}:${st.size}:${st.uid}:${st.mode}`
const settledAt = (st: SourceStats, now: number): boolean => now - st.ctimeMs > RACY_MS

export class DirRules {
  readonly #tree: SourceTree
  readonly #root: DirId
  readonly #filter: Filter | undefined
  readonly #log: (msg: string) => void
  /** The names looked for in each directory: markers, then dir-merge files (one per dir-merge rule). */
  readonly #names: Buffer[]
  readonly #markers: number
  /** -exclude-caches: names[0] is CACHEDIR.TAG, and its signature is checked. */
  readonly #tags: boolean
  readonly #own: Lru<string, Own>
  readonly #logged = new Lru<string, true>(LOGGED_MAX)

  constructor(opts: DirRulesOptions) {
    this.#tree = opts.tree
    this.#root = opts.root
    this.#filter = opts.filter
    this.#log = opts.log
    const markers = [...(opts.excludeCaches ? [CACHEDIR_TAG] : []), ...opts.excludeIfPresent]
    this.#markers = markers.length
    this.#tags = opts.excludeCaches
    this.#names = [...markers.map((m) => Buffer.from(m)), ...(opts.filter?.dirMerges ?? []).map((m) => m.name)]
    this.#own = new Lru(opts.cacheSize)
  }

  /** Whether there is anything to look for (otherwise the view needs no DirRules). */
  static needed(opts: Pick<DirRulesOptions, 'filter' | 'excludeCaches' | 'excludeIfPresent'>): boolean {
    return opts.excludeCaches || opts.excludeIfPresent.length > 0 || (opts.filter?.dirMerges.length ?? 0) > 0
  }

  /** Whether a listing should lstat this name (one of the per-directory files). */
  wants(name: Buffer): boolean {
    return this.#names.some((n) => n.equals(name))
  }

  /** The context inside `dir` (its state checked again once FRESH_MS old); undefined when hidden. */
  context(dir: DirId): Promise<Context | undefined> {
    return this.#context(dir, this.#fresh(dir.rel, dir))
  }

  /** Those of the directories `children` (entries of `dir`, with their lstats) that hold a marker that counts. */
  async marked<T extends { rel: Buffer; st: SourceStats }>(dir: DirId, children: readonly T[]): Promise<Set<T>> {
    const marked = new Set<T>()
    if (this.#markers === 0) return marked
    const unknown: T[] = []
    for (const c of children) {
      if (!c.st.isDirectory()) continue
      const id = childId(c)
      const own = this.#fresh(id.rel, id) ?? this.#unchanged(id, c.st)
      if (own) {
        if (own.hidden) marked.add(c)
      } else unknown.push(c)
    }
    if (unknown.length === 0) return marked
    const owns = await this.#probeChildren(
      dir,
      unknown.map((c) => c.rel),
    )
    unknown.forEach((c, i) => {
      if (owns[i]?.hidden) marked.add(c)
    })
    return marked
  }

  // ---- state ----

  /** The state of the directory at `rel` while fresh; when `id` is given, only if it is still that directory. */
  #fresh(rel: Buffer, id?: DirId): Own | undefined {
    const own = this.#own.get(rel.toString('latin1'))
    return own && (!id || sameId(own, id)) && performance.now() - own.at < FRESH_MS ? own : undefined
  }

  /**
   * The state of the directories `rels` (entries of `parent`) from one native call: the lstat
   * of each, and of its names through it. Undefined for one that is no longer a directory.
   */
  async #probeChildren(parent: DirId, rels: readonly Buffer[]): Promise<(Own | undefined)[]> {
    const per = 1 + this.#names.length
    const paths = rels.flatMap((rel) => {
      const base = baseName(rel)
      return [base, ...this.#names.map((n) => joinPath(base, n))]
    })
    const { stats } = await this.#tree
      .inDir(parent, (fd) => lstatEachAt(fd, paths))
      .catch((e: NodeJS.ErrnoException) => {
        // Another directory is at parent's path by now: the caller resolves it afresh.
        throw e.code === 'ENOENT' ? dirMoved() : e
      })
    const now = Date.now()
    const owns: (Own | undefined)[] = []
    for (let i = 0; i < rels.length; i++) {
      const [st, ...files] = stats.slice(i * per, (i + 1) * per).map((s) => (s instanceof Error ? undefined : s))
      owns.push(st?.isDirectory() ? await this.#update(childId({ rel: rels[i]!, st }), st, files, now) : undefined)
    }
    return owns
  }

  /** The state of `dir` from its own descriptor (the root, or a listing that needs its names again). */
  async #probeSelf(dir: DirId): Promise<Own> {
    const { stats, dir: st } = await this.#tree.inDir(dir, (fd) => lstatEachAt(fd, this.#names))
    return this.#update(
      dir,
      st,
      stats.map((s) => (s instanceof Error ? undefined : s)),
    )
  }

  /** The state of a directory whose stat is `st`, if that shows no change and it has none of the names. */
  #unchanged(dir: DirId, st: SourceStats): Own | undefined {
    const own = this.#own.get(dir.rel.toString('latin1'))
    if (!own || !sameId(own, dir) || !own.settled || own.stamp !== stampOf(st) || own.files.some((f) => f !== undefined)) return undefined
    own.at = performance.now()
    return own
  }

  /** The state of `dir` (its stat `st`) whose names have the lstats `stats`; files read as needed. */
  async #update(dir: DirId, st: SourceStats, stats: (SourceStats | undefined)[], now = Date.now()): Promise<Own> {
    const key = dir.rel.toString('latin1')
    const old = this.#own.get(key)
    const prev = old && sameId(old, dir) ? old : undefined
    const files: (Read | undefined)[] = []
    for (let i = 0; i < stats.length; i++) {
      const fst = stats[i]
      if (!fst) {
        files.push(undefined)
        continue
      }
      const kept = prev?.files[i]
      files.push(kept && kept.settled && kept.stamp === stampOf(fst) ? kept : await this.#read(dir, st, i, fst, now))
    }
    const hidden = files.slice(0, this.#markers).some((f) => f?.counts)
    const local = files.slice(this.#markers).map((f) => (f?.counts ? f.rules : undefined))
    const same = prev && prev.files.every((f, i) => f === files[i])
    const own: Own = {
      dev: dir.dev,
      ino: dir.ino,
      birth: dir.birth,
      stamp: stampOf(st),
      settled: settledAt(st, now),
      at: performance.now(),
      files,
      hidden,
      local,
      // Unchanged files: the derived context still holds.
      ctx: same ? prev.ctx : undefined,
    }
    this.#own.set(key, own)
    return own
  }

  /** What the file at `index` of NAMES in `dir` (owned by st.uid) says, read if it must be. */
  async #read(dir: DirId, dirSt: SourceStats, index: number, st: SourceStats, now: number): Promise<Read> {
    const name = this.#names[index]!
    const read: Read = { stamp: stampOf(st), settled: settledAt(st, now), counts: false }
    const where = readable(joinPath(dir.rel, name))
    if (st.uid !== 0 && st.uid !== dirSt.uid) {
      this.#ignore(where, st, `owned by uid ${st.uid}, neither root nor the owner of its directory (uid ${dirSt.uid})`)
      return read
    }
    const merge = index - this.#markers
    // -exclude-if-present: any entry of the name.
    if (merge < 0 && !(this.#tags && index === 0)) return { ...read, counts: true }
    if (!st.isFile()) {
      this.#ignore(where, st, 'not a regular file')
      return read
    }
    if (merge < 0) {
      const head = await this.#head(dir, name, st, SIGNATURE.length)
      return { ...read, counts: head !== undefined && head.subarray(0, SIGNATURE.length).equals(SIGNATURE) }
    }
    if ((st.mode & 0o022) !== 0) {
      this.#ignore(where, st, 'writable by its group or by others')
      return read
    }
    if (st.size > MERGE_MAX) {
      this.#ignore(where, st, `larger than ${MERGE_MAX} bytes`)
      return read
    }
    const text = await this.#head(dir, name, st, MERGE_MAX)
    if (text === undefined) return read
    const parsed = this.#filter!.localRules(merge, dir.rel, text)
    for (const e of parsed.errors) this.#once(`${where}\0${read.stamp}\0${e}`, `-filter-from: ${where} ${e}; the line is left out`)
    return { ...read, counts: true, rules: parsed.rules }
  }

  /** Up to `max` bytes of the file `name` of `dir`, if it is still the file `st` describes. */
  async #head(dir: DirId, name: Buffer, st: SourceStats, max: number): Promise<Buffer | undefined> {
    try {
      return await this.#tree.inDir(dir, async (fd) => {
        const opened = await openAt(fd, name, st, max + 1)
        if ('data' in opened) return opened.data
        try {
          return (await preadAt(opened.fd, max, 0)).data
        } finally {
          await closeFile(opened.fd)
        }
      })
    } catch {
      return undefined // gone or replaced since its lstat: the next check sees what is there
    }
  }

  #ignore(where: string, st: SourceStats, why: string): void {
    this.#once(`${where}\0${stampOf(st)}`, `ignoring ${where} (uid ${st.uid}): ${why}`)
  }

  #once(key: string, msg: string): void {
    if (this.#logged.get(key)) return
    this.#logged.set(key, true)
    this.#log(msg)
  }

  // ---- contexts ----

  /**
   * The context inside `dir` (its state `own` when known), derived from the root down: each
   * directory on the way is taken from its state while that is fresh, else found again through
   * its parent in one native call. DIR_MOVED when `dir` is no longer at its path.
   */
  async #context(dir: DirId, own: Own | undefined): Promise<Context | undefined> {
    const root = this.#root
    const rootOwn = dir.rel.length === 0 ? own : this.#fresh(root.rel, root)
    let ctx = this.#derive(root.rel, rootOwn ?? (await this.#probeSelf(root)), undefined)
    let at: DirId = root
    for (let end = 0; ctx && end < dir.rel.length;) {
      end = dir.rel.indexOf(0x2f, end + 1)
      if (end < 0) end = dir.rel.length
      const rel = dir.rel.subarray(0, end)
      const last = end === dir.rel.length
      let next = last ? own : this.#fresh(rel)
      next ??= (await this.#probeChildren(at, [rel]))[0]
      if (last && !(next && sameId(next, dir))) throw dirMoved()
      if (!next) return undefined
      ctx = this.#derive(rel, next, ctx)
      at = { rel, dev: next.dev, ino: next.ino, birth: next.birth }
    }
    return ctx
  }

  /** The context inside the directory `rel` with its state `own`, in its parent's context (none: the root). */
  #derive(rel: Buffer, own: Own, parent: Context | undefined): Context | undefined {
    if (own.ctx && own.ctx.parent === parent) return own.ctx.value
    const filter = this.#filter
    let value: Context | undefined
    if (!parent) {
      // The root: never hidden.
      value = { scope: filter && filter.scope(filter.base, own.local), shown: 'included' }
    } else {
      const shown = own.hidden ? undefined : filter ? filter.visibility(rel, true, parent.shown, parent.scope) : 'included'
      value = shown && { scope: filter && filter.scope(parent.scope!, own.local), shown }
    }
    own.ctx = { parent, value }
    return value
  }
}

function childId(c: { rel: Buffer; st: SourceStats }): DirId {
  return { rel: c.rel, dev: c.st.dev, ino: c.st.ino, birth: c.st.birthtimeMs }
}
