// deploy/compose.yaml as docker-compose resolves it (`docker-compose config`, Debian's
// docker-compose package): valid, and its services, ports, volumes and mounted files as
// intended, with Prometheus and Grafana pointed at the compose service names.
import { execFile, execFileSync } from 'node:child_process'
import { access, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { parse } from 'yaml'
import { z } from 'zod'

const run = promisify(execFile)
const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '')

const Service = z.object({
  image: z.string(),
  build: z.object({ context: z.string() }).optional(),
  environment: z.record(z.string(), z.string()).optional(),
  ports: z.array(z.union([z.string(), z.object({ published: z.number(), target: z.number() })])).optional(),
  volumes: z.array(z.string()).optional(),
})
const Resolved = z.object({
  services: z.record(z.string(), Service),
  volumes: z.record(z.string(), z.object({ name: z.string() })),
})

function hasCompose(): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v docker-compose'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** `host:container` for every published port, whichever form compose printed it in. */
function ports(service: z.infer<typeof Service>): string[] {
  return (service.ports ?? []).map((p) =>
    typeof p === 'string' ? p.replace(/\/tcp$/, '') : `${p.published}:${p.target}`,
  )
}

/** Mounts as `source -> target`, sources relative to the repository. */
function mounts(service: z.infer<typeof Service>): string[] {
  return (service.volumes ?? []).map((v) => {
    const [source, target] = v.split(':')
    return `${source!.startsWith('/') ? source!.slice(ROOT.length + 1) : source!} -> ${target!}`
  })
}

if (!hasCompose()) {
  t.plan(0, 'needs docker-compose (apt-get install docker-compose)')
} else {
  // A bare environment, so the defaults in the file are what is checked.
  const { stdout } = await run('docker-compose', ['-f', 'deploy/compose.yaml', 'config'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH },
  })
  const config = Resolved.parse(parse(stdout))
  const { mirror, redis, prometheus, grafana } = config.services

  t.test('four services and a named volume for each one that keeps data', async (t) => {
    t.same(Object.keys(config.services).sort(), ['grafana', 'mirror', 'prometheus', 'redis'])
    t.same(
      Object.values(config.volumes)
        .map((v) => v.name)
        .sort(),
      ['registry-mirror-cache', 'registry-mirror-grafana', 'registry-mirror-prometheus', 'registry-mirror-redis'],
    )
  })

  t.test(
    'the mirror: built from the Dockerfile, on port 5000, its cache on a volume, Redis as its index',
    async (t) => {
      t.equal(mirror?.build?.context, ROOT, 'built from the repository')
      t.same(ports(mirror!), ['5000:5000'])
      t.same(mounts(mirror!), ['cache -> /var/lib/registry-mirror'])
      const redisUrl = new URL(mirror?.environment?.MIRROR_REDIS_URL ?? '')
      t.equal(redisUrl.hostname, 'redis', 'the Redis service')
      t.equal(redisUrl.port, '6379')
      t.equal(mirror?.environment?.MIRROR_UPSTREAM, 'https://registry-1.docker.io')
      t.same(mounts(redis!), ['redis -> /data'])
    },
  )

  t.test('Prometheus scrapes the mirror service and loads the alert rules', async (t) => {
    t.same(mounts(prometheus!), [
      'deploy/prometheus/prometheus.yml -> /etc/prometheus/prometheus.yml',
      'deploy/prometheus/alerts.yml -> /etc/prometheus/alerts.yml',
      'prometheus -> /prometheus',
    ])
    t.same(ports(prometheus!), ['127.0.0.1:9090:9090'], 'Prometheus has no auth: local only')
    const scrape: unknown = parse(await readFile(join(ROOT, 'deploy/prometheus/prometheus.yml'), 'utf8'))
    const config = z
      .object({
        rule_files: z.array(z.string()),
        scrape_configs: z.array(z.object({ static_configs: z.array(z.object({ targets: z.array(z.string()) })) })),
      })
      .parse(scrape)
    t.same(config.rule_files, ['alerts.yml'], 'beside prometheus.yml in the container')
    t.same(config.scrape_configs[0]?.static_configs[0]?.targets, ['mirror:5000'])
  })

  t.test('Grafana gets the datasource and the dashboard where its provisioning looks', async (t) => {
    const provisioning: unknown = parse(
      await readFile(join(ROOT, 'grafana/provisioning/dashboards/registry-mirror.yml'), 'utf8'),
    )
    const dashboardPath = z
      .object({ providers: z.array(z.object({ options: z.object({ path: z.string() }) })) })
      .parse(provisioning).providers[0]?.options.path
    t.same(mounts(grafana!), [
      'grafana/provisioning -> /etc/grafana/provisioning',
      `grafana/dashboards -> ${dashboardPath ?? 'no path'}`,
      'grafana -> /var/lib/grafana',
    ])
    t.same(ports(grafana!), ['3000:3000'])
    const datasources: unknown = parse(
      await readFile(join(ROOT, 'grafana/provisioning/datasources/prometheus.yml'), 'utf8'),
    )
    const url = z.object({ datasources: z.array(z.object({ url: z.string() })) }).parse(datasources).datasources[0]?.url
    t.equal(url, 'http://prometheus:9090', 'the Prometheus service on its container port')
  })

  t.test('every file the services mount exists', async (t) => {
    const sources = Object.values(config.services).flatMap((s) =>
      (s.volumes ?? []).map((v) => v.split(':')[0]!).filter((source) => source.startsWith('/')),
    )
    t.equal(sources.length, 4)
    for (const source of sources) await t.resolves(access(source), source.slice(ROOT.length + 1))
  })
}
