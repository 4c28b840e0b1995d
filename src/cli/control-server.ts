import { chmod, unlink } from 'node:fs/promises'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { once } from 'node:events'
import { PassThrough } from 'node:stream'
import type { App } from '../app.js'
import type { Config } from '../config/schema.js'
import { upstreamsOf } from '../config/upstreams.js'
import { messageOf, OperatorError } from '../errors.js'
import type { Logger } from '../logger.js'
import { resolveImage } from '../oci/image-ref.js'
import { readJsonBody } from './control-body.js'
import { importDirSchema, prefetchRequestSchema } from './control-protocol.js'
import type { ImportReport } from '../transfer/import.js'
import type { PrefetchEvent } from '../transfer/prefetch.js'

export interface ControlServer {
  close(): Promise<void>
}

function answer(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
}

/** Refusals the operator can act on are 4xx with their line; anything else is the server's fault. */
function fail(res: ServerResponse, log: Logger, e: unknown): void {
  if (e instanceof OperatorError) return answer(res, 422, { error: e.message })
  log.error({ err: e }, 'control request failed')
  answer(res, 500, { error: messageOf(e) })
}

async function handlePrefetch(config: Config, app: App, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readJsonBody(req, prefetchRequestSchema)
  const [{ mirrorSource }, { prefetch }] = await Promise.all([
    import('../transfer/prefetch-source.js'),
    import('../transfer/prefetch.js'),
  ])
  const upstreams = upstreamsOf(config)
  const refs = body.images.map((name) => resolveImage(name, upstreams))
  // The command gone, the prefetch stops asking for more; fills under way complete.
  const gone = new AbortController()
  res.once('close', () => gone.abort())
  const log = app.server.log.child({ control: 'prefetch' })
  log.info({ images: refs.length }, 'prefetch by command')
  res.writeHead(200, { 'content-type': 'application/x-ndjson' })
  const emit = (event: PrefetchEvent | { type: 'end'; failed: number }) => {
    if (!res.destroyed) res.write(`${JSON.stringify(event)}\n`)
  }
  const source = mirrorSource(app.mirror, app.store, gone.signal)
  const deps = { source, store: app.store, index: app.index, log, now: Date.now }
  const options = { concurrency: body.concurrency, pin: body.pin, ...(body.platforms && { platforms: body.platforms }) }
  const { failed } = await prefetch(deps, refs, options, emit)
  emit({ type: 'end', failed })
  res.end()
}

async function handleImport(config: Config, app: App, req: IncomingMessage): Promise<ImportReport> {
  const [{ dirEntries, tarEntries }, { importBundle }] = await Promise.all([
    import('../transfer/bundle-entries.js'),
    import('../transfer/import.js'),
  ])
  const entries = req.headers['content-type']?.startsWith('application/json')
    ? dirEntries((await readJsonBody(req, importDirSchema)).dir)
    : // The reader destroys its input when done; the request's socket carries the answer.
      tarEntries(req.pipe(new PassThrough()))
  const deps = {
    store: app.store,
    index: app.index,
    upstreams: upstreamsOf(config),
    now: Date.now,
    cacheGrew: () => {
      void app.mirror.evictor.check()
    },
  }
  app.server.log.info({ control: 'import' }, 'import by command')
  return importBundle(deps, entries)
}

/**
 * The serving mirror's end of the control socket (see control-protocol.ts): a command
 * that finds the cache dir held by this server hands it its prefetch or import, run here
 * on the server's own mirror, store and index. Imports run one at a time. The code of
 * prefetch and import (tar-stream, the bundle formats) is loaded by the first request
 * for it, not at every start.
 */
export async function serveControl(config: Config, app: App, path: string): Promise<ControlServer> {
  const log = app.server.log
  let imports: Promise<unknown> = Promise.resolve()
  const server = createServer((req, res) => {
    const route = `${req.method ?? ''} ${req.url ?? ''}`
    let work: Promise<void>
    if (route === 'POST /prefetch') work = handlePrefetch(config, app, req, res)
    else if (route === 'POST /import') {
      const run = imports.then(() => handleImport(config, app, req))
      imports = run.catch(() => {})
      work = run.then((report) => answer(res, 200, { report }))
    } else work = Promise.resolve(answer(res, 404, { error: `no such control request: ${route}` }))
    void work.catch(async (e: unknown) => {
      // The rest of a body refused half way is read first: a client still sending would
      // see its connection cut, not the answer.
      if (!req.complete) await once(req.resume(), 'end').catch(() => {})
      fail(res, log, e)
    })
  })
  // Holding the cache dir's lock, this process alone uses the path: a socket left there
  // is a killed server's.
  await unlink(path).catch(() => {})
  server.listen(path)
  await once(server, 'listening')
  await chmod(path, 0o600)
  return {
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await unlink(path).catch(() => {})
    },
  }
}
