import { join } from 'node:path'
import fastify, { LogController, type FastifyInstance } from 'fastify'
import { Agent, interceptors, type Dispatcher } from 'undici'
import { TokenService } from './auth/token-service.js'
import type { BlobStore } from './cache/blob-store.js'
import type { Index } from './cache/cache-index.js'
import { EmbeddedIndex } from './cache/embedded-index.js'
import { FsBlobStore } from './cache/fs-blob-store.js'
import { loadStoredBlobs } from './cache/reconcile.js'
import type { Config } from './config/schema.js'
import { REDACTED_PATHS, type Logger } from './logger.js'
import { BufferPool } from './mirror/buffer-pool.js'
import { Mirror } from './mirror/mirror.js'
import { installErrorHandling } from './server/error-handler.js'
import { installRequestLog } from './server/outcome.js'
import { registerTokenRoutes } from './server/auth-routes.js'
import { registerPullRoutes } from './server/pull-routes.js'
import { realmOf } from './server/realm.js'
import { registerReadForwarding, registerWriteProxy } from './server/upstream-proxy.js'
import { UpstreamClient } from './upstream/upstream-client.js'
import { VERSION } from './version.js'

/** Docker Hub answers blob GETs with a redirect to its CDN; the chain is short. */
const MAX_REDIRECTS = 5
/** Big enough that a single fast client costs few syscalls per MiB (measured: bench/). */
const READ_BUFFER_BYTES = 256 * 1024
/** Buffers kept for reuse: enough for dozens of concurrent blob responses. */
const READ_BUFFERS_RETAINED = 128

/** Parts a caller (a test, a benchmark) may supply instead of the defaults. */
export interface AppOverrides {
  index?: Index
  /** A pino logger instance, or logger options; `false` for none. */
  logger?: Logger | false | Record<string, unknown>
  now?: () => number
}

export interface App {
  server: FastifyInstance
  mirror: Mirror
  store: BlobStore
  index: Index
}

function createDispatcher(config: Config): Dispatcher {
  const agent = new Agent({
    connect: { timeout: config.upstreamConnectTimeoutSeconds * 1000 },
    headersTimeout: config.upstreamTimeoutSeconds * 1000,
    bodyTimeout: config.upstreamTimeoutSeconds * 1000,
  })
  return agent.compose(interceptors.redirect({ maxRedirections: MAX_REDIRECTS }))
}

function loggerOption(config: Config, override: AppOverrides['logger']): Record<string, unknown> {
  if (override === false) return { logger: false }
  if (override !== undefined && typeof (override as Logger).child === 'function') {
    return { loggerInstance: override }
  }
  return { logger: { level: config.logLevel, redact: REDACTED_PATHS, ...(override ?? {}) } }
}

async function openIndex(config: Config, log: Logger): Promise<Index> {
  if (config.redisUrl !== undefined) {
    log.warn({}, 'the Redis index is not available yet; using the embedded index')
  }
  return EmbeddedIndex.open(join(config.cacheDir, 'index'))
}

/**
 * The composition root: builds every part from the config and wires them together. It
 * never listens; main.ts does, and tests call this directly.
 */
export async function buildApp(config: Config, overrides: AppOverrides = {}): Promise<App> {
  const server = fastify({
    ...loggerOption(config, overrides.logger),
    // One line per request comes from installRequestLog, with the cache outcome in it.
    logController: new LogController({ disableRequestLogging: true }),
    exposeHeadRoutes: false,
    // Repository names can be long; the router must not turn them into its own 404.
    routerOptions: { maxParamLength: 8 * 1024 },
    return503OnClosing: true,
  })
  const log: Logger = server.log
  const now = overrides.now ?? Date.now
  const store = new FsBlobStore(config.cacheDir)
  await store.init()
  const index = overrides.index ?? (await openIndex(config, log))
  await loadStoredBlobs(store, index, log)

  const dispatcher = createDispatcher(config)
  const userAgent = `registry-mirror/${VERSION}`
  const tokens = new TokenService(dispatcher, userAgent, config.upstreamTimeoutSeconds * 1000)
  const upstream = new UpstreamClient({
    baseUrl: config.upstream.url,
    dispatcher,
    tokens,
    userAgent,
    credentials: config.upstreamCredentials,
  })
  const mirror = new Mirror({
    upstream,
    dispatcher,
    store,
    index,
    upstreamHost: config.upstream.host,
    defaultNamespace: config.defaultNamespace,
    tagTtlSeconds: config.tagTtlSeconds,
    verdictTtlSeconds: config.verdictTtlSeconds,
    realmMode: config.authRealm,
    upstreamTimeoutMs: config.upstreamTimeoutSeconds * 1000,
    userAgent,
    pool: new BufferPool(READ_BUFFER_BYTES, READ_BUFFERS_RETAINED),
    now,
  })

  const realm = realmOf(mirror, config.publicUrl)
  installErrorHandling(server, realm)
  installRequestLog(server)
  // Set early so that it also goes out on blob responses, which bypass onSend.
  server.addHook('onRequest', async (_request, reply) => {
    reply.header('docker-distribution-api-version', 'registry/2.0')
  })
  await server.register(async (scope) => {
    registerPullRoutes(scope, mirror, realm, await registerReadForwarding(scope, config.upstream.url, realm))
  })
  registerTokenRoutes(server, mirror)
  await registerWriteProxy(server, config.upstream.url, realm)
  server.addHook('onClose', async () => {
    await mirror.close()
    await index.close()
    await dispatcher.close()
  })
  return { server, mirror, store, index }
}
