// Layers point one way: server → mirror → {upstream → auth, cache} → {oci, http, errors}.
// Commands (cli) and the server's control channel use transfer/ (prefetch, bundles), which
// uses the mirror and the cache.
// `npm run lint` checks these rules and that no import cycle exists.
//
// Inside src/mirror/, each room does one job; the files at the top serve them all.
//
//   in src/mirror/                              may import, of the mirror's own files
//   fill/       the download and its readers     the shared files
//   access/     verdicts, the registry's auth    the shared files
//   manifests/                                   access/ and the shared files
//   blobs/                                       fill/, access/ and the shared files
//   tag-list-service.ts, referrers-service.ts   access/ and the shared files
//   upstream-mirror.ts  one upstream's services  everything but mirror.ts
//   mirror.ts   the composition: the upstreams   everything
//               over the cache they share
//   the shared files: results, request-context, telemetry, byte-source, single-flight,
//   upstream-errors, eviction                    no room
//
// Nothing in src/mirror/ imports mirror.ts, and nothing outside src/mirror/ reaches into a room.
const layer = (name, from, forbidden) => ({
  name,
  severity: 'error',
  from: { path: `^src/(${from})/` },
  to: { path: `^src/(${forbidden.join('|')})/` },
})
const ROOMS = ['fill', 'access', 'manifests', 'blobs']
const room = (name, from, forbidden) => ({
  name,
  severity: 'error',
  from: { path: `^src/mirror/${from}` },
  to: { path: `^src/mirror/(${forbidden.join('|')})/` },
})

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    { name: 'no-unresolvable', severity: 'error', from: {}, to: { couldNotResolve: true } },
    {
      name: 'src-not-from-tests',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench|scripts)/' },
    },
    {
      name: 'server-only-from-app',
      comment: 'Only the composition root wires the HTTP layer in.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(server/|app\\.ts$)' },
      to: { path: '^src/server/' },
    },
    layer('pure-stays-pure', 'oci|http', ['server', 'mirror', 'upstream', 'auth', 'cache', 'config']),
    layer('buffers-stand-alone', 'buffers', ['server', 'mirror', 'upstream', 'auth', 'cache', 'config', 'oci', 'http']),
    layer('cache-knows-no-network', 'cache', ['server', 'mirror', 'upstream', 'auth']),
    layer('auth-below-upstream', 'auth', ['server', 'mirror', 'upstream', 'cache']),
    layer('upstream-below-mirror', 'upstream', ['server', 'mirror', 'cache']),
    layer('mirror-has-no-http', 'mirror', ['server']),
    room('fill-knows-no-other-room', 'fill/', ['access', 'manifests', 'blobs']),
    room('access-knows-no-other-room', 'access/', ['fill', 'manifests', 'blobs']),
    room('manifests-use-access-only', 'manifests/', ['fill', 'blobs']),
    room('blobs-leave-manifests-alone', 'blobs/', ['manifests']),
    room('tags-and-referrers-use-access-only', '(tag-list|referrers)-service\\.ts$', ['fill', 'manifests', 'blobs']),
    {
      name: 'shared-mirror-files-know-no-room',
      severity: 'error',
      from: {
        path: '^src/mirror/[^/]+\\.ts$',
        pathNot: '^src/mirror/(mirror|upstream-mirror|tag-list-service|referrers-service)\\.ts$',
      },
      to: { path: `^src/mirror/(${ROOMS.join('|')})/` },
    },
    {
      name: 'rooms-are-inside-the-mirror',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/mirror/' },
      to: { path: `^src/mirror/(${ROOMS.join('|')})/` },
    },
    {
      name: 'the-composition-is-the-mirrors-top',
      comment: 'The mirror is used through mirror.ts, never from inside it.',
      severity: 'error',
      from: { path: '^src/mirror/' },
      to: { path: '^src/mirror/mirror\\.ts$' },
    },
    layer('transfer-below-commands', 'transfer', ['server', 'cli']),
    layer('transfer-only-from-the-top', 'mirror|cache|upstream|auth|oci|http|config|buffers|metrics', ['transfer']),
    {
      name: 'one-upstream-is-composed-by-the-mirror',
      comment: 'Inside the mirror, only mirror.ts builds the upstreams.',
      severity: 'error',
      from: { path: '^src/mirror/', pathNot: '^src/mirror/mirror\\.ts$' },
      to: { path: '^src/mirror/upstream-mirror\\.ts$' },
    },
    layer('metrics-only-at-the-top', 'mirror|cache|upstream|auth|oci|http|config', ['metrics']),
    {
      name: 'prom-client-only-in-metrics',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(metrics/|app\\.ts$|server/health-routes\\.ts$)' },
      to: { path: '(^|/)node_modules/prom-client' },
    },
    {
      name: 'mirror-has-no-fastify',
      severity: 'error',
      from: { path: '^src/(mirror|cache|upstream|auth|oci|http|config)/' },
      to: { path: '(^|/)node_modules/(fastify|@fastify/)' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
    },
  },
}
