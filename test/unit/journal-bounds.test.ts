// Tag mappings and verdicts cannot grow without bound: an LRU bound on their count, and
// an entry unused for its time is gone, across restarts too; negative verdicts are
// bounded apart, so a scan of random names cannot push out the real ones.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { z } from 'zod'
import { EmbeddedIndex } from '../../src/cache/embedded-index.js'
import { Journal } from '../../src/cache/journal.js'
import {
  MAX_NEGATIVE_VERDICTS,
  NEGATIVE_UNUSED_TTL_MS,
  UNUSED_TTL_MS,
  type JournalSchema,
} from '../../src/cache/records.js'
import { makeTempDir } from '../helpers/temp-dir.js'

const NUMBERS: JournalSchema<number> = { key: z.string(), record: z.number() }
const DAY = 24 * 60 * 60 * 1000

async function tempJournal(t: Test) {
  const dir = await makeTempDir('journal')
  t.teardown(dir.remove)
  return join(dir.path, 'numbers.jsonl')
}

t.test('the least recently used entries go past the bound; a read is a use', async (t) => {
  const path = await tempJournal(t)
  const journal = await Journal.open(path, NUMBERS, { bounds: [{ max: 3, unusedTtlMs: DAY }] })
  for (const k of ['a', 'b', 'c']) await journal.put(k, 1)
  journal.get('a')
  await journal.put('d', 1)
  t.same([...journal.entries()].map(([k]) => k).sort(), ['a', 'c', 'd'], 'b went: a was read since')
  await journal.close()
  const lines = (await readFile(path, 'utf8')).trim().split('\n')
  t.equal(lines.length, 3, 'the file holds the bounded map alone after close')
})

t.test('an entry unused for its time is gone, also after a reopen', async (t) => {
  const path = await tempJournal(t)
  let now = 1_000_000
  const options = { bounds: [{ max: 100, unusedTtlMs: DAY }], now: () => now }
  const journal = await Journal.open(path, NUMBERS, options)
  await journal.put('used', 1)
  await journal.put('unused', 2)
  now += DAY / 2
  t.equal(journal.get('used'), 1)
  now += DAY / 2 + 1
  t.equal(journal.get('unused'), undefined, 'a day unused')
  t.equal(journal.get('used'), 1, 'read half a day ago')
  await journal.close()
  now += DAY / 2
  const reopened = await Journal.open(path, NUMBERS, options)
  t.equal(reopened.get('used'), 1, 'its last use was kept at close')
  now += DAY + 1
  t.equal(reopened.get('used'), undefined)
  await reopened.close()
  now += 1
  const again = await Journal.open(path, NUMBERS, options)
  t.equal(again.size, 0, 'expired entries are not written back')
  await again.close()
})

t.test('each class of entry has its own bound', async (t) => {
  const path = await tempJournal(t)
  const journal = await Journal.open(path, NUMBERS, {
    bounds: [
      { max: 10, unusedTtlMs: DAY },
      { max: 2, unusedTtlMs: DAY },
    ],
    classify: (n) => (n < 0 ? 1 : 0),
  })
  for (let i = 0; i < 5; i++) await journal.put(`good-${i}`, i)
  for (let i = 0; i < 50; i++) await journal.put(`bad-${i}`, -1)
  t.equal(journal.size, 7, 'five good, the last two bad')
  t.equal(journal.get('good-0'), 0, 'the flood of negatives pushed out no positive')
  await journal.put('good-0', -5)
  t.equal(journal.get('good-0'), -5, 'an entry moves to the class its new value belongs to')
  t.equal(journal.size, 6)
  await journal.close()
})

t.test('a scan of random names leaves at most the negative bound, for a day', async (t) => {
  const dir = await makeTempDir('embedded-index')
  t.teardown(dir.remove)
  let now = Date.UTC(2026, 0, 1)
  const index = await EmbeddedIndex.open(dir.path, { now: () => now })
  await index.putVerdict('r', 'library/real', { isPublic: true, checkedAt: now })
  await index.putVerdict('r', 'private/real', { isPublic: false, checkedAt: now })
  for (let i = 0; i < MAX_NEGATIVE_VERDICTS + 500; i++) {
    await index.putVerdict('r', `random/${i}`, { isPublic: false, checkedAt: now })
  }
  t.equal(await index.getVerdict('r', 'private/real'), undefined, 'the oldest negative went')
  t.ok(await index.getVerdict('r', `random/${MAX_NEGATIVE_VERDICTS + 499}`), 'the newest stays')
  t.ok(await index.getVerdict('r', 'library/real'), 'a public verdict is bounded apart')
  await index.close()
  const lines = (await readFile(join(dir.path, 'verdicts.jsonl'), 'utf8')).trim().split('\n')
  t.equal(lines.length, MAX_NEGATIVE_VERDICTS + 1, 'the journal holds the bound, not the scan')
  now += NEGATIVE_UNUSED_TTL_MS + 1
  const reopened = await EmbeddedIndex.open(dir.path, { now: () => now })
  t.equal(await reopened.getVerdict('r', 'random/1'), undefined, 'negatives last a day unused')
  t.ok(await reopened.getVerdict('r', 'library/real'), 'a public verdict lasts longer')
  now += UNUSED_TTL_MS + 1
  t.equal(await reopened.getVerdict('r', 'library/real'), undefined, 'but not a month unused')
  await reopened.close()
})

t.test('tag mappings unused for a month are gone', async (t) => {
  const dir = await makeTempDir('embedded-index')
  t.teardown(dir.remove)
  let now = Date.UTC(2026, 0, 1)
  const index = await EmbeddedIndex.open(dir.path, { now: () => now })
  const key = (tag: string) => ({ upstream: 'r', repo: 'library/x', tag, accept: '7f' })
  const record = { digest: `sha256:${'a'.repeat(64)}`, mediaType: 'm', size: 1, checkedAt: now }
  await index.putTag(key('pulled'), record)
  await index.putTag(key('forgotten'), record)
  now += UNUSED_TTL_MS - DAY
  t.ok(await index.getTag(key('pulled')))
  now += 2 * DAY
  t.equal(await index.getTag(key('forgotten')), undefined)
  t.ok(await index.getTag(key('pulled')), 'used within the month')
  t.same(await index.findTags('r', 'library/x', 'forgotten'), [])
  await index.close()
})
