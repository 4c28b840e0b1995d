#!/usr/bin/env node
import closeWithGrace from 'close-with-grace'
import { Command } from 'commander'
import { buildApp } from './app.js'
import { ConfigError, loadConfig } from './config/load.js'
import { OPTIONS, type RawSettings } from './config/options.js'
import { VERSION } from './version.js'

/** In-flight pulls get this long to finish after SIGTERM before the process exits. */
const SHUTDOWN_GRACE_MS = 10_000

async function serve(flags: RawSettings & { config?: string }): Promise<void> {
  const { config: configFile, ...settings } = flags
  const config = loadConfig({ flags: settings, env: process.env, configFile })
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
  server.log.info(
    { upstream: config.upstream.url, cacheDir: config.cacheDir, index: 'embedded' },
    'registry mirror ready',
  )
}

const program = new Command('registry-mirror')
  .description('A pull-through caching mirror for container registries')
  .version(VERSION)
  .option('--config <file>', 'YAML or JSON config file (env MIRROR_CONFIG)')
for (const option of OPTIONS) {
  program.option(option.flag, `${option.description} (env ${option.env}; default ${option.defaultText})`)
}
program.action(async (flags: RawSettings & { config?: string }) => serve(flags))

program.parseAsync(process.argv).catch((e: unknown) => {
  if (e instanceof ConfigError) {
    process.stderr.write(`registry-mirror: ${e.message}\n`)
    process.exit(2)
  }
  process.stderr.write(`registry-mirror: ${(e as Error).stack ?? String(e)}\n`)
  process.exit(1)
})
