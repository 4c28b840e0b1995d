import { errors } from '../errors.js'

export interface Page<T> {
  items: T[]
  /** The last item of this page, when another page follows. */
  next: T | undefined
}

/** `n` from a query string: a whole number, or undefined when absent. */
export function parsePageSize(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined
  if (!/^\d{1,9}$/.test(value)) throw errors.paginationInvalid(value)
  return Number(value)
}

/**
 * The spec's tag-list paging: items in lexical order after `last`, at most `n` of them,
 * and `next` set when more remain (the client then asks with `last=next`).
 */
export function paginate(sorted: string[], n: number | undefined, last: string | undefined): Page<string> {
  const after = last === undefined ? sorted : sorted.filter((t) => t > last)
  if (n === undefined || after.length <= n) return { items: after, next: undefined }
  const items = after.slice(0, n)
  return { items, next: n === 0 ? undefined : items[items.length - 1] }
}

/** The target of `rel="next"` in a Link header, as registries send it for paging. */
export function nextLink(header: string | string[] | undefined): string | undefined {
  const values = Array.isArray(header) ? header : header === undefined ? [] : [header]
  for (const value of values.flatMap((v) => v.split(/,(?=\s*<)/))) {
    const match = /^\s*<([^>]*)>\s*;(.*)$/.exec(value)
    if (match !== null && /(^|;)\s*rel\s*=\s*"?next"?\s*(;|$)/i.test(match[2]!)) return match[1]
  }
  return undefined
}
