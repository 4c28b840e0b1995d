import { createHash, type Hash } from 'node:crypto'
import { Transform, type Readable, type TransformCallback } from 'node:stream'
import { UpstreamContentError } from '../../errors.js'
import type { Digest } from '../../oci/digest.js'
import { END, unpooled, type Bytes, type ByteSource } from '../byte-source.js'

/**
 * Passes a body through while hashing it, always holding back the newest chunk; the held
 * chunk goes out only once the end has arrived and the digest and size match. A client
 * of a pass-through therefore never completes a download of bytes that do not match.
 */
export class VerifyingPassThrough extends Transform {
  private readonly hash: Hash
  private held: Buffer | undefined
  private bytes = 0

  constructor(
    private readonly digest: Digest,
    private readonly size: number | undefined,
  ) {
    super()
    this.hash = createHash(digest.algorithm)
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk)
    this.bytes += chunk.length
    const previous = this.held
    this.held = chunk
    callback(null, previous)
  }

  override _flush(callback: TransformCallback): void {
    const actual = `${this.digest.algorithm}:${this.hash.digest('hex')}`
    if (this.size !== undefined && this.bytes !== this.size) {
      callback(new UpstreamContentError(`${this.digest.value}: ${this.bytes} bytes, announced ${this.size}`))
    } else if (actual !== this.digest.value) {
      callback(new UpstreamContentError(`${this.digest.value}: content hashes to ${actual}`))
    } else {
      callback(null, this.held)
    }
  }
}

/** A stream's bytes, read in order: for responses passed through without caching. */
export class StreamSource implements ByteSource {
  readonly origin = 'upstream'
  private readonly chunks: AsyncIterator<Buffer>
  private pending: Buffer | undefined
  private offset: number

  /** `onBytes` hears of each chunk taken from the stream. */
  constructor(
    private readonly stream: Readable,
    start: number,
    private readonly onBytes: (bytes: number) => void = () => {},
  ) {
    this.chunks = (stream as AsyncIterable<Buffer>)[Symbol.asyncIterator]()
    this.offset = start
  }

  async read(position: number, maxLength: number): Promise<Bytes> {
    if (position !== this.offset) throw new Error('a stream is read in order')
    let chunk = this.pending
    if (chunk === undefined) {
      const next = await this.chunks.next()
      if (next.done === true) return END
      chunk = next.value
      this.onBytes(chunk.length)
    }
    this.pending = chunk.length > maxLength ? chunk.subarray(maxLength) : undefined
    const out = chunk.length > maxLength ? chunk.subarray(0, maxLength) : chunk
    this.offset += out.length
    return unpooled(out)
  }

  /** The stream ended without an error, which for a verified stream means it matched. */
  async complete(): Promise<void> {}

  async close(): Promise<void> {
    this.stream.destroy()
  }
}
