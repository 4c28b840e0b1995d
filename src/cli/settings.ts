import { pino } from 'pino'
import { loadConfig } from '../config/load.js'
import type { Config } from '../config/schema.js'
import { REDACTED_PATHS, type Logger } from '../logger.js'
import type { Flags } from './setting-flags.js'

export type { Flags } from './setting-flags.js'

/** The server's configuration, as every command reads it: defaults < file < environment < flags. */
export function configFrom(flags: Flags): Config {
  const { config: configFile, ...settings } = flags
  return loadConfig({ flags: settings, env: process.env, configFile })
}

/**
 * A command's log: to stderr, so stdout carries only what the command produces (a
 * bundle on `--out -`, a listing). The server's default level, `info`, is its running
 * commentary; a command shows warnings and errors unless asked for more (`debug`).
 */
export function commandLog(config: Config): Logger {
  const level = config.logLevel === 'info' ? 'warn' : config.logLevel
  return pino({ level, redact: REDACTED_PATHS }, pino.destination(2))
}
