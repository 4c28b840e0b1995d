// Why a fill failed is read from the type of its error, and an abort is the fill's own.
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import t from 'tap'
import { DiskFullError } from '../../src/cache/blob-store.js'
import { UpstreamContentError, UpstreamUnavailableError } from '../../src/errors.js'
import { Fill } from '../../src/mirror/fill/fill.js'
import { failureOf, FillAbortedError } from '../../src/mirror/fill/fill-errors.js'
import type { FillFailure } from '../../src/mirror/telemetry.js'
import { fillFrom, tempStore } from '../helpers/fill.js'

t.test('each error type has its reason', async (t) => {
  const enospc = Object.assign(new Error('no space left on device'), { code: 'ENOSPC' })
  const table: Array<[Error, boolean, FillFailure]> = [
    [new UpstreamContentError('hashes to something else'), false, 'digest_mismatch'],
    [new DiskFullError('no room', { cause: enospc }), false, 'disk_full'],
    [new FillAbortedError('fill aborted: shutting down'), false, 'aborted'],
    [new UpstreamUnavailableError('reset'), false, 'upstream_error'],
    [new Error('anything else'), false, 'upstream_error'],
    // The errno alone is the store's to read: the fill only knows DiskFullError.
    [enospc, false, 'upstream_error'],
    // Verified: every byte was good, only storing them failed.
    [new DiskFullError('no room'), true, 'disk_full'],
    [new Error('rename failed'), true, 'store_error'],
    [new FillAbortedError('fill aborted'), true, 'store_error'],
  ]
  for (const [error, verified, reason] of table) {
    t.equal(failureOf(error, verified), reason, `${error.name}${verified ? ', verified' : ''}`)
  }
})

const data = Buffer.alloc(1024 * 1024, 3)
const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`

t.test('aborted while connecting: the fill fails as aborted, with the reason as cause', async (t) => {
  const store = await tempStore(t, 'fill-failures')
  const fill = new Fill(digest)
  const reason = new Error('mirror shutting down')
  const job = {
    ...fillFrom(store, data.length, Readable.from([])),
    // As the upstream clients do: an aborted request rejects with the signal's reason.
    fetch: (signal: AbortSignal) =>
      new Promise<never>((_resolve, reject) =>
        signal.addEventListener('abort', () => reject(signal.reason instanceof Error ? signal.reason : new Error())),
      ),
  }
  const running = fill.run(job)
  fill.abort(reason)
  await running
  t.equal(fill.failure, 'aborted')
  t.type(fill.error, FillAbortedError)
  t.equal(fill.error?.cause, reason)
})

t.test('aborted mid-body: the fill fails as aborted, not as an upstream error', async (t) => {
  const store = await tempStore(t, 'fill-failures')
  const fill = new Fill(digest)
  // Half the blob, then nothing more until the stream is destroyed.
  const body = new Readable({ read() {} })
  body.push(data.subarray(0, data.length / 2))
  const running = fill.run(fillFrom(store, data.length, body))
  await fill.started
  while (fill.received === 0) await fill.changed()
  fill.abort(new Error('mirror shutting down'))
  await running
  t.equal(fill.failure, 'aborted')
  t.type(fill.error, FillAbortedError)
  t.ok(body.destroyed, 'the body is not read any further')
})
