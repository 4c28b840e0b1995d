import { DiskFullError } from '../../cache/blob-store.js'
import { UpstreamContentError } from '../../errors.js'
import type { FillFailure } from '../telemetry.js'

/** The fill was aborted (the mirror is shutting down); made by the fill, with the reason as cause. */
export class FillAbortedError extends Error {
  override readonly name = 'FillAbortedError'
}

/**
 * The one place a fill's failure becomes its reason. `verified`: every byte was received
 * and good, so only storing them can have failed.
 */
export function failureOf(error: Error, verified: boolean): FillFailure {
  if (error instanceof DiskFullError) return 'disk_full'
  if (verified) return 'store_error'
  if (error instanceof UpstreamContentError) return 'digest_mismatch'
  if (error instanceof FillAbortedError) return 'aborted'
  return 'upstream_error'
}
