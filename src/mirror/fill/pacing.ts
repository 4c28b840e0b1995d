import { RECENT_BYTES } from './recent-bytes.js'

/** How a fill keeps pace with its readers (see Pace). */
export interface Pacing {
  /** The most the download runs ahead of its fastest reader. */
  leadBytes: number
  /** A reader that has taken nothing for this long no longer holds the download back. */
  stallMs: number
}

export const DEFAULT_PACING: Pacing = { leadBytes: RECENT_BYTES / 2, stallMs: 1000 }

/** How a reader tells its fill where it is: the fill knows its readers by their marks alone. */
export interface ReaderMark {
  /** The reader has read up to `position`. It counts from its first mark on. */
  at(position: number): void
  /**
   * The reader waits for bytes not received yet (a Range further on, a reader in step with
   * the download), or only for the verdict on its last byte: it waits for the download,
   * so the download must not wait for it.
   */
  waiting(): void
  /** The reader is gone and no longer counts; marks after this are ignored. Safe to repeat. */
  detach(): void
}

interface Place {
  position: number
  /** When the reader last moved (performance.now()). */
  at: number
}

/**
 * Where a fill's readers are, and how far the download may run ahead of them.
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
 * its slowest reader, stalled or not, instead of leaving it behind.
 */
export class Pace {
  readonly #pacing: Pacing
  /** Bytes the download has received so far. */
  readonly #received: () => number
  /** Where each reader that has read has read up to, and when it last read. */
  readonly #places = new Set<Place>()
  /**
   * The download itself, while it waits on its readers. Readers waiting for bytes wait on
   * the fill, apart: a reader's progress wakes only the download, never the other readers
   * (two readers at the head would otherwise wake each other forever while the download
   * waits on a third).
   */
  #wakers: Array<() => void> = []
  /** The download is waiting on its readers, and wants to hear of their progress. */
  #holding = false

  constructor(pacing: Pacing, received: () => number) {
    this.#pacing = pacing
    this.#received = received
  }

  /** Readers that have marked a place and not left. */
  get readers(): number {
    return this.#places.size
  }

  /** A new reader's mark; `onDetach` hears when it leaves. */
  attach(onDetach: () => void): ReaderMark {
    let place: Place | undefined
    let detached = false
    const mark = (position: number): void => {
      if (detached) return
      const now = performance.now()
      if (place === undefined) this.#places.add((place = { position, at: now }))
      else {
        place.position = position
        place.at = now
      }
      if (this.#holding) this.wake()
    }
    return {
      at: mark,
      waiting: () => mark(Infinity),
      detach: () => {
        if (detached) return
        detached = true
        if (place !== undefined) this.#places.delete(place)
        if (this.#holding) this.wake()
        onDetach()
      },
    }
  }

  /** Whether the download may pass on its next chunk now; `storing` while the disk takes them. */
  ready(storing: boolean): boolean {
    return storing ? this.#withinLead() : this.#slowestWithin(RECENT_BYTES / 2)
  }

  /** Waits until `ready(storing)`, or until `stop()` (the fill failed). */
  async hold(storing: boolean, stop: () => boolean): Promise<void> {
    this.#holding = true
    try {
      while (!this.ready(storing) && !stop()) {
        let timer: NodeJS.Timeout | undefined
        // Woken by a reader's progress, or to look again once the leader may have stalled.
        await new Promise<void>((resolve) => {
          this.#wakers.push(resolve)
          timer = setTimeout(resolve, this.#pacing.stallMs)
        })
        clearTimeout(timer)
      }
    } finally {
      this.#holding = false
    }
  }

  /** Lets a holding download look again. */
  wake(): void {
    const wakers = this.#wakers
    this.#wakers = []
    for (const wake of wakers) wake()
  }

  #withinLead(): boolean {
    const now = performance.now()
    let leader = -1
    for (const place of this.#places) {
      if (now - place.at < this.#pacing.stallMs) leader = Math.max(leader, place.position)
    }
    return leader < 0 || this.#received() - leader <= this.#pacing.leadBytes
  }

  #slowestWithin(distance: number): boolean {
    let slowest = Infinity
    for (const place of this.#places) slowest = Math.min(slowest, place.position)
    return this.#received() - slowest <= distance
  }
}
