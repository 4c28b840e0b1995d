import { appendFile } from 'node:fs/promises'
import type { Pin } from './cache-index.js'
import { Journal } from './journal.js'
import { PIN_JOURNAL } from './records.js'

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
}
