// Imported into a process under test (`--import`): at its exit, writes the names of the
// CommonJS packages it loaded, one a line, to the file LOADED_PACKAGES_FILE names.
import { writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'

const cache = createRequire(import.meta.url).cache
const out = process.env.LOADED_PACKAGES_FILE

process.once('exit', () => {
  if (out === undefined) return
  const names = new Set<string>()
  for (const path of Object.keys(cache)) {
    const name = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path)?.[1]
    if (name !== undefined) names.add(name)
  }
  writeFileSync(out, [...names].sort().join('\n') + '\n')
})
