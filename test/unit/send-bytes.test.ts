import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { download } from '../helpers/http.js'
import { END, unpooled, type ByteSource } from '../../src/mirror/byte-source.js'
import { sendBytes } from '../../src/server/send-bytes.js'

/** A source that has fewer bytes than it was said to have, like a file cut short. */
function shortSource(has: number): ByteSource {
  const data = Buffer.alloc(has, 1)
  return {
    origin: 'cache',
    read: async (position, maxLength) =>
      position >= has ? END : unpooled(data.subarray(position, Math.min(has, position + maxLength))),
    complete: async () => {},
    close: async () => {},
  }
}

t.test('a source that ends before the promised length cuts the connection', async (t) => {
  let failure: unknown
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-length': '1000' })
    sendBytes(res, shortSource(600), { start: 0, end: 999, first: undefined }, () => {}).catch((e: unknown) => {
      failure = e
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
  // The cut may come before or after the client has the headers: either way it fails.
  const error = await download(url).then(
    (result) => result.error,
    (e: unknown) => e,
  )
  t.ok(error, 'the client sees a failed transfer, not a short success')
  t.match(String(failure), /content ended at byte 600 of 1000/)
})
