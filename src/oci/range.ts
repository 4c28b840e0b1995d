import parseRange from 'range-parser'

/** An inclusive byte range, as HTTP writes it. */
export interface ByteRange {
  start: number
  end: number
}

export type RangeDecision = { kind: 'full' } | { kind: 'partial'; range: ByteRange } | { kind: 'unsatisfiable' }

/**
 * What to answer a `Range` header with, for a body of `size` bytes. A malformed header,
 * a unit other than bytes, or several ranges get the full body (RFC 9110 lets a server
 * ignore Range; registries' clients only ever ask for one range).
 */
export function decideRange(header: string | undefined, size: number): RangeDecision {
  if (header === undefined) return { kind: 'full' }
  const parsed = parseRange(size, header, { combine: true })
  if (parsed === -1) return { kind: 'unsatisfiable' }
  if (parsed === -2 || parsed.type !== 'bytes' || parsed.length !== 1) return { kind: 'full' }
  const only = parsed[0]
  if (only === undefined) return { kind: 'full' }
  return { kind: 'partial', range: { start: only.start, end: only.end } }
}

/** A `Content-Range` answer, `bytes 0-99/1000`: the range and the total; undefined when malformed. */
export function parseContentRange(value: string | undefined): { range: ByteRange; size: number } | undefined {
  const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(value ?? '')
  if (match === null) return undefined
  const [start, end, size] = [Number(match[1]), Number(match[2]), Number(match[3])]
  return start <= end && end < size ? { range: { start, end }, size } : undefined
}

export function contentRange(range: ByteRange, size: number): string {
  return `bytes ${range.start}-${range.end}/${size}`
}

export function rangeLength(range: ByteRange): number {
  return range.end - range.start + 1
}
