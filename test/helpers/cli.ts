import type { Config } from '../../src/config/schema.js'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { freePort } from './ports.js'
import { startService, type ServiceProcess } from './service-process.js'

export const root = fileURLToPath(new URL('../..', import.meta.url))

/**
 * The real entry point's arguments: the build `npm test` makes first (a second a process
 * less than tsx, and the suite starts a few hundred), or src/main.ts through tsx when a
 * test file is run alone, so that it never runs a stale build.
 */
export const entry = (args: string[]): string[] =>
  process.env.MIRROR_TEST_BUILT === '1' ? ['dist/main.js', ...args] : ['--import', 'tsx', 'src/main.ts', ...args]

export interface CliResult {
  code: number | null
  stdout: Buffer
  stderr: string
}

/** Runs `registry-mirror <args>` as a real process to its exit. */
export async function runCli(args: string[], options: { input?: Buffer; timeoutMs?: number } = {}): Promise<CliResult> {
  const child = spawn(process.execPath, entry(args), { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] })
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000)
  const out: Buffer[] = []
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk))
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  child.stdin.end(options.input)
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  clearTimeout(timer)
  return { code, stdout: Buffer.concat(out), stderr }
}

export interface ServerProcess {
  readonly url: string
  readonly host: string
  readonly service: ServiceProcess
}

/** `registry-mirror` serving in its own process, so that it holds the cache dir as a server does. */
export async function spawnServer(upstream: string, cacheDir: string, extra: string[] = []): Promise<ServerProcess> {
  const port = await freePort()
  const service = await startService(
    process.execPath,
    entry(['--upstream', upstream, '--cache-dir', cacheDir, '--listen', `127.0.0.1:${port}`, ...extra]),
    { cwd: root, ready: /registry mirror ready/ },
  )
  return { url: `http://127.0.0.1:${port}`, host: `127.0.0.1:${port}`, service }
}

/** The flags that point a command at a running in-process mirror's cache and index. */
export function settingsOf(config: Config): string[] {
  return [
    '--upstream',
    config.upstream.url,
    '--cache-dir',
    config.cacheDir,
    ...(config.redisUrl === undefined ? [] : ['--redis-url', config.redisUrl, '--redis-prefix', config.redisPrefix]),
  ]
}
