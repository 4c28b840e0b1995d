import type { Dispatcher } from 'undici'
import { toTransportError } from '../http/transport-errors.js'
import type { UpstreamResponse } from './upstream-client.js'

/** The header a replica proves itself with on a peer's internal route. */
export const PEER_SECRET_HEADER = 'x-registry-mirror-peer'

/** Fetches blobs from other replicas' internal route, `/_peer/blobs/<digest>`. */
export class PeerClient {
  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly secret: string,
    private readonly userAgent: string,
  ) {}

  async blob(peerUrl: string, digest: string, signal: AbortSignal): Promise<UpstreamResponse> {
    const url = new URL(peerUrl)
    try {
      const response = await this.dispatcher.request({
        origin: url.origin,
        path: `${url.pathname.replace(/\/+$/, '')}/_peer/blobs/${digest}`,
        method: 'GET',
        headers: { [PEER_SECRET_HEADER]: this.secret, 'user-agent': this.userAgent },
        signal,
      })
      return { status: response.statusCode, headers: response.headers, body: response.body }
    } catch (e) {
      throw toTransportError(e, `peer ${url.host}`, signal)
    }
  }
}
