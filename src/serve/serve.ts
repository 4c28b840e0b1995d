import closeWithGrace from 'close-with-grace'
import { buildApp } from '../app.js'
import { ownCacheDir } from '../cli/cache-dir-owner.js'
import { serveControl } from '../cli/control-server.js'
import type { Config } from '../config/schema.js'
import { gracefulStop } from './graceful-stop.js'
import { isPretty, logOutput } from './log-output.js'

/**
 * Past the grace period, cutting the fills left and closing the index takes moments; if
 * it hangs this long, the process exits anyway (code 1). Grace plus this stays within the
 * deploy files' stop timeouts (compose 15 s, systemd 15 s, Kubernetes 30 s) at the default.
 */
const CLEAN_UP_MS = 3_000

/** What the process entry knows of its surroundings, decided once at start-up. */
export interface Surroundings {
  stdoutIsTerminal: boolean
}

/**
 * The mirror as a long-running process: builds the app, listens, and handles signals.
 * SIGTERM and SIGINT stop it gracefully (a second one exits at once); SIGHUP reads the
 * TLS certificate again.
 */
export async function serve(config: Config, surroundings: Surroundings): Promise<void> {
  const logger = await logOutput(isPretty(config.logFormat, surroundings.stdoutIsTerminal))
  // Before anything touches the cache dir: one writer per dir.
  const owner = await ownCacheDir(config)
  const app = await buildApp(config, { logger })
  const { server, metricsServer } = app
  // Commands that find the cache dir held hand their work to this server.
  const control = owner.control === undefined ? undefined : await serveControl(config, app, owner.control)
  const graceMs = config.shutdownGraceSeconds * 1000
  const stop = gracefulStop(app, graceMs)
  closeWithGrace(
    {
      delay: graceMs + CLEAN_UP_MS,
      skip: ['SIGHUP'],
      onSecondSignal: (signal) => server.log.warn({ signal }, 'second signal; exiting at once'),
      onTimeout: () => server.log.error({}, 'shutdown did not finish; exiting'),
      onSecondError: (err) => server.log.error({ err }, 'second error while shutting down; exiting'),
    },
    async ({ err, signal }) => {
      if (err !== undefined) server.log.error({ err }, 'shutting down after an error')
      else server.log.info({ signal, graceSeconds: config.shutdownGraceSeconds }, 'shutting down')
      await control?.close()
      await stop()
      server.log.info({}, 'stopped')
    },
  )
  process.on('SIGHUP', () => {
    if (app.reloadTls === undefined) server.log.info({}, 'SIGHUP: nothing to reload without TLS')
    else void app.reloadTls()
  })
  const scheme = config.tls === undefined ? 'http' : 'https'
  await server.listen({
    host: config.listen.host,
    port: config.listen.port,
    // fastify names the scheme from its own `https` option, which a server factory bypasses.
    listenTextResolver: (address) => `Server listening at ${address.replace(/^http:/, `${scheme}:`)}`,
  })
  if (metricsServer !== undefined && config.metricsListen !== undefined) {
    await metricsServer.listen({ host: config.metricsListen.host, port: config.metricsListen.port })
  }
  const index = config.redisUrl === undefined ? 'embedded' : 'redis'
  server.log.info({ upstream: config.upstream.url, cacheDir: config.cacheDir, index, scheme }, 'registry mirror ready')
}
