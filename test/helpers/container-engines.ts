import { execFile, execFileSync } from 'node:child_process'
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Test } from 'tap'
import { startService } from './service-process.js'
import { makeTempDir } from './temp-dir.js'

const run = promisify(execFile)

/** Where a rootful dockerd looks for a registry's CA, by its host:port. */
const DOCKER_CERTS_D = '/etc/docker/certs.d'

interface Credentials {
  user: string
  password: string
}

export interface Containerd {
  readonly socket: string
  /**
   * `ctr images pull` of a docker.io image, with a hosts.toml that names the mirror, and
   * `--user` when given credentials (what a CRI registry config for the mirror host sets).
   * `hostsDir` replaces the docker.io-only directory (see writeHostsDir).
   */
  pull(image: string, auth?: Credentials, hostsDir?: string): Promise<{ stdout: string; stderr: string }>
  /** The digest containerd recorded for a pulled image (its target). */
  digest(image: string): Promise<string>
  close(): Promise<void>
}

/** Where containerd finds a registry when no mirror answers: Docker Hub's real host, or the registry itself. */
function serverOf(registry: string): string {
  return registry === 'docker.io' ? 'https://registry-1.docker.io' : `https://${registry}`
}

/**
 * A containerd hosts dir as a site writes it: one `<registry>/hosts.toml` per registry,
 * each sending that registry's pulls to the mirror (docs/clients.md shows the same files).
 */
/**
 * The mirror's `[host]` entry, as sites write it; for an IPv6 literal as an inline table,
 * since containerd 1.6's TOML parser refuses `[host."https://[::1]:5000"]`.
 */
function hostEntry(mirrorUrl: string, caFile: string | undefined): string[] {
  if (mirrorUrl.includes('[')) {
    const ca = caFile === undefined ? '' : `, ca = "${caFile}"`
    return ['[host]', `  "${mirrorUrl}" = { capabilities = ["pull", "resolve"]${ca} }`]
  }
  return [
    `[host."${mirrorUrl}"]`,
    '  capabilities = ["pull", "resolve"]',
    ...(caFile === undefined ? [] : [`  ca = "${caFile}"`]),
  ]
}

export async function writeHostsDir(
  dir: string,
  mirrorUrl: string,
  registries: string[],
  caFile?: string,
): Promise<void> {
  for (const registry of registries) {
    await mkdir(join(dir, registry), { recursive: true })
    await writeFile(
      join(dir, registry, 'hosts.toml'),
      [`server = "${serverOf(registry)}"`, '', ...hostEntry(mirrorUrl, caFile), ''].join('\n'),
    )
  }
}

export interface Dockerd {
  readonly socket: string
  /** `docker pull`, with `auth` as the user's saved Docker Hub login when given. */
  pull(image: string, auth?: Credentials): Promise<{ stdout: string; stderr: string }>
  /** `docker login` to a registry (the mirror by its host:port), saved apart from `pull`'s logins. */
  login(server: string, auth: Credentials): Promise<{ stdout: string; stderr: string }>
  /** `docker pull` with what `login` saved for that user. */
  pullLoggedIn(image: string, auth: Credentials): Promise<{ stdout: string; stderr: string }>
  /** The digest Docker recorded for a pulled image (its RepoDigests entry). */
  repoDigest(image: string): Promise<string>
  close(): Promise<void>
}

function missingEngineCommands(): string[] {
  return ['containerd', 'ctr', 'dockerd', 'docker', 'podman'].filter((command) => {
    try {
      execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' })
      return false
    } catch {
      return true
    }
  })
}

/**
 * On CI (scripts/test-all.sh sets CI=true and installs the packages) the engines must run:
 * a green build has pulled through each of them. Elsewhere a machine without the packages,
 * without root or without the kernel features the daemons need is said so and skipped.
 */
const ci = (process.env.CI ?? '') !== '' && process.env.CI !== 'false'
const root = process.getuid?.() === 0

/** Why the engines cannot run on this machine, or undefined when they can be tried. */
export function enginesUnavailable(): string | undefined {
  const missing = missingEngineCommands()
  if (missing.length === 0 && (root || ci)) return undefined
  return `needs root and ${missing.join(', ') || 'the daemons'} (apt-get install docker.io containerd podman)`
}

/**
 * containerd and dockerd pointed at the mirror, torn down with the test; undefined (the
 * test planned as skipped, or failed on CI) when the daemons cannot start here.
 */
export async function startEngines(
  t: Test,
  mirrorUrl: string,
  options: { caFile?: string } = {},
): Promise<{ containerd: Containerd; dockerd: Dockerd } | undefined> {
  try {
    const containerd = await startContainerd(mirrorUrl, options)
    t.teardown(() => containerd.close())
    const dockerd = await startDockerd(mirrorUrl, containerd, options)
    t.teardown(() => dockerd.close())
    return { containerd, dockerd }
  } catch (e) {
    const reason = `the daemons could not start here${root ? '' : ' (not root)'}: ${(e as Error).message.split('\n')[0]!}`
    if (ci) t.fail(`CI has the engines installed, so they must run: ${reason}`)
    // The daemons need kernel features some sandboxes lack; that is the machine, not the mirror.
    else t.plan(0, reason)
    return undefined
  }
}

/**
 * containerd on its own root, state and socket, with CRI off (no Kubernetes here), and a
 * hosts dir that sends docker.io pulls to the mirror, as a site configures it; with `caFile`
 * the mirror's certificate is checked against that CA (`ca` in hosts.toml).
 */
export async function startContainerd(mirrorUrl: string, options: { caFile?: string } = {}): Promise<Containerd> {
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
  await writeHostsDir(hostsDir, mirrorUrl, ['docker.io'], options.caFile)
  const service = await startService('containerd', ['--config', join(dir.path, 'config.toml')], {
    ready: /containerd successfully booted/,
  })
  return {
    socket,
    pull: (image, auth, hosts = hostsDir) =>
      run(
        'ctr',
        [
          '--address',
          socket,
          'images',
          'pull',
          '--hosts-dir',
          hosts,
          ...(auth === undefined ? [] : ['--user', `${auth.user}:${auth.password}`]),
          image,
        ],
        { timeout: 60_000 },
      ),
    digest: async (image) => {
      const { stdout } = await run('ctr', ['--address', socket, 'images', 'ls', `name==${image}`])
      const digest = /\bsha256:[a-f0-9]{64}\b/.exec(stdout)?.[0]
      if (digest === undefined) throw new Error(`containerd has no ${image}: ${stdout}`)
      return digest
    },
    close: async () => {
      await service.close()
      await rm(dir.path, { recursive: true, force: true })
    },
  }
}

export interface DockerdOptions {
  /**
   * `vfs` by default: slow to build on but works everywhere, and pulls need no more.
   * `auto` lets dockerd choose (overlay2 where the kernel allows), for building images.
   */
  storageDriver?: string
  /**
   * The CA that signed the mirror's certificate. dockerd reads it only from
   * /etc/docker/certs.d/<host:port>/ca.crt (no flag moves that dir for a rootful daemon):
   * it is written there for the mirror's own host:port and removed on close. Docker skips
   * verification for 127.0.0.0/8, so a mirror checked this way listens on ::1.
   */
  caFile?: string
}

/** Puts the CA where dockerd looks for the mirror's (it reads the dir at each pull); returns the undo. */
async function trustForDocker(mirrorUrl: string, caFile: string): Promise<() => Promise<void>> {
  const certsDir = join(DOCKER_CERTS_D, new URL(mirrorUrl).host)
  await mkdir(certsDir, { recursive: true })
  await copyFile(caFile, join(certsDir, 'ca.crt'))
  return () => rm(certsDir, { recursive: true, force: true })
}

/**
 * dockerd with `--registry-mirror` pointing at the mirror, on its own data root and
 * socket, using the given containerd, with no bridge or iptables (containers that run here
 * use the host's network), and an empty config file so a daemon.json on the machine
 * changes nothing. (Docker 20.10 still writes its trust key to /etc/docker/key.json; no
 * flag moves it.)
 */
export async function startDockerd(
  mirrorUrl: string,
  containerd: Containerd,
  options: DockerdOptions = {},
): Promise<Dockerd> {
  const storageDriver = options.storageDriver ?? 'vfs'
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
      ...(storageDriver === 'auto' ? [] : [`--storage-driver=${storageDriver}`]),
    ],
    { ready: /API listen on/, timeoutMs: 30_000 },
  )
  const untrust = options.caFile === undefined ? async () => {} : await trustForDocker(mirrorUrl, options.caFile)
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
    login: async (server, auth) => {
      const configDir = join(dir.path, `logged-in-${auth.user}`)
      await mkdir(configDir, { recursive: true })
      return docker(['login', '--username', auth.user, '--password', auth.password, server], configDir)
    },
    pullLoggedIn: (image, auth) => docker(['pull', image], join(dir.path, `logged-in-${auth.user}`)),
    repoDigest: async (image) => {
      const { stdout } = await docker(['image', 'inspect', '--format', '{{index .RepoDigests 0}}', image])
      return stdout.trim().slice(stdout.trim().indexOf('@') + 1)
    },
    close: async () => {
      await service.close()
      // dockerd bind-mounts its data root onto itself; a clean stop undoes it, a crash may not.
      await run('umount', [dataRoot]).catch(() => {})
      // A container on the host's network leaves the host's namespace mounted here.
      await run('umount', [join(dir.path, 'exec', 'netns', 'default')]).catch(() => {})
      await rm(dir.path, { recursive: true, force: true })
      await untrust()
    },
  }
}

export interface Podman {
  /** `podman pull`, with `auth` saved in its auth file under the mirror's host when given. */
  pull(image: string, auth?: Credentials): Promise<{ stdout: string; stderr: string }>
  /** The manifest digest podman recorded for a pulled image. */
  digest(image: string): Promise<string>
  close(): Promise<void>
}

/** One `[[registry]]` of registries.conf and its mirror, as docs/clients.md shows them. */
export interface MirroredRegistry {
  prefix: string
  location: string
  mirror: string
}

export function registriesConf(registries: MirroredRegistry[]): string {
  return registries
    .flatMap((r) => [
      '[[registry]]',
      `prefix = "${r.prefix}"`,
      `location = "${r.location}"`,
      '',
      '[[registry.mirror]]',
      `location = "${r.mirror}"`,
      'insecure = true',
      '',
    ])
    .join('\n')
}

/**
 * podman (no daemon) with its own storage, a registries.conf that mirrors docker.io to
 * the mirror (or the registries given), and an auth file of its own: nothing of the
 * machine's configuration is read.
 */
export async function podmanFor(
  mirrorHost: string,
  registries: MirroredRegistry[] = [{ prefix: 'docker.io', location: 'registry-1.docker.io', mirror: mirrorHost }],
): Promise<Podman> {
  const dir = await makeTempDir('podman')
  const registriesPath = join(dir.path, 'registries.conf')
  await writeFile(registriesPath, registriesConf(registries))
  const authFile = join(dir.path, 'auth.json')
  await writeFile(authFile, '{"auths":{}}\n')
  await mkdir(join(dir.path, 'tmp'))
  const env = {
    ...process.env,
    CONTAINERS_REGISTRIES_CONF: registriesPath,
    REGISTRY_AUTH_FILE: authFile,
    TMPDIR: join(dir.path, 'tmp'),
  }
  const storage = [
    '--root',
    join(dir.path, 'root'),
    '--runroot',
    join(dir.path, 'run'),
    '--storage-driver',
    'vfs',
    '--events-backend',
    'none',
    '--cgroup-manager',
    'cgroupfs',
  ]
  return {
    pull: async (image, auth) => {
      // What `podman login <mirror>` saves: podman looks credentials up by the mirror's host.
      const auths =
        auth === undefined
          ? {}
          : { [mirrorHost]: { auth: Buffer.from(`${auth.user}:${auth.password}`).toString('base64') } }
      await writeFile(authFile, JSON.stringify({ auths }))
      return run('podman', [...storage, 'pull', image], { env, timeout: 60_000 })
    },
    digest: async (image) => {
      const { stdout } = await run('podman', [...storage, 'image', 'inspect', '--format', '{{.Digest}}', image], {
        env,
      })
      return stdout.trim()
    },
    close: () => rm(dir.path, { recursive: true, force: true }),
  }
}
