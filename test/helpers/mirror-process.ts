import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { entry } from './cli.js'
import { freePort } from './ports.js'
import { startService, type ServiceProcess } from './service-process.js'

const root = fileURLToPath(new URL('../..', import.meta.url))

export interface MirrorProcess {
  readonly url: string
  readonly port: number
  readonly service: ServiceProcess
  /** Resolves when the process has exited, with how. */
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** Resolves once stdout has a line matching `pattern` written after this call. */
  nextLog(pattern: RegExp): Promise<string>
}

function nextLine(proc: ChildProcess, pattern: RegExp): Promise<string> {
  let seen = ''
  return new Promise((resolve) => {
    const look = (chunk: Buffer): void => {
      seen += chunk.toString()
      const line = seen.split('\n').find((l) => pattern.test(l))
      if (line === undefined) return
      proc.stdout?.off('data', look)
      resolve(line)
    }
    proc.stdout?.on('data', look)
  })
}

function exitOf(proc: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (proc.exitCode !== null || proc.signalCode !== null) {
    return Promise.resolve({ code: proc.exitCode, signal: proc.signalCode })
  }
  return once(proc, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }))
}

/** The environment without the proxy variables: the mirror would send its loopback upstream requests there. */
function withoutProxies(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const names = new Set(['http_proxy', 'https_proxy', 'no_proxy'])
  return Object.fromEntries(Object.entries(env).filter(([name]) => !names.has(name.toLowerCase())))
}

/**
 * The real entry point in its own process, listening on a free loopback port, so it can
 * be signalled and die the way processes do. `args` are its flags after --listen; `env`
 * is added to the environment (without the proxy variables) it gets.
 */
export async function spawnMirror(args: string[], env: NodeJS.ProcessEnv = {}): Promise<MirrorProcess> {
  const port = await freePort()
  const service = await startService(
    process.execPath,
    entry(['--listen', `127.0.0.1:${port}`, '--log-format', 'json', ...args]),
    { cwd: root, env: { ...withoutProxies(process.env), ...env }, ready: /registry mirror ready/ },
  )
  const exit = exitOf(service.proc)
  const scheme = args.includes('--tls-cert') ? 'https' : 'http'
  return {
    url: `${scheme}://127.0.0.1:${port}`,
    port,
    service,
    exited: () => exit,
    nextLog: (pattern) => nextLine(service.proc, pattern),
  }
}
