// A fill lets go of what its job holds (a replica's claim on the upstream) exactly once,
// when it has ended, however it ended.
import { createHash } from 'node:crypto'
import t from 'tap'
import { Fill, type FillJob } from '../../src/mirror/fill/fill.js'
import { bodyOf, fillFrom, tempStore } from '../helpers/fill.js'

const data = Buffer.alloc(256 * 1024, 7)
const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`

/** Runs `job` and says how often it was released, and whether the fill had ended by then. */
async function releases(job: FillJob): Promise<{ fill: Fill; count: number; endedFirst: boolean }> {
  const fill = new Fill(digest)
  let count = 0
  let endedFirst = true
  let ended = false
  void fill.done.then(() => (ended = true))
  await fill.run({
    ...job,
    release: async () => {
      count++
      // `done` resolved before release was called: its callbacks have run by now.
      await Promise.resolve()
      endedFirst &&= ended
    },
  })
  return { fill, count, endedFirst }
}

t.test('released once after the blob is committed', async (t) => {
  const store = await tempStore(t, 'fill-job')
  const { fill, count, endedFirst } = await releases(fillFrom(store, data.length, bodyOf(data)))
  t.equal(fill.state, 'committed')
  t.equal(count, 1)
  t.ok(endedFirst, 'after the fill had ended')
})

t.test('released once when the upstream cannot be reached', async (t) => {
  const store = await tempStore(t, 'fill-job')
  const job = { ...fillFrom(store, data.length, bodyOf(data)), fetch: () => Promise.reject(new Error('refused')) }
  const { fill, count } = await releases(job)
  t.equal(fill.state, 'failed')
  t.equal(fill.failure, 'upstream_error')
  t.equal(count, 1)
})

t.test('released once when the bytes do not match', async (t) => {
  const store = await tempStore(t, 'fill-job')
  const wrong = Buffer.alloc(data.length, 8)
  const { fill, count } = await releases(fillFrom(store, data.length, bodyOf(wrong)))
  t.equal(fill.failure, 'digest_mismatch')
  t.equal(count, 1)
})
