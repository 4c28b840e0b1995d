import { statfs } from 'node:fs/promises'
import { createServer, type RequestListener } from 'node:http'
import { join } from 'node:path'
import fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { Registry } from 'prom-client'
import type { Dispatcher } from 'undici'
import { TokenSeal } from './auth/token-seal.js'
import { TokenService } from './auth/token-service.js'
import type { BlobStore } from './cache/blob-store.js'
import type { Index } from './cache/cache-index.js'
import { FsBlobStore } from './cache/fs-blob-store.js'
import { MemoryCachedBlobStore } from './cache/memory-cached-blob-store.js'
import { IndexCatchUp } from './cache/index-catch-up.js'
import { openIndex } from './cache/open-index.js'
import { alone } from './cache/peers.js'
import type { Config, UpstreamConfig } from './config/schema.js'
import { describeProxy, proxyRoute, type ProxyRoute } from './http/proxy-route.js'
import { withFastifyTimeouts } from './http/server-timeouts.js'
import { REDACTED_PATHS, type Logger } from './logger.js'
import { mirrorTelemetry, upstreamObserver } from './metrics/adapters.js'
import {
  createMetrics,
  registerCacheGauges,
  registerTopRepositories,
  registerUpstreamGauges,
  type CacheFacts,
} from './metrics/metrics.js'
import { SegmentPool } from './buffers/segment-pool.js'
import { BufferPool } from './buffers/buffer-pool.js'
import { Mirror } from './mirror/mirror.js'
import { clientErrorHandler, frameworkErrorHandler, installErrorHandling } from './server/error-handler.js'
import { answerHalfClosedClients } from './server/half-close.js'
import { originForm } from './server/origin-form.js'
import { registerTokenRoutes } from './server/auth-routes.js'
import { registerHealthRoutes } from './server/health-routes.js'
import { refuseWhileClosing } from './server/closing-refusal.js'
import { registerPeerRoutes } from './server/peer-routes.js'
import { HotManifests } from './server/hot-manifests.js'
import { installRequestRecord, nextRequestId, requestRecorder, type PullCounter } from './server/request-record.js'
import { installRouting } from './server/routing.js'
import { installQueryCheck } from './server/query-check.js'
import { registerPullRoutes, type CountSent } from './server/pull-routes.js'
import { realmOf } from './server/realm.js'
import { registerForwarding } from './server/upstream-proxy.js'
import { HttpsServing } from './tls/https-server.js'
import { PeerClient } from './upstream/peer-client.js'
import { PooledTransport } from './upstream/http1/pooled-transport.js'
import { followRedirects } from './upstream/redirect-interceptor.js'
import { UpstreamAgents } from './upstream/upstream-agents.js'
import { UpstreamBackoff } from './upstream/upstream-backoff.js'
import { UpstreamClient } from './upstream/upstream-client.js'
import { VERSION } from './version.js'

/** Docker Hub answers blob GETs with a redirect to its CDN; the chain is short. */
const MAX_REDIRECTS = 5
/** Reads from disk go through the thread pool: each costs a round trip, so they are large (measured: bench/). */
const READ_BUFFER_BYTES = 512 * 1024
/** Buffers kept for reuse (8 MiB): enough for a dozen concurrent responses from disk. */
const READ_BUFFERS_RETAINED = 16
/** Segments blob bodies are read into; big enough that a loopback read rarely fills one. */
const SEGMENT_BYTES = 1024 * 1024
/** Segments kept for reuse (16 MiB): what one fill holds in its window and disk writes. */
const SEGMENTS_RETAINED = 16

/** Parts a caller (a test, a benchmark) may supply instead of the defaults. */
export interface AppOverrides {
  index?: Index
  /** A pino logger instance, or logger options; `false` for none. */
  logger?: Logger | false | Record<string, unknown>
  now?: () => number
  /** Awaited between batches of the start-up walk of the cache dir (tests hold it back). */
  reconcilePause?: () => Promise<void>
}

export interface App {
  server: FastifyInstance
  /** Serves /metrics, /healthz and /readyz on MIRROR_METRICS_LISTEN, when set. */
  metricsServer: FastifyInstance | undefined
  mirror: Mirror
  store: BlobStore
  index: Index
  /** The index's catch-up with the disk, which runs in the background from the start. */
  catchUp: IndexCatchUp
  registry: Registry
  /** With TLS: reads the certificate files again for new connections (SIGHUP); false if they would not do. */
  reloadTls: (() => Promise<boolean>) | undefined
  /** The cached manifests answered before fastify. */
  hot: HotManifests
}

/** What the upstreams share: the agents (direct, one per proxy), the pooled blob transport. */
function createTransports(config: Config) {
  const agents = new UpstreamAgents({
    connectMs: config.upstreamConnectTimeoutSeconds * 1000,
    timeoutMs: config.upstreamTimeoutSeconds * 1000,
  })
  const pooled = new PooledTransport({
    segments: new SegmentPool(SEGMENT_BYTES, SEGMENTS_RETAINED),
    connectTimeoutMs: config.upstreamConnectTimeoutSeconds * 1000,
    timeoutMs: config.upstreamTimeoutSeconds * 1000,
    maxRedirects: MAX_REDIRECTS,
  })
  // Replicas are on the mirror's own network: peers are never asked through a proxy.
  const peers = agents.via(undefined).compose(followRedirects(MAX_REDIRECTS))
  return { agents, pooled, peers }
}

/**
 * The dispatcher of requests forwarded as they are (pushes, the catalog): each through
 * the proxy of the upstream it goes to, found by its origin.
 */
function forwardingDispatcher(agents: UpstreamAgents, upstreams: readonly UpstreamConfig[]): Dispatcher {
  const routes = upstreams.map((u) => ({ origin: new URL(u.url).origin, route: proxyRoute(u.proxy) }))
  const route: ProxyRoute = (target) => routes.find((r) => r.origin === target.origin)?.route(target)
  return agents.routed(route)
}

function loggerOption(config: Config, override: AppOverrides['logger']): Record<string, unknown> {
  if (override === false) return { logger: false }
  if (override !== undefined && typeof (override as Logger).child === 'function') {
    return { loggerInstance: override }
  }
  return { logger: { level: config.logLevel, redact: REDACTED_PATHS, ...(override ?? {}) } }
}

async function cacheFacts(config: Config, index: Index, mirror: Mirror): Promise<CacheFacts> {
  const [stats, fs, up] = await Promise.all([
    index.stats().catch(() => undefined),
    statfs(config.cacheDir).catch(() => undefined),
    index.ping().then(
      () => true,
      () => false,
    ),
  ])
  return {
    bytes: stats?.bytes ?? 0,
    blobs: stats?.blobs ?? 0,
    maxBytes: config.cache.maxBytes ?? (fs === undefined ? 0 : fs.blocks * fs.bsize),
    filesystemSizeBytes: fs === undefined ? 0 : fs.blocks * fs.bsize,
    filesystemFreeBytes: fs === undefined ? 0 : fs.bavail * fs.bsize,
    fillsInFlight: mirror.blobs.inFlight,
    indexUp: up,
  }
}

/**
 * The routes declare no JSON schemas (requests are checked by the mirror's own parsers
 * and zod), so fastify's schema compilers, ajv and fast-json-stringify, are never
 * needed; left to fastify, they would be loaded by every start (~100 ms of it). A
 * route given a schema fails at start-up with this message.
 */
const noSchemaCompilers: FastifyServerOptions['schemaController'] = {
  compilersFactory: {
    buildValidator: () => {
      throw new Error('routes declare no schemas: requests are checked by the mirror')
    },
    buildSerializer: () => {
      throw new Error('routes declare no schemas: replies are serialised by the mirror')
    },
  },
}

/**
 * The main listener serves HTTPS when a certificate is configured, and answers cached
 * manifests before fastify (`hot`); /metrics' own listener does neither.
 */
function serverOptions(
  config: Config,
  overrides: AppOverrides,
  main?: { https: HttpsServing | undefined; hot: HotManifests },
): FastifyServerOptions {
  const serverFactory = (handler: RequestListener, options: Record<string, unknown>) => {
    const listener = main === undefined ? handler : main.hot.front(handler)
    if (main?.https !== undefined) return main.https.factory(listener, options)
    return withFastifyTimeouts(createServer(listener), options)
  }
  return {
    ...loggerOption(config, overrides.logger),
    schemaController: noSchemaCompilers,
    serverFactory,
    genReqId: nextRequestId,
    // On close, kept-alive connections with no request in flight go at once.
    forceCloseConnections: 'idle',
    // One line per request comes from installRequestRecord, with the cache outcome in it.
    logController: new LogController({ disableRequestLogging: true }),
    exposeHeadRoutes: false,
    // Repository names can be long; the router must not turn them into its own 404.
    routerOptions: { maxParamLength: 8 * 1024 },
    // refuseWhileClosing answers in the OCI format instead.
    return503OnClosing: false,
    rewriteUrl: originForm,
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler,
  }
}

/**
 * Asked once now: a wrong or unreachable upstream shows in the log at start-up, not at
 * the first pull, and the first client does not wait for the round trip.
 */
function probe(client: UpstreamClient, upstream: UpstreamConfig, log: Logger): void {
  // The proxy's URL may hold its credentials: only the redacted form is logged.
  const fields = { upstream: upstream.name, url: upstream.url, proxy: describeProxy(upstream.proxy) }
  if (upstream.offline) {
    log.info(fields, 'upstream offline: only what the cache holds is served')
    return
  }
  void client.authScheme().then(
    (scheme) => {
      if (scheme.kind === 'unreachable') log.warn(fields, 'upstream not reachable yet')
      else log.info({ ...fields, auth: scheme.kind }, 'upstream reachable')
    },
    (e: unknown) => log.warn({ ...fields, err: e }, 'upstream probe failed'),
  )
}

/** A backoff's start and end, in the log: requests meanwhile are served stale or refused at once. */
function backoffLog(log: Logger, upstream: string) {
  return (backingOff: boolean, delayMs: number) => {
    const fields = { upstream, probeInMs: backingOff ? delayMs : undefined }
    if (backingOff) log.warn(fields, 'upstream unreachable; backing off until a probe gets through')
    else log.info(fields, 'upstream reachable again')
  }
}

/**
 * Pulls of public repositories by name, for the top-n counter: a repository of the
 * default upstream by its name there, any other with its registry in front.
 */
function pullCounter(mirror: Mirror, count: (repository: string) => void): PullCounter {
  return (routed) => {
    if (routed.name === undefined) return
    const repo = routed.upstream.repository(routed.name)
    count(routed.upstream === mirror.default ? repo : `${routed.upstream.name}/${repo}`)
  }
}

/**
 * The composition root: builds every part from the config and wires them together. It
 * never listens; serve/serve.ts does, and tests call this directly.
 */
export async function buildApp(config: Config, overrides: AppOverrides = {}): Promise<App> {
  const https = config.tls === undefined ? undefined : await HttpsServing.open(config.tls)
  const hot = new HotManifests()
  const server = fastify(serverOptions(config, overrides, { https, hot }))
  answerHalfClosedClients(server.server)
  const log: Logger = server.log
  if (https !== undefined) log.info({ certificate: https.facts }, 'serving HTTPS')
  const now = overrides.now ?? Date.now
  const disk = new FsBlobStore(config.cacheDir)
  const store = config.cache.memoryBytes > 0 ? new MemoryCachedBlobStore(disk, config.cache.memoryBytes) : disk
  await store.init()
  // Made once the index is open; Redis coming back after an outage asks it for a walk.
  const late: { catchUp?: IndexCatchUp } = {}
  const onReconnect = () => {
    void late.catchUp?.again()
  }
  // Replicas coordinate in the Redis they share, on the index's connection; an index
  // supplied by the caller comes without, as does a mirror without an advertised address.
  const { index, peers } =
    overrides.index === undefined
      ? await openIndex(config, log, { onReconnect, asReplica: true })
      : { index: overrides.index, peers: alone }
  // The mirror serves at once, whatever the cache holds: the disk is the truth, and the
  // index catches up with it in the background (a snapshot after a clean shutdown, a walk
  // of the cache dir after a crash).
  const catchUp = new IndexCatchUp({
    store,
    index,
    log,
    markerPath: join(config.cacheDir, 'index', 'clean-shutdown.json'),
    pause: overrides.reconcilePause,
  })
  late.catchUp = catchUp
  void catchUp.start()

  const registry = new Registry()
  const metrics = createMetrics(
    registry,
    config.upstreams.map((u) => u.name),
  )
  const { agents, pooled, peers: peerDispatcher } = createTransports(config)
  const userAgent = `registry-mirror/${VERSION}`
  const upstreams = config.upstreams.map((upstream) => {
    // Each upstream's calls and tokens are counted under its name.
    const observer = upstreamObserver(metrics, upstream.name)
    const timeoutMs = config.upstreamTimeoutSeconds * 1000
    // Its registry, token realm and redirect targets, each through its proxy (or not).
    const route = proxyRoute(upstream.proxy)
    const dispatcher = agents.routed(route).compose(followRedirects(MAX_REDIRECTS))
    const tokens = new TokenService(dispatcher, userAgent, timeoutMs, observer, overrides.now)
    const client = new UpstreamClient({
      baseUrl: upstream.url,
      dispatcher,
      pooled,
      proxyRoute: route,
      tokens,
      userAgent,
      credentials: upstream.credentials,
      observer,
      offline: upstream.offline ? { name: upstream.name } : undefined,
      backoff: new UpstreamBackoff({ onChange: backoffLog(log, upstream.name) }),
    })
    probe(client, upstream, log)
    return { config: upstream, client, dispatcher, telemetry: mirrorTelemetry(metrics, upstream.name), observer }
  })
  const mirror = new Mirror({
    upstreams,
    store,
    index,
    realmMode: config.authRealm,
    upstreamTimeoutMs: config.upstreamTimeoutSeconds * 1000,
    userAgent,
    pool: new BufferPool(READ_BUFFER_BYTES, READ_BUFFERS_RETAINED),
    telemetry: mirrorTelemetry(metrics),
    bound: config.cache,
    evictionReady: catchUp.reconciled,
    peers,
    peerClient:
      config.replica === undefined ? undefined : new PeerClient(peerDispatcher, config.replica.peerSecret, userAgent),
    log,
    now,
    seal: TokenSeal.fromSecret(config.tokenSecret),
  })
  registerCacheGauges(registry, () => cacheFacts(config, index, mirror))
  registerUpstreamGauges(registry, () => upstreams.map(({ config: u, client }) => ({ name: u.name, client })))
  // A bound lowered since the last run applies as soon as the index is whole.
  void catchUp.reconciled.then(() => mirror.evictor.check())

  const realm = realmOf(mirror, config.publicUrl)
  installErrorHandling(server, realm)
  refuseWhileClosing(server)
  const pulled =
    config.metricsTopRepositories > 0 ? registerTopRepositories(registry, config.metricsTopRepositories) : undefined
  const recorder = requestRecorder(metrics, log, pulled && pullCounter(mirror, pulled))
  installRequestRecord(server, recorder)
  const health = { registry, index, cacheDir: config.cacheDir, reconcile: () => catchUp.state }
  registerHealthRoutes(server, health)
  // Set early so that it also goes out on blob responses, which bypass onSend.
  server.addHook('onRequest', (_request, reply, done) => {
    reply.header('docker-distribution-api-version', 'registry/2.0')
    done()
  })
  installQueryCheck(server)
  installRouting(server, mirror)
  const countSent: CountSent = (source, bytes, upstream) => metrics.sentBytes.inc({ source, upstream }, bytes)
  const forward = await registerForwarding(server, mirror, realm, forwardingDispatcher(agents, config.upstreams))
  registerPullRoutes(server, { realm, forward, countSent })
  hot.start({ mirror, record: recorder, countSent })
  // From the first moment of closing, what arrives is refuseWhileClosing's.
  server.addHook('preClose', async () => hot.stop())
  registerTokenRoutes(server, mirror)
  if (config.replica !== undefined) registerPeerRoutes(server, mirror, config.replica.peerSecret, countSent)
  const metricsServer = config.metricsListen === undefined ? undefined : fastify(serverOptions(config, overrides))
  if (metricsServer !== undefined) registerHealthRoutes(metricsServer, health)
  server.addHook('onClose', async () => {
    await metricsServer?.close()
    // The mirror closes the peers, which use the index's connection: the index goes last.
    await mirror.close()
    // After the last request and fill: what the index keeps then is what the disk holds.
    await catchUp.close()
    await index.close()
    await agents.close()
    pooled.close()
  })
  const reloadTls = https === undefined ? undefined : () => https.reload(log)
  return { server, metricsServer, mirror, store, index, catchUp, registry, reloadTls, hot }
}
