// Pushes addressed through the mirror go to the upstream they name, so a site can push
// and pull at one address; a pushed tag is forgotten at once, whatever its TTL.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import t from 'tap'
import { request } from 'undici'
import { ALICE } from '../helpers/credentials.js'
import { http, sha256 } from '../helpers/http.js'
import { SECOND_NAME, describePlain, pushAnonymously, writeImage } from '../helpers/second-upstream.js'
import { ACCEPT_ALL } from '../helpers/seeded-images.js'
import { startTwoUpstreams } from '../helpers/setup.js'
import { makeTempDir } from '../helpers/temp-dir.js'

const run = promisify(execFile)

async function manifestDigest(url: string): Promise<string> {
  const answer = await http(url, { headers: { accept: ACCEPT_ALL } })
  if (answer.status !== 200) throw new Error(`${url}: ${answer.status} ${answer.body.toString()}`)
  return sha256(answer.body)
}

t.test('a push by registry prefix lands in that upstream; the next pull of the tag sees it at once', async (t) => {
  // A tag TTL of an hour: only the push itself can make the mirror ask again.
  const { upstream, second, mirror } = await startTwoUpstreams(t, { tagTtl: 3600 })
  const byPrefix = `${mirror.url}/v2/${SECOND_NAME}/library/small/manifests/1`
  const byNs = `${mirror.url}/v2/library/small/manifests/1?ns=${SECOND_NAME}`
  const byDefault = `${mirror.url}/v2/library/small/manifests/1`
  t.equal(await manifestDigest(byPrefix), second.fixture.small.digest, 'the old tag, now cached')
  t.equal(await manifestDigest(byNs), second.fixture.small.digest)
  t.equal(await manifestDigest(byDefault), upstream.fixture.images.small!.digest)

  const layout = await makeTempDir('push-layout')
  t.teardown(() => layout.remove())
  await writeImage(layout.path, 'new', [
    { size: 1024, seed: 'small-1' },
    { size: 4 * 1024, seed: 'pushed-through-the-mirror' },
  ])
  await pushAnonymously(layout.path, 'new', `${mirror.host}/${SECOND_NAME}/library/small:1`)
  const pushed = await describePlain(second.registry.url, 'library/small', '1')
  t.not(pushed.digest, second.fixture.small.digest, 'the second upstream holds the pushed image under the tag')
  t.ok(
    second.registry
      .accessLog()
      .some((e) => e.method === 'PUT' && e.path === '/v2/library/small/manifests/1' && e.status === 201),
    'the manifest went to the second upstream, without the prefix',
  )
  t.notOk(
    upstream.registry.accessLog().some((e) => e.method !== 'GET' && e.method !== 'HEAD'),
    'nothing was written to the first',
  )
  t.equal(await manifestDigest(byPrefix), pushed.digest, 'the pull by prefix sees the new digest at once')
  t.equal(await manifestDigest(byNs), pushed.digest, 'and so does the pull by ns')
  t.equal(await manifestDigest(byDefault), upstream.fixture.images.small!.digest, "the default's tag is its own")
})

t.test('an upload session begun with ns continues on the same upstream', async (t) => {
  const { upstream, second, mirror } = await startTwoUpstreams(t)
  const data = Buffer.from('a blob pushed with ns')
  const started = await http(`${mirror.url}/v2/library/pushed/blobs/uploads/?ns=${SECOND_NAME}`, { method: 'POST' })
  t.equal(started.status, 202)
  const location = started.headers.location as string
  t.match(location, new RegExp(`^/v2/${SECOND_NAME}/library/pushed/blobs/uploads/`), 'the Location names its registry')
  const put = await request(`${mirror.url}${location}&digest=${sha256(data)}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream' },
    body: data,
  })
  await put.body.dump()
  t.equal(put.statusCode, 201)
  const back = await http(`${second.registry.url}/v2/library/pushed/blobs/${sha256(data)}`)
  t.same(back.body, data, 'the blob is in the second upstream')
  t.notOk(
    upstream.registry.accessLog().some((e) => e.path.includes('/library/pushed/')),
    'and the first never saw it',
  )
})

t.test('a push by the default upstream prefix goes to the default, with its realm and names', async (t) => {
  const { upstream, second, mirror } = await startTwoUpstreams(t)
  const layout = await makeTempDir('push-layout')
  t.teardown(() => layout.remove())
  await writeImage(layout.path, 'app', [{ size: 2048, seed: 'pushed-to-the-default' }])
  await run('skopeo', [
    'copy',
    '--quiet',
    '--dest-tls-verify=false',
    '--dest-creds',
    `${ALICE.user}:${ALICE.password}`,
    `oci:${layout.path}:app`,
    `docker://${mirror.host}/docker.io/public/pushed:1`,
  ])
  t.ok(
    upstream.registry
      .accessLog()
      .some((e) => e.method === 'PUT' && e.path === '/v2/public/pushed/manifests/1' && e.status === 201),
  )
  t.ok(
    upstream.tokens.requests.some(
      (r) => r.user === ALICE.user && r.scopes.some((s) => s.startsWith('repository:public/pushed:')),
    ),
    'the token was asked for the name the upstream knows',
  )
  t.notOk(second.registry.accessLog().some((e) => e.path.includes('/public/pushed/')))
})
