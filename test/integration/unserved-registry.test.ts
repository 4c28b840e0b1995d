// A containerd node whose hosts.toml sends another registry (ghcr.io) to this mirror names
// that registry in `?ns=`. The mirror must never answer it with its own upstream's image
// of the same name: it refuses the request before any upstream is asked.
import t from 'tap'
import type { Dispatcher } from 'undici'
import { http } from '../helpers/http.js'
import { settledAccessLog } from '../helpers/registry.js'
import { ACCEPT_ALL } from '../helpers/seeded-images.js'
import { startStack } from '../helpers/setup.js'

t.test('a request whose ns names a registry the mirror does not serve is a 404 naming those it serves', async (t) => {
  const { upstream, mirror } = await startStack(t)
  const small = upstream.fixture.images.small!
  const served = mirror.config.upstream.name
  const cached = await http(`${mirror.url}/v2/${small.repo}/manifests/1?ns=${served}`, {
    headers: { accept: ACCEPT_ALL },
  })
  t.equal(cached.status, 200, 'the registry the mirror serves, named by its ns, is answered (and now cached)')

  const upstreamBefore = (await settledAccessLog(upstream.registry)).length
  const tokensBefore = upstream.tokens.requests.length
  const blob = small.blobs[0]!.digest
  const refused: Array<[Dispatcher.HttpMethod, string]> = [
    ['GET', `/v2/${small.repo}/manifests/1?ns=ghcr.io`],
    ['HEAD', `/v2/${small.repo}/manifests/1?ns=ghcr.io`],
    ['GET', `/v2/${small.repo}/manifests/${small.digest}?ns=GHCR.IO`],
    ['GET', `/v2/${small.repo}/blobs/${blob}?ns=ghcr.io`],
    ['GET', `/v2/${small.repo}/tags/list?ns=ghcr.io`],
    ['GET', `/v2/_catalog?ns=ghcr.io`],
    ['POST', `/v2/${small.repo}/blobs/uploads/?ns=ghcr.io`],
    ['GET', `/v2/${small.repo}/manifests/1?ns=${served}&ns=quay.io`],
    ['GET', `/v2/?ns=ghcr.io`],
  ]
  for (const [method, path] of refused) {
    const answer = await http(`${mirror.url}${path}`, { method, headers: { accept: ACCEPT_ALL } })
    t.equal(answer.status, 404, `${method} ${path}`)
    if (method === 'HEAD') continue
    const body = JSON.parse(answer.body.toString()) as { errors: Array<{ code: string; message: string }> }
    t.equal(body.errors[0]?.code, 'NAME_UNKNOWN')
    t.match(body.errors[0]?.message, `is not served by this mirror; it serves ${served}`)
  }
  t.equal((await settledAccessLog(upstream.registry)).length, upstreamBefore, 'no request reached the upstream')
  t.equal(upstream.tokens.requests.length, tokensBefore, 'nor its token service')
})
