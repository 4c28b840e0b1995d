// Layers point one way: server → mirror → {upstream → auth, cache} → {oci, http, errors}.
// `npm run lint` checks these rules and that no import cycle exists.
const layer = (name, from, forbidden) => ({
  name,
  severity: 'error',
  from: { path: `^src/(${from})/` },
  to: { path: `^src/(${forbidden.join('|')})/` },
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
