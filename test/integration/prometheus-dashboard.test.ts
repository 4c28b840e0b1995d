import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import t from 'tap'
import { ALICE } from '../helpers/credentials.js'
import { http } from '../helpers/http.js'
import { startPrometheus } from '../helpers/prometheus.js'
import { SECOND_NAME } from '../helpers/second-upstream.js'
import { startTwoUpstreams } from '../helpers/setup.js'
import { skopeoCopy } from '../helpers/skopeo.js'
import { makeTempDir } from '../helpers/temp-dir.js'
import { waitFor } from '../helpers/wait.js'

const run = promisify(execFile)
const dashboardPath = new URL('../../grafana/dashboards/registry-mirror.json', import.meta.url).pathname
const rulesPath = new URL('../../deploy/prometheus/alerts.yml', import.meta.url).pathname

interface DashboardPanel {
  title: string
  type: string
  targets?: Array<{ expr: string }>
}

/** Grafana's variables, as a user would have them with everything selected. */
function concrete(expr: string): string {
  return expr
    .replaceAll('$instance', '.*')
    .replaceAll('$upstream', '.*')
    .replaceAll('$__rate_interval', '1m')
    .replaceAll('$__range', '5m')
}

t.test('promtool accepts the alert rules', async (t) => {
  const { stdout } = await run('promtool', ['check', 'rules', rulesPath])
  t.match(stdout, /SUCCESS: \d+ rules found/)
})

t.test('every dashboard panel returns data from a real Prometheus scraping a live mirror', async (t) => {
  const { upstream, mirror } = await startTwoUpstreams(t, { metricsTopRepositories: 10 })
  const prometheus = await startPrometheus(mirror.host, rulesPath)
  t.teardown(() => prometheus.close())

  const out = await makeTempDir('pull')
  t.teardown(out.remove)
  await skopeoCopy(`${mirror.host}/library/small:1`, out.path)
  await skopeoCopy(`${mirror.host}/library/small:1`, out.path)
  await skopeoCopy(`${mirror.host}/${SECOND_NAME}/library/small:1`, out.path)
  await skopeoCopy(`${mirror.host}/private/alice/secret:1`, out.path, [
    '--src-creds',
    `${ALICE.user}:${ALICE.password}`,
  ])
  t.equal((await http(`${mirror.url}/v2/library/small/manifests/missing`)).status, 404)
  t.ok(upstream.registry.blobGets().length > 0)

  // Rates need two samples after the traffic: wait for them, asking Prometheus itself.
  const scraped = async () => {
    const seen = await prometheus.query('count_over_time(registry_mirror_requests_total{cache="bypass"}[1m])')
    return seen.result.some((r) => Number((r as { value: [number, string] }).value[1]) >= 3)
  }
  await waitFor(scraped, 30_000, 'three scrapes of the traffic')

  const exported = new Set(
    (await http(`${mirror.url}/metrics`)).body
      .toString()
      .split('\n')
      .filter((l) => l.startsWith('# TYPE '))
      .map((l) => l.split(' ')[2]!),
  )
  const dashboard = JSON.parse(await readFile(dashboardPath, 'utf8')) as { panels: DashboardPanel[] }
  const panels = dashboard.panels.filter((p) => p.type !== 'row')
  t.ok(panels.length >= 15, `${panels.length} panels`)
  for (const panel of panels) {
    for (const target of panel.targets ?? []) {
      const answer = await prometheus.query(concrete(target.expr))
      t.equal(answer.status, 'success', `${panel.title}: parses (${answer.error ?? 'ok'})`)
      t.ok(answer.result.length > 0, `${panel.title}: returns data for ${target.expr.slice(0, 60)}…`)
      for (const name of target.expr.match(/\b(registry_mirror|process|nodejs)_[a-z0-9_]+/g) ?? []) {
        t.ok(exported.has(name.replace(/_(bucket|sum|count)$/, '')), `${panel.title}: ${name} is exported`)
      }
    }
  }

  const upstreams = await prometheus.query('group by (upstream) (registry_mirror_requests_total)')
  const names = upstreams.result.map((r) => (r as { metric: { upstream?: string } }).metric.upstream)
  t.ok(names.includes('docker.io') && names.includes(SECOND_NAME), 'the upstream variable lists both upstreams')

  const rules = await http(`${prometheus.url}/api/v1/rules`)
  const groups = (JSON.parse(rules.body.toString()) as { data: { groups: Array<{ rules: unknown[] }> } }).data.groups
  t.equal(groups.flatMap((g) => g.rules).length, 5, 'Prometheus loaded the alert rules')
})
