import type { Command } from 'commander'
import { helpText, OPTIONS, type RawSettings } from '../config/options.js'

/** Every setting given as a flag, and the config file. */
export type Flags = RawSettings & { config?: string }

/**
 * Every setting as a flag, on the program and on each command. Only the list of options:
 * the schema that checks them is loaded when a command runs, not for `--help`.
 */
export function withSettings(command: Command): Command {
  command.option('--config <file>', 'YAML or JSON config file (env MIRROR_CONFIG)')
  for (const option of OPTIONS) {
    command.option(option.flag, helpText(option))
  }
  return command
}
