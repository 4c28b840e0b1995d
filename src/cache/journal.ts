import { appendFile, readFile } from 'node:fs/promises'
import { LRUCache } from 'lru-cache'
import { z } from 'zod'
import { replaceFile } from './durable-file.js'
import { parseRecord, type JournalSchema } from './records.js'

/** Below this many appended lines a journal is never rewritten. */
const COMPACT_MIN_LINES = 10_000
/** Rewrite once the appended lines outnumber the live entries this many times over. */
const COMPACT_FACTOR = 4

/** How many entries of one class a journal keeps, and how long one lasts unused. */
export interface JournalBound {
  max: number
  unusedTtlMs: number
}

export interface JournalOptions<T> {
  /** One bound per class of entry; `classify` says which an entry belongs to (default: the first). */
  bounds: JournalBound[]
  classify?: (value: T) => number
  now?: () => number
}

interface Line<T> {
  k: string
  r?: T
  /** When the entry was last used (read or written), in milliseconds since the epoch. */
  u?: number
}

interface Entry<T> {
  value: T
  usedAt: number
}

/**
 * A string-keyed map kept in memory and persisted as an append-only JSON-lines file: each
 * put or delete appends one line, the file is replayed at open and rewritten when it has
 * grown well past the map, and at close. A crash mid-append leaves a torn last line,
 * which replay skips; everything before it stands.
 *
 * The map is bounded: each class of entry holds at most `max` entries, the least recently
 * used going first, and an entry unused for `unusedTtlMs` is gone. When an entry was last
 * used is written at each rewrite, so the bound holds across restarts too.
 */
export class Journal<T> {
  private readonly classes: Array<LRUCache<string, Entry<T>>>
  /** Appends run one after another so the file keeps their order. */
  private tail: Promise<void> = Promise.resolve()
  private appended = 0
  private readonly line: z.ZodType<Line<T>>
  private readonly now: () => number

  private constructor(
    private readonly path: string,
    schema: JournalSchema<T>,
    private readonly options: JournalOptions<T>,
  ) {
    // A line without a record is a delete.
    this.line = z.object({ k: schema.key, r: schema.record.optional(), u: z.number().optional() })
    this.now = options.now ?? Date.now
    const perf = { now: this.now }
    this.classes = options.bounds.map(
      (bound) =>
        new LRUCache<string, Entry<T>>({
          max: bound.max,
          ttl: bound.unusedTtlMs,
          updateAgeOnGet: true,
          // The clock is read at each use: an injected one may jump.
          ttlResolution: 0,
          perf,
        }),
    )
  }

  /**
   * Replays the file. A file grown well past its entries is rewritten after, in the
   * background: the flush to disk it ends with can take seconds on a busy disk, and the
   * mirror must not wait for it to serve.
   */
  static async open<T>(path: string, schema: JournalSchema<T>, options: JournalOptions<T>): Promise<Journal<T>> {
    const journal = new Journal(path, schema, options)
    const lines = await journal.load()
    if (lines > Math.max(COMPACT_MIN_LINES / 10, COMPACT_FACTOR * journal.size)) {
      // A failed rewrite leaves the file as it was: it is replayed whole next time.
      journal.enqueue(() => journal.compact()).catch(() => {})
    }
    return journal
  }

  /** The map a journal file holds now, unbounded, read without touching the file. */
  static async snapshot<T>(path: string, schema: JournalSchema<T>): Promise<Map<string, T>> {
    return Journal.parse(await readFile(path, 'utf8').catch(() => ''), schema)
  }

  /** The map the text of a journal file holds. */
  static parse<T>(text: string, schema: JournalSchema<T>): Map<string, T> {
    const line = z.object({ k: schema.key, r: schema.record.optional() })
    const entries = new Map<string, T>()
    for (const raw of text.split('\n')) {
      const entry = raw.trim() === '' ? undefined : parseRecord(line, raw)
      if (entry === undefined) continue
      if (entry.r === undefined) entries.delete(entry.k)
      else entries.set(entry.k, entry.r)
    }
    return entries
  }

  get size(): number {
    return this.classes.reduce((sum, c) => sum + c.size, 0)
  }

  /** The value, which counts as a use of it. */
  get(key: string): T | undefined {
    for (const entries of this.classes) {
      const entry = entries.get(key)
      if (entry === undefined) continue
      entry.usedAt = this.now()
      return entry.value
    }
    return undefined
  }

  /** Every live entry, in no particular order, without counting as a use. */
  *entries(): Generator<[string, T]> {
    for (const entries of this.classes) {
      for (const [key, entry] of entries.entries()) yield [key, entry.value]
    }
  }

  put(key: string, value: T): Promise<void> {
    this.set(key, value, this.now())
    return this.append({ k: key, r: value })
  }

  delete(key: string): Promise<void> {
    const had = this.classes.map((c) => c.delete(key)).some(Boolean)
    return had ? this.append({ k: key }) : Promise.resolve()
  }

  /** Waits for pending appends. */
  async flush(): Promise<void> {
    await this.tail.catch(() => {})
  }

  /** Writes the file anew with when each entry was last used, after pending appends. */
  async close(): Promise<void> {
    await this.flush()
    await this.compact()
  }

  private set(key: string, value: T, usedAt: number): void {
    const wanted = this.options.classify?.(value) ?? 0
    this.classes.forEach((entries, i) => {
      if (i !== wanted) entries.delete(key)
    })
    const remaining = (this.options.bounds[wanted]?.unusedTtlMs ?? 0) - (this.now() - usedAt)
    // Already past its time: gone (lru-cache takes a ttl of 0 as "never expires").
    if (remaining <= 0) this.classes[wanted]?.delete(key)
    else this.classes[wanted]?.set(key, { value, usedAt }, { start: usedAt })
  }

  /** The lines the file holds; 0 when there is none yet. */
  private async load(): Promise<number> {
    let text: string
    try {
      text = await readFile(this.path, 'utf8')
    } catch {
      return 0
    }
    const now = this.now()
    const lines = text.split('\n')
    for (const raw of lines) {
      // A torn or invalid line is skipped, as if it had never been written.
      const entry = raw.trim() === '' ? undefined : parseRecord(this.line, raw)
      if (entry === undefined) continue
      if (entry.r === undefined) this.classes.forEach((c) => c.delete(entry.k))
      // A line written before use times were kept counts as used now.
      else this.set(entry.k, entry.r, Math.min(entry.u ?? now, now))
    }
    return lines.length
  }

  private async compact(): Promise<void> {
    const lines: string[] = []
    for (const entries of this.classes) {
      // Oldest first, so that a replay meets the bound in the same order.
      for (const [k, entry] of [...entries.entries()].reverse()) {
        lines.push(JSON.stringify({ k, r: entry.value, u: entry.usedAt }) + '\n')
      }
    }
    await replaceFile(this.path, lines.join(''))
    this.appended = 0
  }

  private append(line: Line<T>): Promise<void> {
    const text = JSON.stringify(line) + '\n'
    return this.enqueue(async () => {
      await appendFile(this.path, text)
      if (++this.appended > Math.max(COMPACT_MIN_LINES, COMPACT_FACTOR * this.size)) await this.compact()
    })
  }

  /** Runs after every write queued before it, so the file keeps their order. */
  private enqueue(write: () => Promise<void>): Promise<void> {
    const next = this.tail.catch(() => {}).then(write)
    this.tail = next
    return next
  }
}
