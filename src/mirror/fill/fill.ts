import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { BlobStore, BlobWriter, StoredBlob } from '../../cache/blob-store.js'
import { UpstreamContentError } from '../../errors.js'
import type { Logger } from '../../logger.js'
import { contentLengthOf } from '../../http/body.js'
import type { UpstreamResponse } from '../../upstream/upstream-client.js'
import { RecentBytes } from './recent-bytes.js'
import type { FillFailure } from '../telemetry.js'
import { statusError } from '../upstream-errors.js'

/**
 * connecting → streaming → verified → committed, or failed from any of them. In
 * `verified` every byte is known good and may be handed out; `committed` is in the cache.
 */
export type FillState = 'connecting' | 'streaming' | 'verified' | 'committed' | 'failed'

/** Readers within this many bytes of the fill's head are served from memory. */
const RECENT_BYTES = 8 * 1024 * 1024

/** How a fill keeps pace with its readers (see Fill.gate). */
export interface Pacing {
  /** The most the download runs ahead of its fastest reader. */
  leadBytes: number
  /** A reader that has taken nothing for this long no longer holds the download back. */
  stallMs: number
}

const DEFAULT_PACING: Pacing = { leadBytes: RECENT_BYTES / 2, stallMs: 1000 }

/** Where a fill's bytes come from. */
export type FillOrigin = 'upstream' | 'peer'

export interface FillSource {
  /** Opens the response to fill from; the fill's own signal, never a client's. */
  fetch(signal: AbortSignal): Promise<{ response: UpstreamResponse; origin: FillOrigin }>
  store: BlobStore
  /** Called once the blob is committed; an error here is logged, not fatal. */
  onCommitted(stored: StoredBlob): Promise<void>
  /** Told of every chunk received from the upstream. */
  onBytes(bytes: number): void
  log: Logger
}

function failureOf(error: unknown): FillFailure {
  if (error instanceof UpstreamContentError) return 'digest_mismatch'
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  if (code === 'ENOSPC' || code === 'EDQUOT') return 'disk_full'
  if ((error as Error | undefined)?.name === 'AbortError') return 'aborted'
  return 'upstream_error'
}

/**
 * One in-progress download of a blob into the cache. Any number of readers follow the
 * growing temp file (see FillReader), so one upstream fetch serves every concurrent
 * request, and a slow reader never slows the fill or the other readers.
 */
export class Fill {
  state: FillState = 'connecting'
  /** Announced by the upstream's Content-Length; undefined if it sent none. */
  size: number | undefined
  /** Bytes in the temp file. */
  written = 0
  /**
   * The newest bytes received, which always include those not yet written: the writer
   * buffers far less than this holds.
   */
  readonly recent = new RecentBytes(RECENT_BYTES)
  tempPath = ''
  finalPath = ''
  error: Error | undefined
  failure: FillFailure | undefined
  /** Resolves when bytes start flowing (size known); rejects if the fill fails before. */
  readonly started: Promise<void>
  /** Resolves when the fill has ended, either way. Never rejects. */
  readonly done: Promise<void>
  private readonly abortController = new AbortController()
  private writer: BlobWriter | undefined
  /** Known once the response is open. */
  origin: FillOrigin = 'upstream'
  private waiters: Array<() => void> = []
  /**
   * The download itself, while it waits on its readers. Apart from `waiters`: a reader's
   * progress wakes only the download, never the other readers (two readers at the head
   * would otherwise wake each other forever while the download waits on a third).
   */
  private gateWaiters: Array<() => void> = []
  /** The download is over, whatever its outcome. */
  private ended = false
  private resolveStarted!: () => void
  private rejectStarted!: (error: Error) => void
  private resolveDone!: () => void

  constructor(
    readonly digest: string,
    private readonly pacing: Pacing = DEFAULT_PACING,
  ) {
    this.started = new Promise<void>((resolve, reject) => {
      this.resolveStarted = resolve
      this.rejectStarted = reject
    })
    // Readers that never look at `started` must not turn its rejection into a crash.
    this.started.catch(() => {})
    this.done = new Promise<void>((resolve) => {
      this.resolveDone = resolve
    })
  }

  /** Bytes received from the upstream so far (some may not be on disk yet). */
  get received(): number {
    return this.recent.end
  }

  /** False once the disk filled: bytes still flow to readers from memory, but not to disk. */
  get storing(): boolean {
    return this.writer?.storing ?? true
  }

  /** Every byte written so far is known good: the digest and size were verified. */
  get verified(): boolean {
    return this.state === 'verified' || this.state === 'committed'
  }

  /** Resolves at the next progress or state change. */
  changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve))
  }

  abort(reason: Error): void {
    this.abortController.abort(reason)
  }

  /**
   * Every chunk enters the in-memory window here, before the disk.
   *
   * While the disk takes the bytes, the download keeps at most a lead ahead of its fastest
   * reader. The bytes then go from the upstream to the clients through memory, never read
   * back from disk, and the work of filling (hashing, writing) is spread over the transfer
   * instead of done in a burst that competes with the clients for CPU: on the benchmark's
   * loopback pull that burst cost a fifth of the pull's time. Slower readers fall back to
   * the file. A reader that stops taking bytes stops counting, and with no reader left the
   * download runs free, so a client that stalls or leaves never stalls the cache.
   *
   * Once the disk refuses the bytes (full), memory is all there is: the download waits for
   * its slowest reader instead of leaving it behind.
   */
  private gate(source: FillSource): Transform {
    return new Transform({
      transform: (chunk: Buffer, _encoding, callback) => {
        this.recent.append(chunk)
        source.onBytes(chunk.length)
        this.notify()
        const ready = this.storing ? () => this.withinLead() : () => this.slowestWithin(RECENT_BYTES / 2)
        if (ready()) return callback(null, chunk)
        this.waitForReaders(ready).then(() => callback(null, chunk), callback)
      },
    })
  }

  /** Where each reader has read up to, and when it last read. */
  private readonly readers = new Map<object, { position: number; at: number }>()
  /** The download is waiting on its readers, and wants to hear of their progress. */
  private holding = false

  readerAt(reader: object, position: number): void {
    const mark = this.readers.get(reader)
    if (mark === undefined) this.readers.set(reader, { position, at: performance.now() })
    else {
      mark.position = position
      mark.at = performance.now()
    }
    if (this.holding) this.wakeGate()
  }

  readerGone(reader: object): void {
    this.readers.delete(reader)
    if (this.holding) this.wakeGate()
    if (this.readers.size === 0 && this.state === 'verified' && this.ended) this.recent.clear()
  }

  private withinLead(): boolean {
    const now = performance.now()
    let leader = -1
    for (const mark of this.readers.values()) {
      if (now - mark.at < this.pacing.stallMs) leader = Math.max(leader, mark.position)
    }
    return leader < 0 || this.received - leader <= this.pacing.leadBytes
  }

  private slowestWithin(distance: number): boolean {
    let slowest = Infinity
    for (const mark of this.readers.values()) slowest = Math.min(slowest, mark.position)
    return this.received - slowest <= distance
  }

  private async waitForReaders(ready: () => boolean): Promise<void> {
    this.holding = true
    try {
      while (!ready() && this.state !== 'failed') {
        let timer: NodeJS.Timeout | undefined
        // Woken by a reader's progress, or to look again once the leader may have stalled.
        await new Promise<void>((resolve) => {
          this.gateWaiters.push(resolve)
          timer = setTimeout(resolve, this.pacing.stallMs)
        })
        clearTimeout(timer)
      }
    } finally {
      this.holding = false
    }
  }

  private wakeGate(): void {
    const waiters = this.gateWaiters
    this.gateWaiters = []
    for (const wake of waiters) wake()
  }

  private notify(): void {
    const waiters = this.waiters
    this.waiters = []
    for (const wake of waiters) wake()
    this.wakeGate()
  }

  async run(source: FillSource): Promise<void> {
    let writer: BlobWriter | undefined
    try {
      const { response, origin } = await source.fetch(this.abortController.signal)
      this.origin = origin
      if (response.status !== 200) throw await statusError(response)
      this.size = contentLengthOf(response.headers)
      writer = await source.store.createWriter(
        { digest: this.digest, size: this.size },
        {
          onProgress: (written) => {
            this.written = written
            this.notify()
          },
        },
      )
      this.writer = writer
      this.tempPath = writer.tempPath
      this.finalPath = writer.finalPath
      this.setState('streaming')
      this.resolveStarted()
      await pipeline(response.body, this.gate(source), writer, { signal: this.abortController.signal })
      // Every byte received is verified; on a full disk fewer of them are on disk.
      this.size = this.received
      this.setState('verified')
      const stored = await writer.commit()
      this.recent.clear()
      this.setState('committed')
      await source.onCommitted(stored).catch((e: unknown) => {
        source.log.warn({ err: e, digest: this.digest }, 'blob cached but not indexed')
      })
    } catch (e) {
      // Whatever failed, the upstream response is not read any further: let it go now,
      // not when its idle timeout fires (a writer that could not be created never took it).
      this.abortController.abort(e)
      await writer?.abort()
      this.fail(e, source.log)
    } finally {
      this.ended = true
      this.releaseRecentWhenUnread()
      this.resolveDone()
    }
  }

  /**
   * Committed, readers go on from the file; failed, they stop. Verified but not stored
   * (the disk filled), memory is all there is: the window stays until the last reader has
   * gone, and the download kept every reader inside it.
   */
  private releaseRecentWhenUnread(): void {
    if (this.state !== 'verified' || this.readers.size === 0) this.recent.clear()
  }

  private fail(e: unknown, log: Logger): void {
    const error = e instanceof Error ? e : new Error(String(e))
    if (this.state === 'verified') {
      // Every byte was good and readers hold them; only caching failed.
      this.failure = failureOf(error) === 'disk_full' ? 'disk_full' : 'store_error'
      log.warn({ err: error, digest: this.digest, failure: this.failure }, 'blob served but not cached')
      return
    }
    this.error = error
    this.failure = failureOf(error)
    const level = this.failure === 'aborted' ? 'info' : 'error'
    log[level]({ err: error, digest: this.digest, failure: this.failure, bytes: this.written }, 'blob fill failed')
    this.rejectStarted(error)
    this.setState('failed')
  }

  private setState(state: FillState): void {
    this.state = state
    this.notify()
  }
}
