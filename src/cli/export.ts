import { randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { rename, unlink, writeFile } from 'node:fs/promises'
import type { Writable } from 'node:stream'
import { FsBlobStore } from '../cache/fs-blob-store.js'
import { openIndexBeside } from '../cache/open-index.js'
import type { Config } from '../config/schema.js'
import { upstreamsOf } from '../config/upstreams.js'
import type { Logger } from '../logger.js'
import { baseFromBundle, baseFromList, type Base } from '../transfer/bundle-base.js'
import { digestListText, type BundleBase, type BundleDescription } from '../transfer/bundle-format.js'
import { writeBundle } from '../transfer/bundle-writer.js'
import { platformSummary } from '../transfer/cached-image.js'
import { planExport, type ExportPlan, type ExportSelection } from '../transfer/export-plan.js'
import { TarWriter } from '../transfer/tar-writer.js'
import { progressDisplay } from './progress.js'
import { commandLog, configFrom, type Flags } from './settings.js'
import { formatBytes, formatTable, shortDigest } from './table.js'

export interface ExportOptions extends ExportSelection {
  /** A file, or `-` for stdout. */
  out: string
  base?: BundleBase[]
  /** What the bases hold: their blobs are left out. */
  held?: ReadonlyArray<ReadonlySet<string>>
}

export interface ExportResult {
  plan: ExportPlan
  description: BundleDescription
  /** Blob bytes written (those not left out). */
  bytes: number
}

/** Where the bundle goes: stdout as it is, or a temp file renamed into place once whole. */
function openOutput(out: string): {
  stream: Writable
  end: boolean
  commit(): Promise<void>
  discard(): Promise<void>
} {
  if (out === '-') return { stream: process.stdout, end: false, commit: async () => {}, discard: async () => {} }
  const temp = `${out}.partial-${randomBytes(4).toString('hex')}`
  return {
    stream: createWriteStream(temp, { flags: 'wx' }),
    end: true,
    commit: () => rename(temp, out),
    discard: () => unlink(temp).catch(() => {}),
  }
}

/**
 * `registry-mirror export`: reads the cache, never writes it, so it runs beside a live
 * mirror without the lock. Everything is checked before a byte is written; a failure
 * while writing removes the partial file.
 */
export async function exportBundle(config: Config, log: Logger, options: ExportOptions): Promise<ExportResult> {
  const store = new FsBlobStore(config.cacheDir)
  const index = await openIndexBeside(config, log)
  const plan = await planExport({ store, index, upstreams: upstreamsOf(config) }, options).finally(() => index.close())
  const held = options.held ?? []
  const omitted = new Set([...plan.blobs.keys()].filter((d) => held.some((h) => h.has(d))))
  const carried = [...plan.blobs].reduce((n, [d, size]) => (omitted.has(d) ? n : n + size), 0)
  const display = progressDisplay()
  const task = display.task(`export ${options.out === '-' ? 'to stdout' : options.out}`, carried)
  const output = openOutput(options.out)
  const tar = new TarWriter(output.stream, { end: output.end })
  try {
    const description = await writeBundle(tar, store, plan, {
      base: options.base ?? [],
      omitted,
      now: new Date(),
      onBytes: (n) => task.add(n),
    })
    await tar.finish()
    await output.commit()
    task.done(`wrote ${plan.images.length} images, ${formatBytes(carried)} of blobs`)
    return { plan, description, bytes: carried }
  } catch (e) {
    tar.abort(e instanceof Error ? e : new Error(String(e)))
    await output.discard()
    task.fail(`export failed`)
    throw e
  } finally {
    display.stop()
  }
}

export function renderExport(result: ExportResult): string {
  const rows = [['IMAGE', 'DIGEST', 'PLATFORMS', 'SIZE']]
  for (const { name, image } of result.plan.images) {
    const size = [...image.blobs.values()].reduce((a, b) => a + b, 0)
    rows.push([name, shortDigest(image.digest), platformSummary(image), formatBytes(size)])
  }
  const skipped = result.plan.skipped.map((s) => `skipped ${s}\n`).join('')
  const omitted = result.description.omitted.length
  const left = omitted > 0 ? `; ${omitted} left out (held by the base)` : ''
  const total = `${result.description.contents.length} blobs, ${formatBytes(result.bytes)} written${left}`
  return `${formatTable(rows)}\n${skipped}${total}\n`
}

export interface ExportFlags extends Flags {
  out: string
  all?: boolean
  pinned?: boolean
  base: string[]
  baseList: string[]
  digestsOut?: string
}

/** The bases an incremental export leaves out what they hold of. */
async function basesOf(bundles: string[], lists: string[]): Promise<Base[]> {
  return [...(await Promise.all(bundles.map(baseFromBundle))), ...(await Promise.all(lists.map(baseFromList)))]
}

/** Written whole or not at all, like the bundle. */
async function writeDigestList(path: string, digests: string[]): Promise<void> {
  const temp = `${path}.partial-${randomBytes(4).toString('hex')}`
  await writeFile(temp, digestListText(digests), { flag: 'wx' })
  await rename(temp, path)
}

/** `registry-mirror export`, as the command line gives it. */
export async function exportAction(images: string[], flags: ExportFlags): Promise<void> {
  const { out, all, pinned, base, baseList, digestsOut, ...settings } = flags
  const config = configFrom(settings)
  const bases = await basesOf(base, baseList)
  const result = await exportBundle(config, commandLog(config), {
    images,
    all: all === true,
    pinned: pinned === true,
    out,
    base: bases.map((b) => b.base),
    held: bases.map((b) => b.digests),
  })
  if (digestsOut !== undefined) await writeDigestList(digestsOut, result.description.contents)
  // With the bundle on stdout, the summary goes with the progress, to stderr.
  ;(out === '-' ? process.stderr : process.stdout).write(renderExport(result))
}
