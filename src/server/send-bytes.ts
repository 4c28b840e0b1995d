import type { ServerResponse } from 'node:http'
import type { Bytes, ByteSource } from '../mirror/byte-source.js'

/**
 * Bytes a response may have handed to its socket and not yet seen flushed: enough to keep
 * the socket busy, little enough that a slow client holds little memory.
 */
const MAX_IN_FLIGHT_BYTES = 1024 * 1024
/** Largest read asked of a source at once. */
const MAX_READ_BYTES = 512 * 1024

export interface SendPlan {
  /** First byte to send and last (inclusive; Infinity when the length is not known). */
  start: number
  end: number
  /** Already read: the first bytes, read before the headers were committed. */
  first: Bytes | undefined
}

/**
 * Writes a source's bytes to the response as they come. A pooled buffer goes back to its
 * pool only once the socket has taken it, and that wait is also the backpressure: a slow
 * client slows only its own reads. On any failure after the headers went out the
 * connection is destroyed, so the client sees a truncated transfer and never a clean
 * short body.
 */
export async function sendBytes(
  res: ServerResponse,
  source: ByteSource,
  plan: SendPlan,
  onSent: (bytes: number) => void,
): Promise<void> {
  const closed = new Promise<void>((resolve) => res.once('close', resolve))
  const inFlight: Array<{ length: number; written: Promise<void> }> = []
  let inFlightBytes = 0
  const send = (bytes: Bytes): void => {
    const written = new Promise<void>((resolve) => res.write(bytes.data, () => resolve()))
    inFlight.push({ length: bytes.data.length, written: Promise.race([written, closed]).then(bytes.release) })
    inFlightBytes += bytes.data.length
    onSent(bytes.data.length)
  }
  let position = plan.start
  try {
    if (plan.first !== undefined) {
      send(plan.first)
      position += plan.first.data.length
    }
    while (position <= plan.end && !res.destroyed) {
      while (inFlightBytes >= MAX_IN_FLIGHT_BYTES) {
        const oldest = inFlight.shift()!
        await oldest.written
        inFlightBytes -= oldest.length
      }
      const bytes = await source.read(position, Math.min(MAX_READ_BYTES, plan.end - position + 1))
      if (bytes.data.length === 0) {
        // Fewer bytes than promised (a cached file cut short behind our back): a clean end
        // would pass a short body off as whole.
        if (plan.end !== Infinity) throw new Error(`content ended at byte ${position} of ${plan.end + 1}`)
        break
      }
      send(bytes)
      position += bytes.data.length
    }
    // A client that left needs no verdict on bytes it will never see.
    if (res.destroyed) return
    await source.complete()
    await Promise.all(inFlight.map((w) => w.written))
    if (!res.destroyed) res.end()
  } catch (e) {
    res.destroy()
    await Promise.all(inFlight.map((w) => w.written))
    throw e
  } finally {
    await source.close()
  }
}

/**
 * Reads the first bytes before anything is committed to the client, so that a source that
 * fails at once (a fill that broke before this request joined) still gets a proper OCI
 * error instead of a cut connection.
 */
export async function readFirst(source: ByteSource, start: number, end: number): Promise<SendPlan> {
  if (start > end) {
    await source.complete()
    return { start, end, first: undefined }
  }
  const first = await source.read(start, Math.min(MAX_READ_BYTES, end - start + 1))
  return { start, end, first: first.data.length > 0 ? first : undefined }
}
