import { execFile, spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { promisify } from 'node:util'
import { makeTempDir } from './temp-dir.js'

const run = promisify(execFile)

export const REPO_ROOT = new URL('../..', import.meta.url).pathname
export const BASE_TAG = 'registry-mirror-base:node20'
const BUILD_TIMEOUT_MS = 15 * 60_000

export interface DockerCli {
  (args: string[], timeoutMs?: number): Promise<string>
  readonly env: NodeJS.ProcessEnv
  close(): Promise<void>
}

/** The docker command against one daemon, with a config dir of its own (no login of the machine's). */
export async function dockerCli(socket: string): Promise<DockerCli> {
  const config = await makeTempDir('docker-config')
  // Not tap's NODE_OPTIONS (its loaders are not in the image), and the classic builder,
  // whichever CLI plugins the machine has, so the build is the same everywhere.
  const { NODE_OPTIONS: _, ...inherited } = process.env
  const env = { ...inherited, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: config.path, DOCKER_BUILDKIT: '0' }
  const docker = async (args: string[], timeoutMs = 60_000): Promise<string> => {
    const { stdout } = await run('docker', args, { env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 })
    return stdout.trim()
  }
  return Object.assign(docker, { env, close: config.remove })
}

export interface BuiltImage {
  tag: string
  baseSeconds: number
  buildSeconds: number
  bytes: number
}

/**
 * The base image from Debian packages (its root file system kept between runs, per Node
 * version), then the project's Dockerfile on it, as the deployment docs say to.
 */
export async function buildImage(docker: DockerCli, tag: string): Promise<BuiltImage> {
  const rootfs = join(tmpdir(), 'registry-mirror-fixtures', `base-rootfs-node${process.versions.node}.tar`)
  const started = Date.now()
  await run(join(REPO_ROOT, 'scripts/make-base-image.sh'), [BASE_TAG], {
    env: { ...docker.env, BASE_ROOTFS_TAR: rootfs },
    timeout: BUILD_TIMEOUT_MS,
    maxBuffer: 64 * 1024 * 1024,
  })
  const built = Date.now()
  // The build's RUN steps reach the npm registry and the Debian mirror as this machine does.
  await docker(
    ['build', '--network', 'host', '--build-arg', `NODE_IMAGE=${BASE_TAG}`, '--tag', tag, REPO_ROOT],
    BUILD_TIMEOUT_MS,
  )
  const bytes = Number(await docker(['image', 'inspect', '--format', '{{.Size}}', tag]))
  return { tag, baseSeconds: (built - started) / 1000, buildSeconds: (Date.now() - built) / 1000, bytes }
}

/**
 * Resolves with the first health status Docker reports for a container (`healthy` or
 * `unhealthy`), from its event stream: events since `since` are replayed, so none is missed.
 */
export async function nextHealthStatus(docker: DockerCli, container: string, since: number): Promise<string> {
  const events = spawn(
    'docker',
    [
      'events',
      '--since',
      String(Math.floor(since / 1000)),
      '--filter',
      `container=${container}`,
      '--filter',
      'event=health_status',
      '--format',
      '{{.Status}}',
    ],
    { env: docker.env, stdio: ['ignore', 'pipe', 'inherit'] },
  )
  try {
    for await (const line of createInterface({ input: events.stdout })) {
      const status = /^health_status: (\w+)/.exec(line)?.[1]
      if (status !== undefined && status !== 'starting') return status
    }
    throw new Error('docker events ended')
  } finally {
    events.kill()
  }
}

export interface HostProcess {
  pid: number
  name: string
  uid: number
  args: string[]
}

/** A process of a container as the host sees it, from /proc. */
export async function hostProcess(pid: number): Promise<HostProcess> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1]
  const name = /^Name:\s+(\S+)/m.exec(status)?.[1]
  if (uid === undefined || name === undefined) throw new Error(`no Uid or Name in /proc/${pid}/status`)
  const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter((a) => a !== '')
  return { pid, name, uid: Number(uid), args }
}

/** The children of a process, from /proc. */
export async function childPids(pid: number): Promise<number[]> {
  const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8')
  return children
    .split(' ')
    .filter((c) => c.trim() !== '')
    .map(Number)
}
