// The container image, built from the Dockerfile and run for real: a base image made from
// Debian packages (no registry to pull one from), the build, then the container against the
// test bed's upstream in a private dockerd. Too slow for `npm test` (minutes, mostly npm ci
// in the build): `npm run test:image` runs it. Needs root and the Debian packages
// debootstrap, docker.io, containerd, skopeo and docker-registry.
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { startContainerd, startDockerd } from '../helpers/container-engines.js'
import {
  buildImage,
  childPids,
  dockerCli,
  hostProcess,
  nextHealthStatus,
  REPO_ROOT,
  type DockerCli,
} from '../helpers/image-build.js'
import { freePort } from '../helpers/ports.js'
import { skopeoCopy, verifyDirLayout } from '../helpers/skopeo.js'
import { makeTempDir } from '../helpers/temp-dir.js'
import { startUpstream } from '../helpers/upstream.js'

const IMAGE = 'registry-mirror:test'
const CACHE_DIR = '/var/lib/registry-mirror'
const IMAGE_UID = 10001
/** `docker stop` kills after this; a clean exit must come well before. */
const STOP_TIMEOUT_S = 10

function missingCommands(): string[] {
  return ['debootstrap', 'containerd', 'dockerd', 'docker', 'skopeo', 'docker-registry'].filter((command) => {
    try {
      execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' })
      return false
    } catch {
      return true
    }
  })
}

/** The Node flags of `npm start`, which the image must run with too. */
async function startFlags(): Promise<string[]> {
  const pkg = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }
  return pkg.scripts.start.split(' ').filter((word) => word.startsWith('--'))
}

/** Waits until the mirror has cached `count` blobs, by its own counter (a fill commits after the client's last byte). */
async function cachedFills(url: string, count: number): Promise<void> {
  const deadline = Date.now() + 30_000
  for (;;) {
    const text = await (await fetch(`${url}/metrics`)).text()
    const cached = Number(
      /^registry_mirror_fills_total\{result="cached",upstream="[^"]+"\} (\d+)$/m.exec(text)?.[1] ?? 0,
    )
    if (cached >= count) return
    if (Date.now() > deadline) throw new Error(`${cached} of ${count} fills cached`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

async function inspect<T>(docker: DockerCli, id: string, field: string): Promise<T> {
  return JSON.parse(await docker(['inspect', '--format', `{{json ${field}}}`, id])) as T
}

const missing = missingCommands()
if (process.getuid?.() !== 0 || missing.length > 0) {
  t.plan(0, `needs root and ${missing.join(', ') || 'the daemons'} (apt-get install debootstrap docker.io containerd)`)
} else {
  const port = await freePort()
  const mirrorUrl = `http://127.0.0.1:${port}`
  let built: DockerCli | undefined
  /** The daemon the image was built in, or a failure for a test that needs it. */
  const imageDaemon = (t: Test): DockerCli | undefined => {
    if (built === undefined) t.fail('no image was built')
    return built
  }

  // In a subtest, so that a daemon that does not start or a failed build still stops what
  // was started: the daemons are torn down with the whole file.
  t.test('the image builds from the Dockerfile on a base made from Debian packages', async (st) => {
    const containerd = await startContainerd(mirrorUrl)
    t.teardown(() => containerd.close())
    const dockerd = await startDockerd(mirrorUrl, containerd, { storageDriver: 'auto' })
    t.teardown(() => dockerd.close())
    const docker = await dockerCli(dockerd.socket)
    t.teardown(() => docker.close())
    const image = await buildImage(docker, IMAGE)
    st.comment(
      `base image ${image.baseSeconds.toFixed(0)} s, image build ${image.buildSeconds.toFixed(0)} s, ` +
        `image ${(image.bytes / 1e6).toFixed(0)} MB`,
    )
    st.ok(image.bytes > 0, 'the image exists')
    built = docker
  })

  t.test('the image runs the mirror as npm start does, as a non-root user, with its cache on a volume', async (t) => {
    const docker = imageDaemon(t)
    if (docker === undefined) return
    const config = await inspect<{
      User: string
      Env: string[]
      Entrypoint: string[]
      ExposedPorts: Record<string, unknown>
      Volumes: Record<string, unknown>
      Healthcheck: { Test: string[] }
    }>(docker, IMAGE, '.Config')
    t.equal(config.User, `${IMAGE_UID}:${IMAGE_UID}`)
    t.same(config.Entrypoint, ['/usr/bin/tini', '--', 'node', ...(await startFlags()), '/app/dist/main.js'])
    t.ok(config.Env.includes('MIRROR_LISTEN=0.0.0.0:5000'))
    t.ok(config.Env.includes(`MIRROR_CACHE_DIR=${CACHE_DIR}`))
    t.same(Object.keys(config.ExposedPorts), ['5000/tcp'])
    t.same(Object.keys(config.Volumes), [CACHE_DIR])
    t.same(config.Healthcheck.Test, ['CMD', 'node', '/app/healthcheck.mjs'])
  })

  t.test('the container turns healthy, serves a pull, caches it on its volume and exits 0 on SIGTERM', async (t) => {
    const docker = imageDaemon(t)
    if (docker === undefined) return
    const upstream = await startUpstream()
    t.teardown(() => upstream.close())
    const since = Date.now()
    const id = await docker([
      'create',
      '--network',
      'host',
      // The image's own check, run every second instead of every 30 s so the test need not wait.
      '--health-interval',
      '1s',
      '--env',
      `MIRROR_UPSTREAM=${upstream.registry.url}`,
      '--env',
      `MIRROR_LISTEN=127.0.0.1:${port}`,
      IMAGE,
    ])
    t.teardown(() => docker(['rm', '--force', '--volumes', id]))
    const health = nextHealthStatus(docker, id, since)
    await docker(['start', id])
    t.equal(await health, 'healthy', 'the HEALTHCHECK passed')

    const small = upstream.fixture.images.small!
    const out = await makeTempDir('pull')
    t.teardown(out.remove)
    await skopeoCopy(`127.0.0.1:${port}/${small.repo}:${small.tag}`, out.path)
    const manifest = await readFile(join(out.path, 'manifest.json'))
    t.equal(`sha256:${createHash('sha256').update(manifest).digest('hex')}`, small.digest, "the manifest's digest")
    t.same((await verifyDirLayout(out.path)).sort(), small.blobs.map((b) => b.digest).sort(), 'every blob byte-exact')

    const pid = await inspect<number>(docker, id, '.State.Pid')
    const init = await hostProcess(pid)
    t.equal(init.name, 'tini', 'PID 1 is tini')
    const children = await childPids(pid)
    t.equal(children.length, 1, 'tini runs one process')
    const node = await hostProcess(children[0]!)
    t.equal(node.args[0], 'node')
    t.same([init.uid, node.uid], [IMAGE_UID, IMAGE_UID], 'both run as the image user')

    await cachedFills(mirrorUrl, small.blobs.length)
    const mounts = await inspect<Array<{ Type: string; Source: string; Destination: string }>>(docker, id, '.Mounts')
    const volume = mounts.find((m) => m.Destination === CACHE_DIR)
    t.equal(volume?.Type, 'volume', 'the cache dir is a volume')
    for (const blob of small.blobs) {
      const hex = blob.digest.slice('sha256:'.length)
      const path = join(volume!.Source, 'blobs/sha256', hex.slice(0, 2), hex)
      const info = await stat(path)
      t.same([info.size, info.uid], [blob.size, IMAGE_UID], `${blob.digest.slice(0, 19)}… on the volume`)
    }

    const stopping = Date.now()
    await docker(['stop', '--time', String(STOP_TIMEOUT_S), id])
    const seconds = (Date.now() - stopping) / 1000
    t.equal(await inspect<number>(docker, id, '.State.ExitCode'), 0, 'exit code 0')
    t.ok(seconds < STOP_TIMEOUT_S / 2, `stopped in ${seconds.toFixed(2)} s, not killed after ${STOP_TIMEOUT_S} s`)
    const logs = await docker(['logs', id])
    t.match(logs, /"signal":"SIGTERM".*"msg":"shutting down"/, 'the mirror saw the SIGTERM tini forwarded')
  })
}
