import { Readable } from 'node:stream'
import type { Peers } from '../../cache/peers.js'
import { discard, headerValue } from '../../http/body.js'
import { isAbort } from '../../http/transport-errors.js'
import type { Logger } from '../../logger.js'
import { blobPath } from '../../oci/api-path.js'
import { parseContentRange } from '../../oci/range.js'
import type { PeerClient } from '../../upstream/peer-client.js'
import type { UpstreamClient, UpstreamResponse, UpstreamTrace } from '../../upstream/upstream-client.js'
import type { FillOrigin } from './fill.js'
import type { Telemetry } from '../telemetry.js'

export interface FillOriginDeps {
  upstream: UpstreamClient
  peers: Peers
  peerClient: PeerClient | undefined
  telemetry: Telemetry
}

export interface Opened {
  response: UpstreamResponse
  origin: FillOrigin
  /** Ends this replica's claim on fetching the blob from the upstream. */
  release: () => Promise<void>
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
    // The fill takes over each chunk's segment reference (see Fill).
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
 * while it does. A lone mirror always goes to the upstream.
 */
export async function openFill(
  deps: FillOriginDeps,
  repo: string,
  digest: string,
  signal: AbortSignal,
  log: Logger,
  trace?: UpstreamTrace,
): Promise<Opened> {
  const { upstream, peers, peerClient, telemetry } = deps
  const plan = await peers.plan(digest)
  if (plan.kind === 'peer' && peerClient !== undefined) {
    try {
      const response = await peerClient.blob(plan.url, digest, signal)
      if (response.status === 200) {
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
          peers.drop(plan.url)
          log.warn({ err: e, peer: plan.url, digest }, 'peer failed mid-transfer; resuming from the upstream')
        })
        return {
          response: { ...response, body: body as UpstreamResponse['body'] },
          origin: 'peer',
          release: async () => {},
        }
      }
      await discard(response.body)
    } catch (e) {
      if (isAbort(e, signal)) throw e
      log.warn({ err: e, peer: plan.url, digest }, 'peer unavailable; fetching from the upstream')
    }
    peers.drop(plan.url)
  }
  const release = plan.kind === 'upstream' ? plan.release : async () => {}
  try {
    return {
      response: await upstream.send(upstreamRequest(repo, digest, signal, undefined, trace)),
      origin: 'upstream',
      release,
    }
  } catch (e) {
    await release()
    throw e
  }
}
