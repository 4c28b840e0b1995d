import { unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'
import type { Index } from '../cache/cache-index.js'

export interface HealthDeps {
  registry: Registry
  index: Index
  cacheDir: string
  /** Whether the index still catches up with the disk (the mirror serves meanwhile). */
  reconcile: () => 'running' | 'pending' | 'done'
}

async function cacheWritable(cacheDir: string): Promise<boolean> {
  const probe = join(cacheDir, 'tmp', `readyz-${process.pid}`)
  try {
    await writeFile(probe, 'ok')
    await unlink(probe)
    return true
  } catch {
    return false
  }
}

/**
 * `/metrics` for Prometheus; `/healthz`: the process answers; `/readyz`: it can serve,
 * which needs a writable cache dir. An unreachable index is reported as degraded but
 * still ready: the mirror serves from disk without it; so is an index still catching up
 * with the disk after a start (`reconcile`).
 */
export function registerHealthRoutes(app: FastifyInstance, deps: HealthDeps): void {
  app.get('/metrics', async (_request, reply) => {
    const body = await deps.registry.metrics()
    return reply.type(deps.registry.contentType).send(body)
  })
  app.get('/healthz', async () => ({ status: 'ok' }))
  app.get('/readyz', async (_request, reply) => {
    const [writable, index] = await Promise.all([
      cacheWritable(deps.cacheDir),
      deps.index.ping().then(
        () => 'ok' as const,
        () => 'degraded' as const,
      ),
    ])
    const body = {
      status: writable ? 'ready' : 'unavailable',
      cache: writable ? 'writable' : 'not writable',
      index,
      reconcile: deps.reconcile(),
    }
    return reply.code(writable ? 200 : 503).send(body)
  })
}
