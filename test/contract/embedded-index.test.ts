import { appendFile, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { EmbeddedIndex } from '../../src/cache/embedded-index.js'
import { makeTempDir } from '../helpers/temp-dir.js'
import { indexContract } from './index-contract.js'

const dirs = new WeakMap<EmbeddedIndex, string>()

indexContract(t, {
  open: async () => {
    const dir = await makeTempDir('embedded-index')
    t.teardown(dir.remove)
    const index = await EmbeddedIndex.open(dir.path)
    dirs.set(index, dir.path)
    return index
  },
  reopen: async (previous) => {
    const dir = dirs.get(previous as EmbeddedIndex)!
    const index = await EmbeddedIndex.open(dir)
    dirs.set(index, dir)
    return index
  },
  persistsBlobRecords: false,
})

const key = { upstream: 'r', repo: 'library/x', tag: 't', accept: '7f' }
const record = { digest: `sha256:${'a'.repeat(64)}`, mediaType: 'm', size: 1, checkedAt: 1 }

t.test('a torn last journal line (crash mid-append) is skipped, the rest stands', async (t) => {
  const dir = await makeTempDir('embedded-index')
  t.teardown(dir.remove)
  const index = await EmbeddedIndex.open(dir.path)
  await index.putTag(key, record)
  await index.close()
  await appendFile(join(dir.path, 'tags.jsonl'), '{"k":"r library/x u 7f","r":{"dig')
  const reopened = await EmbeddedIndex.open(dir.path)
  t.same(await reopened.getTag(key), record)
  t.equal(await reopened.getTag({ ...key, tag: 'u' }), undefined)
  await reopened.close()
})

t.test('the journal is compacted when it is closed', async (t) => {
  const dir = await makeTempDir('embedded-index')
  t.teardown(dir.remove)
  const index = await EmbeddedIndex.open(dir.path)
  for (let i = 0; i < 50; i++) await index.putTag(key, { ...record, checkedAt: i })
  await index.close()
  const reopened = await EmbeddedIndex.open(dir.path)
  const lines = (await readFile(join(dir.path, 'tags.jsonl'), 'utf8')).trim().split('\n')
  t.equal(lines.length, 1)
  t.equal((await reopened.getTag(key))?.checkedAt, 49)
  await reopened.close()
})

t.test('journal lines that do not fit their schema are skipped, as if never written', async (t) => {
  const dir = await makeTempDir('embedded-index')
  t.teardown(dir.remove)
  const line = (k: string, r: unknown) => JSON.stringify({ k, r }) + '\n'
  await writeFile(
    join(dir.path, 'tags.jsonl'),
    line('r library/x t 7f', record) +
      line('r library/x t 7f', { ...record, size: '1' }) +
      line('not a tag key', record) +
      line('r library/x u 7f', { digest: record.digest }) +
      '[1,2]\n',
  )
  await writeFile(
    join(dir.path, 'verdicts.jsonl'),
    line('r library/x', { isPublic: true, checkedAt: 1 }) + line('r library/y', { isPublic: 'yes', checkedAt: 1 }),
  )
  await writeFile(join(dir.path, 'pins.jsonl'), line('library/x:1', ['sha256:1']) + line('library/y:1', [1]))
  const index = await EmbeddedIndex.open(dir.path)
  t.teardown(() => index.close())
  t.same(await index.getTag(key), record, 'the valid line stands; the invalid one after it changed nothing')
  t.equal(await index.getTag({ ...key, tag: 'u' }), undefined)
  t.same(await index.findTags('r', 'library/x', 't'), [record])
  t.same(await index.getVerdict('r', 'library/x'), { isPublic: true, checkedAt: 1 })
  t.equal(await index.getVerdict('r', 'library/y'), undefined)
  t.same(await index.pins(), [{ image: 'library/x:1', digests: ['sha256:1'] }])
})
