import t from 'tap'
import { headRecord } from '../../src/mirror/manifests/manifest-body.js'
import type { UpstreamResponse } from '../../src/upstream/upstream-client.js'

const digest = `sha256:${'a'.repeat(64)}`
const head = (headers: Record<string, string>) =>
  ({ status: 200, headers, body: undefined }) as unknown as UpstreamResponse

t.test('a HEAD answer makes a tag mapping only when it says everything', async (t) => {
  const oci = 'application/vnd.oci.image.manifest.v1+json'
  t.match(headRecord(head({ 'docker-content-digest': digest, 'content-length': '527', 'content-type': oci }), 1), {
    digest,
    size: 527,
    mediaType: oci,
    checkedAt: 1,
  })
  t.equal(headRecord(head({ 'content-length': '527', 'content-type': oci }), 1), undefined, 'no digest')
  t.equal(headRecord(head({ 'docker-content-digest': digest, 'content-type': oci }), 1), undefined, 'no length')
  t.equal(
    headRecord(head({ 'docker-content-digest': digest, 'content-length': '0', 'content-type': oci }), 1),
    undefined,
    'a manifest is never empty',
  )
  for (const generic of ['application/json', 'text/plain; charset=utf-8']) {
    t.equal(
      headRecord(head({ 'docker-content-digest': digest, 'content-length': '527', 'content-type': generic }), 1),
      undefined,
      `${generic}: the GET reads the type from the body`,
    )
  }
})
