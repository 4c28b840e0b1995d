import { Readable } from 'node:stream'
import type { Peers } from '../../cache/peers.js'
import { discard, headerValue } from '../../http/body.js'
import { isAbort } from '../../http/transport-errors.js'
import type { Logger } from '../../logger.js'
import { blobPath } from '../../oci/api-path.js'
import { parseContentRange } from '../../oci/range.js'
import type { PeerClient } from '../../upstream/peer-client.js'
import type { UpstreamClient, UpstreamResponse, UpstreamTrace } from '../../upstream/upstream-client.js'
import type { FillJob, Opened } from './fill.js'
import type { Telemetry } from '../telemetry.js'

export interface FillOriginDeps {
  upstream: UpstreamClient
  peers: Peers
  peerClient: PeerClient | undefined
  telemetry: Telemetry
}

function upstreamRequest(repo: string, digest: string, signal: AbortSignal, from?: number, trace?: UpstreamTrace) {
  return {
    trace,
    method: 'GET' as const,
    path: blobPath(repo, digest),
    repo,
    // A public repository's blob: fetched as the mirror, never as a client.
    auth: { kind: 'mirror' as const },
    headers: from === undefined ? undefined : { range: `bytes=${from}-` },
    signal,
    // Each chunk comes with a reference to its pooled segment, which the fill hands on
    // to its blob writer with the chunk (see SegmentPool).
    pooledBody: from === undefined,
  }
}

/**
 * A peer's body that, should the peer fail mid-transfer, goes on from the upstream with
 * a Range request for the rest: the fill, its hash and its readers never notice.
 */
function resumable(
  peerBody: Readable,
  resume: (from: number) => Promise<AsyncIterable<Buffer>>,
  onPeerFailure: (e: unknown) => void,
) {
  async function* bytes(): AsyncGenerator<Buffer> {
    let offset = 0
    try {
      for await (const chunk of peerBody as AsyncIterable<Buffer>) {
        offset += chunk.length
        yield chunk
      }
      return
    } catch (e) {
      onPeerFailure(e)
    }
    yield* await resume(offset)
  }
  return Readable.from(bytes(), { objectMode: false })
}

/**
 * Where a replica fills a blob from: a live peer that holds it or is fetching it now
 * (over the peers' internal route), else the upstream, holding the replica-wide claim
 * while it does. A lone mirror always goes to the upstream. The plan is made at once,
 * so the claim it may take is the job's to release whatever becomes of the fetch.
 */
export function fillOrigin(
  deps: FillOriginDeps,
  repo: string,
  digest: string,
  log: Logger,
  trace?: UpstreamTrace,
): Pick<FillJob, 'fetch' | 'release'> {
  const planned = deps.peers.plan(digest)
  return {
    fetch: async (signal) => {
      const plan = await planned
      if (plan.kind === 'peer' && deps.peerClient !== undefined) {
        const opened = await fromPeer(deps, deps.peerClient, plan.url, repo, digest, signal, log)
        if (opened !== undefined) return opened
        deps.peers.drop(plan.url)
      }
      const response = await deps.upstream.send(upstreamRequest(repo, digest, signal, undefined, trace))
      return { response, origin: 'upstream' }
    },
    release: async () => {
      const plan = await planned
      if (plan.kind === 'upstream') await plan.release()
    },
  }
}

/** The blob from a peer, going on from the upstream should the peer fail mid-transfer; undefined when the peer cannot give it. */
async function fromPeer(
  deps: FillOriginDeps,
  peerClient: PeerClient,
  url: string,
  repo: string,
  digest: string,
  signal: AbortSignal,
  log: Logger,
): Promise<Opened | undefined> {
  const { upstream, peers, telemetry } = deps
  try {
    const response = await peerClient.blob(url, digest, signal)
    if (response.status !== 200) {
      await discard(response.body)
      return undefined
    }
    const resume = async (from: number) => {
      const rest = await upstream.send(upstreamRequest(repo, digest, signal, from))
      const range = parseContentRange(headerValue(rest.headers, 'content-range'))
      if (rest.status !== 206 || range?.range.start !== from) {
        await discard(rest.body)
        throw new Error(`upstream did not resume ${digest} at byte ${from}`)
      }
      const counted = async function* () {
        for await (const chunk of rest.body as AsyncIterable<Buffer>) {
          telemetry.upstreamBytes('blob', chunk.length)
          yield chunk
        }
      }
      return counted()
    }
    const body = resumable(response.body, resume, (e) => {
      peers.drop(url)
      log.warn({ err: e, peer: url, digest }, 'peer failed mid-transfer; resuming from the upstream')
    })
    return { response: { ...response, body: body as UpstreamResponse['body'] }, origin: 'peer' }
  } catch (e) {
    if (isAbort(e, signal)) throw e
    log.warn({ err: e, peer: url, digest }, 'peer unavailable; fetching from the upstream')
    return undefined
  }
}
