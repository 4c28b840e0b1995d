#!/usr/bin/env -S node --max-semi-space-size=2
import { buildProgram } from './cli/program.js'
import type { Flags } from './cli/setting-flags.js'
import { ConfigError } from './config/config-error.js'
import { OperatorError } from './errors.js'
import { TlsFilesError } from './tls/certificate.js'

/**
 * The server's code is imported when it is the command that runs: loading modules is
 * most of a start's time, and neither `--help` nor the other commands need it.
 */
async function serveCommand(flags: Flags): Promise<void> {
  const [{ serve }, { configFrom }] = await Promise.all([import('./serve/serve.js'), import('./cli/settings.js')])
  // Whether stdout is a terminal is asked here, once: `auto` logs are pretty on one.
  return serve(configFrom(flags), { stdoutIsTerminal: process.stdout.isTTY === true })
}

const program = buildProgram(serveCommand)

program.parseAsync(process.argv).catch((e: unknown) => {
  if (e instanceof OperatorError) {
    process.stderr.write(`registry-mirror: ${e.message}\n`)
    process.exit(1)
  }
  if (e instanceof ConfigError) {
    process.stderr.write(`registry-mirror: ${e.message}\n`)
    process.exit(2)
  }
  if (e instanceof TlsFilesError) {
    process.stderr.write(`registry-mirror: cannot start: ${e.message}\n`)
    process.exit(1)
  }
  // A system error names its path and cause (a cache dir that cannot be created, a port in
  // use): that is what the operator needs, not our stack.
  const system = e as NodeJS.ErrnoException
  if (typeof system.code === 'string' && typeof system.syscall === 'string') {
    process.stderr.write(`registry-mirror: cannot start: ${system.message}\n`)
    process.exit(1)
  }
  process.stderr.write(`registry-mirror: ${(e as Error).stack ?? String(e)}\n`)
  process.exit(1)
})
