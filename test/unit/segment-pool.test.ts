import t from 'tap'
import { referencesTo, releaseBytes, retainBytes, SegmentPool } from '../../src/buffers/segment-pool.js'

t.test('a segment goes back to its pool only when the last view is released', async (t) => {
  const pool = new SegmentPool(1024, 4)
  const segment = pool.acquire()
  const view = segment.subarray(10, 20)
  retainBytes(view)
  t.equal(referencesTo(view), 2, 'the acquirer and the view')
  releaseBytes(segment)
  t.equal(pool.idle, 0, 'a view still holds it')
  releaseBytes(view)
  t.equal(pool.idle, 1, 'back in the pool')
  t.equal(referencesTo(view), 0, 'no longer counted')
  t.equal(pool.acquire(), segment, 'and handed out again')
})

t.test('memory not from a pool is left alone', async (t) => {
  const plain = Buffer.alloc(16)
  retainBytes(plain)
  releaseBytes(plain)
  releaseBytes(plain)
  t.equal(referencesTo(plain), 0)
})

t.test('the pool keeps no more free segments than it was told to', async (t) => {
  const pool = new SegmentPool(64, 2)
  const taken = [pool.acquire(), pool.acquire(), pool.acquire()]
  taken.forEach(releaseBytes)
  t.equal(pool.idle, 2)
})
