import t from 'tap'
import { routeOf, type UpstreamRoute } from '../../src/oci/upstream-route.js'

const upstreams = new Set(['docker.io', 'ghcr.io', 'localhost:5000'])
const route = (name: string | undefined, namespaces: string[] = [], defaultUpstream = 'docker.io') =>
  routeOf({ name, namespaces, upstreams, defaultUpstream })
const to = (upstream: string, name: string | undefined, prefix?: string): UpstreamRoute => ({
  kind: 'upstream',
  upstream,
  name,
  prefix,
})

t.test('routing: ns first, then a registry prefix, then the default', async (t) => {
  const table: Array<[string | undefined, string[], UpstreamRoute]> = [
    ['library/alpine', [], to('docker.io', 'library/alpine')],
    ['alpine', [], to('docker.io', 'alpine')],
    ['library/alpine', ['docker.io'], to('docker.io', 'library/alpine')],
    ['org/app', ['ghcr.io'], to('ghcr.io', 'org/app')],
    ['ghcr.io/org/app', [], to('ghcr.io', 'org/app', 'ghcr.io')],
    ['GHCR.io/org/app', [], to('ghcr.io', 'org/app', 'GHCR.io')],
    ['docker.io/library/alpine', [], to('docker.io', 'library/alpine', 'docker.io')],
    ['localhost:5000/team/app', [], to('localhost:5000', 'team/app', 'localhost:5000')],
    ['ghcr.io/org/app', ['ghcr.io'], to('ghcr.io', 'org/app', 'ghcr.io')],
    ['my.project/app', ['ghcr.io'], to('ghcr.io', 'my.project/app')],
    ['ghcr.io', [], to('docker.io', 'ghcr.io')],
    ['../../etc/passwd', [], to('docker.io', '../../etc/passwd')],
    ['-x.io/app', [], to('docker.io', '-x.io/app')],
    [undefined, [], to('docker.io', undefined)],
    [undefined, ['ghcr.io'], to('ghcr.io', undefined)],
    ['library/alpine', ['docker.io', 'docker.io'], to('docker.io', 'library/alpine')],
  ]
  for (const [name, ns, expected] of table) t.same(route(name, ns), expected, `${name} ns=${ns.join(',')}`)
})

t.test('a registry no upstream has is unknown, even with a default', async (t) => {
  const table: Array<[string | undefined, string[], string]> = [
    ['library/alpine', ['quay.io'], 'quay.io'],
    ['quay.io/org/app', [], 'quay.io'],
    ['localhost/app', [], 'localhost'],
    ['ghcr.io/org/app', ['quay.io'], 'quay.io'],
    ['library/alpine', ['docker.io', 'quay.io'], 'quay.io'],
    [undefined, ['quay.io'], 'quay.io'],
  ]
  for (const [name, ns, registry] of table) {
    t.same(route(name, ns), { kind: 'unknown', registry }, `${name} ns=${ns.join(',')}`)
  }
  t.same(
    routeOf({
      name: 'library/alpine',
      namespaces: ['docker.io'],
      upstreams: new Set(['dhe.example.com']),
      defaultUpstream: 'dhe.example.com',
    }),
    { kind: 'unknown', registry: 'docker.io' },
    'a mirror of a DHE instance alone refuses docker.io',
  )
})

t.test('a request that names two served registries is a conflict', async (t) => {
  t.same(route('ghcr.io/org/app', ['docker.io']), { kind: 'conflict', registries: ['docker.io', 'ghcr.io'] })
  t.same(route('library/alpine', ['docker.io', 'ghcr.io']), { kind: 'conflict', registries: ['docker.io', 'ghcr.io'] })
})
