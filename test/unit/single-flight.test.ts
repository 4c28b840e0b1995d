import t from 'tap'
import { SingleFlight } from '../../src/mirror/single-flight.js'

t.test('concurrent calls with one key run the work once', async (t) => {
  const flights = new SingleFlight<number>()
  let runs = 0
  let release!: () => void
  const gate = new Promise<void>((resolve) => (release = resolve))
  const work = async () => {
    runs++
    await gate
    return 42
  }
  const calls = Array.from({ length: 10 }, () => flights.run('k', work))
  t.equal(flights.size, 1)
  release()
  const results = await Promise.all(calls)
  t.equal(runs, 1)
  t.same(
    results.map((r) => r.value),
    Array(10).fill(42),
  )
  t.equal(results.filter((r) => !r.joined).length, 1, 'one leader')
  t.equal(flights.size, 0, 'forgotten once done')
})

t.test('a failure reaches every caller and is not remembered', async (t) => {
  const flights = new SingleFlight<number>()
  const failing = async () => {
    await new Promise((resolve) => setImmediate(resolve))
    throw new Error('boom')
  }
  const results = await Promise.allSettled([flights.run('k', failing), flights.run('k', failing)])
  t.same(
    results.map((r) => r.status),
    ['rejected', 'rejected'],
  )
  t.same((await flights.run('k', async () => 1)).value, 1, 'the next call runs afresh')
})
