// Every MIRROR_* variable the deployment files set or name is one the mirror reads: a
// setting renamed or never added would otherwise be ignored without a word.
import { readdir, readFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import t from 'tap'
import { OPTIONS } from '../../src/config/options.js'

const ROOT = new URL('../..', import.meta.url).pathname
/** Read by the loader besides the options: the config file's path. */
const KNOWN = new Set<string>([...OPTIONS.map((o) => o.env), 'MIRROR_CONFIG'])
/** The files that must set settings; the scan reads everything under deploy/ as well. */
const SETTERS = [
  'Dockerfile',
  'deploy/compose.yaml',
  'deploy/kubernetes/configmap.yaml',
  'deploy/kubernetes/statefulset.yaml',
  'deploy/kubernetes/secret.yaml',
  'deploy/systemd/registry-mirror.service',
]

/** MIRROR_* names in a text, not counting longer names that end in one (REGISTRY_MIRROR_…). */
function mirrorVariables(text: string): string[] {
  return [...new Set(text.match(/\bMIRROR_[A-Z0-9_]*[A-Z0-9]\b/g) ?? [])].sort()
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(join(ROOT, dir), { withFileTypes: true, recursive: true })
  return entries.filter((e) => e.isFile()).map((e) => relative(ROOT, join(e.parentPath, e.name)))
}

const files = [...new Set(['Dockerfile', ...SETTERS, ...(await filesUnder('deploy'))])].sort()
const found = new Map<string, string[]>()
for (const file of files) found.set(file, mirrorVariables(await readFile(join(ROOT, file), 'utf8')))

t.test('the scan finds names and only whole ones', async (t) => {
  const text = 'MIRROR_LISTEN=0.0.0.0:5000 $(MIRROR_UPSTREAM) MIRROR_* REGISTRY_MIRROR_SERVICE_HOST MIRROR_LISTEN'
  t.same(mirrorVariables(text), ['MIRROR_LISTEN', 'MIRROR_UPSTREAM'])
  for (const file of SETTERS) t.not(found.get(file)?.length ?? 0, 0, `${file} sets settings`)
})

t.test('every MIRROR_* name in the Dockerfile and deploy/ is a setting the mirror reads', async (t) => {
  for (const [file, names] of found) {
    t.same(
      names.filter((name) => !KNOWN.has(name)),
      [],
      `${file}: ${names.length} names`,
    )
  }
})
