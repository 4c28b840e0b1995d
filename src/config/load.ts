import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type * as Yaml from 'yaml'
import { ConfigError } from './config-error.js'
import { OPTIONS, type RawSettings } from './options.js'
import { environmentProxy } from './proxy.js'
import { settingsSchema, type Config } from './schema.js'

export { ConfigError }

const requireModule = createRequire(import.meta.url)

/**
 * The YAML parser is loaded only when there is a file to read: most mirrors are set up
 * by environment alone, and their start does not pay for it. The loader is synchronous,
 * so it is required rather than imported.
 */
function parseYaml(text: string): unknown {
  const yaml = requireModule('yaml') as typeof Yaml
  return yaml.parse(text)
}

export interface ConfigSources {
  /** Flags given on the command line, keyed like the config file. */
  flags?: RawSettings
  env?: Record<string, string | undefined>
  /**
   * A YAML or JSON file (`--config`, else MIRROR_CONFIG); YAML is a superset of JSON, so
   * one parser reads both.
   */
  configFile?: string
  readFile?: (path: string) => string
}

function fromEnv(env: Record<string, string | undefined>): RawSettings {
  const out: RawSettings = {}
  for (const option of OPTIONS) {
    const value = env[option.env]
    // An empty variable is how shells and compose files say "unset".
    if (value !== undefined && value !== '') out[option.key] = value
  }
  return out
}

function fromFile(path: string, read: (path: string) => string): RawSettings {
  let parsed: unknown
  try {
    parsed = parseYaml(read(path))
  } catch (e) {
    throw new ConfigError([`config file ${path}: ${(e as Error).message}`])
  }
  if (parsed === null || parsed === undefined) return {}
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError([`config file ${path}: must hold a mapping of settings`])
  }
  return parsed
}

/** `upstreams[1].url (MIRROR_UPSTREAMS, --upstreams)`: where in the settings, and how it is set. */
function describe(path: PropertyKey[]): string {
  const key = String(path[0] ?? '')
  const inner = path
    .slice(1)
    .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
    .join('')
  const option = OPTIONS.find((o) => o.key === key)
  return option === undefined ? `${key}${inner}` : `${key}${inner} (${option.env}, ${option.flag.split(' ')[0]})`
}

/**
 * Builds the one config object: defaults < config file < environment < flags.
 * Validated once and frozen; nothing else in the program reads the environment.
 */
export function loadConfig(sources: ConfigSources = {}): Config {
  const configFile = sources.configFile ?? sources.env?.MIRROR_CONFIG
  const read = sources.readFile ?? ((p: string) => readFileSync(p, 'utf8'))
  const file = configFile === undefined || configFile === '' ? {} : fromFile(configFile, read)
  const merged: RawSettings = { ...file, ...fromEnv(sources.env ?? {}), ...definedOnly(sources.flags ?? {}) }
  const proxy = environmentProxy(sources.env ?? {})
  const result = settingsSchema(proxy.policy).safeParse(merged)
  const problems = [
    ...(result.error?.issues ?? []).map((issue) =>
      issue.code === 'unrecognized_keys'
        ? `unknown setting${issue.keys.length > 1 ? 's' : ''}: ${issue.keys.join(', ')}`
        : `${describe(issue.path)}: ${issue.message}`,
    ),
    ...proxy.problems,
  ]
  if (!result.success || problems.length > 0) throw new ConfigError(problems)
  return deepFreeze(result.data)
}

function definedOnly(flags: RawSettings): RawSettings {
  return Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined))
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner)
    Object.freeze(value)
  }
  return value
}
