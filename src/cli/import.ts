import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { Transform, type Readable } from 'node:stream'
import { FsBlobStore } from '../cache/fs-blob-store.js'
import { openIndex } from '../cache/open-index.js'
import type { Config } from '../config/schema.js'
import { upstreamsOf } from '../config/upstreams.js'
import { OperatorError } from '../errors.js'
import type { Logger } from '../logger.js'
import { dirEntries, tarEntries, type BundleEntry } from '../transfer/bundle-entries.js'
import { importBundle, type ImportReport } from '../transfer/import.js'
import { onCacheDir } from './cache-dir-owner.js'
import { importThere } from './control-client.js'
import { progressDisplay, type TaskProgress } from './progress.js'
import { commandLog, configFrom, type Flags } from './settings.js'
import { formatBytes, formatTable, shortDigest } from './table.js'

/** Where a bundle comes from: a tar file, stdin, or an OCI layout directory. */
export type BundleSource = { kind: 'tar'; stream: Readable; size?: number } | { kind: 'dir'; path: string }

export async function openSource(input: string): Promise<BundleSource> {
  if (input === '-') return { kind: 'tar', stream: process.stdin }
  const info = await stat(input).catch((e: NodeJS.ErrnoException) => {
    throw new OperatorError(`cannot read ${input}: ${e.code === 'ENOENT' ? 'no such file or directory' : e.message}`)
  })
  if (info.isDirectory()) return { kind: 'dir', path: input }
  return { kind: 'tar', stream: createReadStream(input), size: info.size }
}

/** The bytes of a stream, counted as they pass. */
export function counted(stream: Readable, task: TaskProgress): Readable {
  return stream.pipe(
    new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        task.add(chunk.length)
        callback(null, chunk)
      },
    }),
  )
}

function entriesOf(source: BundleSource, task: TaskProgress): AsyncIterable<BundleEntry> {
  return source.kind === 'dir' ? dirEntries(source.path) : tarEntries(counted(source.stream, task))
}

/**
 * Without a server on the cache dir (this process holds its lock: two processes never
 * write one index), the import runs here, with the cache's own store and index.
 */
async function importHere(config: Config, log: Logger, entries: AsyncIterable<BundleEntry>): Promise<ImportReport> {
  const store = new FsBlobStore(config.cacheDir)
  // Holding the lock, no other process writes here: what tmp/ holds is a dead one's.
  await store.init()
  const { index } = await openIndex(config, log)
  const deps = { store, index, upstreams: upstreamsOf(config), now: Date.now, cacheGrew: () => {} }
  return await importBundle(deps, entries).finally(() => index.close())
}

const SILENT: TaskProgress = { add: () => {}, done: () => {}, fail: () => {} }

/** Imports a bundle from a file, a directory or stdin (`-`), told of the bytes read. */
export async function importFrom(
  config: Config,
  log: Logger,
  input: string,
  progress: (source: BundleSource) => TaskProgress = () => SILENT,
): Promise<ImportReport> {
  const source = await openSource(input)
  const task = progress(source)
  return onCacheDir(
    config,
    'import',
    () => importHere(config, log, entriesOf(source, task)),
    // The serving mirror imports it; a tar's bytes go over the socket, a directory by its path.
    (socket) =>
      importThere(socket, source.kind === 'tar' ? { kind: 'tar', stream: counted(source.stream, task) } : source),
  )
}

async function importWithProgress(config: Config, log: Logger, input: string): Promise<ImportReport> {
  const display = progressDisplay()
  let task = SILENT
  const name = `import ${input === '-' ? 'from stdin' : input}`
  try {
    const report = await importFrom(config, log, input, (source) => {
      task = display.task(name, source.kind === 'tar' ? (source.size ?? 0) : 0)
      return task
    })
    task.done(`imported ${report.images.length} images`)
    return report
  } catch (e) {
    task.fail('import refused; the cache is as it was')
    throw e
  } finally {
    display.stop()
  }
}

export function renderImport(report: ImportReport): string {
  const rows = [['IMAGE', 'DIGEST', 'PLATFORMS', 'TAG']]
  for (const image of report.images) {
    const platforms = image.listed === 1 ? String(image.held) : `${image.held} of ${image.listed}`
    const tag = image.tagMappings > 0 ? 'restored' : image.name === undefined ? 'no name' : 'kept'
    rows.push([image.name ?? '(unnamed)', shortDigest(image.digest), platforms, tag])
  }
  const lines = [
    formatTable(rows),
    `added ${report.added.blobs} blobs (${formatBytes(report.added.bytes)}); ${report.present.blobs} were already cached (${formatBytes(report.present.bytes)})`,
  ]
  if (report.keptPrivate.length > 0) {
    lines.push(`known private upstream, served only to clients it authorises: ${report.keptPrivate.join(', ')}`)
  }
  return `${lines.join('\n')}\n`
}

/** `registry-mirror import`, as the command line gives it. */
export async function importAction(input: string, flags: Flags): Promise<void> {
  const config = configFrom(flags)
  process.stdout.write(renderImport(await importWithProgress(config, commandLog(config), input)))
}
