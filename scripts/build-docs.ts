// Writes the generated parts of README.md from the code, so the reference cannot drift
// from it: the configuration table from src/config/options.ts. Run: npm run docs.
// test/unit/docs.test.ts fails when README.md is not what this writes.
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { format, resolveConfig } from 'prettier'
import { defaultShown, OPTIONS } from '../src/config/options.js'

export const README_FILE = new URL('../README.md', import.meta.url)

const START = '<!-- options:start -->'
const END = '<!-- options:end -->'

const code = (text: string) => `\`${text}\``
const cell = (text: string) => text.replaceAll('|', '\\|')

/** The configuration table: one row per setting, as markdown (prettier aligns it). */
export function optionsTable(): string {
  const rows = [
    ['key', 'env', 'flag', 'meaning', 'default'],
    ['---', '---', '---', '---', '---'],
    ...OPTIONS.map((o) => [
      code(o.key),
      code(o.env),
      code(o.flag.split(' ')[0]!),
      o.description,
      defaultShown(o, code),
    ]),
  ]
  return rows.map((row) => `| ${row.map(cell).join(' | ')} |`).join('\n')
}

/** README.md as it should be: `readme` with its generated block written afresh and formatted. */
export async function renderReadme(readme: string): Promise<string> {
  const start = readme.indexOf(START)
  const end = readme.indexOf(END)
  if (start < 0 || end < start) throw new Error(`README.md has no ${START} … ${END} block`)
  const text = `${readme.slice(0, start + START.length)}\n\n${optionsTable()}\n\n${readme.slice(end)}`
  const path = fileURLToPath(README_FILE)
  return format(text, { ...(await resolveConfig(path)), filepath: path })
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  writeFileSync(README_FILE, await renderReadme(readFileSync(README_FILE, 'utf8')))
}
