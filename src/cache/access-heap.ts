/**
 * Record ids in a binary min-heap, least recently used on top: O(log n) to add, remove,
 * re-order after a touch, or take the oldest, where sorting the whole index for each page
 * of eviction candidates cost a second at a million records. Each id knows its position,
 * so a touched or deleted record is found without a search.
 */
export class AccessHeap {
  private heap = new Int32Array(1024)
  /** Position of each id in the heap; -1 when it is not in it. */
  private positions = new Int32Array(1024).fill(-1)
  size = 0

  /** `before(a, b)`: record a goes out before record b. */
  constructor(private readonly before: (a: number, b: number) => boolean) {}

  has(id: number): boolean {
    return id < this.positions.length && this.positions[id]! >= 0
  }

  push(id: number): void {
    if (this.size === this.heap.length) this.heap = grown(this.heap, this.heap.length * 2, 0)
    if (id >= this.positions.length) {
      this.positions = grown(this.positions, Math.max(id + 1, this.positions.length * 2), -1)
    }
    this.heap[this.size] = id
    this.positions[id] = this.size
    this.size++
    this.up(this.size - 1)
  }

  /** Adds many at once in O(n), where a push each would cost O(n log n) (a snapshot loaded). */
  pushAll(ids: number[]): void {
    for (const id of ids) {
      if (this.size === this.heap.length) this.heap = grown(this.heap, this.heap.length * 2, 0)
      if (id >= this.positions.length) {
        this.positions = grown(this.positions, Math.max(id + 1, this.positions.length * 2), -1)
      }
      this.heap[this.size] = id
      this.positions[id] = this.size++
    }
    for (let at = (this.size >> 1) - 1; at >= 0; at--) this.down(at)
  }

  /** The oldest id, taken out; -1 when empty. */
  pop(): number {
    if (this.size === 0) return -1
    const top = this.heap[0]!
    this.removeAt(0)
    return top
  }

  remove(id: number): void {
    if (this.has(id)) this.removeAt(this.positions[id]!)
  }

  /** Restores the order after the record's key changed. */
  update(id: number): void {
    if (!this.has(id)) return
    const at = this.positions[id]!
    this.up(at)
    this.down(this.positions[id]!)
  }

  private removeAt(at: number): void {
    const id = this.heap[at]!
    this.positions[id] = -1
    this.size--
    if (at === this.size) return
    const last = this.heap[this.size]!
    this.heap[at] = last
    this.positions[last] = at
    this.up(at)
    this.down(this.positions[last] ?? at)
  }

  private up(at: number): void {
    const id = this.heap[at]!
    while (at > 0) {
      const parent = (at - 1) >> 1
      const other = this.heap[parent]!
      if (!this.before(id, other)) break
      this.heap[at] = other
      this.positions[other] = at
      at = parent
    }
    this.heap[at] = id
    this.positions[id] = at
  }

  private down(at: number): void {
    const id = this.heap[at]!
    for (;;) {
      let child = 2 * at + 1
      if (child >= this.size) break
      if (child + 1 < this.size && this.before(this.heap[child + 1]!, this.heap[child]!)) child++
      const other = this.heap[child]!
      if (!this.before(other, id)) break
      this.heap[at] = other
      this.positions[other] = at
      at = child
    }
    this.heap[at] = id
    this.positions[id] = at
  }
}

function grown(array: Int32Array, length: number, fill: number): Int32Array<ArrayBuffer> {
  const next = new Int32Array(length).fill(fill)
  next.set(array)
  return next
}
