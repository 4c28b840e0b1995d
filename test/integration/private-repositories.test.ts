import t, { type Test } from 'tap'
import { ALICE, basic, bearer, BOB, tokenVia } from '../helpers/credentials.js'
import { http, sha256 } from '../helpers/http.js'
import { ACCEPT_ALL } from '../helpers/seeded-images.js'
import { startStack, type Stack } from '../helpers/setup.js'
import { skopeoCopy, verifyDirLayout } from '../helpers/skopeo.js'
import { makeTempDir } from '../helpers/temp-dir.js'

const DENIED = [401, 403]

/** Everything an unauthorised client might try for the private image; all of it must fail. */
async function assertLockedOut(t: Test, { upstream, mirror }: Stack, when: string): Promise<void> {
  const secret = upstream.fixture.images.private!
  const small = upstream.fixture.images.small!
  const privateOnly = secret.blobs.filter((b) => !small.blobs.some((s) => s.digest === b.digest))
  const out = await makeTempDir('pull')
  t.teardown(out.remove)
  await t.rejects(skopeoCopy(`${mirror.host}/${secret.repo}:1`, out.path), `${when}: anonymous skopeo pull fails`)
  await t.rejects(
    skopeoCopy(`${mirror.host}/${secret.repo}:1`, out.path, ['--src-creds', `${BOB.user}:${BOB.password}`]),
    `${when}: another user's skopeo pull fails`,
  )
  const bobToken = await tokenVia(mirror.url, secret.repo, BOB)
  for (const [who, headers] of [
    ['anonymous', {}],
    ['bob', bearer(bobToken)],
    ['a mirror-local token', bearer('registry-mirror-local.forged')],
  ] as const) {
    const manifest = await http(`${mirror.url}/v2/${secret.repo}/manifests/1`, {
      headers: { ...headers, accept: ACCEPT_ALL },
    })
    t.ok(DENIED.includes(manifest.status), `${when}, ${who}: manifest by tag → ${manifest.status}`)
    const byDigest = await http(`${mirror.url}/v2/${secret.repo}/manifests/${secret.digest}`, { headers })
    t.ok(DENIED.includes(byDigest.status), `${when}, ${who}: manifest by digest → ${byDigest.status}`)
    for (const blob of privateOnly) {
      const underPrivate = await http(`${mirror.url}/v2/${secret.repo}/blobs/${blob.digest}`, { headers })
      t.ok(
        DENIED.includes(underPrivate.status),
        `${when}, ${who}: private blob under its own name → ${underPrivate.status}`,
      )
      const underPublic = await http(`${mirror.url}/v2/${small.repo}/blobs/${blob.digest}`, { headers })
      t.not(underPublic.status, 200, `${when}, ${who}: private blob under a public name → ${underPublic.status}`)
      t.not(sha256(underPublic.body), blob.digest)
    }
  }
}

t.test('public content is cached for everyone; private content passes through and leaves nothing behind', async (t) => {
  const stack = await startStack(t)
  const { upstream, mirror } = stack
  const small = upstream.fixture.images.small!
  const secret = upstream.fixture.images.private!

  await assertLockedOut(t, stack, 'before')

  const pub = await makeTempDir('pull')
  t.teardown(pub.remove)
  await skopeoCopy(`${mirror.host}/${small.repo}:1`, pub.path)
  await mirror.app.mirror.blobs.settled()
  for (const blob of small.blobs) t.ok(await mirror.app.store.stat(blob.digest), 'public blob cached')
  t.ok(await mirror.app.store.stat(small.digest), 'public manifest cached')

  const priv = await makeTempDir('pull')
  t.teardown(priv.remove)
  await skopeoCopy(`${mirror.host}/${secret.repo}:1`, priv.path, ['--src-creds', `${ALICE.user}:${ALICE.password}`])
  const pulled = await verifyDirLayout(priv.path)
  t.ok(
    secret.blobs.every((b) => pulled.includes(b.digest)),
    'alice pulled her private image through the mirror, byte-exact',
  )

  const privateOnly = [secret.digest, ...secret.blobs.map((b) => b.digest)].filter(
    (d) => !small.blobs.some((s) => s.digest === d),
  )
  for (const digest of privateOnly) {
    t.equal(await mirror.app.store.stat(digest), undefined, `${digest.slice(0, 19)}… not on disk`)
    t.equal(await mirror.app.index.getBlob(digest), undefined, `${digest.slice(0, 19)}… not in the index`)
  }
  const upstreamName = mirror.config.upstream.name
  const mappings = async (repo: string) => {
    // Every accept key there is: whatever the client accepted, no mapping may exist.
    const keys = Array.from({ length: 128 }, (_, key) => key.toString(16))
    const found = await Promise.all(
      keys.map((accept) => mirror.app.index.getTag({ upstream: upstreamName, repo, tag: '1', accept })),
    )
    return found.filter((m) => m !== undefined).length
  }
  t.equal(await mappings(secret.repo), 0, 'no tag mapping of the private repository')
  t.ok((await mappings(small.repo)) > 0, 'while the public one has one')
  t.match(await mirror.app.index.getVerdict(mirror.config.upstream.name, secret.repo), { isPublic: false })

  await assertLockedOut(t, stack, 'after')
})

t.test("responses of a private repository are marked private; a public one's are shared", async (t) => {
  const { upstream, mirror } = await startStack(t)
  const secret = upstream.fixture.images.private!
  const token = await tokenVia(mirror.url, secret.repo, ALICE)
  const manifest = await http(`${mirror.url}/v2/${secret.repo}/manifests/1`, {
    headers: { ...bearer(token), accept: ACCEPT_ALL },
  })
  t.equal(manifest.status, 200)
  t.equal(manifest.headers['cache-control'], 'private')
  t.equal(sha256(manifest.body), secret.digest)
  const blob = secret.blobs.at(-1)!
  const body = await http(`${mirror.url}/v2/${secret.repo}/blobs/${blob.digest}`, { headers: bearer(token) })
  t.equal(body.headers['cache-control'], 'private')
  t.equal(sha256(body.body), blob.digest)
  const ranged = await http(`${mirror.url}/v2/${secret.repo}/blobs/${blob.digest}`, {
    headers: { ...bearer(token), range: 'bytes=10-19' },
  })
  t.equal(ranged.status, 206, 'Range passes through to the upstream')
  t.same(ranged.body, body.body.subarray(10, 20))
  const pub = await http(`${mirror.url}/v2/library/small/manifests/1`, { headers: { accept: ACCEPT_ALL } })
  t.notMatch(String(pub.headers['cache-control']), 'private')
  t.ok(
    upstream.tokens.requests.some((r) => r.user === ALICE.user),
    "alice's credentials reached the real realm",
  )
  t.notOk(
    mirror.logs.some((l) => JSON.stringify(l).includes(token) || JSON.stringify(l).includes(basic(ALICE))),
    'no token or credential in the log',
  )
})
