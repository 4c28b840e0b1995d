#!/usr/bin/env -S node --max-semi-space-size=2
import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.js'
import { ownCacheDir } from './cli/cache-dir-owner.js'
import { serveControl } from './cli/control-server.js'
import { buildProgram } from './cli/program.js'
import { configFrom, type Flags } from './cli/settings.js'
import { ConfigError } from './config/load.js'
import { OperatorError } from './errors.js'

/** In-flight pulls get this long to finish after SIGTERM before the process exits. */
const SHUTDOWN_GRACE_MS = 10_000

async function serve(flags: Flags): Promise<void> {
  const config = configFrom(flags)
  const owner = await ownCacheDir(config)
  const app = await buildApp(config)
  const { server, metricsServer } = app
  // Commands that find the cache dir held hand their work to this server.
  const control = owner.control === undefined ? undefined : await serveControl(config, app, owner.control)
  closeWithGrace({ delay: SHUTDOWN_GRACE_MS }, async ({ err, signal }) => {
    if (err !== undefined) server.log.error({ err }, 'shutting down after an error')
    else server.log.info({ signal }, 'shutting down')
    await control?.close()
    await server.close()
  })
  await server.listen({ host: config.listen.host, port: config.listen.port })
  if (metricsServer !== undefined && config.metricsListen !== undefined) {
    await metricsServer.listen({ host: config.metricsListen.host, port: config.metricsListen.port })
  }
  const index = config.redisUrl === undefined ? 'embedded' : 'redis'
  server.log.info({ upstream: config.upstream.url, cacheDir: config.cacheDir, index }, 'registry mirror ready')
}

const program = buildProgram(serve)

program.parseAsync(process.argv).catch((e: unknown) => {
  if (e instanceof OperatorError) {
    process.stderr.write(`registry-mirror: ${e.message}\n`)
    process.exit(1)
  }
  if (e instanceof ConfigError) {
    process.stderr.write(`registry-mirror: ${e.message}\n`)
    process.exit(2)
  }
  // A system error names its path and cause (a cache dir that cannot be created, a port in
  // use): that is what the operator needs, not our stack.
  const system = e as NodeJS.ErrnoException
  if (typeof system.code === 'string' && typeof system.syscall === 'string') {
    process.stderr.write(`registry-mirror: cannot start: ${system.message}\n`)
    process.exit(1)
  }
  process.stderr.write(`registry-mirror: ${(e as Error).stack ?? String(e)}\n`)
  process.exit(1)
})
