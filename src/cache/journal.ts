import { appendFile, readFile, rename, writeFile } from 'node:fs/promises'
import { z } from 'zod'
import { parseRecord, type JournalSchema } from './records.js'

/** Below this many appended lines a journal is never rewritten. */
const COMPACT_MIN_LINES = 10_000
/** Rewrite once the appended lines outnumber the live entries this many times over. */
const COMPACT_FACTOR = 4

interface Line<T> {
  k: string
  r?: T
}

/**
 * A string-keyed map kept in memory and persisted as an append-only JSON-lines file:
 * each put or delete appends one line, the file is replayed at open and rewritten
 * (temp file, rename) when it has grown well past the map. A crash mid-append leaves a
 * torn last line, which replay skips; everything before it stands.
 */
export class Journal<T> {
  readonly entries = new Map<string, T>()
  /** Appends run one after another so the file keeps their order. */
  private tail: Promise<void> = Promise.resolve()
  private appended = 0

  private readonly line: z.ZodType<Line<T>>

  private constructor(
    private readonly path: string,
    schema: JournalSchema<T>,
  ) {
    // A line without a record is a delete.
    this.line = z.object({ k: schema.key, r: schema.record.optional() })
  }

  static async open<T>(path: string, schema: JournalSchema<T>): Promise<Journal<T>> {
    const journal = new Journal(path, schema)
    await journal.replay()
    return journal
  }

  put(key: string, value: T): Promise<void> {
    this.entries.set(key, value)
    return this.append({ k: key, r: value })
  }

  delete(key: string): Promise<void> {
    if (!this.entries.delete(key)) return Promise.resolve()
    return this.append({ k: key })
  }

  /** The map a journal file holds now, read without touching the file. */
  static async snapshot<T>(path: string, schema: JournalSchema<T>): Promise<Map<string, T>> {
    const journal = new Journal(path, schema)
    await journal.load()
    return journal.entries
  }

  /** Waits for pending appends. */
  async flush(): Promise<void> {
    await this.tail.catch(() => {})
  }

  private async replay(): Promise<void> {
    if (await this.load()) await this.compact()
  }

  /** False when there is no file yet. */
  private async load(): Promise<boolean> {
    let text: string
    try {
      text = await readFile(this.path, 'utf8')
    } catch {
      return false
    }
    for (const line of text.split('\n')) {
      const entry = this.parse(line)
      if (entry === undefined) continue
      if (entry.r === undefined) this.entries.delete(entry.k)
      else this.entries.set(entry.k, entry.r)
    }
    return true
  }

  /** A torn or invalid line is skipped, as if it had never been written. */
  private parse(line: string): Line<T> | undefined {
    return line.trim() === '' ? undefined : parseRecord(this.line, line)
  }

  private async compact(): Promise<void> {
    const text = [...this.entries].map(([k, r]) => JSON.stringify({ k, r }) + '\n').join('')
    const temp = `${this.path}.${process.pid}.tmp`
    await writeFile(temp, text)
    await rename(temp, this.path)
    this.appended = 0
  }

  private append(line: Line<T>): Promise<void> {
    const text = JSON.stringify(line) + '\n'
    const next = this.tail
      .catch(() => {})
      .then(async () => {
        await appendFile(this.path, text)
        if (++this.appended > Math.max(COMPACT_MIN_LINES, COMPACT_FACTOR * this.entries.size)) {
          await this.compact()
        }
      })
    this.tail = next
    return next
  }
}
