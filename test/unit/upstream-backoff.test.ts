import t from 'tap'
import { UpstreamBackoff, type UpstreamBackoffOptions } from '../../src/upstream/upstream-backoff.js'

/** A backoff on a clock the test moves, and what it announced. */
function backoff(options: UpstreamBackoffOptions = {}) {
  const clock = { now: 0 }
  const changes: Array<[boolean, number]> = []
  const b = new UpstreamBackoff({
    now: () => clock.now,
    failuresBeforeBackoff: 3,
    firstDelayMs: 1000,
    maxDelayMs: 4000,
    onChange: (on, delay) => changes.push([on, delay]),
    ...options,
  })
  const fail = (times = 1) => {
    for (let i = 0; i < times; i++) b.settle(b.admit() as 'go', 'unreachable')
  }
  return { b, clock, changes, fail }
}

t.test('failures in a row start a backoff; requests are then refused without trying', async (t) => {
  const { b, changes, fail } = backoff()
  fail(2)
  t.notOk(b.active, 'two failures are a blip')
  t.equal(b.admit(), 'go')
  b.settle('go', 'reachable')
  fail(2)
  t.notOk(b.active, 'an answer in between starts the count again')
  fail(1)
  t.ok(b.active, 'the third in a row starts it')
  t.same(changes, [[true, 1000]])
  t.equal(b.admit(), 'refused')
  t.equal(b.admit(), 'refused')
})

t.test('one probe after the delay; its answer ends the backoff', async (t) => {
  const { b, clock, changes, fail } = backoff()
  fail(3)
  clock.now = 999
  t.equal(b.admit(), 'refused', 'not before the delay')
  clock.now = 1000
  t.equal(b.admit(), 'probe', 'the first request after it probes')
  t.equal(b.admit(), 'refused', 'the others do not wait on the probe')
  b.settle('probe', 'reachable')
  t.notOk(b.active)
  t.equal(b.admit(), 'go')
  t.same(changes, [
    [true, 1000],
    [false, 0],
  ])
})

t.test('a failed probe doubles the delay, up to the maximum', async (t) => {
  const { b, clock, fail } = backoff()
  fail(3)
  const table: Array<[number, number]> = [
    [1000, 2000],
    [3000, 4000],
    [7000, 4000],
    [11000, 4000],
  ]
  for (const [at, next] of table) {
    clock.now = at
    t.equal(b.admit(), 'probe', `a probe at ${at}`)
    b.settle('probe', 'unreachable')
    clock.now = at + next - 1
    t.equal(b.admit(), 'refused', `none until ${at + next}`)
  }
  clock.now = 15000
  t.equal(b.admit(), 'probe')
  b.settle('probe', 'reachable')
  fail(3)
  clock.now = 16000
  t.equal(b.admit(), 'probe', 'a new backoff starts at the first delay again')
})

t.test('a probe whose client left decides nothing: the next request probes', async (t) => {
  const { b, clock, fail } = backoff()
  fail(3)
  clock.now = 1000
  t.equal(b.admit(), 'probe')
  b.settle('probe', 'unknown')
  t.ok(b.active)
  t.equal(b.admit(), 'probe')
})

t.test('requests already on their way when it began: a failure adds nothing, an answer ends it', async (t) => {
  const { b, clock, fail } = backoff()
  const early = b.admit()
  const late = b.admit()
  t.equal(early, 'go')
  fail(3)
  b.settle('go', 'unreachable')
  clock.now = 1000
  t.equal(b.admit(), 'probe', 'the delay was not pushed back')
  b.settle('probe', 'unknown')
  b.settle(late as 'go', 'reachable')
  t.notOk(b.active, 'the upstream answered: it is back')
})

t.test('client aborts do not count as failures', async (t) => {
  const { b } = backoff()
  for (let i = 0; i < 10; i++) b.settle(b.admit() as 'go', 'unknown')
  t.notOk(b.active)
})
