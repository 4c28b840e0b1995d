import { once } from 'node:events'
import { createServer, type Socket } from 'node:net'

export interface TcpListener {
  readonly url: string
  readonly port: number
  /** Connections accepted so far. */
  readonly connections: () => number
  close(): Promise<void>
}

/**
 * A TCP port that answers nothing: `hold` keeps each connection open in silence (an
 * upstream that hangs, so the client's timeouts decide), `drop` closes it at once. Either
 * way it counts them: "never opened a connection" is checked against it.
 */
export async function startTcpListener(how: 'hold' | 'drop', port = 0): Promise<TcpListener> {
  const sockets = new Set<Socket>()
  let count = 0
  const server = createServer((socket) => {
    count++
    if (how === 'drop') {
      socket.destroy()
      return
    }
    sockets.add(socket)
    socket.on('error', () => {})
    socket.on('close', () => sockets.delete(socket))
  })
  server.listen(port, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return {
    url: `http://127.0.0.1:${address.port}`,
    port: address.port,
    connections: () => count,
    close: async () => {
      for (const socket of sockets) socket.destroy()
      server.close()
      await once(server, 'close')
    },
  }
}
