import { join } from 'node:path'
import { OciLayoutWriter } from '../test/helpers/oci-layout.js'
import { startRegistry } from '../test/helpers/registry.js'
import { pushLayoutImage, registryGet } from '../test/helpers/seeded-images.js'
import { startTokenServer } from '../test/helpers/token-server.js'

const MiB = 1024 * 1024
export const REPO = 'library/bench'
/** A small unrelated image: pulled first through each fresh server, so it is warm. */
export const WARM_UP_REPO = 'library/warm-up'

/** The upstream for the benchmark: Distribution with token auth, one image of 256 + 4 MiB. */
export async function seedUpstream(work: string) {
  const tokens = await startTokenServer()
  const registry = await startRegistry({ storageDir: join(work, 'upstream'), tokenServer: tokens, quiet: true })
  const layout = join(work, 'layout')
  const writer = new OciLayoutWriter(layout)
  writer.tag(
    'bench',
    await writer.image({
      os: 'linux',
      architecture: 'amd64',
      layers: [
        { size: 256 * MiB, seed: 'bench-256', gzipLevel: 0 },
        { size: 4 * MiB, seed: 'bench-4', gzipLevel: 0 },
      ],
    }),
  )
  writer.tag(
    'warm-up',
    await writer.image({
      os: 'linux',
      architecture: 'amd64',
      layers: [{ size: MiB, seed: 'warm-up-1', gzipLevel: 0 }],
    }),
  )
  await writer.finish()
  await pushLayoutImage(registry.url, layout, 'bench', REPO)
  await pushLayoutImage(registry.url, layout, 'warm-up', WARM_UP_REPO)
  const manifest = JSON.parse((await registryGet(registry, tokens, REPO, 'manifests/1')).toString()) as {
    layers: Array<{ digest: string; size: number }>
  }
  const [big, small] = [...manifest.layers].sort((a, b) => b.size - a.size)
  const close = async (): Promise<void> => {
    await registry.close()
    await tokens.close()
  }
  return { registry, tokens, big: big!, small: small!, close }
}
