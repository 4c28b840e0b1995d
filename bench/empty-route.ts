// The reference for the manifest HEAD figure: an empty fastify route that answers with the
// headers the mirror sends for a cached tag, and does nothing else. Run as its own process,
// as the mirror is: `node --import tsx bench/empty-route.ts <port>`.
import fastify from 'fastify'

const DIGEST = `sha256:${'0'.repeat(64)}`
const port = Number(process.argv[2] ?? 0)
const app = fastify({ exposeHeadRoutes: false })
app.route({
  method: ['GET', 'HEAD'],
  url: '/v2/*',
  handler: async (_request, reply) =>
    reply
      .headers({
        'docker-distribution-api-version': 'registry/2.0',
        'content-type': 'application/vnd.oci.image.index.v1+json',
        'docker-content-digest': DIGEST,
        etag: `"${DIGEST}"`,
        'content-length': 1024,
      })
      .send(),
})
const address = await app.listen({ host: '127.0.0.1', port })
process.stdout.write(`empty route listening at ${address}\n`)
process.on('SIGTERM', () => {
  app.close().then(
    () => process.exit(0),
    () => process.exit(1),
  )
})
