import type { IncomingHttpHeaders } from 'node:http'
import { Readable } from 'node:stream'
import { releaseBytes } from '../../buffers/segment-pool.js'
import type { TransportFallbackReason } from '../../http/upstream-observer.js'

/** A body larger than this is cut with its connection rather than read to be dropped. */
const MAX_DUMPED_BYTES = 64 * 1024

/** A body read into pooled segments: each chunk carries one reference for its reader. */
export class PooledBody extends Readable {
  constructor() {
    // Room for a few socket reads, so the socket is not stopped and restarted after each.
    super({ highWaterMark: 1024 * 1024 })
    // A failure before the reader is attached must not be an uncaught 'error': the
    // reader (pipeline, iteration) still finds the stream errored.
    this.on('error', () => {})
  }

  /** Set by the connection: resumes reading the socket. */
  onDemand: () => void = () => {}
  /** Set by the connection: the bytes of the body not read yet. */
  remaining: () => number = () => 0

  override _read(): void {
    this.onDemand()
  }

  /** Drops the body: read to its end when small (the connection is kept), else cut. */
  dump(): Promise<void> {
    if (this.readableEnded || this.destroyed) return Promise.resolve()
    return new Promise<void>((resolve) => {
      this.once('close', resolve)
      this.once('end', resolve)
      if (this.remaining() > MAX_DUMPED_BYTES) this.destroy()
      else this.on('data', releaseBytes)
    })
  }
}

export interface PooledResponse {
  kind: 'response'
  status: number
  headers: IncomingHttpHeaders
  body: PooledBody
}

/** A GET this transport does not read itself: the caller sends it through its general client. */
export interface Unsupported {
  kind: 'unsupported'
  reason: TransportFallbackReason
}

export type PooledResult = PooledResponse | Unsupported
