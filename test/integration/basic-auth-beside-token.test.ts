// A Basic-auth registry (Distribution with htpasswd) served beside a token-auth default
// (Distribution behind a token server, like Docker Hub). The ping announces the default's
// Bearer challenge, so Docker and skopeo send their Basic credentials to the mirror's
// token endpoint: for the Basic upstream the mirror checks them there and seals them into
// the token, and opens that token for the Basic upstream alone. A fault proxy in front of
// the default records every Authorization header that reaches it.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { assertPrivateImageNotStored } from '../helpers/cache-assertions.js'
import { ALICE, BOB, basic, bearer } from '../helpers/credentials.js'
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js'
import { http, sha256 } from '../helpers/http.js'
import { startMirror, type RunningMirror } from '../helpers/mirror.js'
import { settledAccessLog } from '../helpers/registry.js'
import { startBasicSecondUpstream, type PlainImage, type SecondUpstream } from '../helpers/second-upstream.js'
import { ACCEPT_ALL } from '../helpers/seeded-images.js'
import { skopeoCopy, verifyDirLayout } from '../helpers/skopeo.js'
import { makeTempDir } from '../helpers/temp-dir.js'
import { TOKEN_SERVICE } from '../helpers/token-server.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

/** A registry host without a port, so that Docker takes it as a path component. */
const BASIC_NAME = 'registry.basic.test'
const SEALED = /^registry-mirror-sealed\./
const WRONG = { user: ALICE.user, password: 'not-her-password' }
const SECRET = 'one-secret-for-every-replica'

interface Stack {
  upstream: Upstream
  proxy: FaultProxy
  second: SecondUpstream
  mirror: RunningMirror
}

async function startStack(t: Test, settings: Record<string, unknown> = {}): Promise<Stack> {
  const upstream = await startUpstream()
  t.teardown(() => upstream.close())
  const proxy = await startFaultProxy(upstream.registry.url, upstream.storageDir)
  t.teardown(() => proxy.close())
  const second = await startBasicSecondUpstream(t, [ALICE])
  const mirror = await startMirror({ upstream: proxy.url, settings: mirrorSettings(second, settings) })
  t.teardown(() => mirror.close())
  return { upstream, proxy, second, mirror }
}

function mirrorSettings(second: SecondUpstream, settings: Record<string, unknown> = {}) {
  return {
    upstreamName: 'docker.io',
    defaultNamespace: 'library',
    upstreams: [{ name: BASIC_NAME, url: second.registry.url }],
    ...settings,
  }
}

/** The mirror's token endpoint, asked for a pull of `repo` as Docker asks after the ping. */
function tokenUrl(mirror: RunningMirror, repo: string): string {
  const scope = encodeURIComponent(`repository:${repo}:pull`)
  return `${mirror.url}/token?service=${TOKEN_SERVICE}&scope=${scope}`
}

async function sealedToken(mirror: RunningMirror, who = ALICE): Promise<string> {
  const answer = await http(tokenUrl(mirror, `${BASIC_NAME}/library/small`), { headers: { authorization: basic(who) } })
  if (answer.status !== 200) throw new Error(`token: ${answer.status} ${answer.body.toString()}`)
  return (JSON.parse(answer.body.toString()) as { token: string }).token
}

/** Nothing of the image on disk or in the index, and a private verdict. */
const assertNothingStored = (t: Test, mirror: RunningMirror, image: PlainImage) =>
  assertPrivateImageNotStored(t, mirror, BASIC_NAME, image)

/** No request that reached the token-auth default carried alice's Basic credentials or a sealed token. */
function assertNothingSentToDefault(t: Test, stack: Stack): void {
  const carried = stack.proxy.requests.filter(
    (r) => r.authorization !== undefined && (/^basic /i.test(r.authorization) || r.authorization.includes('sealed')),
  )
  t.same(carried, [], 'the default upstream never saw the credentials or the sealed token')
  t.same(
    stack.upstream.tokens.requests.filter((r) => r.user !== undefined),
    [],
    "the default's token server was never asked as anyone",
  )
}

t.test('skopeo with credentials pulls from the Basic upstream by its host prefix; nothing stored', async (t) => {
  const stack = await startStack(t)
  const { second, mirror } = stack
  const { small } = second.fixture
  const ping = await http(`${mirror.url}/v2/`)
  t.equal(ping.status, 401)
  t.match(ping.headers['www-authenticate'], /^Bearer realm="http:\/\/127\.0\.0\.1:\d+\/token"/, "the default's realm")

  const token = await sealedToken(mirror)
  t.match(token, SEALED, 'the token endpoint seals the checked credentials')
  t.notOk(token.includes(basic(ALICE).slice('Basic '.length)), 'which the token does not show')

  const dir = await makeTempDir('skopeo')
  t.teardown(dir.remove)
  await skopeoCopy(`${mirror.host}/${BASIC_NAME}/${small.repo}:${small.tag}`, dir.path, [
    '--src-creds',
    `${ALICE.user}:${ALICE.password}`,
  ])
  t.equal(sha256(await readFile(join(dir.path, 'manifest.json'))), small.digest, "the Basic upstream's manifest")
  const pulled = await verifyDirLayout(dir.path)
  t.same(pulled.sort(), small.blobs.map((b) => b.digest).sort(), 'every blob, each hashing to its digest')

  const log = await settledAccessLog(second.registry)
  t.ok(
    log.some((e) => e.method === 'GET' && e.path === `/v2/${small.repo}/manifests/${small.tag}` && e.status === 200),
    'the Basic registry served the manifest to the credentials the token carried',
  )
  t.ok(
    log.some((e) => e.method === 'GET' && e.path === '/v2/' && e.status === 200),
    'and checked them first, at the token endpoint',
  )
  await assertNothingStored(t, mirror, small)
  assertNothingSentToDefault(t, stack)
  t.notOk(
    JSON.stringify(mirror.logs).includes(basic(ALICE).slice('Basic '.length)),
    "the mirror's log never shows the credentials",
  )
})

t.test('a wrong password fails at the token endpoint with a 401; no credentials, no pull', async (t) => {
  const stack = await startStack(t)
  const { second, mirror } = stack
  const { small } = second.fixture
  for (const who of [WRONG, BOB]) {
    const refused = await http(tokenUrl(mirror, `${BASIC_NAME}/${small.repo}`), {
      headers: { authorization: basic(who) },
    })
    t.equal(refused.status, 401, `${who.user}:${who.password}: refused`)
    t.match(JSON.parse(refused.body.toString()), { errors: [{ code: 'UNAUTHORIZED' }] }, 'in the OCI format')
  }
  const form = (who: { user: string; password: string }) =>
    http(`${mirror.url}/token/${BASIC_NAME}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'password',
        username: who.user,
        password: who.password,
        service: TOKEN_SERVICE,
        scope: `repository:${small.repo}:pull`,
      }).toString(),
    })
  t.match(JSON.parse((await form(ALICE)).body.toString()), { token: SEALED }, "containerd's form, checked and sealed")
  t.equal((await form(WRONG)).status, 401, 'and refused with a wrong password')

  const image = `${mirror.host}/${BASIC_NAME}/${small.repo}:${small.tag}`
  for (const [what, extra] of [
    ['a wrong password', ['--src-creds', `${WRONG.user}:${WRONG.password}`]],
    ['no credentials', []],
  ] as const) {
    const dir = await makeTempDir('skopeo')
    t.teardown(dir.remove)
    await t.rejects(skopeoCopy(image, dir.path, [...extra]), { message: /401|unauthorized/i }, `${what}: no pull`)
  }
  const anonymous = await http(tokenUrl(mirror, `${BASIC_NAME}/${small.repo}`))
  const local = (JSON.parse(anonymous.body.toString()) as { token: string }).token
  t.match(local, /^registry-mirror-local\./, 'an anonymous client gets a mirror-local token')
  const manifest = await http(`${mirror.url}/v2/${BASIC_NAME}/${small.repo}/manifests/${small.tag}`, {
    headers: { ...bearer(local), accept: ACCEPT_ALL },
  })
  t.equal(manifest.status, 401, 'which opens nothing')
  await assertNothingStored(t, mirror, small)
  assertNothingSentToDefault(t, stack)
})

t.test('a sealed token replayed against the token-auth upstream counts as anonymous there', async (t) => {
  const stack = await startStack(t)
  const { upstream, mirror } = stack
  const token = await sealedToken(mirror)
  const secret = upstream.fixture.images.private!
  const small = upstream.fixture.images.small!

  const manifest = await http(`${mirror.url}/v2/${secret.repo}/manifests/1`, {
    headers: { ...bearer(token), accept: ACCEPT_ALL },
  })
  t.equal(manifest.status, 401, "alice's private image on the default: not with the Basic upstream's token")
  t.match(manifest.headers['www-authenticate'], /^Bearer realm="http:\/\/127\.0\.0\.1:\d+\/token"/)
  const pinned = await http(`${mirror.url}/v2/${secret.repo}/manifests/1?ns=docker.io`, {
    headers: { ...bearer(token), accept: ACCEPT_ALL },
  })
  t.equal(pinned.status, 401, 'nor with the default named by ns')
  const layer = await http(`${mirror.url}/v2/docker.io/${secret.repo}/blobs/${secret.blobs.at(-1)!.digest}`, {
    headers: bearer(token),
  })
  t.equal(layer.status, 401, 'nor for a blob')
  const tags = await http(`${mirror.url}/v2/${secret.repo}/tags/list`, { headers: bearer(token) })
  t.equal(tags.status, 401, 'nor for its tag list')
  const upload = await http(`${mirror.url}/v2/${secret.repo}/blobs/uploads/`, {
    method: 'POST',
    headers: bearer(token),
  })
  t.equal(upload.status, 401, 'nor for a push, which is forwarded')
  const relayed = await http(tokenUrl(mirror, secret.repo), { headers: bearer(token) })
  t.equal(relayed.status, 200, "a token request for the default's repository goes to its realm")
  t.same(
    upstream.tokens.requests.at(-1),
    { method: 'GET', user: undefined, scopes: [`repository:${secret.repo}:pull`], status: 200 },
    'as anonymous',
  )

  const publicManifest = await http(`${mirror.url}/v2/${small.repo}/manifests/1`, {
    headers: { ...bearer(token), accept: ACCEPT_ALL },
  })
  t.equal(publicManifest.status, 200, 'a public image of the default is served, as to anyone')
  t.equal(sha256(publicManifest.body), small.digest)
  assertNothingSentToDefault(t, stack)
  t.ok(
    stack.proxy.requests.some((r) => r.path.startsWith(`/v2/${secret.repo}/blobs/uploads`)),
    'the push did reach it',
  )
})

t.test("replicas with one tokenSecret open each other's tokens; another key opens none", async (t) => {
  const stack = await startStack(t, { tokenSecret: SECRET })
  const { second } = stack
  const { small } = second.fixture
  const replica = await startMirror({
    upstream: stack.proxy.url,
    settings: mirrorSettings(second, { tokenSecret: SECRET }),
  })
  t.teardown(() => replica.close())
  const stranger = await startMirror({ upstream: stack.proxy.url, settings: mirrorSettings(second) })
  t.teardown(() => stranger.close())

  const token = await sealedToken(stack.mirror)
  const path = `/v2/${BASIC_NAME}/${small.repo}/manifests/${small.tag}`
  const fromReplica = await http(`${replica.url}${path}`, { headers: { ...bearer(token), accept: ACCEPT_ALL } })
  t.equal(fromReplica.status, 200, 'the replica opens it')
  t.equal(sha256(fromReplica.body), small.digest)
  t.equal(fromReplica.headers['cache-control'], 'private', 'and passes the private manifest through')
  const fromStranger = await http(`${stranger.url}${path}`, { headers: { ...bearer(token), accept: ACCEPT_ALL } })
  t.equal(fromStranger.status, 401, 'a mirror with its own random key does not')
  await assertNothingStored(t, replica, small)
  assertNothingSentToDefault(t, stack)
})

t.test('a Basic default beside a token-auth upstream: the ping names the mirror realm, and both pull', async (t) => {
  const upstream = await startUpstream()
  t.teardown(() => upstream.close())
  const second = await startBasicSecondUpstream(t, [ALICE])
  const tokenName = 'registry.token.test'
  const mirror = await startMirror({
    upstream: second.registry.url,
    settings: { upstreamName: BASIC_NAME, upstreams: [{ name: tokenName, url: upstream.registry.url }] },
  })
  t.teardown(() => mirror.close())

  const ping = await http(`${mirror.url}/v2/`)
  t.equal(ping.status, 401)
  t.equal(ping.headers['www-authenticate'], `Bearer realm="${mirror.url}/token"`, 'one scheme for both upstreams')
  const pinned = await http(`${mirror.url}/v2/?ns=${BASIC_NAME}`)
  t.match(pinned.headers['www-authenticate'], /^Basic /i, 'a ping pinned by ns keeps its own challenge')

  const { small } = second.fixture
  const secret = upstream.fixture.images.private!
  for (const [what, image, digest] of [
    ['the Basic default', `${mirror.host}/${small.repo}:${small.tag}`, small.digest],
    ['the token upstream', `${mirror.host}/${tokenName}/${secret.repo}:1`, secret.digest],
  ] as const) {
    const dir = await makeTempDir('skopeo')
    t.teardown(dir.remove)
    await skopeoCopy(image, dir.path, ['--src-creds', `${ALICE.user}:${ALICE.password}`])
    t.equal(sha256(await readFile(join(dir.path, 'manifest.json'))), digest, `${what}: alice's private image`)
  }
  t.ok(
    upstream.tokens.requests.some((r) => r.user === ALICE.user && r.status === 200),
    "alice's credentials went to the token upstream's realm",
  )
  await mirror.app.mirror.blobs.settled()
  t.equal(await mirror.app.store.stat(small.digest), undefined, 'nothing of the Basic image stored')
  t.equal(await mirror.app.store.stat(secret.digest), undefined, 'nothing of the private image stored')
})
