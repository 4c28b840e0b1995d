import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { userInfo } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../test/helpers/ports.js'
import { startService, type ServiceProcess } from '../test/helpers/service-process.js'

export interface Server {
  name: string
  url: string
  pid: number
  close: () => Promise<void>
}

/** Resolves once something accepts connections on the port (nginx prints nothing when ready). */
export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy()
        resolve(true)
      })
      socket.on('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`nothing listening on ${port}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** Node's flags in `npm start` (memory tuning): the benchmark runs the mirror the same way. */
async function startFlags(root: string): Promise<string[]> {
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { scripts: { start: string } }
  return pkg.scripts.start.split(' ').filter((word) => word.startsWith('--'))
}

/** The built mirror (dist/main.js), as `npm start` runs it, logging at its default level. */
export async function startMirrorProcess(
  root: string,
  upstream: string,
  cacheDir: string,
  extra: string[] = [],
  env: NodeJS.ProcessEnv = process.env,
): Promise<Server> {
  const port = await freePort()
  const service: ServiceProcess = await startService(
    process.execPath,
    [
      ...(await startFlags(root)),
      ...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      join(root, 'dist/main.js'),
      '--upstream',
      upstream,
      '--cache-dir',
      cacheDir,
      '--listen',
      `127.0.0.1:${port}`,
      ...extra,
    ],
    { ready: /registry mirror ready/, forgetOutputWhenReady: true, env },
  )
  return { name: 'registry-mirror', url: `http://127.0.0.1:${port}`, pid: service.proc.pid!, close: service.close }
}

/** nginx with sendfile, serving files straight from a directory: the loopback ceiling. */
export async function startNginx(dir: string, root: string): Promise<Server> {
  const port = await freePort()
  await mkdir(dir, { recursive: true })
  const conf = join(dir, 'nginx.conf')
  await writeFile(
    conf,
    `# Workers run as the benchmark's user: the cache dir is private to it.
user ${userInfo().username};
worker_processes auto;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 1024; }
http {
  sendfile on;
  tcp_nopush on;
  access_log off;
  default_type application/octet-stream;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port};
    location / { root ${root}; }
  }
}
`,
  )
  const proc = spawn('nginx', ['-c', conf, '-p', dir], { stdio: 'ignore' })
  const exited = once(proc, 'exit')
  await waitForPort(port)
  return {
    name: 'nginx',
    url: `http://127.0.0.1:${port}`,
    pid: proc.pid!,
    close: async () => {
      proc.kill('SIGQUIT')
      await exited
    },
  }
}

/** Peak resident memory of a process and its children (nginx's workers), in MiB. */
export async function peakRssMiB(pid: number): Promise<number> {
  let total = 0
  for (const p of [pid, ...(await childrenOf(pid))]) {
    const status = await readFile(`/proc/${p}/status`, 'utf8').catch(() => '')
    total += Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0)
  }
  return total / 1024
}

/** Resets the kernel's peak-RSS mark, so the next reading covers one phase only. */
export async function resetPeakRss(pid: number): Promise<void> {
  for (const p of [pid, ...(await childrenOf(pid))]) {
    await writeFile(`/proc/${p}/clear_refs`, '5').catch(() => {})
  }
}

async function childrenOf(pid: number): Promise<number[]> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '')
  return text.split(' ').filter(Boolean).map(Number)
}
