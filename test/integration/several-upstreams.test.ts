// Several upstreams behind one mirror: two real CNCF Distribution registries, one with token
// auth and one with none, each holding its own `library/small:1`. A request gets the image
// of the registry it names (by ns, by path prefix, or the default), never another's.
import t from 'tap'
import type { Dispatcher } from 'undici'
import { pinImage } from '../../src/cli/pins.js'
import { silentLogger } from '../../src/logger.js'
import { download, http, json, sha256 } from '../helpers/http.js'
import { settledAccessLog } from '../helpers/registry.js'
import { SECOND_NAME } from '../helpers/second-upstream.js'
import { ACCEPT_ALL } from '../helpers/seeded-images.js'
import { startTwoUpstreams } from '../helpers/setup.js'

async function digestOf(url: string): Promise<string> {
  const answer = await http(url, { headers: { accept: ACCEPT_ALL } })
  if (answer.status !== 200) throw new Error(`${url}: ${answer.status} ${answer.body.toString()}`)
  return sha256(answer.body)
}

t.test('routing by ns, by registry prefix and by default: each registry answers with its own image', async (t) => {
  const { upstream, second, mirror } = await startTwoUpstreams(t)
  const first = upstream.fixture.images.small!.digest
  const other = second.fixture.small.digest
  t.not(first, other)
  const table: Array<[string, string, string]> = [
    ['/v2/library/small/manifests/1', first, 'the default'],
    ['/v2/library/small/manifests/1?ns=docker.io', first, 'ns naming the default'],
    [`/v2/library/small/manifests/1?ns=${SECOND_NAME}`, other, 'ns naming the second'],
    [`/v2/${SECOND_NAME}/library/small/manifests/1`, other, 'the second by prefix'],
    [`/v2/${SECOND_NAME}/library/small/manifests/1?ns=${SECOND_NAME}`, other, 'prefix and ns agreeing'],
    ['/v2/docker.io/library/small/manifests/1', first, 'the default by prefix'],
    ['/v2/docker.io/small/manifests/1', first, "the default's namespace after its prefix"],
    ['/v2/small/manifests/1', first, "the default's namespace"],
  ]
  for (const [path, digest, what] of table) t.equal(await digestOf(`${mirror.url}${path}`), digest, what)
  // Cached now: each answer again, from each upstream's own tag mapping.
  for (const [path, digest, what] of table) t.equal(await digestOf(`${mirror.url}${path}`), digest, `${what}, cached`)
  const key = { repo: 'library/small', tag: '1' }
  t.same(
    (await mirror.app.index.findTags('docker.io', key.repo, key.tag)).map((r) => r.digest),
    [first],
    "the default's mapping, under its name",
  )
  t.same(
    (await mirror.app.index.findTags(SECOND_NAME, key.repo, key.tag)).map((r) => r.digest),
    [other],
    "the second's, under its own",
  )
  const tags = await json(`${mirror.url}/v2/${SECOND_NAME}/library/small/tags/list`)
  t.same(tags.body, { name: 'library/small', tags: ['1'] }, "the second's tag list")
  t.equal(
    await digestOf(`${mirror.url}/v2/${SECOND_NAME}/library/small/manifests/${other}`),
    other,
    'a manifest by digest through the prefix',
  )
})

t.test('an unknown registry or a contradiction is refused, and neither upstream hears of it', async (t) => {
  const { upstream, second, mirror } = await startTwoUpstreams(t)
  await digestOf(`${mirror.url}/v2/library/small/manifests/1`)
  await digestOf(`${mirror.url}/v2/${SECOND_NAME}/library/small/manifests/1`)
  const before = {
    first: (await settledAccessLog(upstream.registry)).length,
    second: (await settledAccessLog(second.registry)).length,
    tokens: upstream.tokens.requests.length,
  }
  const refused: Array<[Dispatcher.HttpMethod, string, number, string]> = [
    ['GET', '/v2/library/small/manifests/1?ns=ghcr.io', 404, 'NAME_UNKNOWN'],
    ['GET', '/v2/quay.io/library/small/manifests/1', 404, 'NAME_UNKNOWN'],
    ['GET', '/v2/localhost:5000/library/small/manifests/1', 404, 'NAME_UNKNOWN'],
    ['GET', `/v2/quay.io/library/small/blobs/${second.fixture.small.blobs[0]!.digest}`, 404, 'NAME_UNKNOWN'],
    ['PUT', '/v2/quay.io/library/small/manifests/1', 404, 'NAME_UNKNOWN'],
    ['GET', `/v2/${SECOND_NAME}/library/small/manifests/1?ns=docker.io`, 400, 'NAME_INVALID'],
    ['GET', `/v2/library/small/manifests/1?ns=docker.io&ns=${SECOND_NAME}`, 400, 'NAME_INVALID'],
    ['GET', '/token?scope=repository:quay.io/x:pull', 404, 'NAME_UNKNOWN'],
  ]
  for (const [method, path, status, code] of refused) {
    const answer = await http(`${mirror.url}${path}`, { method, headers: { accept: ACCEPT_ALL } })
    t.equal(answer.status, status, `${method} ${path}`)
    t.match(JSON.parse(answer.body.toString()), { errors: [{ code }] })
    if (code === 'NAME_UNKNOWN') t.match(answer.body.toString(), `it serves docker.io, ${SECOND_NAME}`)
  }
  t.equal((await settledAccessLog(upstream.registry)).length, before.first, 'no request reached the first upstream')
  t.equal((await settledAccessLog(second.registry)).length, before.second, 'nor the second')
  t.equal(upstream.tokens.requests.length, before.tokens, 'nor the token service')
})

t.test('a blob cached through one upstream is not fetched again through the other', async (t) => {
  const { upstream, second, mirror } = await startTwoUpstreams(t)
  const small = upstream.fixture.images.small!
  const shared = second.fixture.small.blobs.find((b) => small.blobs.some((s) => s.digest === b.digest))!
  t.ok(shared, 'the two images share a layer')
  const viaFirst = await download(`${mirror.url}/v2/library/small/blobs/${shared.digest}`)
  t.equal(viaFirst.digest, shared.digest)
  await mirror.app.mirror.blobs.settled()
  const viaSecond = await download(`${mirror.url}/v2/${SECOND_NAME}/library/small/blobs/${shared.digest}`)
  t.equal(viaSecond.digest, shared.digest, 'the same bytes through the second upstream')
  t.equal(viaSecond.headers['cache-control'], 'public, max-age=31536000, immutable', 'its repository is public')
  t.equal(second.registry.blobGets(shared.digest).length, 0, 'the second upstream was never asked for it')
  t.equal(upstream.registry.blobGets(shared.digest).length, 1, 'the first was asked once')
  t.match(await mirror.app.index.getBlob(shared.digest), { upstream: 'docker.io' }, 'stored once, as it came')

  const own = second.fixture.small.blobs.find((b) => !small.blobs.some((s) => s.digest === b.digest))!
  const notThere = await http(`${mirror.url}/v2/library/small/blobs/${own.digest}`)
  t.not(notThere.status, 200, "the first upstream's repository does not get the second's own layer")
})

t.test('allow and deny lists refuse a repository without asking its upstream', async (t) => {
  const { upstream, second, mirror } = await startTwoUpstreams(t, (secondUrl) => ({
    upstreams: [
      { name: 'docker.io', deny: ['private/**'] },
      { name: SECOND_NAME, url: secondUrl, allow: ['team/*'] },
    ],
  }))
  // The start-up probe of each upstream's /v2/ is the one request it may have had.
  await Promise.all(mirror.app.mirror.names.map((name) => mirror.app.mirror.upstream(name)!.client.authScheme()))
  const before = (await settledAccessLog(second.registry)).length
  const denied = await http(`${mirror.url}/v2/${SECOND_NAME}/library/small/manifests/1`, {
    headers: { accept: ACCEPT_ALL },
  })
  t.equal(denied.status, 403)
  t.match(JSON.parse(denied.body.toString()), { errors: [{ code: 'DENIED', detail: { registry: SECOND_NAME } }] })
  t.equal((await settledAccessLog(second.registry)).length, before, 'the second upstream was not asked')
  const secret = upstream.fixture.images.private!
  t.equal((await http(`${mirror.url}/v2/${secret.repo}/manifests/1`)).status, 403, 'denied on the default')
  t.equal(await digestOf(`${mirror.url}/v2/library/small/manifests/1`), upstream.fixture.images.small!.digest)
})

t.test("pinning another upstream's image by its registry prefix", async (t) => {
  const { second, mirror } = await startTwoUpstreams(t)
  const image = second.fixture.small
  await digestOf(`${mirror.url}/v2/${SECOND_NAME}/${image.repo}/manifests/1`)
  for (const blob of image.blobs) await download(`${mirror.url}/v2/${SECOND_NAME}/${image.repo}/blobs/${blob.digest}`)
  await mirror.app.mirror.blobs.settled()
  const pin = await pinImage(mirror.config, silentLogger, `${SECOND_NAME}/${image.repo}:1`)
  t.equal(pin.image, `${SECOND_NAME}/${image.repo}:1`, 'named with its registry')
  t.same(pin.digests.sort(), [image.digest, ...image.blobs.map((b) => b.digest)].sort(), "the second's image")
  await t.rejects(
    pinImage(mirror.config, silentLogger, `${image.repo}:1`),
    /not cached/,
    "the default's image of the same name was never pulled",
  )
  await t.rejects(
    pinImage(mirror.config, silentLogger, 'quay.io/org/app:1'),
    /registry quay\.io is not served by this mirror/,
  )
})
