import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { BlobStore, BlobWriter, StoredBlob } from '../../cache/blob-store.js'
import type { Logger } from '../../logger.js'
import { contentLengthOf } from '../../http/body.js'
import type { UpstreamResponse } from '../../upstream/upstream-client.js'
import type { FillFailure } from '../telemetry.js'
import { statusError } from '../upstream-errors.js'
import { failureOf, FillAbortedError } from './fill-errors.js'
import { DEFAULT_PACING, Pace, type Pacing, type ReaderMark } from './pacing.js'
import { RECENT_BYTES, RecentBytes } from './recent-bytes.js'

/**
 * connecting → streaming → verified → committed, or failed from any of them. In
 * `verified` every byte is known good and may be handed out; `committed` is in the cache.
 */
export type FillState = 'connecting' | 'streaming' | 'verified' | 'committed' | 'failed'

/** Where a fill's bytes come from. */
export type FillOrigin = 'upstream' | 'peer'

/** A response open to fill from. */
export interface Opened {
  response: UpstreamResponse
  origin: FillOrigin
}

/** What a fill is given to do: where its bytes come from and go, and whom it tells. */
export interface FillJob {
  /** Opens the response to fill from; the fill's own signal, never a client's. */
  fetch(signal: AbortSignal): Promise<Opened>
  store: BlobStore
  /** Called once the blob is committed; an error here is logged, not fatal. */
  onCommitted(stored: StoredBlob): Promise<void>
  /** Told of every chunk received, from the upstream or a peer. */
  onBytes(bytes: number): void
  /**
   * Lets go of what the job holds while the fill runs (a replica's claim on fetching the
   * blob from the upstream). The fill calls it once, when it has ended, whatever the outcome.
   */
  release(): Promise<void>
  log: Logger
}

/**
 * One download of a blob into the cache, shared by every concurrent request for it. Its
 * readers (FillReader) take the bytes from memory while they keep close behind, and from
 * the growing temp file once they fall back; they never wait for one another. While the
 * disk takes the bytes, the download keeps pace with its fastest reader still reading, at
 * most a lead ahead; once the disk is full, memory is all there is, and it keeps pace with
 * its slowest (see Pace).
 */
export class Fill {
  readonly digest: string
  /** Resolves when bytes start flowing (size known); rejects if the fill fails before. */
  readonly started: Promise<void>
  /** Resolves when the fill has ended, either way. Never rejects. */
  readonly done: Promise<void>
  #state: FillState = 'connecting'
  #size: number | undefined
  #written = 0
  /**
   * The newest bytes received, which always include those not yet written: the writer
   * buffers far less than this holds.
   */
  readonly #recent = new RecentBytes(RECENT_BYTES)
  readonly #pace: Pace
  #tempPath = ''
  #finalPath = ''
  #error: Error | undefined
  #failure: FillFailure | undefined
  #origin: FillOrigin = 'upstream'
  #writer: BlobWriter | undefined
  readonly #abort = new AbortController()
  /** Readers waiting for progress or a state change. */
  #waiters: Array<() => void> = []
  /** The download is over, whatever its outcome. */
  #ended = false
  #resolveStarted: () => void = () => {}
  #rejectStarted: (error: Error) => void = () => {}
  #resolveDone: () => void = () => {}

  constructor(digest: string, pacing: Pacing = DEFAULT_PACING) {
    this.digest = digest
    this.#pace = new Pace(pacing, () => this.received)
    this.started = new Promise<void>((resolve, reject) => {
      this.#resolveStarted = resolve
      this.#rejectStarted = reject
    })
    // Readers that never look at `started` must not turn its rejection into a crash.
    this.started.catch(() => {})
    this.done = new Promise<void>((resolve) => {
      this.#resolveDone = resolve
    })
  }

  get state(): FillState {
    return this.#state
  }

  /** Announced by the upstream's Content-Length (undefined if it sent none); once verified, what arrived. */
  get size(): number | undefined {
    return this.#size
  }

  /** Bytes in the temp file. */
  get written(): number {
    return this.#written
  }

  /** Bytes received from the upstream so far (some may not be on disk yet). */
  get received(): number {
    return this.#recent.end
  }

  /** False once the disk filled: bytes still flow to readers from memory, but not to disk. */
  get storing(): boolean {
    return this.#writer?.storing ?? true
  }

  /** Every byte written so far is known good: the digest and size were verified. */
  get verified(): boolean {
    return this.#state === 'verified' || this.#state === 'committed'
  }

  /** Why the blob did not enter the cache; undefined while running and once committed. */
  get failure(): FillFailure | undefined {
    return this.#failure
  }

  /** What made the fill fail; set only in `failed`. */
  get error(): Error | undefined {
    return this.#error
  }

  /** Where the bytes come from; known once the response is open. */
  get origin(): FillOrigin {
    return this.#origin
  }

  /** The file readers follow while the fill writes it; set once streaming. */
  get tempPath(): string {
    return this.#tempPath
  }

  /** Where the blob is once committed; set once streaming. */
  get finalPath(): string {
    return this.#finalPath
  }

  /** A view of up to `length` received bytes at `position`, while memory still holds them. */
  bytesAt(position: number, length: number): Buffer | undefined {
    return this.#recent.view(position, length)
  }

  /** A new reader: the fill paces itself to it by its mark, and only by that. */
  attach(): ReaderMark {
    return this.#pace.attach(() => {
      if (this.#pace.readers === 0 && this.#state === 'verified' && this.#ended) this.#recent.clear()
    })
  }

  /** Resolves at the next progress or state change. */
  changed(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve))
  }

  /** Stops the download; it fails as `aborted`, whatever the step it cut short threw. */
  abort(reason: Error): void {
    this.#abort.abort(new FillAbortedError(`fill aborted: ${reason.message}`, { cause: reason }))
  }

  async run(job: FillJob): Promise<void> {
    let writer: BlobWriter | undefined
    try {
      const { response, origin } = await job.fetch(this.#abort.signal)
      this.#origin = origin
      if (response.status !== 200) throw await statusError(response)
      this.#size = contentLengthOf(response.headers)
      writer = await job.store.createWriter(
        { digest: this.digest, size: this.#size },
        {
          onProgress: (written) => {
            this.#written = written
            this.#notify()
          },
        },
      )
      this.#writer = writer
      this.#tempPath = writer.tempPath
      this.#finalPath = writer.finalPath
      this.#setState('streaming')
      this.#resolveStarted()
      await pipeline(response.body, this.#gate(job), writer, { signal: this.#abort.signal })
      // Every byte received is verified; on a full disk fewer of them are on disk.
      this.#size = this.received
      this.#setState('verified')
      const stored = await writer.commit()
      this.#recent.clear()
      this.#setState('committed')
      await job.onCommitted(stored).catch((e: unknown) => {
        job.log.warn({ err: e, digest: this.digest }, 'blob cached but not indexed')
      })
    } catch (e) {
      // Once abort() was called, whatever the step it cut short threw, the fill was aborted.
      const aborted: unknown = this.#abort.signal.reason
      const error = aborted instanceof FillAbortedError && !this.verified ? aborted : e
      // Whatever failed, the upstream response is not read any further: let it go now,
      // not when its idle timeout fires (a writer that could not be created never took it).
      this.#abort.abort(e)
      await writer?.abort()
      this.#fail(error, job.log)
    } finally {
      this.#ended = true
      this.#releaseRecentWhenUnread()
      this.#resolveDone()
      await job.release().catch((e: unknown) => job.log.warn({ err: e, digest: this.digest }, 'fill not released'))
    }
  }

  /** Every chunk enters the in-memory window here, before the disk, and waits for the readers if it must. */
  #gate(job: FillJob): Transform {
    return new Transform({
      transform: (chunk: Buffer, _encoding, callback) => {
        this.#recent.append(chunk)
        job.onBytes(chunk.length)
        this.#notify()
        const storing = this.storing
        if (this.#pace.ready(storing)) return callback(null, chunk)
        this.#pace.hold(storing, () => this.#state === 'failed').then(() => callback(null, chunk), callback)
      },
    })
  }

  #notify(): void {
    const waiters = this.#waiters
    this.#waiters = []
    for (const wake of waiters) wake()
    this.#pace.wake()
  }

  /**
   * Committed, readers go on from the file; failed, they stop. Verified but not stored
   * (the disk filled), memory is all there is: the window stays until the last reader has
   * gone, and the download kept every reader inside it.
   */
  #releaseRecentWhenUnread(): void {
    if (this.#state !== 'verified' || this.#pace.readers === 0) this.#recent.clear()
  }

  #fail(e: unknown, log: Logger): void {
    const error = e instanceof Error ? e : new Error(String(e))
    if (this.#state === 'verified') {
      // Every byte was good and readers hold them; only caching failed.
      this.#failure = failureOf(error, true)
      log.warn({ err: error, digest: this.digest, failure: this.#failure }, 'blob served but not cached')
      return
    }
    this.#error = error
    this.#failure = failureOf(error, false)
    const level = this.#failure === 'aborted' ? 'info' : 'error'
    log[level]({ err: error, digest: this.digest, failure: this.#failure, bytes: this.#written }, 'blob fill failed')
    this.#rejectStarted(error)
    this.#setState('failed')
  }

  #setState(state: FillState): void {
    this.#state = state
    this.#notify()
  }
}
