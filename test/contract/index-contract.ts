import type { Test } from 'tap'
import type { BlobRecord, Index, RecordKind, TagKey } from '../../src/cache/cache-index.js'

/**
 * How to open an implementation, and what it keeps across a restart. Tag mappings,
 * verdicts and pins must survive a reopen in every implementation.
 */
export interface IndexHarness {
  /** A fresh, empty index. */
  open(): Promise<Index>
  /** The same storage opened again, as after a restart. */
  reopen(previous: Index): Promise<Index>
  /**
   * Blob records survive a reopen (Redis). The embedded index keeps them in memory only
   * and rebuilds them from the cache dir at start-up: reopened, it holds none.
   */
  persistsBlobRecords: boolean
}

const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`
const blob = (n: number, extra: Partial<BlobRecord> = {}): BlobRecord => ({
  digest: digest(n),
  size: n * 100,
  upstream: 'registry.example:5000',
  lastAccess: 1_000 + n,
  ...extra,
})
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json'

/** The digests of one kind in eviction order, the whole of it. */
async function orderOf(index: Index, kind: RecordKind = 'blob'): Promise<string[]> {
  const digests: string[] = []
  for await (const record of index.leastRecentlyUsed(kind)) digests.push(record.digest)
  return digests
}

const key = (tag: string, accept = '7f'): TagKey => ({
  upstream: 'registry.example:5000',
  repo: 'library/x',
  tag,
  accept,
})

/**
 * The behaviour every Index implementation must have. Each implementation's test file
 * calls this with a harness; the same assertions run against each.
 */
export function indexContract(t: Test, harness: IndexHarness): void {
  t.test('blob records: put, get, overwrite, delete', async (t) => {
    const index = await harness.open()
    t.teardown(() => index.close())
    t.equal(await index.getBlob(digest(1)), undefined)
    await index.putBlob(blob(1, { mediaType: 'application/vnd.oci.image.manifest.v1+json' }))
    t.same(await index.getBlob(digest(1)), blob(1, { mediaType: 'application/vnd.oci.image.manifest.v1+json' }))
    await index.putBlob(blob(1, { size: 5 }))
    t.equal((await index.getBlob(digest(1)))?.size, 5, 'overwritten')
    await index.deleteBlob(digest(1))
    t.equal(await index.getBlob(digest(1)), undefined)
    await index.deleteBlob(digest(1))
    t.pass('deleting a missing record is fine')
  })

  t.test('returned records are copies', async (t) => {
    const index = await harness.open()
    t.teardown(() => index.close())
    await index.putBlob(blob(2))
    const got = await index.getBlob(digest(2))
    got!.size = 999
    t.equal((await index.getBlob(digest(2)))?.size, 200)
  })

  t.test('stats follow puts, overwrites and deletes', async (t) => {
    const index = await harness.open()
    t.teardown(() => index.close())
    t.same(await index.stats(), { blobs: 0, bytes: 0 })
    await index.putBlob(blob(1))
    await index.putBlob(blob(2))
    await index.putBlob(blob(2))
    t.same(await index.stats(), { blobs: 2, bytes: 300 })
    await index.putBlob(blob(2, { size: 50 }))
    t.same(await index.stats(), { blobs: 2, bytes: 150 })
    await index.deleteBlob(digest(1))
    await index.deleteBlob(digest(1))
    t.same(await index.stats(), { blobs: 1, bytes: 50 })
  })

  t.test('touch moves last access forward only', async (t) => {
    const index = await harness.open()
    t.teardown(() => index.close())
    await index.putBlob(blob(3, { lastAccess: 5_000 }))
    index.touchBlob(digest(3), 9_000)
    index.touchBlob(digest(3), 7_000)
    index.touchBlob(digest(99), 9_000)
    await index.close()
    const reopened = await harness.reopen(index)
    t.teardown(() => reopened.close())
    const record = await reopened.getBlob(digest(3))
    if (harness.persistsBlobRecords) t.equal(record?.lastAccess, 9_000, 'the touch was kept')
    else t.equal(record, undefined, 'blob records are not kept: they are rebuilt from the disk')
  })

  t.test('listBlobs yields every record', async (t) => {
    const index = await harness.open()
    t.teardown(() => index.close())
    for (let n = 1; n <= 5; n++) await index.putBlob(blob(n))
    const seen: string[] = []
    for await (const record of index.listBlobs()) seen.push(record.digest)
    t.same(seen.sort(), [1, 2, 3, 4, 5].map(digest).sort())
  })

  t.test('tag mappings are kept per accept key and survive a reopen', async (t) => {
    const index = await harness.open()
    const list = { digest: digest(10), mediaType: 'application/vnd.oci.image.index.v1+json', size: 500, checkedAt: 1 }
    const single = {
      digest: digest(11),
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      size: 400,
      checkedAt: 2,
    }
    await index.putTag(key('1', '7f'), list)
    await index.putTag(key('1', '02'), single)
    await index.putTag(key('gone'), list)
    await index.deleteTag(key('gone'))
    await index.deleteTag(key('never-there'))
    t.same(await index.getTag(key('1', '7f')), list)
    t.same(await index.getTag(key('1', '02')), single)
    t.equal(await index.getTag(key('1', '00')), undefined)
    t.equal(await index.getTag({ ...key('1', '7f'), upstream: 'other.example' }), undefined, 'keyed by upstream')
    await index.putTag(key('1', '02'), { ...single, checkedAt: 3 })
    await index.close()
    const reopened = await harness.reopen(index)
    t.teardown(() => reopened.close())
    t.same(await reopened.getTag(key('1', '7f')), list)
    t.same(await reopened.getTag(key('1', '02')), { ...single, checkedAt: 3 }, 'the last write wins')
    const found = await reopened.findTags('registry.example:5000', 'library/x', '1')
    t.same(found.map((r) => r.digest).sort(), [list.digest, single.digest].sort(), 'every accept key of a tag is found')
    t.same(await reopened.findTags('registry.example:5000', 'library/x', 'gone'), [])
    t.equal(await reopened.getTag(key('gone')), undefined, 'deletes survive too')
    const listed = []
    for await (const mapping of reopened.listTags()) listed.push(mapping)
    t.same(
      listed.sort((a, b) => a.key.accept.localeCompare(b.key.accept)),
      [
        { key: key('1', '02'), record: { ...single, checkedAt: 3 } },
        { key: key('1', '7f'), record: list },
      ],
      'every mapping is listed with its key, deleted ones not',
    )
  })

  t.test("deleteTags forgets every accept key of one tag, and only that tag's", async (t) => {
    const index = await harness.open()
    const record = {
      digest: digest(12),
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      size: 1,
      checkedAt: 1,
    }
    await index.putTag(key('1', '7f'), record)
    await index.putTag(key('1', '02'), record)
    await index.putTag(key('10'), record)
    await index.putTag({ ...key('1', '7f'), upstream: 'other.example' }, record)
    await index.putTag({ ...key('1', '7f'), repo: 'library/y' }, record)
    await index.deleteTags('registry.example:5000', 'library/x', '1')
    await index.deleteTags('registry.example:5000', 'library/x', 'never-there')
    t.same(await index.findTags('registry.example:5000', 'library/x', '1'), [])
    t.equal(await index.getTag(key('1', '02')), undefined)
    t.same(await index.getTag(key('10')), record, 'a tag the deleted one is a prefix of stays')
    t.same(await index.getTag({ ...key('1', '7f'), upstream: 'other.example' }), record, "another upstream's stays")
    t.same(await index.getTag({ ...key('1', '7f'), repo: 'library/y' }), record, "another repository's stays")
    await index.putTag(key('1', '02'), record)
    t.same(await index.findTags('registry.example:5000', 'library/x', '1'), [record], 'the tag can be mapped again')
    await index.close()
    const reopened = await harness.reopen(index)
    t.teardown(() => reopened.close())
    t.equal(await reopened.getTag(key('1', '7f')), undefined, 'deletes survive a reopen')
    t.same(await reopened.getTag(key('1', '02')), record)
  })

  t.test('verdicts are kept per upstream and repository and survive a reopen', async (t) => {
    const index = await harness.open()
    t.equal(await index.getVerdict('registry.example:5000', 'library/x'), undefined)
    await index.putVerdict('registry.example:5000', 'library/x', { isPublic: true, checkedAt: 10 })
    await index.putVerdict('registry.example:5000', 'private/y', { isPublic: false, checkedAt: 11 })
    await index.putVerdict('registry.example:5000', 'library/x', { isPublic: false, checkedAt: 12 })
    t.same(await index.getVerdict('registry.example:5000', 'library/x'), { isPublic: false, checkedAt: 12 })
    t.equal(await index.getVerdict('other.example', 'library/x'), undefined, 'keyed by upstream')
    await index.close()
    const reopened = await harness.reopen(index)
    t.teardown(() => reopened.close())
    t.same(await reopened.getVerdict('registry.example:5000', 'private/y'), { isPublic: false, checkedAt: 11 })
    t.same(await reopened.getVerdict('registry.example:5000', 'library/x'), { isPublic: false, checkedAt: 12 })
  })

  t.test('least recently used first, paged', async (t) => {
    const index = await harness.open()
    t.teardown(() => index.close())
    await index.putBlob(blob(1, { lastAccess: 300 }))
    await index.putBlob(blob(2, { lastAccess: 100 }))
    await index.putBlob(blob(3, { lastAccess: 200 }))
    await index.putBlob(blob(4, { lastAccess: 400 }))
    index.touchBlob(digest(2), 500)
    // Touches may be batched: closing flushes them.
    await index.close()
    const reopened = await harness.reopen(index)
    t.teardown(() => reopened.close())
    if (!harness.persistsBlobRecords) {
      t.same(await orderOf(reopened), [], 'blob records are not kept: they are rebuilt from the disk')
      return
    }
    t.same(await orderOf(reopened), [digest(3), digest(1), digest(4), digest(2)], 'the touch moved 2 last')
  })

  t.test('least recently used first, in one run: ties by digest, a put moves a blob', async (t) => {
    const index = await harness.open()
    t.teardown(() => index.close())
    t.same(await orderOf(index), [], 'empty')
    await index.putBlob(blob(4, { lastAccess: 300 }))
    await index.putBlob(blob(2, { lastAccess: 100 }))
    await index.putBlob(blob(3, { lastAccess: 200 }))
    await index.putBlob(blob(1, { lastAccess: 300 }))
    t.same(await orderOf(index), [digest(2), digest(3), digest(1), digest(4)])
    t.same(await orderOf(index), [digest(2), digest(3), digest(1), digest(4)], 'reading the order leaves it as it was')
    await index.putBlob(blob(2, { lastAccess: 400 }))
    t.same(await orderOf(index), [digest(3), digest(1), digest(4), digest(2)], 'put again, later: it goes last')
    await index.deleteBlob(digest(3))
    t.same(await orderOf(index), [digest(1), digest(4), digest(2)], 'a deleted blob leaves the order')
    const order = index.leastRecentlyUsed('blob')[Symbol.asyncIterator]()
    t.same((await order.next()).value, blob(1, { lastAccess: 300 }), 'the records themselves, not only their digests')
    await order.return?.()
    t.same(await orderOf(index), [digest(1), digest(4), digest(2)], 'stopping early leaves the order as it was')
  })

  t.test('least recently used: manifests apart from other blobs', async (t) => {
    const index = await harness.open()
    t.teardown(() => index.close())
    await index.putBlob(blob(1, { lastAccess: 100, mediaType: MANIFEST }))
    await index.putBlob(blob(2, { lastAccess: 200 }))
    await index.putBlob(blob(3, { lastAccess: 50, mediaType: MANIFEST }))
    await index.putBlob(blob(4, { lastAccess: 150 }))
    t.same(await orderOf(index, 'blob'), [digest(4), digest(2)])
    t.same(await orderOf(index, 'manifest'), [digest(3), digest(1)])
  })

  t.test('least recently used: deleting as it goes, with changes meanwhile', async (t) => {
    const index = await harness.open()
    t.teardown(() => index.close())
    for (let n = 1; n <= 1200; n++) await index.putBlob(blob(n, { lastAccess: 10_000 + n }))
    const seen: string[] = []
    for await (const record of index.leastRecentlyUsed('blob')) {
      const n = Number.parseInt(record.digest.slice('sha256:'.length), 16)
      // Whether a record added behind the cursor is met is the implementation's choice.
      if (n === 5000) continue
      seen.push(record.digest)
      // The odd ones are evicted; the even ones kept (pinned, in use).
      if (n % 2 === 1) await index.deleteBlob(record.digest)
      if (seen.length === 10) {
        // Touched far ahead (past what an implementation reads ahead, a page of some
        // hundreds): it now comes at the end; deleted far ahead: it never comes.
        await index.putBlob(blob(700, { lastAccess: 99_999 }))
        await index.deleteBlob(digest(800))
        await index.putBlob(blob(5000, { lastAccess: 1 }))
      }
    }
    const expected = [...Array.from({ length: 1200 }, (_, i) => i + 1).filter((n) => n !== 700 && n !== 800), 700]
    t.same(seen, expected.map(digest), 'each record once, in the order as it stood when it was reached')
    const left = await orderOf(index)
    t.equal(left.length, 600, 'the kept ones and the new one remain')
    t.equal(left[0], digest(5000), 'the new oldest first')
    t.equal(left.at(-1), digest(700))
    t.equal((await index.stats()).blobs, 600)
  })

  t.test('addBlobs adds only what the index does not hold', async (t) => {
    const index = await harness.open()
    t.teardown(() => index.close())
    await index.putBlob(blob(1, { lastAccess: 9_000 }))
    const added = await index.addBlobs([blob(1, { lastAccess: 1 }), blob(2), blob(3, { mediaType: MANIFEST })])
    t.equal(added, 2)
    t.equal((await index.getBlob(digest(1)))?.lastAccess, 9_000, 'a held record is left as it is')
    t.same(await index.getBlob(digest(3)), blob(3, { mediaType: MANIFEST }))
    t.same(await index.stats(), { blobs: 3, bytes: 100 + 200 + 300 })
    t.equal(await index.addBlobs([]), 0)
  })

  t.test('a kept state is restored by its token, and only by it', async (t) => {
    const index = await harness.open()
    await index.putBlob(blob(1, { lastAccess: 500 }))
    await index.putBlob(blob(2, { mediaType: MANIFEST }))
    await index.putBlob({ ...blob(3), digest: `sha512:${'c'.repeat(128)}` })
    const token = await index.saveState()
    await index.close()
    const pause = () => Promise.resolve()
    const reopened = await harness.reopen(index)
    t.teardown(() => reopened.close())
    t.equal(await reopened.restoreState(`${token}x`, pause), false, 'another token')
    t.equal(await reopened.restoreState(token, pause), true)
    t.same(await reopened.getBlob(digest(1)), blob(1, { lastAccess: 500 }))
    t.same(await reopened.getBlob(digest(2)), blob(2, { mediaType: MANIFEST }))
    t.same(await reopened.getBlob(`sha512:${'c'.repeat(128)}`), { ...blob(3), digest: `sha512:${'c'.repeat(128)}` })
    t.same(await reopened.stats(), { blobs: 3, bytes: 600 })
    t.same(await orderOf(reopened, 'manifest'), [digest(2)], 'the eviction order is back too')
  })

  t.test('pins: per image, replaced by a new pin, removed by unpin, kept across a reopen', async (t) => {
    const index = await harness.open()
    t.same(await index.pins(), [])
    await index.pin('library/a:1', [digest(1), digest(2), digest(2)])
    await index.pin('library/b:1', [digest(2), digest(3)])
    await index.pin('library/a:1', [digest(1), digest(4)])
    t.same(
      (await index.pins())
        .map((p) => ({ image: p.image, digests: [...p.digests].sort() }))
        .sort((x, y) => x.image.localeCompare(y.image)),
      [
        { image: 'library/a:1', digests: [digest(1), digest(4)] },
        { image: 'library/b:1', digests: [digest(2), digest(3)] },
      ],
    )
    t.equal(await index.unpin('library/b:1'), true)
    t.equal(await index.unpin('library/b:1'), false)
    await index.close()
    const reopened = await harness.reopen(index)
    t.teardown(() => reopened.close())
    t.same(
      (await reopened.pins()).map((p) => p.image),
      ['library/a:1'],
    )
  })
}
