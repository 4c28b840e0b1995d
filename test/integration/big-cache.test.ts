// A restarted mirror serves at once, whatever its cache holds: the index catches up with
// the disk in the background. Over a generated cache of 20,000 blobs, with the walk held
// back between directories where a test needs it to be under way.
import { readdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { setImmediate } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { describeBlob, makeCache } from '../../bench/make-cache.js'
import { http, json, sha256 } from '../helpers/http.js'
import { startMirror } from '../helpers/mirror.js'
import { ACCEPT_ALL } from '../helpers/seeded-images.js'
import { makeTempDir } from '../helpers/temp-dir.js'
import { startUpstream } from '../helpers/upstream.js'

const COUNT = 20_000
const REPO = 'library/small'

const upstream = await startUpstream()
t.teardown(() => upstream.close())

/** A fresh generated cache for one test. */
async function generated(t: Test): Promise<string> {
  const dir = await makeTempDir('big-cache')
  t.teardown(dir.remove)
  await makeCache(dir.path, COUNT)
  return dir.path
}

/**
 * Holds the walk, once `reached` says so, until released. The walk pauses between batches
 * (a slice of a directory or less): it goes on until the condition holds.
 */
function gate() {
  let release!: () => void
  const released = new Promise<void>((resolve) => (release = resolve))
  let reached!: () => void
  const held = new Promise<void>((resolve) => (reached = resolve))
  let holdWhen!: (condition: () => Promise<boolean>) => void
  const condition = new Promise<() => Promise<boolean>>((resolve) => (holdWhen = resolve))
  let open = false
  released.then(() => (open = true)).catch(() => {})
  // Once released, a pause yields as the mirror's own does: the walk must not run on
  // microtasks alone, and the condition need not be asked again.
  const pause = async () => {
    if (open) return setImmediate()
    if (!(await (await condition)())) return setImmediate()
    reached()
    await released
  }
  return { pause, held, release, holdWhen }
}

/** Generated blobs, by the first two hex digits of their digest. */
function byPrefix(prefix: string, manifest: boolean) {
  for (let n = 0; n < COUNT; n++) {
    const blob = describeBlob(n, COUNT)
    if (blob.digest.startsWith(`sha256:${prefix}`) && (blob.mediaType !== undefined) === manifest) return blob
  }
  throw new Error(`no generated ${manifest ? 'manifest' : 'blob'} under ${prefix}`)
}

/**
 * A mirror over a fresh generated cache, its walk held after the first directory:
 * `first` is that directory, indexed; the others are not yet.
 */
async function heldAfterFirstDirectory(t: Test) {
  const cacheDir = await generated(t)
  const first = (await readdir(join(cacheDir, 'blobs', 'sha256'))).sort()[0]!
  const walk = gate()
  const mirror = await startMirror({ upstream: upstream.registry.url, cacheDir, reconcilePause: walk.pause })
  t.teardown(() => mirror.close())
  const indexed = async (manifest: boolean) =>
    (await mirror.app.index.getBlob(byPrefix(first, manifest).digest)) !== undefined
  walk.holdWhen(async () => (await indexed(false)) && (await indexed(true)))
  await walk.held
  return { cacheDir, walk, mirror, first }
}

const pathOf = (cacheDir: string, digest: string) =>
  join(cacheDir, 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7))

t.test('a cached blob and manifest are served before reconciliation ends', async (t) => {
  const { cacheDir, walk, mirror, first } = await heldAfterFirstDirectory(t)
  t.notOk(await mirror.app.index.getBlob(byPrefix('ff', false).digest), 'the last directory is not indexed yet')
  t.match((await json(`${mirror.url}/readyz`)).body, { status: 'ready', reconcile: 'running' })

  const blob = byPrefix('ff', false)
  const got = await http(`${mirror.url}/v2/${REPO}/blobs/${blob.digest}`)
  t.equal(got.status, 200)
  t.equal(sha256(got.body), blob.digest, 'the blob, from its file')
  const manifest = byPrefix('fe', true)
  const head = await http(`${mirror.url}/v2/${REPO}/manifests/${manifest.digest}`, {
    method: 'HEAD',
    headers: { accept: ACCEPT_ALL },
  })
  t.equal(head.status, 200)
  t.equal(head.headers['content-type'], manifest.mediaType, 'the media type from the file beside it')
  t.equal(head.headers['docker-content-digest'], manifest.digest)
  t.match(await mirror.app.index.getBlob(manifest.digest), { mediaType: manifest.mediaType }, 'its record put back')
  t.ok(await mirror.app.index.getBlob(byPrefix(first, false).digest), 'the first directory is indexed')

  walk.release()
  await mirror.app.catchUp.idle()
  t.match((await json(`${mirror.url}/readyz`)).body, { reconcile: 'done' })
  t.same(await mirror.app.index.stats(), { blobs: COUNT, bytes: await bytesOnDisk(cacheDir) })
})

t.test('a blob deleted from disk during reconciliation is a 404 or a fill, never a 500', async (t) => {
  const { cacheDir, walk, mirror, first } = await heldAfterFirstDirectory(t)
  const deleted = [byPrefix(first, false), byPrefix(first, true), byPrefix('ff', false), byPrefix('fe', true)]
  for (const blob of deleted) await mirror.app.store.delete(blob.digest)
  const real = upstream.fixture.images.small!.blobs[1]!
  await rm(pathOf(cacheDir, real.digest), { force: true })

  for (const blob of deleted) {
    const kind = blob.mediaType === undefined ? 'blobs' : 'manifests'
    const url = `${mirror.url}/v2/${REPO}/${kind}/${blob.digest}`
    for (const method of ['GET', 'HEAD'] as const) {
      const answer = await http(url, { method, headers: { accept: ACCEPT_ALL } })
      // The upstream has never heard of generated blobs; a stale record may answer a HEAD.
      t.ok([404, 200].includes(answer.status), `${method} ${kind} ${blob.digest.slice(7, 9)}: ${answer.status}`)
      if (method === 'GET') t.equal(answer.status, 404, 'no bytes to send: not found upstream either')
    }
  }
  walk.release()
  await mirror.app.catchUp.idle()
  t.equal(await mirror.app.index.getBlob(byPrefix('ff', false).digest), undefined, 'gone before it was seen')
  const refilled = await http(`${mirror.url}/v2/${REPO}/blobs/${real.digest}`)
  t.equal(sha256(refilled.body), real.digest, 'a blob the upstream has is filled again')
  t.equal((await json(`${mirror.url}/readyz`)).status, 200)
})

async function bytesOnDisk(cacheDir: string): Promise<number> {
  let total = 0
  const base = join(cacheDir, 'blobs', 'sha256')
  for (const prefix of await readdir(base)) {
    for (const name of await readdir(join(base, prefix))) {
      if (!name.endsWith('.json')) total += (await stat(join(base, prefix, name))).size
    }
  }
  return total
}
