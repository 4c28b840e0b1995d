// How far a fill's download may run ahead of its readers, from their marks alone.
import t from 'tap'
import { Pace } from '../../src/mirror/fill/pacing.js'

const MiB = 1024 * 1024
// Long enough that no reader stalls while a test runs.
const pacing = { leadBytes: MiB, stallMs: 60_000 }

function paceAt(received: { bytes: number }) {
  let detached = 0
  const pace = new Pace(pacing, () => received.bytes)
  return { pace, detached: () => detached, attach: () => pace.attach(() => detached++) }
}

t.test('while the disk takes the bytes, the download stays within its lead of the fastest reader', async (t) => {
  const received = { bytes: 10 * MiB }
  const { pace, attach } = paceAt(received)
  t.ok(pace.ready(true), 'no reader: the download runs free')
  const slow = attach()
  const fast = attach()
  t.ok(pace.ready(true), 'readers count from their first mark on')
  slow.at(0)
  t.notOk(pace.ready(true), 'one reader 10 MiB behind')
  fast.at(9 * MiB)
  t.ok(pace.ready(true), 'the fastest is within the lead; the slow one falls back to the file')
  fast.at(8 * MiB)
  t.notOk(pace.ready(true))
  fast.waiting()
  t.ok(pace.ready(true), 'a reader waiting for bytes not received yet holds nothing back')
  t.equal(pace.readers, 2)
})

t.test('on a full disk the download waits for its slowest reader', async (t) => {
  const received = { bytes: 5 * MiB }
  const { pace, attach } = paceAt(received)
  const slow = attach()
  const fast = attach()
  slow.at(0)
  fast.at(5 * MiB)
  t.notOk(pace.ready(false), 'the slowest is more than half the window behind')
  received.bytes = 4 * MiB
  t.ok(pace.ready(false), 'within half the window')
  received.bytes = 5 * MiB
  slow.waiting()
  t.ok(pace.ready(false), 'one that only waits for the verdict is not waited for')
})

t.test('a detached reader no longer counts, and its late marks are ignored', async (t) => {
  const received = { bytes: 10 * MiB }
  const { pace, attach, detached } = paceAt(received)
  const reader = attach()
  reader.at(0)
  t.notOk(pace.ready(true))
  reader.detach()
  t.ok(pace.ready(true))
  t.equal(detached(), 1, 'the fill heard it leave')
  reader.at(0)
  reader.detach()
  t.equal(pace.readers, 0, 'a mark after detaching does not bring it back')
  t.equal(detached(), 1, 'detaching twice is heard once')
})

t.test('a holding download goes on when a reader moves up, or when told to stop', async (t) => {
  const received = { bytes: 10 * MiB }
  const { pace, attach } = paceAt(received)
  const reader = attach()
  reader.at(0)
  let released = false
  const holding = pace.hold(true, () => false).then(() => (released = true))
  await Promise.resolve()
  t.notOk(released)
  reader.at(9.5 * MiB)
  await holding
  t.ok(released, 'woken by the reader, not by a timer')

  reader.at(0)
  let failed = false
  const stopping = pace.hold(true, () => failed)
  failed = true
  pace.wake()
  await stopping
  t.pass('stopped once the fill failed')
})
