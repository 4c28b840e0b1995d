import { execFile } from 'node:child_process'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { startService } from './service-process.js'
import { makeTempDir } from './temp-dir.js'

const run = promisify(execFile)

export interface Containerd {
  readonly socket: string
  /** `ctr images pull` of a docker.io image, with a hosts.toml that names the mirror. */
  pull(image: string): Promise<{ stdout: string; stderr: string }>
  close(): Promise<void>
}

export interface Dockerd {
  readonly socket: string
  /** `docker pull`, with `auth` as the user's saved Docker Hub login when given. */
  pull(image: string, auth?: { user: string; password: string }): Promise<{ stdout: string; stderr: string }>
  /** The digest Docker recorded for a pulled image (its RepoDigests entry). */
  repoDigest(image: string): Promise<string>
  close(): Promise<void>
}

/**
 * containerd on its own root, state and socket, with CRI off (no Kubernetes here), and a
 * hosts dir that sends docker.io pulls to the mirror, as a site configures it.
 */
export async function startContainerd(mirrorUrl: string): Promise<Containerd> {
  const dir = await makeTempDir('containerd')
  const socket = join(dir.path, 'containerd.sock')
  await writeFile(
    join(dir.path, 'config.toml'),
    [
      'version = 2',
      `root = "${dir.path}/root"`,
      `state = "${dir.path}/state"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${socket}"`,
      '',
    ].join('\n'),
  )
  const hostsDir = join(dir.path, 'certs.d')
  await mkdir(join(hostsDir, 'docker.io'), { recursive: true })
  await writeFile(
    join(hostsDir, 'docker.io', 'hosts.toml'),
    `server = "https://registry-1.docker.io"\n\n[host."${mirrorUrl}"]\n  capabilities = ["pull", "resolve"]\n`,
  )
  const service = await startService('containerd', ['--config', join(dir.path, 'config.toml')], {
    ready: /containerd successfully booted/,
  })
  return {
    socket,
    pull: (image) =>
      run('ctr', ['--address', socket, 'images', 'pull', '--hosts-dir', hostsDir, image], { timeout: 60_000 }),
    close: async () => {
      await service.close()
      await rm(dir.path, { recursive: true, force: true })
    },
  }
}

/**
 * dockerd with `--registry-mirror` pointing at the mirror, on its own data root and
 * socket, using the given containerd, with no bridge or iptables (nothing runs here), and
 * an empty config file so a daemon.json on the machine changes nothing. (Docker 20.10
 * still writes its trust key to /etc/docker/key.json; no flag moves it.)
 */
export async function startDockerd(mirrorUrl: string, containerd: Containerd): Promise<Dockerd> {
  const dir = await makeTempDir('dockerd')
  const socket = join(dir.path, 'docker.sock')
  const dataRoot = join(dir.path, 'root')
  await writeFile(join(dir.path, 'daemon.json'), '{}\n')
  const service = await startService(
    'dockerd',
    [
      '--config-file',
      join(dir.path, 'daemon.json'),
      '--data-root',
      dataRoot,
      '--exec-root',
      join(dir.path, 'exec'),
      '--pidfile',
      join(dir.path, 'docker.pid'),
      '--host',
      `unix://${socket}`,
      '--containerd',
      containerd.socket,
      '--registry-mirror',
      mirrorUrl,
      '--bridge=none',
      '--iptables=false',
      '--storage-driver=vfs',
    ],
    { ready: /API listen on/, timeoutMs: 30_000 },
  )
  const docker = async (args: string[], configDir?: string) =>
    run('docker', ['--host', `unix://${socket}`, ...args], {
      timeout: 60_000,
      env: { ...process.env, DOCKER_CONFIG: configDir ?? join(dir.path, 'no-login') },
    })
  return {
    socket,
    pull: async (image, auth) => {
      if (auth === undefined) return docker(['pull', image])
      // What `docker login` saves, written directly: login itself would ask Docker Hub.
      const configDir = join(dir.path, `login-${auth.user}`)
      await mkdir(configDir, { recursive: true })
      const token = Buffer.from(`${auth.user}:${auth.password}`).toString('base64')
      await writeFile(
        join(configDir, 'config.json'),
        JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: token } } }),
      )
      return docker(['pull', image], configDir)
    },
    repoDigest: async (image) => {
      const { stdout } = await docker(['image', 'inspect', '--format', '{{index .RepoDigests 0}}', image])
      return stdout.trim().slice(stdout.trim().indexOf('@') + 1)
    },
    close: async () => {
      await service.close()
      // dockerd bind-mounts its data root onto itself; a clean stop undoes it, a crash may not.
      await run('umount', [dataRoot]).catch(() => {})
      await rm(dir.path, { recursive: true, force: true })
    },
  }
}
