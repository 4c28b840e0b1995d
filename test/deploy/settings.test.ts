// Every MIRROR_* variable the deployment files set or name is one the mirror reads: a
// setting renamed or never added would otherwise be ignored without a word.
import { readdir, readFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import t from 'tap'
import { parse } from 'yaml'
import { loadConfig } from '../../src/config/load.js'
import { OPTIONS } from '../../src/config/options.js'
import { field, loadManifests } from '../helpers/kubernetes-manifests.js'

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

const read = (file: string) => readFile(join(ROOT, file), 'utf8')

/** `KEY=value` pairs of MIRROR_* settings outside comments (Dockerfile ENV, unit Environment=). */
function assignments(text: string): Record<string, string> {
  const code = text
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .join('\n')
  return Object.fromEntries([...code.matchAll(/\b(MIRROR_[A-Z0-9_]+)=(\S+)/g)].map((m) => [m[1]!, m[2]!]))
}

/** String values of a mapping, with compose's `${NAME:-default}` taken at its default. */
function strings(value: unknown): Record<string, string> {
  const entries = Object.entries(typeof value === 'object' && value !== null ? value : {})
  return Object.fromEntries(
    entries.flatMap(([k, v]) => (typeof v === 'string' ? [[k, v.replace(/\$\{[A-Z0-9_]+:-([^}]*)\}/g, '$1')]] : [])),
  )
}

/** A container's `env` entries that have a literal value, as name → value. */
function literalEnv(env: unknown): Record<string, string> {
  const entries = Array.isArray(env) ? env : []
  return Object.fromEntries(
    entries.flatMap((e: unknown) => {
      const name = field(e, 'name')
      const value = field(e, 'value')
      return typeof name === 'string' && typeof value === 'string' ? [[name, value]] : []
    }),
  )
}

t.test('the settings each deployment passes are valid together, image defaults included', async (t) => {
  const image = assignments(await read('Dockerfile'))
  t.same(Object.keys(image).sort(), ['MIRROR_CACHE_DIR', 'MIRROR_LISTEN'])

  const compose = strings(field(parse(await read('deploy/compose.yaml')), 'services', 'mirror', 'environment'))
  t.doesNotThrow(() => loadConfig({ env: { ...image, ...compose } }), 'compose')

  const manifests = await loadManifests()
  const doc = (kind: string) => manifests.find((m) => m.kind === kind && m.name === 'registry-mirror')?.doc
  const kubernetes = {
    ...image,
    ...strings(field(doc('ConfigMap'), 'data')),
    ...strings(field(doc('Secret'), 'stringData')),
    ...literalEnv(field(doc('StatefulSet'), 'spec', 'template', 'spec', 'containers', 0, 'env')),
  }
  // What the kubelet makes of the $(VAR) references in a pod's env.
  const pod = Object.fromEntries(
    Object.entries(kubernetes).map(([k, v]) => [
      k,
      v.replaceAll('$(POD_NAME)', 'registry-mirror-0').replaceAll('$(POD_NAMESPACE)', 'registry-mirror'),
    ]),
  )
  t.doesNotThrow(() => loadConfig({ env: pod }), 'Kubernetes')
  t.equal(pod.MIRROR_ADVERTISE_URL, 'http://registry-mirror-0.registry-mirror-peers.registry-mirror.svc:5000')

  const systemd = assignments(await read('deploy/systemd/registry-mirror.service'))
  t.doesNotThrow(() => loadConfig({ env: systemd }), 'systemd')
})
