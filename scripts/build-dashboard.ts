// Writes grafana/dashboards/registry-mirror.json from the panel list below, so the
// dashboard stays reviewable as code. Run: npx tsx scripts/build-dashboard.ts
import { writeFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'

const SEL = 'instance=~"$instance"'
/** For the metrics labelled by upstream: the instance and the upstreams selected. */
const USEL = `${SEL},upstream=~"$upstream"`
const RATE = '$__rate_interval'

interface Target {
  expr: string
  legend: string
}

interface Panel {
  title: string
  description: string
  unit: string
  type?: 'timeseries' | 'stat'
  targets: Target[]
  /** Fixed axis range, for ratios. */
  max?: number
}

interface Row {
  title: string
  panels: Panel[]
}

const ROWS: Row[] = [
  {
    title: 'Savings',
    panels: [
      {
        title: 'Hit ratio (requests)',
        description: 'Manifest and blob requests answered from the cache, of all that touched it',
        unit: 'percentunit',
        max: 1,
        targets: [
          {
            expr: `sum(rate(registry_mirror_requests_total{route=~"blob|manifest",cache=~"hit|revalidated|stale",${USEL}}[${RATE}])) / sum(rate(registry_mirror_requests_total{route=~"blob|manifest",cache!="none",${USEL}}[${RATE}]))`,
            legend: 'hit ratio',
          },
        ],
      },
      {
        title: 'Hit ratio (bytes)',
        description: 'Bytes sent from the cache, of all bytes sent',
        unit: 'percentunit',
        max: 1,
        targets: [
          {
            expr: `sum(rate(registry_mirror_sent_bytes_total{source="cache",${USEL}}[${RATE}])) / sum(rate(registry_mirror_sent_bytes_total{${USEL}}[${RATE}]))`,
            legend: 'bytes from cache',
          },
        ],
      },
      {
        title: 'WAN bytes saved',
        description: 'Bytes sent to clients less bytes fetched from the upstream, over the dashboard range',
        unit: 'bytes',
        type: 'stat',
        targets: [
          {
            expr: `sum(increase(registry_mirror_sent_bytes_total{${USEL}}[$__range])) - sum(increase(registry_mirror_upstream_received_bytes_total{${USEL}}[$__range]))`,
            legend: 'saved',
          },
        ],
      },
      {
        title: 'WAN savings rate',
        description: 'Bytes per second clients got without the WAN; private pulls served from the public cache',
        unit: 'Bps',
        targets: [
          {
            expr: `sum(rate(registry_mirror_sent_bytes_total{${USEL}}[${RATE}])) - sum(rate(registry_mirror_upstream_received_bytes_total{${USEL}}[${RATE}]))`,
            legend: 'saved',
          },
          {
            expr: `sum(rate(registry_mirror_private_cache_served_bytes_total{${USEL}}[${RATE}]))`,
            legend: 'private pulls from cache',
          },
        ],
      },
    ],
  },
  {
    title: 'Traffic',
    panels: [
      {
        title: 'Traffic by source',
        description: 'Bytes per second sent to clients by where they came from, and fetched from the upstream',
        unit: 'Bps',
        targets: [
          {
            expr: `sum by (source) (rate(registry_mirror_sent_bytes_total{${USEL}}[${RATE}]))`,
            legend: 'sent from {{source}}',
          },
          {
            expr: `sum by (upstream) (rate(registry_mirror_upstream_received_bytes_total{${USEL}}[${RATE}]))`,
            legend: 'fetched from {{upstream}} (WAN)',
          },
        ],
      },
      {
        title: 'Requests by route',
        description: 'Requests per second by route kind',
        unit: 'reqps',
        targets: [
          { expr: `sum by (route) (rate(registry_mirror_requests_total{${USEL}}[${RATE}]))`, legend: '{{route}}' },
        ],
      },
      {
        title: 'Requests by upstream',
        description: 'Requests per second by the registry they were for; unnamed: the ping and refused registries',
        unit: 'reqps',
        targets: [
          {
            expr: `sum by (upstream) (rate(registry_mirror_requests_total{${USEL}}[${RATE}]))`,
            legend: '{{upstream}}',
          },
        ],
      },
      {
        title: 'Requests by cache outcome',
        description: 'hit, miss, coalesced (joined a download), revalidated, stale (upstream down), bypass (private)',
        unit: 'reqps',
        targets: [
          {
            expr: `sum by (cache) (rate(registry_mirror_requests_total{route=~"blob|manifest",${USEL}}[${RATE}]))`,
            legend: '{{cache}}',
          },
        ],
      },
      {
        title: 'Most pulled repositories',
        description: 'Manifest GETs of the most pulled public repositories (needs metricsTopRepositories)',
        unit: 'short',
        targets: [
          {
            expr: `topk(10, sum by (repository) (increase(registry_mirror_repository_pulls_total{${SEL}}[$__range])))`,
            legend: '{{repository}}',
          },
        ],
      },
      {
        title: 'Latency by route',
        description: 'p50, p95 and p99 of the time to the last byte',
        unit: 's',
        targets: [0.5, 0.95, 0.99].map((q) => ({
          expr: `histogram_quantile(${q}, sum by (le, route) (rate(registry_mirror_request_duration_seconds_bucket{${USEL}}[${RATE}])))`,
          legend: `p${q * 100} {{route}}`,
        })),
      },
      {
        title: 'Upstream time to first byte',
        description: 'p95 time from an upstream request to its headers, by upstream',
        unit: 's',
        targets: [
          {
            expr: `histogram_quantile(0.95, sum by (le, upstream, kind) (rate(registry_mirror_upstream_first_byte_seconds_bucket{${USEL}}[${RATE}])))`,
            legend: 'p95 {{upstream}} {{kind}}',
          },
        ],
      },
    ],
  },
  {
    title: 'Cache',
    panels: [
      {
        title: 'Cache size',
        description: 'Bytes cached, against the configured bound (or the filesystem size) and the free space',
        unit: 'bytes',
        targets: [
          { expr: `sum(registry_mirror_cache_size_bytes{${SEL}})`, legend: 'cached' },
          { expr: `sum(registry_mirror_cache_max_bytes{${SEL}})`, legend: 'maximum' },
          { expr: `sum(registry_mirror_cache_filesystem_free_bytes{${SEL}})`, legend: 'free on disk' },
        ],
      },
      {
        title: 'Cached blobs',
        description: 'Blobs and manifests in the cache',
        unit: 'short',
        targets: [{ expr: `sum(registry_mirror_cache_blobs{${SEL}})`, legend: 'blobs' }],
      },
      {
        title: 'Evictions',
        description: 'Blobs evicted per second to stay under the bound',
        unit: 'short',
        targets: [{ expr: `sum(rate(registry_mirror_evictions_total{${SEL}}[${RATE}]))`, legend: 'evictions' }],
      },
      {
        title: 'Downloads in flight',
        description: 'Blob downloads into the cache in progress',
        unit: 'short',
        targets: [{ expr: `sum(registry_mirror_fills_in_flight{${SEL}})`, legend: 'in flight' }],
      },
      {
        title: 'Download failures',
        description: 'Downloads that did not enter the cache, by reason',
        unit: 'short',
        targets: [
          {
            expr: `sum by (reason) (rate(registry_mirror_fill_failures_total{${USEL}}[${RATE}]))`,
            legend: '{{reason}}',
          },
        ],
      },
    ],
  },
  {
    title: 'Health',
    panels: [
      {
        title: 'Upstream errors and rate limits',
        description: 'Upstream 5xx and 429 answers, and calls that got no answer at all, by upstream',
        unit: 'reqps',
        targets: [
          {
            expr: `sum by (upstream, code) (rate(registry_mirror_upstream_responses_total{code=~"5..|429",${USEL}}[${RATE}])) or vector(0)`,
            legend: '{{upstream}} {{code}}',
          },
          {
            expr: `sum by (upstream, reason) (rate(registry_mirror_upstream_failures_total{${USEL}}[${RATE}])) or vector(0)`,
            legend: '{{upstream}} no answer: {{reason}}',
          },
        ],
      },
      {
        title: 'Upstream state',
        description:
          'Offline (configured: never contacted) and backoff (unreachable: answered from the cache without waiting), by upstream; answers served stale',
        unit: 'short',
        targets: [
          { expr: `max by (upstream) (registry_mirror_upstream_offline{${USEL}})`, legend: '{{upstream}} offline' },
          { expr: `max by (upstream) (registry_mirror_upstream_backoff{${USEL}})`, legend: '{{upstream}} in backoff' },
          {
            expr: `sum by (upstream) (rate(registry_mirror_requests_total{cache="stale",${USEL}}[${RATE}])) or vector(0)`,
            legend: '{{upstream}} stale answers/s',
          },
        ],
      },
      {
        title: 'Index health',
        description: '1 when the index answers; index operations that failed while requests were served',
        unit: 'short',
        targets: [
          { expr: `min(registry_mirror_index_up{${SEL}})`, legend: 'index up' },
          {
            expr: `sum(rate(registry_mirror_index_errors_total{${SEL}}[${RATE}])) or vector(0)`,
            legend: 'index errors/s',
          },
        ],
      },
      {
        title: 'Client aborts',
        description: 'Requests whose client left before the response was complete',
        unit: 'reqps',
        targets: [
          {
            expr: `sum by (route) (rate(registry_mirror_client_aborts_total{${USEL}}[${RATE}])) or vector(0)`,
            legend: '{{route}}',
          },
        ],
      },
      {
        title: 'Process',
        description: 'Resident memory and event-loop delay of the mirror process',
        unit: 'short',
        targets: [
          { expr: `sum(process_resident_memory_bytes{${SEL}}) / 1048576`, legend: 'RSS (MiB)' },
          { expr: `max(nodejs_eventloop_lag_p99_seconds{${SEL}}) * 1000`, legend: 'event-loop lag p99 (ms)' },
        ],
      },
    ],
  },
]

// Grafana substitutes the datasource variable; this is not a JS template.
// eslint-disable-next-line no-template-curly-in-string
const datasource = { type: 'prometheus', uid: '${datasource}' }
const WIDTH = 6
const HEIGHT = 8

function panelJson(panel: Panel, id: number, x: number, y: number): unknown {
  return {
    id,
    type: panel.type ?? 'timeseries',
    title: panel.title,
    description: panel.description,
    datasource,
    gridPos: { h: HEIGHT, w: WIDTH, x, y },
    fieldConfig: {
      defaults: { unit: panel.unit, ...(panel.max === undefined ? {} : { min: 0, max: panel.max }) },
      overrides: [],
    },
    options: panel.type === 'stat' ? { reduceOptions: { calcs: ['lastNotNull'] } } : { legend: { showLegend: true } },
    targets: panel.targets.map((t, i) => ({
      refId: String.fromCharCode(65 + i),
      datasource,
      expr: t.expr,
      legendFormat: t.legend,
    })),
  }
}

export function dashboard(): unknown {
  const panels: unknown[] = []
  let id = 1
  let y = 0
  for (const row of ROWS) {
    panels.push({ id: id++, type: 'row', title: row.title, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y } })
    y += 1
    row.panels.forEach((panel, i) => {
      panels.push(panelJson(panel, id++, (i % 4) * WIDTH, y + Math.floor(i / 4) * HEIGHT))
    })
    y += Math.ceil(row.panels.length / 4) * HEIGHT
  }
  return {
    title: 'registry-mirror',
    uid: 'registry-mirror',
    description: 'Cache savings, traffic, latency and health of registry-mirror',
    tags: ['registry-mirror', 'containers'],
    timezone: 'browser',
    schemaVersion: 39,
    version: 1,
    refresh: '30s',
    time: { from: 'now-6h', to: 'now' },
    templating: {
      list: [
        { name: 'datasource', label: 'Prometheus', type: 'datasource', query: 'prometheus' },
        {
          name: 'instance',
          label: 'Instance',
          type: 'query',
          datasource,
          query: 'label_values(registry_mirror_requests_total, instance)',
          includeAll: true,
          multi: true,
          allValue: '.*',
          current: { text: 'All', value: '$__all' },
          refresh: 2,
        },
        {
          // The registries the mirror serves (its upstreams' names); "All" also counts what
          // no upstream answered (the ping, refused registries).
          name: 'upstream',
          label: 'Upstream',
          type: 'query',
          datasource,
          query: 'label_values(registry_mirror_requests_total, upstream)',
          includeAll: true,
          multi: true,
          allValue: '.*',
          current: { text: 'All', value: '$__all' },
          refresh: 2,
        },
      ],
    },
    panels,
  }
}

export const DASHBOARD_FILE = new URL('../grafana/dashboards/registry-mirror.json', import.meta.url)

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  writeFileSync(DASHBOARD_FILE, JSON.stringify(dashboard(), null, 2) + '\n')
}
