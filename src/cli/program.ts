import { Command } from 'commander'
import { VERSION } from '../version.js'
import type { ExportFlags } from './export.js'
import { DEFAULT_CONCURRENCY } from './prefetch-concurrency.js'
import type { PrefetchFlags } from './prefetch.js'
import { withSettings, type Flags } from './setting-flags.js'

const collect = (value: string, previous: string[]): string[] => [...previous, value]

/*
 * Each command's code is imported when it runs: `--help` and `serve` do not load what
 * the others need (tar-stream, cli-progress, the bundle formats), which would add to
 * every start of the server.
 */

function exportCommand(program: Command): void {
  withSettings(
    program
      .command('export [images...]')
      .description('write images from the cache as an OCI image layout in a tar (a bundle to carry elsewhere)')
      .requiredOption('--out <file>', 'the bundle to write; `-` for stdout')
      .option('--all', 'every image the cache holds by tag')
      .option('--pinned', 'every pinned image')
      .option(
        '--base <bundle>',
        'leave out every blob this earlier bundle holds (repeatable): an incremental bundle',
        collect,
        [],
      )
      .option('--base-list <file>', 'the same, from the digest list of an earlier bundle (repeatable)', collect, [])
      .option('--digests-out <file>', "write this bundle's digest list, to be the --base-list of the next one"),
  ).action(async (images: string[], flags: ExportFlags) => (await import('./export.js')).exportAction(images, flags))
}

function importCommand(program: Command): void {
  withSettings(
    program
      .command('import <bundle>')
      .description(
        'add a bundle to the cache: our export, an OCI layout directory, a tar from `skopeo copy … oci-archive:` or `docker save`; `-` reads stdin',
      ),
  ).action(async (input: string, flags: Flags) => (await import('./import.js')).importAction(input, flags))
}

function lsCommand(program: Command): void {
  withSettings(
    program
      .command('ls')
      .description('list the images the cache holds: tag, digest, platforms, size, last pulled, pinned')
      .option('--json', 'machine-readable output'),
  ).action(async (flags: Flags & { json?: boolean }) => (await import('./ls.js')).lsAction(flags))
}

function prefetchCommand(program: Command): void {
  withSettings(
    program
      .command('prefetch [images...]')
      .description('fill the cache ahead of need: each image with all its platforms (or the named ones)')
      .option('--file <list>', 'images to prefetch, one a line (# comments)')
      .option('--platform <list>', 'only these platforms of a multi-platform image, like linux/amd64,linux/arm64')
      .option('--pin', 'pin what is fetched, so it is never evicted')
      .option('--concurrency <n>', `blobs fetched at once (default ${DEFAULT_CONCURRENCY})`),
  ).action(async (named: string[], flags: PrefetchFlags) =>
    (await import('./prefetch.js')).prefetchAction(named, flags),
  )
}

function reindexCommand(program: Command): void {
  withSettings(
    program
      .command('reindex')
      .description('verify every cached file by its digest and bring the index in line with the cache dir'),
  ).action(async (flags: Flags) => (await import('./reindex.js')).reindexAction(flags))
}

function pinCommands(program: Command): void {
  withSettings(
    program
      .command('pin <image>')
      .description('keep an image (name:tag or name@digest) from eviction; it must be cached'),
  ).action(async (image: string, flags: Flags) => (await import('./pins.js')).pinAction(image, flags))
  withSettings(program.command('unpin <image>').description('let an image be evicted again')).action(
    async (image: string, flags: Flags) => (await import('./pins.js')).unpinAction(image, flags),
  )
  withSettings(program.command('pins').description('list pinned images')).action(async (flags: Flags) =>
    (await import('./pins.js')).pinsAction(flags),
  )
}

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
