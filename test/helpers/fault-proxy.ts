import { EventEmitter, once } from 'node:events'
import { createReadStream, fstatSync } from 'node:fs'
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { join } from 'node:path'

/**
 * What goes wrong with the matching requests:
 * - cut: the connection drops after `afterBytes` of body (an upstream dying mid-blob);
 * - stall: the body stops after `afterBytes` and the connection stays open;
 * - status: the upstream answers `status` instead;
 * - throttle: the body flows at `bytesPerSecond`;
 * - redirect: blob GETs answer 307 to this proxy's own "CDN" path, like Docker Hub, or
 *   to the same path on `to`, another origin (a host the redirect hands the request to).
 *   The CDN sends a Content-Length, as real ones do, or with `chunked` a chunked body;
 * - alter: the body arrives whole with its headers, but the first `from` in it is replaced
 *   by `to` (of the same length): content changed on the way.
 */
export type Fault =
  | { kind: 'cut'; afterBytes: number }
  | { kind: 'stall'; afterBytes: number }
  | { kind: 'status'; status: number; headers?: Record<string, string> }
  | { kind: 'throttle'; bytesPerSecond: number }
  | { kind: 'redirect'; to?: string; chunked?: boolean }
  | { kind: 'alter'; from: string; to: string }

export interface SeenRequest {
  method: string
  path: string
  authorization: string | undefined
}

export interface FaultProxy {
  readonly url: string
  /** Requests that reached the proxy, CDN ones included (their path starts with /cdn/). */
  readonly requests: SeenRequest[]
  /** Resolves once at least `bytes` of body have been passed on from the registry in all. */
  forwarded(bytes: number): Promise<void>
  setFault(fault: Fault | undefined, match?: (method: string, path: string) => boolean): void
  close(): Promise<void>
}

/** Reads the body whole and sends it with the first `from` replaced by `to`. */
function alterBody(upstream: IncomingMessage, res: ServerResponse, fault: { from: string; to: string }): void {
  const chunks: Buffer[] = []
  upstream.on('data', (chunk: Buffer) => chunks.push(chunk))
  upstream.on('end', () =>
    res.end(Buffer.from(Buffer.concat(chunks).toString('latin1').replace(fault.from, fault.to), 'latin1')),
  )
  upstream.on('error', () => res.socket?.destroy())
}

const isBlobGet = (method: string, path: string): boolean =>
  method === 'GET' && /\/blobs\/sha256:[a-f0-9]{64}$/.test(path.split('?')[0]!)

/** A proxy in front of the real registry that injects one kind of failure on demand. */
export async function startFaultProxy(target: string, storageDir: string): Promise<FaultProxy> {
  const targetUrl = new URL(target)
  const requests: SeenRequest[] = []
  let fault: Fault | undefined
  let forwarded = 0
  const progress = new EventEmitter()
  let matches = isBlobGet
  const sockets = new Set<Socket>()
  const outgoing = new Set<ReturnType<typeof httpRequest>>()

  const serveCdn = (path: string, res: ServerResponse): void => {
    const hex = /^\/cdn\/sha256:([a-f0-9]{64})$/.exec(path)?.[1]
    if (hex === undefined) {
      res.writeHead(404).end()
      return
    }
    const file = join(storageDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data')
    const chunked = fault?.kind === 'redirect' && fault.chunked === true
    const stream = createReadStream(file)
    stream.once('open', (fd) => {
      const length = chunked ? {} : { 'content-length': String(fstatSync(fd).size) }
      res.writeHead(200, { 'content-type': 'application/octet-stream', ...length })
    })
    stream.once('error', () => res.writeHead(404).end())
    stream.pipe(res)
  }

  const forwardBody = (upstream: IncomingMessage, res: ServerResponse, active: Fault | undefined): void => {
    let sent = 0
    const resumeWhenDrained = (): void => {
      if (res.writableNeedDrain) res.once('drain', () => upstream.resume())
      else upstream.resume()
    }
    upstream.on('data', (chunk: Buffer) => {
      let part = chunk
      if (active?.kind === 'cut' || active?.kind === 'stall') {
        part = chunk.subarray(0, Math.max(0, active.afterBytes - sent))
      }
      sent += part.length
      forwarded += part.length
      progress.emit('forwarded', forwarded)
      if (part.length > 0) res.write(part)
      if ((active?.kind === 'cut' || active?.kind === 'stall') && sent >= active.afterBytes) {
        upstream.pause()
        if (active.kind === 'cut') {
          res.socket?.destroy()
          upstream.destroy()
        }
        return
      }
      upstream.pause()
      if (active?.kind === 'throttle') setTimeout(resumeWhenDrained, (part.length / active.bytesPerSecond) * 1000)
      else resumeWhenDrained()
    })
    upstream.on('end', () => res.end())
    // The registry died mid-body: the client must see the connection drop too.
    upstream.on('close', () => {
      if (!upstream.complete) res.socket?.destroy()
    })
    upstream.on('error', () => res.socket?.destroy())
  }

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = req.url ?? '/'
    const method = req.method ?? 'GET'
    requests.push({ method, path, authorization: req.headers.authorization })
    const active = fault !== undefined && matches(method, path) ? fault : undefined
    if (active?.kind === 'status') {
      res.writeHead(active.status, { 'content-type': 'application/json', ...active.headers })
      res.end(JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'injected fault' }] }))
      return
    }
    if (active?.kind === 'redirect' && req.headers.authorization !== undefined) {
      const location = active.to === undefined ? `${cdnUrl}/cdn/${path.split('/').pop() ?? ''}` : `${active.to}${path}`
      res.writeHead(307, { location })
      res.end()
      return
    }
    const headers: OutgoingHttpHeaders = { ...req.headers, host: targetUrl.host }
    const upstreamRequest = httpRequest(
      { host: targetUrl.hostname, port: targetUrl.port, method, path, headers },
      (upstream) => {
        res.writeHead(upstream.statusCode ?? 502, upstream.headers)
        if (active?.kind === 'alter') alterBody(upstream, res, active)
        else forwardBody(upstream, res, active)
      },
    )
    upstreamRequest.on('error', () => res.socket?.destroy())
    outgoing.add(upstreamRequest)
    upstreamRequest.once('close', () => outgoing.delete(upstreamRequest))
    req.pipe(upstreamRequest)
  }

  const listen = async (handler: (req: IncomingMessage, res: ServerResponse) => void) => {
    const server = createServer(handler)
    server.on('connection', (socket) => {
      sockets.add(socket)
      socket.once('close', () => sockets.delete(socket))
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
  }
  const proxy = await listen(handle)
  // A CDN on its own origin, as Docker Hub's is: credentials must not follow a redirect there.
  const cdn = await listen((req, res) => {
    requests.push({ method: req.method ?? 'GET', path: req.url ?? '/', authorization: req.headers.authorization })
    serveCdn(req.url ?? '/', res)
  })
  const cdnUrl = cdn.url
  return {
    url: proxy.url,
    requests,
    forwarded: (bytes) =>
      new Promise((resolve) => {
        const check = (total: number) => {
          if (total < bytes) return
          progress.off('forwarded', check)
          resolve()
        }
        progress.on('forwarded', check)
        check(forwarded)
      }),
    setFault: (next, match = isBlobGet) => {
      fault = next
      matches = match
    },
    close: async () => {
      for (const socket of sockets) socket.destroy()
      for (const request of outgoing) request.destroy()
      for (const { server } of [proxy, cdn]) {
        server.close()
        await once(server, 'close')
      }
    },
  }
}
