// The client files in deploy/clients are the ones the container-engine tests write, with
// the example mirror's address: what the docs show is what was pulled through.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { registriesConf, writeHostsDir } from '../helpers/container-engines.js'
import { makeTempDir } from '../helpers/temp-dir.js'

const MIRROR = 'mirror.example.internal:5000'
const clients = new URL('../../deploy/clients/', import.meta.url).pathname

/** A file without its comment lines: those explain, the rest configures. */
const settings = (text: string) =>
  text
    .split('\n')
    .filter((line) => !line.startsWith('#'))
    .join('\n')
    .trim()

t.test('containerd: one hosts.toml per registry, as the tests write them', async (t) => {
  const dir = await makeTempDir('hosts')
  t.teardown(() => dir.remove())
  const registries = ['docker.io', 'ghcr.io']
  await writeHostsDir(dir.path, `http://${MIRROR}`, registries)
  for (const registry of registries) {
    const written = await readFile(join(dir.path, registry, 'hosts.toml'), 'utf8')
    const shipped = await readFile(join(clients, 'containerd', registry, 'hosts.toml'), 'utf8')
    t.equal(settings(shipped), settings(written), registry)
  }
})

t.test('podman, CRI-O: a mirror per registry, by its prefix on the mirror, as the tests write it', async (t) => {
  const written = registriesConf([
    { prefix: 'docker.io', location: 'registry-1.docker.io', mirror: `${MIRROR}/docker.io` },
    { prefix: 'ghcr.io', location: 'ghcr.io', mirror: `${MIRROR}/ghcr.io` },
  ])
  t.equal(settings(await readFile(join(clients, 'registries.conf'), 'utf8')), settings(written))
})
