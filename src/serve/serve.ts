import closeWithGrace from 'close-with-grace'
import { buildApp } from '../app.js'
import type { Config } from '../config/schema.js'

/** In-flight pulls get this long to finish after SIGTERM before the process exits. */
const SHUTDOWN_GRACE_MS = 10_000

/** The mirror as a long-running process: builds the app, listens, and stops on a signal. */
export async function serve(config: Config): Promise<void> {
  const { server, metricsServer } = await buildApp(config)
  closeWithGrace({ delay: SHUTDOWN_GRACE_MS }, async ({ err, signal }) => {
    if (err !== undefined) server.log.error({ err }, 'shutting down after an error')
    else server.log.info({ signal }, 'shutting down')
    await server.close()
  })
  await server.listen({ host: config.listen.host, port: config.listen.port })
  if (metricsServer !== undefined && config.metricsListen !== undefined) {
    await metricsServer.listen({ host: config.metricsListen.host, port: config.metricsListen.port })
  }
  const index = config.redisUrl === undefined ? 'embedded' : 'redis'
  server.log.info({ upstream: config.upstream.url, cacheDir: config.cacheDir, index }, 'registry mirror ready')
}
