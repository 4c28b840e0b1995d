import { copyFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { json } from './http.js'
import { freePort } from './ports.js'
import { startService } from './service-process.js'
import { makeTempDir } from './temp-dir.js'

export interface Prometheus {
  readonly url: string
  /** An instant query; the raw `data` of the answer. */
  query(expr: string): Promise<{ status: string; result: unknown[]; error?: string }>
  close(): Promise<void>
}

/** A real Prometheus (Debian's package) scraping `target` every second, with the project's alert rules. */
export async function startPrometheus(target: string, rulesFile: string): Promise<Prometheus> {
  const dir = await makeTempDir('prometheus')
  await copyFile(rulesFile, join(dir.path, 'alerts.yml'))
  await writeFile(
    join(dir.path, 'prometheus.yml'),
    [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      'rule_files:',
      '  - alerts.yml',
      'scrape_configs:',
      '  - job_name: registry-mirror',
      '    static_configs:',
      `      - targets: ['${target}']`,
      '',
    ].join('\n'),
  )
  const port = await freePort()
  const service = await startService(
    'prometheus',
    [
      `--config.file=${join(dir.path, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir.path, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { ready: /Server is ready to receive web requests/ },
  )
  const url = `http://127.0.0.1:${port}`
  return {
    url,
    query: async (expr) => {
      const answer = await json(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`)
      const body = answer.body as { status: string; data?: { result: unknown[] }; error?: string }
      return { status: body.status, result: body.data?.result ?? [], error: body.error }
    },
    close: async () => {
      await service.close()
      await dir.remove()
    },
  }
}
