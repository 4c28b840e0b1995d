import { Command } from 'commander'
import { VERSION } from '../version.js'
import { exportCommand } from './export.js'
import { importCommand } from './import.js'
import { lsCommand } from './ls.js'
import { pinCommands } from './pins.js'
import { prefetchCommand } from './prefetch.js'
import { reindexCommand } from './reindex.js'
import { withSettings, type Flags } from './settings.js'

/**
 * `registry-mirror`: serving is the default command; the others work on the cache the
 * server uses, with the same settings.
 */
export function buildProgram(serve: (flags: Flags) => Promise<void>): Command {
  const program = withSettings(
    new Command('registry-mirror')
      .description('A pull-through caching mirror for container registries')
      .version(VERSION)
      .enablePositionalOptions(),
  ).action(serve)
  // The default, also by name, for scripts that say what they run.
  withSettings(program.command('serve').description('serve the mirror (the default command)')).action(serve)
  lsCommand(program)
  prefetchCommand(program)
  exportCommand(program)
  importCommand(program)
  reindexCommand(program)
  pinCommands(program)
  return program
}
