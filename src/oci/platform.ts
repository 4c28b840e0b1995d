import { OperatorError } from '../errors.js'
import { platformText, type Descriptor, type Platform } from './manifest.js'

/** The names other tools use for an architecture, as OCI indexes spell it. */
const ARCHITECTURE_ALIASES: Record<string, string> = { x86_64: 'amd64', aarch64: 'arm64', armhf: 'arm' }

/**
 * `linux/amd64,linux/arm64/v8`, as `--platform` takes it. An arm64 without a variant
 * means v8, as the OCI image index spec's examples and Docker read it.
 */
export function parsePlatforms(text: string): Platform[] {
  return text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')
    .map((p) => {
      const [os, architecture, variant, ...rest] = p.toLowerCase().split('/')
      if (os === undefined || os === '' || architecture === undefined || architecture === '' || rest.length > 0) {
        throw new OperatorError(`invalid platform "${p}": expected os/architecture[/variant], like linux/amd64`)
      }
      const arch = ARCHITECTURE_ALIASES[architecture] ?? architecture
      return { os, architecture: arch, ...(variant === undefined || variant === '' ? {} : { variant }) }
    })
}

function variantOf(p: Platform): string | undefined {
  if (p.variant !== undefined && p.variant !== '') return p.variant
  return p.architecture === 'arm64' ? 'v8' : undefined
}

/** Whether an index entry's platform is the one asked for (a variant asked for must match). */
export function platformMatches(entry: Platform, wanted: Platform): boolean {
  if (entry.os !== wanted.os || entry.architecture !== wanted.architecture) return false
  return wanted.variant === undefined || variantOf(entry) === variantOf(wanted)
}

export interface PlatformChoice {
  selected: Descriptor[]
  /** Platforms asked for that the index does not have. */
  missing: Platform[]
}

/**
 * The entries of an index to take: all of them when no platform is named (attestations
 * and other entries without a platform included: they are part of the image), else
 * those of the named platforms.
 */
export function selectPlatforms(entries: Descriptor[], wanted: Platform[] | undefined): PlatformChoice {
  if (wanted === undefined || wanted.length === 0) return { selected: entries, missing: [] }
  const selected = entries.filter(
    (e) => e.platform !== undefined && wanted.some((w) => platformMatches(e.platform!, w)),
  )
  const missing = wanted.filter((w) => !entries.some((e) => e.platform !== undefined && platformMatches(e.platform, w)))
  return { selected, missing }
}

/** The platforms an index offers, for messages: `linux/amd64, linux/arm64/v8`. */
export function platformsOffered(entries: Descriptor[]): string {
  return entries.flatMap((e) => (e.platform === undefined ? [] : [platformText(e.platform)])).join(', ')
}
