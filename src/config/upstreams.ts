import { registryName, type ImageUpstream } from '../oci/image-ref.js'
import type { Config } from './schema.js'

/**
 * The upstreams as image references name them, the default first. One upstream today:
 * its name is `docker.io` when it is Docker Hub, else its host[:port].
 */
export function upstreamsOf(config: Config): ImageUpstream[] {
  const { host } = config.upstream
  return [{ name: registryName(host), host, defaultNamespace: config.defaultNamespace }]
}
