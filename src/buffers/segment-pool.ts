/**
 * Large reusable buffers that an upstream body is read straight into, with a count of
 * who still holds bytes of each. Reading a cold blob into a fresh buffer per socket read
 * made V8 run a full mark-compact for every ~20 MB received (external memory pressure):
 * a third of the mirror's CPU on a cold pull. Segments go back to their pool instead.
 *
 * The rule: whoever keeps a view of a segment beyond the current call holds a reference
 * (`retainBytes`) and gives it back when done (`releaseBytes`). A view handed on with its
 * reference (an upstream body's chunk, passed down a pipeline) is released by whoever
 * ends up with it. A reference never given back only means the segment is left to the
 * garbage collector; one given back twice would let live bytes be overwritten, so every
 * release must match one retain. Views of memory not from a pool pass through as no-ops.
 */
interface Segment {
  pool: SegmentPool
  buffer: Buffer
  refs: number
}

const segments = new WeakMap<ArrayBufferLike, Segment>()

export class SegmentPool {
  private readonly free: Buffer[] = []

  constructor(
    readonly segmentBytes: number,
    /** Free segments kept for reuse; beyond that they are left to GC. */
    private readonly retain: number,
  ) {}

  /** A segment the caller holds one reference to. */
  acquire(): Buffer {
    const buffer = this.free.pop() ?? Buffer.allocUnsafeSlow(this.segmentBytes)
    segments.set(buffer.buffer, { pool: this, buffer, refs: 1 })
    return buffer
  }

  /** Free segments ready for reuse (for tests and the pool's own bound). */
  get idle(): number {
    return this.free.length
  }

  /** @internal */
  recycle(segment: Segment): void {
    segments.delete(segment.buffer.buffer)
    if (this.free.length < this.retain) this.free.push(segment.buffer)
  }
}

/** Takes one more reference to the segment `view` lies in, if it lies in one. */
export function retainBytes(view: Buffer): void {
  const segment = segments.get(view.buffer)
  if (segment !== undefined) segment.refs++
}

/** Gives back one reference; the last one returns the segment to its pool. */
export function releaseBytes(view: Buffer): void {
  const segment = segments.get(view.buffer)
  if (segment === undefined) return
  segment.refs--
  if (segment.refs === 0) segment.pool.recycle(segment)
}

/** References held on the segment `view` lies in; 0 when it is in none (for tests). */
export function referencesTo(view: Buffer): number {
  return segments.get(view.buffer)?.refs ?? 0
}
