import { once } from 'node:events'
import { connect } from 'node:net'
import type { AddressInfo } from 'node:net'
import fastify from 'fastify'
import t from 'tap'
import { contextOf } from '../../src/server/request-context.js'

/**
 * The request context's abort signal is made when first asked for (a cached answer never
 * asks). Whenever that is, it must say whether the client is gone.
 */
async function serverWith(onContext: (ctx: ReturnType<typeof contextOf>, raw: NodeJS.EventEmitter) => Promise<void>) {
  const app = fastify()
  const seen: Array<Promise<void>> = []
  app.get('/', async (request) => {
    const done = onContext(contextOf(request), request.raw)
    seen.push(done)
    await done
    return ''
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  // A client that sends its request and leaves before any answer.
  const leave = async () => {
    const socket = connect(port, '127.0.0.1')
    socket.on('error', () => {})
    await once(socket, 'connect')
    socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n')
    while (seen.length === 0) await new Promise((resolve) => setImmediate(resolve))
    socket.destroy()
    await seen[0]
  }
  return { leave, close: () => app.close() }
}

t.test('asked for after the client left, the signal is aborted', async (t) => {
  let aborted: boolean | undefined
  const server = await serverWith(async (ctx, raw) => {
    await new Promise((resolve) => raw.once('close', resolve))
    aborted = ctx.signal.aborted
  })
  t.teardown(server.close)
  await server.leave()
  t.equal(aborted, true)
})

t.test('asked for first, the signal aborts when the client leaves', async (t) => {
  let aborted: boolean | undefined
  const server = await serverWith(async (ctx) => {
    const signal = ctx.signal
    t.equal(signal.aborted, false, 'not while the client is there')
    await once(signal, 'abort')
    aborted = signal.aborted
  })
  t.teardown(server.close)
  await server.leave()
  t.equal(aborted, true)
})
