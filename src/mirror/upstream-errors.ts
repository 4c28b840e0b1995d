import { UpstreamStatusError, pickRelayedHeaders } from '../errors.js'
import type { UpstreamResponse } from '../upstream/upstream-client.js'

/** Enough of an upstream error body to relay its OCI error JSON. */
const MAX_ERROR_BODY_BYTES = 64 * 1024

/** The upstream is failing or rate limiting, as opposed to saying no. */
export function isFailingStatus(status: number): boolean {
  return status >= 500 || status === 429
}

/** Reads (at most a little of) an unwanted upstream answer into an error to relay. */
export async function statusError(response: UpstreamResponse): Promise<UpstreamStatusError> {
  const chunks: Buffer[] = []
  let length = 0
  try {
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      chunks.push(chunk)
      length += chunk.length
      // Leaving the loop destroys the rest of an oversized body with its connection.
      if (length >= MAX_ERROR_BODY_BYTES) break
    }
  } catch {
    // The status is what matters; a broken error body is dropped.
  }
  const body = Buffer.concat(chunks).subarray(0, MAX_ERROR_BODY_BYTES)
  return new UpstreamStatusError(response.status, pickRelayedHeaders(response.headers), body)
}
