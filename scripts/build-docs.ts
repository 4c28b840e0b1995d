// Writes the generated parts of the docs from the code, so the reference cannot drift
// from it: the configuration table from src/config/options.ts, and the metrics table from
// the instruments the mirror registers. Run: npm run docs. test/unit/docs.test.ts fails
// when a file is not what this writes.
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { format, resolveConfig } from 'prettier'
import { Registry } from 'prom-client'
import { z } from 'zod'
import { defaultShown, OPTIONS } from '../src/config/options.js'
import {
  createMetrics,
  registerCacheGauges,
  registerTopRepositories,
  registerUpstreamGauges,
} from '../src/metrics/metrics.js'

const code = (text: string) => `\`${text}\``
const cell = (text: string) => text.replaceAll('|', '\\|')
const table = (rows: string[][]) => rows.map((row) => `| ${row.map(cell).join(' | ')} |`).join('\n')

/** The configuration table: one row per setting, as markdown (prettier aligns it). */
export function optionsTable(): string {
  return table([
    ['key', 'env', 'flag', 'meaning', 'default'],
    ['---', '---', '---', '---', '---'],
    ...OPTIONS.map((o) => [
      code(o.key),
      code(o.env),
      code(o.flag.split(' ')[0]!),
      o.description,
      defaultShown(o, code),
    ]),
  ])
}

/** Every instrument the mirror can export, registered as the server registers them. */
export function mirrorRegistry(): Registry {
  const registry = new Registry()
  createMetrics(registry, [])
  registerTopRepositories(registry, 1)
  registerCacheGauges(registry, async () => ({
    bytes: 0,
    blobs: 0,
    maxBytes: 0,
    filesystemSizeBytes: 0,
    filesystemFreeBytes: 0,
    fillsInFlight: 0,
    indexUp: true,
  }))
  registerUpstreamGauges(registry, () => [])
  return registry
}

/** prom-client keeps an instrument's label names on it without declaring them in its types. */
const labelled = z.object({ labelNames: z.array(z.string()).optional() })

/** The metrics table: the mirror's own instruments (not Node's defaults), from the code. */
export async function metricsTable(): Promise<string> {
  const registry = mirrorRegistry()
  const own = (await registry.getMetricsAsJSON()).filter((m) => m.name.startsWith('registry_mirror_'))
  return table([
    ['metric', 'type', 'labels', 'meaning'],
    ['---', '---', '---', '---'],
    ...own.map((m) => {
      const labels = labelled.parse(registry.getSingleMetric(m.name)).labelNames ?? []
      return [code(m.name), String(m.type), labels.map(code).join(', '), m.help]
    }),
  ])
}

/** A generated block of a markdown file: what lies between its two markers. */
interface Block {
  start: string
  end: string
  content: () => string | Promise<string>
}

const OPTIONS_BLOCK: Block = { start: '<!-- options:start -->', end: '<!-- options:end -->', content: optionsTable }
const METRICS_BLOCK: Block = { start: '<!-- metrics:start -->', end: '<!-- metrics:end -->', content: metricsTable }

/** The files with generated blocks, and their blocks. */
export const GENERATED: ReadonlyArray<{ file: URL; blocks: Block[] }> = [
  { file: new URL('../docs/configuration.md', import.meta.url), blocks: [OPTIONS_BLOCK] },
  { file: new URL('../docs/metrics.md', import.meta.url), blocks: [METRICS_BLOCK] },
]

/** A file as it should be: its generated blocks written afresh, and the whole formatted. */
export async function render(file: URL, text: string, blocks: Block[]): Promise<string> {
  let out = text
  for (const block of blocks) {
    const start = out.indexOf(block.start)
    const end = out.indexOf(block.end)
    if (start < 0 || end < start) throw new Error(`${file.pathname} has no ${block.start} … ${block.end} block`)
    out = `${out.slice(0, start + block.start.length)}\n\n${await block.content()}\n\n${out.slice(end)}`
  }
  const path = fileURLToPath(file)
  return format(out, { ...(await resolveConfig(path)), filepath: path })
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const { file, blocks } of GENERATED) writeFileSync(file, await render(file, readFileSync(file, 'utf8'), blocks))
}
