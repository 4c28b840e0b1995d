// deploy/kubernetes: every manifest against the Kubernetes API schemas (kubernetes-models),
// no unknown field, kustomization.yaml complete, and the pieces wired to each other.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { parse } from 'yaml'
import {
  field,
  KUBERNETES_DIR,
  loadManifests,
  manifestFiles,
  schemaError,
  unknownFieldErrors,
  type Manifest,
} from '../helpers/kubernetes-manifests.js'

const manifests = await loadManifests()

function find(kind: string, name: string): Manifest {
  const found = manifests.find((m) => m.kind === kind && m.name === name)
  if (found === undefined) throw new Error(`no ${kind} ${name}`)
  return found
}

function records(value: unknown): Array<Record<string, unknown>> {
  return Array.isArray(value)
    ? value.filter((v): v is Record<string, unknown> => typeof v === 'object' && v !== null)
    : []
}

function labels(value: unknown): Record<string, string> {
  return Object.fromEntries(
    Object.entries(typeof value === 'object' && value !== null ? value : {}).filter(
      (e): e is [string, string] => typeof e[1] === 'string',
    ),
  )
}

/** True when every label the selector asks for is on the object. */
function selects(selector: Record<string, string>, on: Record<string, string>): boolean {
  return Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => on[k] === v)
}

/** The manifest with some of its spec's fields replaced. */
function withSpec(m: Manifest, spec: Record<string, unknown>): Manifest {
  const current = m.doc.spec
  return { ...m, doc: { ...m.doc, spec: { ...(typeof current === 'object' ? current : {}), ...spec } } }
}

const mirror = find('StatefulSet', 'registry-mirror')
const mirrorPod = field(mirror.doc, 'spec', 'template')
const mirrorContainer = records(field(mirrorPod, 'spec', 'containers'))[0]
const env = (name: string): unknown =>
  records(field(mirrorContainer, 'env')).find((e) => e.name === name)?.value ??
  field(find('ConfigMap', 'registry-mirror').doc, 'data', name)

t.test('kustomization.yaml lists every manifest file, and only those', async (t) => {
  const kustomization: unknown = parse(await readFile(join(KUBERNETES_DIR, 'kustomization.yaml'), 'utf8'))
  const resources = field(kustomization, 'resources')
  t.same(Array.isArray(resources) ? resources.map((r: unknown) => String(r)).sort() : resources, await manifestFiles())
  const images = records(field(kustomization, 'images'))
  t.same(
    images.map((i) => i.name),
    [field(mirrorContainer, 'image')],
    "the image it sets is the mirror container's",
  )
})

t.test('every manifest passes its kind’s Kubernetes API schema', async (t) => {
  t.ok(manifests.length >= 10, `${manifests.length} manifests`)
  for (const m of manifests) t.equal(schemaError(m), undefined, `${m.source}: ${m.kind} ${m.name}`)
})

t.test('no manifest has a field its kind does not have', async (t) => {
  t.same(unknownFieldErrors(manifests), [])
})

t.test('the checks fail on a misspelt field and on a wrong type', async (t) => {
  const misspelt = withSpec(mirror, { replicass: 2 })
  t.match(unknownFieldErrors([misspelt]), [/statefulset\.yaml#0: .*replicass/])
  t.match(schemaError(withSpec(mirror, { replicas: 'two' })), /replicas must be integer/)
  t.match(schemaError({ ...mirror, kind: 'Deploymnt' }), /not a known kind/)
})

t.test('the mirror: headless peers, settings, probes, resources, cache volume', async (t) => {
  const peers = find('Service', String(field(mirror.doc, 'spec', 'serviceName')))
  t.equal(field(peers.doc, 'spec', 'clusterIP'), 'None', 'serviceName is a headless Service')
  t.match(env('MIRROR_ADVERTISE_URL'), `$(POD_NAME).${peers.name}.$(POD_NAMESPACE).svc:5000`)
  t.same(
    records(field(mirrorContainer, 'env'))
      .filter((e) => e.name === 'POD_NAME' || e.name === 'POD_NAMESPACE')
      .map((e) => field(e, 'valueFrom', 'fieldRef', 'fieldPath')),
    ['metadata.name', 'metadata.namespace'],
    'the pod name and namespace come from the downward API, before the URL that uses them',
  )
  for (const from of records(field(mirrorContainer, 'envFrom'))) {
    const [kind, ref] = from.configMapRef !== undefined ? ['ConfigMap', from.configMapRef] : ['Secret', from.secretRef]
    t.ok(find(kind, String(field(ref, 'name'))), `${kind} ${String(field(ref, 'name'))} exists`)
  }
  const redis = new URL(String(env('MIRROR_REDIS_URL')))
  const redisService = find('Service', redis.hostname)
  t.equal(
    field(redisService.doc, 'spec', 'ports', 0, 'port'),
    Number(redis.port),
    'MIRROR_REDIS_URL names the Redis Service',
  )

  const probe = (kind: string) => [
    field(mirrorContainer, kind, 'httpGet', 'path'),
    field(mirrorContainer, kind, 'httpGet', 'port'),
  ]
  t.same(probe('readinessProbe'), ['/readyz', 'http'])
  t.same(probe('livenessProbe'), ['/healthz', 'http'])
  t.same(probe('startupProbe'), ['/healthz', 'http'])
  t.same(
    records(field(mirrorContainer, 'ports')).map((p) => [p.name, p.containerPort]),
    [['http', 5000]],
  )
  for (const bound of ['requests', 'limits']) {
    t.ok(field(mirrorContainer, 'resources', bound, 'memory'), `memory ${bound}`)
    t.ok(field(mirrorContainer, 'resources', bound, 'cpu'), `cpu ${bound}`)
  }
  const claim = records(field(mirror.doc, 'spec', 'volumeClaimTemplates'))[0]
  const mount = records(field(mirrorContainer, 'volumeMounts')).find((m) => m.name === field(claim, 'metadata', 'name'))
  t.equal(mount?.mountPath, '/var/lib/registry-mirror', "the claim is mounted at the image's cache volume")
  t.equal(field(mirrorPod, 'spec', 'securityContext', 'runAsUser'), 10001, "the image's user")
})

t.test('every Service, the PodDisruptionBudget and the ServiceMonitor select what they mean to', async (t) => {
  const pods = manifests.flatMap((m) => {
    const template = field(m.doc, 'spec', 'template')
    return template === undefined ? [] : [{ name: m.name, template }]
  })
  for (const service of manifests.filter((m) => m.kind === 'Service')) {
    const selector = labels(field(service.doc, 'spec', 'selector'))
    const selected = pods.filter((p) => selects(selector, labels(field(p.template, 'metadata', 'labels'))))
    t.equal(selected.length, 1, `Service ${service.name} selects one workload`)
    const portNames = records(field(selected[0]?.template, 'spec', 'containers')).flatMap((c) =>
      records(c.ports).map((p) => p.name),
    )
    for (const port of records(field(service.doc, 'spec', 'ports'))) {
      t.ok(portNames.includes(port.targetPort), `Service ${service.name}: targetPort ${String(port.targetPort)}`)
    }
  }
  const mirrorLabels = labels(field(mirrorPod, 'metadata', 'labels'))
  const pdb = find('PodDisruptionBudget', 'registry-mirror')
  t.ok(selects(labels(field(pdb.doc, 'spec', 'selector', 'matchLabels')), mirrorLabels), 'the PDB covers the mirror')

  const monitor = find('ServiceMonitor', 'registry-mirror')
  const monitorSelector = labels(field(monitor.doc, 'spec', 'selector', 'matchLabels'))
  const scraped = manifests.filter(
    (m) => m.kind === 'Service' && selects(monitorSelector, labels(field(m.doc, 'metadata', 'labels'))),
  )
  t.same(
    scraped.map((s) => s.name),
    ['registry-mirror'],
    'the ServiceMonitor scrapes the mirror Service only (each pod once)',
  )
  t.same(
    records(field(monitor.doc, 'spec', 'endpoints')).map((e) => [e.port, e.path]),
    [['http', '/metrics']],
  )
})

t.test("the node set-up writes a hosts.toml naming the mirror Service's address", async (t) => {
  const daemonSet = find('DaemonSet', 'registry-mirror-containerd-hosts')
  const init = records(field(daemonSet.doc, 'spec', 'template', 'spec', 'initContainers'))[0]
  const script = String(field(init, 'command', 2))
  t.match(script, 'server = "https://registry-1.docker.io"')
  // eslint-disable-next-line no-template-curly-in-string -- the shell's expansion, not JavaScript's
  t.match(script, '[host."http://${REGISTRY_MIRROR_SERVICE_HOST}:${REGISTRY_MIRROR_SERVICE_PORT}"]')
  t.match(script, 'capabilities = ["pull", "resolve"]')
  t.ok(find('Service', 'registry-mirror'), 'REGISTRY_MIRROR_SERVICE_* come from the Service named registry-mirror')
  t.equal(field(daemonSet.doc, 'spec', 'template', 'spec', 'volumes', 0, 'hostPath', 'path'), '/etc/containerd/certs.d')
})
