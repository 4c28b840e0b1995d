import { createServer } from 'node:net'

/**
 * A port that was free a moment ago, for servers that cannot listen on port 0 and report
 * it back (the registry, redis-server). The kernel does not hand out a just-closed
 * ephemeral port again at once, so the window for a clash is small.
 */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      if (address === null || typeof address === 'string') {
        reject(new Error('no port'))
        return
      }
      server.close(() => resolve(address.port))
    })
  })
}
