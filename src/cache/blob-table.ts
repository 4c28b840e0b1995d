/**
 * Blob records packed in columns, for an index of a million blobs in tens of megabytes
 * rather than the half gigabyte a Map of objects takes (measured: ~60 bytes a record
 * here, ~400 as objects). A record is a small integer id; its sha256 digest is 32 bytes
 * in one Buffer, found through an open-addressing table of Int32 slots; size and last
 * access are float64 columns; upstream and media type are ids into small string tables.
 * Digests of other algorithms (sha512, rare) sit in a Map beside it, with the same ids.
 */

const SHA256 = /^sha256:[0-9a-f]{64}$/
const DIGEST_BYTES = 32
const INITIAL_CAPACITY = 1024
/** Columns grow by half: a million records never hold room for two. */
const GROWTH = 1.5
/** Slots stay at most this full: linear probes stay short. */
const MAX_LOAD = 0.7
const NO_MEDIA_TYPE = 0

/** Interned strings: upstream hosts and media types, a handful of each. */
class StringTable {
  readonly list: string[] = []
  private readonly ids = new Map<string, number>()

  id(value: string): number {
    let id = this.ids.get(value)
    if (id === undefined) {
      id = this.list.length
      this.list.push(value)
      this.ids.set(value, id)
    }
    return id
  }
}

export class BlobTable {
  private capacity = 0
  /** Ids below this have been handed out; freed ones are reused first. */
  private high = 0
  private readonly freed: number[] = []
  private digests = Buffer.alloc(0)
  sizes = new Float64Array(0)
  access = new Float64Array(0)
  private upstreamIds = new Uint16Array(0)
  /** Media type id + 1; 0 for a blob that is not a manifest. 0 in `live` as well marks a free id. */
  private mediaIds = new Uint16Array(0)
  private live = new Uint8Array(0)
  private slots = new Int32Array(0)
  private mask = 0
  private readonly others = new Map<string, number>()
  private readonly otherDigests = new Map<number, string>()
  private readonly upstreams = new StringTable()
  private readonly mediaTypes = new StringTable()
  /** Where a digest's binary form is decoded, so that a lookup allocates nothing. */
  private readonly scratch = Buffer.alloc(DIGEST_BYTES)
  count = 0

  constructor() {
    this.reserve(INITIAL_CAPACITY)
  }

  /** Room for `records` without growing again. */
  reserve(records: number): void {
    if (records > this.capacity) this.grow(records)
    const slotsWanted = Math.ceil(records / MAX_LOAD)
    if (slotsWanted > this.slots.length) this.rehash(2 ** Math.ceil(Math.log2(Math.max(slotsWanted, 16))))
  }

  /** The id of a digest's record, or -1. */
  find(digest: string): number {
    if (!SHA256.test(digest)) return this.others.get(digest) ?? -1
    this.scratch.write(digest.slice(7), 'hex')
    for (let slot = this.home(this.scratch, 0); ; slot = (slot + 1) & this.mask) {
      const entry = this.slots[slot]!
      if (entry === 0) return -1
      const id = entry - 1
      if (this.holds(id, this.scratch, 0)) return id
    }
  }

  /**
   * Whether record `id` has the digest at `offset` of `digest`. A loop in JavaScript: a
   * probe mostly differs at the first byte, and Buffer.compare with offsets was 14% of
   * the walk's CPU time (its call into C++ validates every argument).
   */
  private holds(id: number, digest: Buffer, offset: number): boolean {
    const base = id * DIGEST_BYTES
    for (let i = 0; i < DIGEST_BYTES; i++) if (this.digests[base + i] !== digest[offset + i]) return false
    return true
  }

  /** The id of the record of a binary sha256 digest (`DIGEST_BYTES` at `offset`), or -1. */
  findBinary(digest: Buffer, offset: number): number {
    for (let slot = this.home(digest, offset); ; slot = (slot + 1) & this.mask) {
      const entry = this.slots[slot]!
      if (entry === 0) return -1
      const id = entry - 1
      if (this.holds(id, digest, offset)) return id
    }
  }

  /** A new record for a digest the table does not hold; its columns are to be set by the caller. */
  insert(digest: string): number {
    if (!SHA256.test(digest)) {
      const id = this.allocate()
      this.others.set(digest, id)
      this.otherDigests.set(id, digest)
      return id
    }
    const id = this.allocate()
    this.digests.write(digest.slice(7), id * DIGEST_BYTES, 'hex')
    this.place(id)
    return id
  }

  /**
   * A new record for a digest the table does not hold yet, as insert, or -1 when it holds
   * one: the digest is decoded once for both (the start-up walk adds every file this way).
   */
  insertIfAbsent(digest: string): number {
    if (!SHA256.test(digest)) return this.others.has(digest) ? -1 : this.insert(digest)
    this.scratch.write(digest.slice(7), 'hex')
    return this.findBinary(this.scratch, 0) >= 0 ? -1 : this.insertBinary(this.scratch, 0)
  }

  /** As insert, for a binary sha256 digest. */
  insertBinary(digest: Buffer, offset: number): number {
    const id = this.allocate()
    digest.copy(this.digests, id * DIGEST_BYTES, offset, offset + DIGEST_BYTES)
    this.place(id)
    return id
  }

  private allocate(): number {
    if (this.freed.length === 0 && this.high >= this.capacity) this.grow(Math.ceil(this.capacity * GROWTH))
    if (this.count + 1 > this.slots.length * MAX_LOAD) this.rehash(this.slots.length * 2)
    const id = this.freed.pop() ?? this.high++
    this.live[id] = 1
    this.count++
    return id
  }

  remove(id: number): void {
    const other = this.otherDigests.get(id)
    if (other !== undefined) {
      this.others.delete(other)
      this.otherDigests.delete(id)
    } else {
      this.unplace(id)
    }
    this.live[id] = 0
    this.mediaIds[id] = NO_MEDIA_TYPE
    this.freed.push(id)
    this.count--
  }

  isLive(id: number): boolean {
    return this.live[id] === 1
  }

  /** One past the highest id in use: ids below it are live or free. */
  get end(): number {
    return this.high
  }

  digestOf(id: number): string {
    return (
      this.otherDigests.get(id) ?? `sha256:${this.digests.toString('hex', id * DIGEST_BYTES, (id + 1) * DIGEST_BYTES)}`
    )
  }

  /** Orders two records by digest, as their `sha256:…` strings would sort. */
  compareDigests(a: number, b: number): number {
    if (!this.otherDigests.has(a) && !this.otherDigests.has(b)) {
      return this.digests.compare(
        this.digests,
        b * DIGEST_BYTES,
        (b + 1) * DIGEST_BYTES,
        a * DIGEST_BYTES,
        (a + 1) * DIGEST_BYTES,
      )
    }
    const x = this.digestOf(a)
    const y = this.digestOf(b)
    return x < y ? -1 : x > y ? 1 : 0
  }

  upstreamOf(id: number): string {
    return this.upstreams.list[this.upstreamIds[id]!] ?? ''
  }

  setUpstream(id: number, upstream: string): void {
    this.upstreamIds[id] = this.upstreams.id(upstream)
  }

  mediaTypeOf(id: number): string | undefined {
    const stored = this.mediaIds[id]!
    return stored === NO_MEDIA_TYPE ? undefined : this.mediaTypes.list[stored - 1]
  }

  setMediaType(id: number, mediaType: string | undefined): void {
    this.mediaIds[id] = mediaType === undefined ? NO_MEDIA_TYPE : this.mediaTypes.id(mediaType) + 1
  }

  isManifest(id: number): boolean {
    return this.mediaIds[id] !== NO_MEDIA_TYPE
  }

  /** The binary sha256 of a record, or undefined for another algorithm (for snapshots). */
  binaryDigest(id: number): Buffer | undefined {
    if (this.otherDigests.has(id)) return undefined
    return this.digests.subarray(id * DIGEST_BYTES, (id + 1) * DIGEST_BYTES)
  }

  private home(digest: Buffer, offset: number): number {
    // Digests are uniformly random: their first bytes are as good a hash as any.
    return digest.readUInt32LE(offset) & this.mask
  }

  private place(id: number): void {
    let slot = this.home(this.digests, id * DIGEST_BYTES)
    while (this.slots[slot] !== 0) slot = (slot + 1) & this.mask
    this.slots[slot] = id + 1
  }

  /** Removes a record's slot, shifting back the probes after it (no tombstones). */
  private unplace(id: number): void {
    let hole = this.home(this.digests, id * DIGEST_BYTES)
    while (this.slots[hole] !== id + 1) hole = (hole + 1) & this.mask
    this.slots[hole] = 0
    for (let slot = (hole + 1) & this.mask; this.slots[slot] !== 0; slot = (slot + 1) & this.mask) {
      const other = this.slots[slot]! - 1
      const home = this.home(this.digests, other * DIGEST_BYTES)
      // The entry may move into the hole unless its home lies after the hole, up to it.
      const stays = hole <= slot ? home > hole && home <= slot : home > hole || home <= slot
      if (stays) continue
      this.slots[hole] = other + 1
      this.slots[slot] = 0
      hole = slot
    }
  }

  private grow(capacity: number): void {
    const copy = <T extends Float64Array | Uint16Array | Uint8Array>(old: T, make: (n: number) => T): T => {
      const next = make(capacity)
      next.set(old)
      return next
    }
    const digests = Buffer.alloc(capacity * DIGEST_BYTES)
    this.digests.copy(digests)
    this.digests = digests
    this.sizes = copy(this.sizes, (n) => new Float64Array(n))
    this.access = copy(this.access, (n) => new Float64Array(n))
    this.upstreamIds = copy(this.upstreamIds, (n) => new Uint16Array(n))
    this.mediaIds = copy(this.mediaIds, (n) => new Uint16Array(n))
    this.live = copy(this.live, (n) => new Uint8Array(n))
    this.capacity = capacity
  }

  private rehash(slotCount: number): void {
    this.slots = new Int32Array(slotCount)
    this.mask = slotCount - 1
    for (let id = 0; id < this.high; id++) {
      if (this.live[id] === 1 && !this.otherDigests.has(id)) this.place(id)
    }
  }
}
