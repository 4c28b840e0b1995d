import { readFile } from 'node:fs/promises'
import { buildApp } from '../app.js'
import { openIndex } from '../cache/open-index.js'
import type { Config } from '../config/schema.js'
import { upstreamsOf } from '../config/upstreams.js'
import { OperatorError } from '../errors.js'
import type { Logger } from '../logger.js'
import { imageName, resolveImage, type ImageRef } from '../oci/image-ref.js'
import { parsePlatforms } from '../oci/platform.js'
import { mirrorSource } from '../transfer/prefetch-source.js'
import {
  prefetch,
  type PrefetchEvent,
  type PrefetchOptions,
  type PrefetchOutcome,
  type PrefetchResult,
} from '../transfer/prefetch.js'
import { onCacheDir } from './cache-dir-owner.js'
import { DEFAULT_CONCURRENCY, MAX_CONCURRENCY } from './prefetch-concurrency.js'
import { prefetchThere } from './control-client.js'
import { progressDisplay, type ProgressDisplay, type TaskProgress } from './progress.js'
import { commandLog, configFrom, type Flags } from './settings.js'
import { formatBytes, formatTable, shortDigest } from './table.js'

export interface PrefetchRequest {
  images: ImageRef[]
  options: PrefetchOptions
}

/** Images from the command line and a list file (one a line, `#` comments). */
async function imagesFrom(config: Config, named: string[], file: string | undefined): Promise<ImageRef[]> {
  const listed =
    file === undefined
      ? []
      : (
          await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
            throw new OperatorError(`cannot read ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`)
          })
        )
          .split('\n')
          .map((line) => line.replace(/#.*/, '').trim())
          .filter((line) => line !== '')
  const all = [...named, ...listed]
  if (all.length === 0) throw new OperatorError('nothing to prefetch: name images, or give --file')
  const upstreams = upstreamsOf(config)
  return all.map((text) => resolveImage(text, upstreams))
}

function concurrencyOf(text: string | undefined): number {
  if (text === undefined) return DEFAULT_CONCURRENCY
  const n = Number(text)
  if (!Number.isInteger(n) || n < 1 || n > MAX_CONCURRENCY) {
    throw new OperatorError(`--concurrency must be a whole number from 1 to ${MAX_CONCURRENCY}`)
  }
  return n
}

/**
 * Without a server on the cache dir (this process holds its lock), the mirror's logic
 * runs here, composed as the server composes it (buildApp), without listening.
 */
async function prefetchHere(
  config: Config,
  log: Logger,
  request: PrefetchRequest,
  emit: (event: PrefetchEvent) => void,
): Promise<PrefetchOutcome> {
  // Its own index, not as a replica: a command does not announce itself to peers.
  const { index } = await openIndex(config, log)
  const app = await buildApp(config, { index, logger: log })
  const aborted = new AbortController()
  try {
    const source = mirrorSource(app.mirror, app.store, aborted.signal)
    return await prefetch(
      { source, store: app.store, index, log, now: Date.now },
      request.images,
      request.options,
      emit,
    )
  } finally {
    aborted.abort()
    await app.server.close()
  }
}

/** Renders a prefetch's events: a task per image, a line when one ends or fails. */
export function prefetchRenderer(display: ProgressDisplay): (event: PrefetchEvent) => void {
  const tasks = new Map<string, TaskProgress>()
  return (event) => {
    if (event.type === 'start') {
      tasks.set(event.image, display.task(event.image, event.bytes))
    } else if (event.type === 'bytes') {
      tasks.get(event.image)?.add(event.bytes)
    } else if (event.type === 'done') {
      const r = event.result
      const line = `${r.image}: ${shortDigest(r.digest)}, ${formatBytes(r.newBytes)} new of ${formatBytes(r.size)}`
      const task = tasks.get(r.image)
      if (task === undefined) display.note(line)
      else task.done(line)
    } else {
      const line = `${event.image}: failed: ${event.message}`
      const task = tasks.get(event.image)
      if (task === undefined) display.note(line)
      else task.fail(line)
    }
  }
}

export function renderPrefetch(results: PrefetchResult[]): string {
  const rows = [['IMAGE', 'DIGEST', 'PLATFORMS', 'SIZE', 'NEW']]
  for (const r of results) {
    rows.push([
      r.image,
      shortDigest(r.digest),
      r.platforms.join(', ') || '-',
      formatBytes(r.size),
      formatBytes(r.newBytes),
    ])
  }
  return `${formatTable(rows)}\n`
}

export interface PrefetchFlags extends Flags {
  file?: string
  platform?: string
  pin?: boolean
  concurrency?: string
}

/** `registry-mirror prefetch`, as the command line gives it. */
export async function prefetchAction(named: string[], flags: PrefetchFlags): Promise<void> {
  const { file, platform, pin, concurrency, ...settings } = flags
  const config = configFrom(settings)
  const log = commandLog(config)
  const images = await imagesFrom(config, named, file)
  const options: PrefetchOptions = {
    ...(platform === undefined ? {} : { platforms: parsePlatforms(platform) }),
    concurrency: concurrencyOf(concurrency),
    pin: pin === true,
  }
  const display = progressDisplay()
  const emit = prefetchRenderer(display)
  const outcome = await onCacheDir(
    config,
    'prefetch',
    () => prefetchHere(config, log, { images, options }, emit),
    (socket) => {
      display.note(`through the mirror serving ${config.cacheDir}`)
      return prefetchThere(socket, { ...options, images: images.map(imageName) }, emit)
    },
  ).finally(() => display.stop())
  // The images that completed are summed up even when others failed.
  process.stdout.write(renderPrefetch(outcome.results))
  if (outcome.failed > 0) throw new OperatorError(`${outcome.failed} of ${images.length} images failed`)
}
