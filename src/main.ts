#!/usr/bin/env -S node --max-semi-space-size=2
import { Command } from 'commander'
import { pino } from 'pino'
import { listPins, pinImage, unpinImage } from './cli/pins.js'
import { reindex } from './cli/reindex.js'
import { ConfigError, loadConfig } from './config/load.js'
import { helpText, OPTIONS, type RawSettings } from './config/options.js'
import type { Config } from './config/schema.js'
import { REDACTED_PATHS } from './logger.js'
import { serve } from './serve/serve.js'
import { TlsFilesError } from './tls/certificate.js'
import { VERSION } from './version.js'

type Flags = RawSettings & { config?: string }

function configFrom(flags: Flags): Config {
  const { config: configFile, ...settings } = flags
  return loadConfig({ flags: settings, env: process.env, configFile })
}

// Whether stdout is a terminal is asked here, once: `auto` logs are pretty on one.
const serveCommand = (flags: Flags) => serve(configFrom(flags), { stdoutIsTerminal: process.stdout.isTTY === true })

/** Every setting as a flag, on the program and on each command. */
function withSettings(command: Command): Command {
  command.option('--config <file>', 'YAML or JSON config file (env MIRROR_CONFIG)')
  for (const option of OPTIONS) {
    command.option(option.flag, helpText(option))
  }
  return command
}

const program = withSettings(
  new Command('registry-mirror')
    .description('A pull-through caching mirror for container registries')
    .version(VERSION)
    .enablePositionalOptions(),
).action(serveCommand)

withSettings(
  program
    .command('reindex')
    .description('verify every cached file by its digest and bring the index in line with the cache dir'),
).action(async (flags: Flags) => {
  const config = configFrom(flags)
  const report = await reindex(config, commandLog(config))
  process.stdout.write(`dropped ${report.dropped}, added ${report.added}, removed ${report.removed}\n`)
})

const commandLog = (config: Config) => pino({ level: config.logLevel, redact: REDACTED_PATHS })

withSettings(
  program
    .command('pin <image>')
    .description('keep an image (name:tag or name@digest) from eviction; it must be cached'),
).action(async (image: string, flags: Flags) => {
  const config = configFrom(flags)
  const pin = await pinImage(config, commandLog(config), image)
  process.stdout.write(`pinned ${pin.image}: ${pin.digests.length} blobs and manifests\n`)
})

withSettings(program.command('unpin <image>').description('let an image be evicted again')).action(
  async (image: string, flags: Flags) => {
    const config = configFrom(flags)
    const removed = await unpinImage(config, commandLog(config), image)
    process.stdout.write(removed ? `unpinned ${image}\n` : `${image} was not pinned\n`)
  },
)

withSettings(program.command('pins').description('list pinned images')).action(async (flags: Flags) => {
  const config = configFrom(flags)
  for (const pin of await listPins(config, commandLog(config))) {
    process.stdout.write(`${pin.image}\t${pin.digests.length}\n`)
  }
})

program.parseAsync(process.argv).catch((e: unknown) => {
  if (e instanceof ConfigError) {
    process.stderr.write(`registry-mirror: ${e.message}\n`)
    process.exit(2)
  }
  if (e instanceof TlsFilesError) {
    process.stderr.write(`registry-mirror: cannot start: ${e.message}\n`)
    process.exit(1)
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
