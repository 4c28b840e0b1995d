/**
 * Reusable response buffers. Serving blobs with one fresh buffer per chunk churns the
 * heap at gigabytes a second and lets RSS balloon until GC catches up; a small free list
 * keeps memory flat. It never makes a caller wait: when the list is empty a new buffer
 * is made, and buffers beyond `retain` are left to GC on release, so slow clients cannot
 * starve fast ones.
 */
export class BufferPool {
  private readonly free: Buffer[] = []

  constructor(
    readonly chunkBytes: number,
    private readonly retain: number,
  ) {}

  acquire(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.chunkBytes)
  }

  release(buffer: Buffer): void {
    if (this.free.length < this.retain) this.free.push(buffer)
  }
}
