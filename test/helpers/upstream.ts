import { startRegistry, type Registry } from './registry.js'
import { copySeededStorage, type Fixture } from './seeded-images.js'
import { makeTempDir } from './temp-dir.js'
import { startTokenServer, type TokenServer, type TokenServerOptions } from './token-server.js'

export interface Upstream {
  readonly registry: Registry
  readonly tokens: TokenServer
  readonly fixture: Fixture
  readonly storageDir: string
  /** Stops the registry (not the token server), keeping its storage for a restart. */
  stopRegistry(): Promise<void>
  /** Starts the registry again on the same port and storage. */
  restartRegistry(): Promise<void>
  close(): Promise<void>
}

/**
 * The upstream every integration test pulls from: CNCF Distribution with token auth
 * like Docker Hub, on a private copy of the seeded images.
 */
export async function startUpstream(options: TokenServerOptions = {}): Promise<Upstream> {
  const storage = await makeTempDir('upstream')
  const fixture = await copySeededStorage(storage.path)
  const tokens = await startTokenServer(options)
  let registry = await startRegistry({ storageDir: storage.path, tokenServer: tokens })
  let running = true
  const port = Number(new URL(registry.url).port)
  return {
    get registry() {
      return registry
    },
    tokens,
    fixture,
    storageDir: storage.path,
    stopRegistry: async () => {
      running = false
      await registry.close()
    },
    restartRegistry: async () => {
      registry = await startRegistry({ storageDir: storage.path, tokenServer: tokens, port })
      running = true
    },
    close: async () => {
      if (running) await registry.close()
      await tokens.close()
      await storage.remove()
    },
  }
}
