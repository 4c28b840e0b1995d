import { once } from 'node:events'
import type { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import tar from 'tar-stream'

/**
 * A tar written entry by entry into a Writable, with backpressure: an entry's bytes are
 * taken only as fast as the output drains, so memory does not grow with blob size. When
 * the output fails (a pipe closed, a disk full), the entry being written fails too.
 */
export class TarWriter {
  private readonly pack = tar.pack()
  private readonly piping: Promise<void>
  private readonly broken: Promise<never>
  private readonly mtime = new Date()

  constructor(output: Writable, options: { end: boolean }) {
    this.piping = pipeline(this.pack, output, { end: options.end })
    this.broken = this.piping.then(
      () => Promise.reject(new Error('the output ended before the bundle did')),
      (e: unknown) => Promise.reject(e instanceof Error ? e : new Error(String(e))),
    )
    // Seen through `broken` by whoever writes next; never unhandled.
    this.broken.catch(() => {})
  }

  async add(name: string, data: Buffer): Promise<void> {
    await this.addStream(name, data.length, [data])
  }

  async addDirectory(name: string): Promise<void> {
    await this.guard(
      new Promise<void>((resolve, reject) => {
        this.pack.entry({ name, type: 'directory', mtime: this.mtime }, (e) => (e ? reject(e) : resolve()))
      }),
    )
  }

  /** Writes `size` bytes from `chunks`; more or fewer fail the entry (tar-stream checks). */
  async addStream(name: string, size: number, chunks: AsyncIterable<Buffer> | Iterable<Buffer>): Promise<void> {
    let settle: (e?: Error | null) => void = () => {}
    const written = new Promise<void>((resolve, reject) => (settle = (e) => (e ? reject(e) : resolve())))
    written.catch(() => {})
    const entry = this.pack.entry({ name, size, mtime: this.mtime }, (e) => settle(e))
    try {
      for await (const chunk of chunks) {
        if (!entry.write(chunk)) await this.guard(once(entry, 'drain'))
      }
      entry.end(undefined)
      await this.guard(written)
    } catch (e) {
      entry.destroy(e instanceof Error ? e : null)
      throw e
    }
  }

  /** Ends the tar and waits until the output has taken all of it. */
  async finish(): Promise<void> {
    this.pack.finalize()
    await this.piping
  }

  /** Stops writing: the output gets no more. */
  abort(error: Error): void {
    this.pack.destroy(error)
  }

  private async guard<T>(step: Promise<T>): Promise<T> {
    return Promise.race([step, this.broken])
  }
}
