import type { Command } from 'commander'
import { pino } from 'pino'
import { loadConfig } from '../config/load.js'
import { helpText, OPTIONS, type RawSettings } from '../config/options.js'
import type { Config } from '../config/schema.js'
import { REDACTED_PATHS, type Logger } from '../logger.js'

/** Every setting given as a flag, and the config file. */
export type Flags = RawSettings & { config?: string }

/** The server's configuration, as every command reads it: defaults < file < environment < flags. */
export function configFrom(flags: Flags): Config {
  const { config: configFile, ...settings } = flags
  return loadConfig({ flags: settings, env: process.env, configFile })
}

/** Every setting as a flag, on the program and on each command. */
export function withSettings(command: Command): Command {
  command.option('--config <file>', 'YAML or JSON config file (env MIRROR_CONFIG)')
  for (const option of OPTIONS) {
    command.option(option.flag, helpText(option))
  }
  return command
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
