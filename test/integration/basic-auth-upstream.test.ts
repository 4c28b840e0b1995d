// An upstream with Basic auth: CNCF Distribution with an htpasswd file. Content behind
// Basic auth is private to the mirror's anonymous probe, so it passes through with the
// client's own credentials and is never cached; the mirror's own account on such an
// upstream opens nothing to anonymous clients.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { ALICE, BOB, basic } from '../helpers/credentials.js'
import { assertPrivateImageNotStored } from '../helpers/cache-assertions.js'
import { http, sha256 } from '../helpers/http.js'
import { startMirror, type RunningMirror } from '../helpers/mirror.js'
import { BASIC_REALM, settledAccessLog } from '../helpers/registry.js'
import {
  SECOND_NAME,
  startBasicSecondUpstream,
  type PlainImage,
  type SecondUpstream,
} from '../helpers/second-upstream.js'
import { ACCEPT_ALL } from '../helpers/seeded-images.js'
import { skopeoCopy, verifyDirLayout } from '../helpers/skopeo.js'
import { makeTempDir } from '../helpers/temp-dir.js'
import { startUpstream } from '../helpers/upstream.js'

/** The mirror's own account on the Basic upstream: a user the registry knows, like alice. */
const MIRROR_BOT = { user: 'mirror-bot', password: 'mirror-bot-secret' }
const CHALLENGE = new RegExp(`^Basic realm="${BASIC_REALM}"$`, 'i')

const startBasicUpstream = (t: Test) => startBasicSecondUpstream(t, [ALICE, MIRROR_BOT])

/** The Basic upstream alone, as the default. */
async function startBasicDefault(t: Test): Promise<{ second: SecondUpstream; mirror: RunningMirror }> {
  const second = await startBasicUpstream(t)
  const mirror = await startMirror({ upstream: second.registry.url, settings: { upstreamName: SECOND_NAME } })
  t.teardown(() => mirror.close())
  return { second, mirror }
}

/** Nothing of the image on disk or in the index, and a private verdict. */
const assertNothingStored = (t: Test, mirror: RunningMirror, image: PlainImage) =>
  assertPrivateImageNotStored(t, mirror, SECOND_NAME, image)

async function assertChallenged(t: Test, url: string, headers: Record<string, string>, what: string) {
  const answer = await http(url, { headers: { ...headers, accept: ACCEPT_ALL } })
  t.equal(answer.status, 401, what)
  t.match(answer.headers['www-authenticate'], CHALLENGE, `${what}: the upstream's Basic challenge, as it is`)
  t.match(JSON.parse(answer.body.toString()), { errors: [{ code: 'UNAUTHORIZED' }] }, `${what}: an OCI error`)
}

t.test(
  'a Basic upstream as the default: skopeo pulls with its own credentials, byte-exact, nothing stored',
  async (t) => {
    const { second, mirror } = await startBasicDefault(t)
    const { small } = second.fixture
    const ping = await http(`${mirror.url}/v2/`)
    t.equal(ping.status, 401, 'the ping asks for credentials')
    t.match(ping.headers['www-authenticate'], CHALLENGE, "with the upstream's Basic challenge")

    const dir = await makeTempDir('skopeo')
    t.teardown(dir.remove)
    await skopeoCopy(`${mirror.host}/${small.repo}:${small.tag}`, dir.path, [
      '--src-creds',
      `${ALICE.user}:${ALICE.password}`,
    ])
    t.equal(sha256(await readFile(join(dir.path, 'manifest.json'))), small.digest, 'the manifest, byte-exact')
    const pulled = await verifyDirLayout(dir.path)
    t.same(pulled.sort(), small.blobs.map((b) => b.digest).sort(), 'every blob, each hashing to its digest')

    const log = await settledAccessLog(second.registry)
    t.ok(
      log.some((e) => e.method === 'GET' && e.path === `/v2/${small.repo}/manifests/${small.tag}` && e.status === 200),
      "the registry served the manifest to alice's forwarded credentials",
    )
    await assertNothingStored(t, mirror, small)
  },
)

t.test('without credentials, or with wrong ones: a 401 with the Basic challenge, nothing stored', async (t) => {
  const { second, mirror } = await startBasicDefault(t)
  const { small } = second.fixture
  const paths = [
    `/v2/${small.repo}/manifests/${small.tag}`,
    `/v2/${small.repo}/manifests/${small.digest}`,
    `/v2/${small.repo}/blobs/${small.blobs[1]!.digest}`,
    `/v2/${small.repo}/tags/list`,
  ]
  for (const path of paths) {
    await assertChallenged(t, `${mirror.url}${path}`, {}, `anonymous ${path}`)
    await assertChallenged(t, `${mirror.url}${path}`, { authorization: basic(BOB) }, `bob, unknown there, ${path}`)
  }
  await assertNothingStored(t, mirror, small)
})

t.test("the mirror's own account on a Basic upstream opens nothing; clients pass through with theirs", async (t) => {
  const upstream = await startUpstream()
  t.teardown(() => upstream.close())
  const second = await startBasicUpstream(t)
  // The token registry is the default; the Basic one a second upstream with the mirror's account.
  const mirror = await startMirror({
    upstream: upstream.registry.url,
    settings: {
      upstreamName: 'docker.io',
      defaultNamespace: 'library',
      upstreams: [
        { name: SECOND_NAME, url: second.registry.url, username: MIRROR_BOT.user, password: MIRROR_BOT.password },
      ],
    },
  })
  t.teardown(() => mirror.close())
  const { small } = second.fixture

  const ping = await http(`${mirror.url}/v2/?ns=${SECOND_NAME}`)
  t.equal(ping.status, 401, 'a ping naming the Basic upstream')
  t.match(ping.headers['www-authenticate'], CHALLENGE, "gets that upstream's challenge")
  const manifest = `/v2/${SECOND_NAME}/${small.repo}/manifests/${small.tag}`
  const blob = `/v2/${small.repo}/blobs/${small.blobs[1]!.digest}?ns=${SECOND_NAME}`
  for (const path of [manifest, blob]) await assertChallenged(t, `${mirror.url}${path}`, {}, `anonymous ${path}`)
  // The mirror-bot would have been answered 200: the registry has answered nothing but 401s.
  t.same(
    (await settledAccessLog(second.registry)).filter((e) => e.status !== 401),
    [],
    'the mirror never authenticated as itself, not even to probe',
  )

  const pulled = await http(`${mirror.url}${manifest}`, {
    headers: { authorization: basic(ALICE), accept: ACCEPT_ALL },
  })
  t.equal(pulled.status, 200, "alice's own credentials, forwarded")
  t.equal(sha256(pulled.body), small.digest, 'the manifest, byte-exact')
  t.equal(pulled.headers['cache-control'], 'private')
  const layer = await http(`${mirror.url}${blob}`, { headers: { authorization: basic(ALICE) } })
  t.equal(layer.status, 200)
  t.equal(sha256(layer.body), small.blobs[1]!.digest, 'the layer, byte-exact')
  t.equal(layer.headers['cache-control'], 'private')

  // Asked again anonymously once alice's pull went through: still nothing to see.
  for (const path of [manifest, blob]) await assertChallenged(t, `${mirror.url}${path}`, {}, `anonymous ${path}, after`)
  await assertNothingStored(t, mirror, small)
})
