import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'

export interface ServiceProcess {
  readonly proc: ChildProcess
  /** Everything the process wrote to stdout so far. */
  stdout(): string
  /** Everything the process wrote to stderr so far. */
  stderr(): string
  /** SIGTERM, then SIGKILL if it has not exited in time; resolves once it has exited. */
  readonly close: () => Promise<void>
  /** SIGKILL at once: the crash case. */
  readonly kill: () => Promise<void>
}

export interface StartOptions {
  env?: NodeJS.ProcessEnv
  cwd?: string
  /** Matched against stdout and stderr; the service is ready when it appears. */
  ready: RegExp
  timeoutMs?: number
  /** Stop keeping output once ready (a chatty server under load would fill memory). */
  forgetOutputWhenReady?: boolean
}

const DEFAULT_READY_TIMEOUT_MS = 20_000
const TERM_GRACE_MS = 5_000

/**
 * Starts a real server process and resolves once it prints its ready line, so tests
 * wait on a signal from the server instead of sleeping.
 */
export async function startService(command: string, args: string[], options: StartOptions): Promise<ServiceProcess> {
  const proc = spawn(command, args, {
    env: options.env ?? process.env,
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  let isReady = false
  let exited = proc.exitCode !== null
  const exit = once(proc, 'exit').then(() => {
    exited = true
  })

  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`${command} not ready in time\nstdout:\n${out}\nstderr:\n${err}`))
    }, options.timeoutMs ?? DEFAULT_READY_TIMEOUT_MS)
    const check = (): void => {
      if (isReady) return
      if (options.ready.test(out) || options.ready.test(err)) {
        clearTimeout(timer)
        isReady = true
        resolve()
      }
    }
    const keep = () => !(isReady && options.forgetOutputWhenReady === true)
    proc.stdout?.on('data', (chunk: Buffer) => {
      if (keep()) out += chunk.toString()
      check()
    })
    proc.stderr?.on('data', (chunk: Buffer) => {
      if (keep()) err += chunk.toString()
      check()
    })
    proc.on('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    proc.on('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`${command} exited (${code ?? signal}) before ready\n${out}\n${err}`))
    })
  })

  const stop = async (signal: NodeJS.Signals): Promise<void> => {
    if (exited) return
    proc.kill(signal)
    const timer = setTimeout(() => proc.kill('SIGKILL'), TERM_GRACE_MS)
    await exit
    clearTimeout(timer)
  }

  try {
    await ready
  } catch (e) {
    await stop('SIGKILL')
    throw e
  }
  return {
    proc,
    stdout: () => out,
    stderr: () => err,
    close: () => stop('SIGTERM'),
    kill: () => stop('SIGKILL'),
  }
}
