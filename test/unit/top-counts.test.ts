import t from 'tap'
import { TopCounts } from '../../src/metrics/top-counts.js'

t.test('exact while the keys fit', async (t) => {
  const top = new TopCounts(10)
  for (const key of ['a', 'b', 'a', 'c', 'a', 'b']) top.add(key)
  t.same(top.top(2), [
    ['a', 3],
    ['b', 2],
  ])
  t.same(top.top(10).length, 3)
})

t.test('a heavy key survives a stream of one-off keys; memory stays bounded', async (t) => {
  const top = new TopCounts(20)
  for (let i = 0; i < 10_000; i++) {
    top.add(`once-${i}`)
    if (i % 4 === 0) top.add('library/alpine')
    if (i % 10 === 0) top.add('library/nginx')
  }
  const [first, second] = top.top(2)
  t.equal(first![0], 'library/alpine')
  t.ok(first![1] >= 2500, 'never undercounted')
  t.equal(second![0], 'library/nginx')
  t.equal(top.top(1000).length, 20, 'never more keys than its capacity')
})
