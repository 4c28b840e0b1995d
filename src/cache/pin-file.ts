import { appendFile, readFile, stat } from 'node:fs/promises'
import type { Pin } from './cache-index.js'
import { replaceFile } from './durable-file.js'
import { Journal } from './journal.js'
import { PIN_JOURNAL } from './records.js'

/** Below this many lines the pin file is never rewritten; pins change by hand, rarely. */
const COMPACT_MIN_LINES = 1000
/** Rewritten once its lines outnumber the pins this many times over. */
const COMPACT_FACTOR = 4

/**
 * The embedded index's pins, in a journal file read afresh each time: pins are set by the
 * `registry-mirror pin` command, a separate process, while the mirror runs, and read by
 * the mirror when it evicts. Appends of a line are atomic, so the two never clash.
 */
export class PinFile {
  constructor(private readonly path: string) {}

  async pins(): Promise<Pin[]> {
    const entries = await Journal.snapshot(this.path, PIN_JOURNAL)
    return [...entries].map(([image, digests]) => ({ image, digests: [...digests] }))
  }

  async pin(image: string, digests: string[]): Promise<void> {
    await appendFile(this.path, JSON.stringify({ k: image, r: [...new Set(digests)] }) + '\n')
  }

  async unpin(image: string): Promise<boolean> {
    const had = (await this.pins()).some((p) => p.image === image)
    if (had) await appendFile(this.path, JSON.stringify({ k: image }) + '\n')
    return had
  }

  /**
   * Rewrites the file with its pins alone once it has grown well past them. Called by the
   * server at start-up only: a pin command appending at that moment would be lost in the
   * rewrite, so the rewrite is given up when the file grew while it was being prepared,
   * which leaves a window of one rename for such a race.
   */
  async compact(): Promise<boolean> {
    const text = await readFile(this.path, 'utf8').catch(() => undefined)
    if (text === undefined) return false
    const lines = text.split('\n').filter((l) => l.trim() !== '').length
    const pins = Journal.parse(text, PIN_JOURNAL)
    if (lines < Math.max(COMPACT_MIN_LINES, COMPACT_FACTOR * pins.size)) return false
    const compacted = [...pins].map(([k, r]) => JSON.stringify({ k, r }) + '\n').join('')
    if ((await stat(this.path)).size !== Buffer.byteLength(text)) return false
    await replaceFile(this.path, compacted)
    return true
  }
}
