import { mkdir, readFile, unlink } from 'node:fs/promises'
import { dirname } from 'node:path'
import { setImmediate as yieldToRequests } from 'node:timers/promises'
import { z } from 'zod'
import type { Logger } from '../logger.js'
import type { BlobStore } from './blob-store.js'
import type { Index } from './cache-index.js'
import { replaceFile, syncDir } from './durable-file.js'
import { reconcile } from './reconcile.js'
import { parseRecord } from './records.js'

/** `running`: a pass is under way; `pending`: one is owed but the index is unreachable; `done`. */
export type CatchUpState = 'running' | 'pending' | 'done'

const markerSchema = z.object({ format: z.literal(1), token: z.string() })

export interface CatchUpDeps {
  store: BlobStore
  index: Index
  log: Logger
  /** The clean-shutdown marker: written at a clean shutdown, removed at start. */
  markerPath: string
  /** Awaited between batches of the walk; the default lets requests in. */
  pause?: () => Promise<void>
}

/**
 * Brings the index in line with the disk in the background while the mirror serves (the
 * disk is the truth: requests fall back to the files meanwhile). A clean shutdown leaves
 * a marker naming the state the index kept (see Index.saveState): the next start restores
 * that state and walks nothing. Without the marker (a crash, a first start, an index that
 * could not keep its state), the cache dir is walked. Passes run one at a time.
 */
export class IndexCatchUp {
  private running: Promise<void> | undefined
  private owed = true
  private readonly abort = new AbortController()
  private markReconciled!: () => void
  /** Resolves once the index first matches the disk. */
  readonly reconciled = new Promise<void>((resolve) => (this.markReconciled = resolve))

  constructor(private readonly deps: CatchUpDeps) {}

  get state(): CatchUpState {
    return this.running !== undefined ? 'running' : this.owed ? 'pending' : 'done'
  }

  /** Resolves when no pass runs, whether the last one finished or failed. */
  async idle(): Promise<void> {
    await this.running
  }

  /** At start: the state a clean shutdown kept, or else a walk. */
  start(): Promise<void> {
    return this.run(async () => {
      const restored = await this.restore().catch((e: unknown) => {
        this.deps.log.warn({ err: e }, 'index state kept at the last shutdown not restored')
        return false
      })
      if (!restored) await this.walk()
    })
  }

  /** A walk, after the index was unreachable a while (it may have missed records). */
  again(): Promise<void> {
    this.owed = true
    return this.run(() => this.walk())
  }

  /**
   * At shutdown: stops a walk, and when the index matches the disk has it keep its state
   * and leaves the marker. Call before closing the index and after the last request.
   */
  async close(): Promise<void> {
    this.abort.abort()
    await this.running
    if (this.owed) return
    try {
      const token = await this.deps.index.saveState()
      await mkdir(dirname(this.deps.markerPath), { recursive: true })
      await replaceFile(this.deps.markerPath, JSON.stringify({ format: 1, token }))
    } catch (e) {
      this.deps.log.warn({ err: e }, 'index state not kept: the next start walks the cache dir')
    }
  }

  private run(pass: () => Promise<void>): Promise<void> {
    this.running ??= pass()
      .then(() => {
        this.owed = false
        this.markReconciled()
      })
      .catch((e: unknown) => {
        if (!this.abort.signal.aborted) {
          this.deps.log.warn({ err: e }, 'index reconcile did not finish; it runs again on reconnect')
        }
      })
      .finally(() => (this.running = undefined))
    return this.running
  }

  private pause = (): Promise<void> => (this.deps.pause ?? (() => yieldToRequests()))()

  /** True when the marker named a state the index restored. The marker is used up either way. */
  private async restore(): Promise<boolean> {
    const text = await readFile(this.deps.markerPath, 'utf8').catch(() => undefined)
    if (text === undefined) return false
    // Gone before anything else: a crash from now on must not find it.
    await unlink(this.deps.markerPath)
    await syncDir(dirname(this.deps.markerPath))
    const marker = parseRecord(markerSchema, text)
    if (marker === undefined) return false
    const started = performance.now()
    if (!(await this.deps.index.restoreState(marker.token, this.pause))) return false
    const { blobs } = await this.deps.index.stats()
    this.deps.log.info({ blobs, ms: Math.round(performance.now() - started) }, 'index restored as kept at shutdown')
    return true
  }

  private async walk(): Promise<void> {
    const started = performance.now()
    const cpu = process.cpuUsage()
    this.deps.log.info({}, 'reconciling the index with the cache dir in the background')
    const report = await reconcile(this.deps.store, this.deps.index, this.deps.log, {
      verify: false,
      signal: this.abort.signal,
      pause: this.pause,
    })
    const seconds = (performance.now() - started) / 1000
    const filesPerSecond = Math.round(report.files / Math.max(seconds, 0.001))
    // The process's CPU time meanwhile (requests served included): on a busy machine the
    // walk's own cost, where its wall-clock time is the machine's.
    const { user, system } = process.cpuUsage(cpu)
    const cpuMs = Math.round((user + system) / 1000)
    this.deps.log.info({ ...report, ms: Math.round(seconds * 1000), cpuMs, filesPerSecond }, 'index reconcile finished')
  }
}
