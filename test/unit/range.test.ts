import t from 'tap'
import { contentRange, decideRange, parseContentRange, rangeLength } from '../../src/oci/range.js'

t.test('range decisions for a 1000-byte body', async (t) => {
  const size = 1000
  const table: Array<[string | undefined, ReturnType<typeof decideRange>]> = [
    [undefined, { kind: 'full' }],
    ['bytes=0-99', { kind: 'partial', range: { start: 0, end: 99 } }],
    ['bytes=500-', { kind: 'partial', range: { start: 500, end: 999 } }],
    ['bytes=-100', { kind: 'partial', range: { start: 900, end: 999 } }],
    ['bytes=990-5000', { kind: 'partial', range: { start: 990, end: 999 } }],
    ['bytes=999-999', { kind: 'partial', range: { start: 999, end: 999 } }],
    ['bytes=1000-', { kind: 'unsatisfiable' }],
    ['bytes=2000-3000', { kind: 'unsatisfiable' }],
    ['bytes=0-1,5-6', { kind: 'full' }],
    ['bytes=0-10,5-20', { kind: 'partial', range: { start: 0, end: 20 } }],
    ['items=0-5', { kind: 'full' }],
    ['garbage', { kind: 'full' }],
    // Go's http.ServeContent (Distribution) answers this one 416 too.
    ['bytes=5-1', { kind: 'unsatisfiable' }],
  ]
  for (const [header, expected] of table) t.same(decideRange(header, size), expected, String(header))
})

t.test('an empty body cannot satisfy any range', async (t) => {
  t.same(decideRange('bytes=0-', 0), { kind: 'unsatisfiable' })
})

t.test('Content-Range and length', async (t) => {
  t.equal(contentRange({ start: 500, end: 999 }, 1000), 'bytes 500-999/1000')
  t.equal(rangeLength({ start: 500, end: 999 }), 500)
  t.equal(rangeLength({ start: 7, end: 7 }), 1)
})

t.test('Content-Range answers read back', async (t) => {
  const table: Array<[string | undefined, ReturnType<typeof parseContentRange>]> = [
    ['bytes 0-99/1000', { range: { start: 0, end: 99 }, size: 1000 }],
    ['bytes 999-999/1000', { range: { start: 999, end: 999 }, size: 1000 }],
    ['bytes 0-0/1', { range: { start: 0, end: 0 }, size: 1 }],
    // The end before the start, or past the total: not a range of this body.
    ['bytes 5-1/10', undefined],
    ['bytes 0-10/10', undefined],
    // An unknown total, or an unsatisfied range's answer: nothing to resume from.
    ['bytes 0-99/*', undefined],
    ['bytes */10', undefined],
    ['items 0-99/1000', undefined],
    ['bytes 0-99/1000 ', undefined],
    ['bytes -1-99/1000', undefined],
    ['', undefined],
    [undefined, undefined],
  ]
  for (const [value, expected] of table) t.same(parseContentRange(value), expected, String(value))
})
