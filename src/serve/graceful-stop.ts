import type { App } from '../app.js'

/**
 * Stops the mirror as a rolling restart wants it stopped, in this order:
 * 1. no new connections; kept-alive connections with nothing in flight close at once,
 *    and a request arriving on one still open gets a 503 with `Connection: close`;
 * 2. responses in flight, and the downloads into the cache behind them, get `graceMs`
 *    to finish; each connection closes as its last response ends;
 * 3. past that, connections left are destroyed (their clients see the transfer cut,
 *    never a clean short body) and the app's own close aborts the fills left, deleting
 *    their temp files, then closes the index.
 * The returned function resolves once all that is done.
 */
export function gracefulStop(app: Pick<App, 'server' | 'mirror'>, graceMs: number): () => Promise<void> {
  const http = app.server.server
  let closing = false
  let cut = (): void => {}
  const graceOver = new Promise<void>((resolve) => (cut = resolve))

  // Node closes the idle connections once, when the server closes; a response ending
  // after that would leave its connection open until the keep-alive timeout.
  http.on('request', (_request, response) => {
    response.once('finish', () => {
      if (closing) setImmediate(() => http.closeIdleConnections())
    })
  })
  // fastify runs onClose hooks last added first: this one runs before buildApp's own, which
  // aborts every fill still running. A fill can outlive its response (the client left,
  // or the file is being committed) and is worth finishing.
  app.server.addHook('onClose', async () => {
    await Promise.race([app.mirror.blobs.settled(), graceOver])
  })

  return async () => {
    closing = true
    const timer = setTimeout(() => {
      app.server.log.warn({ graceSeconds: graceMs / 1000 }, 'grace period over; cutting the transfers left')
      http.closeAllConnections()
      cut()
    }, graceMs)
    try {
      await app.server.close()
    } finally {
      clearTimeout(timer)
    }
  }
}
