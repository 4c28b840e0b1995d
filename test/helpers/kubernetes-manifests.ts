import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1'
import { DaemonSet, StatefulSet } from 'kubernetes-models/apps/v1'
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1'
import { ConfigMap, Namespace, Secret, Service } from 'kubernetes-models/v1'
import ts from 'typescript'
import { parseAllDocuments } from 'yaml'

export const KUBERNETES_DIR = new URL('../../deploy/kubernetes/', import.meta.url).pathname

export interface Manifest {
  /** `file.yaml#n`, for messages. */
  readonly source: string
  readonly apiVersion: string
  readonly kind: string
  readonly name: string
  readonly doc: Record<string, unknown>
}

interface KindSpec {
  /** The kubernetes-models class, whose validate() checks the object against the API schema. */
  readonly Model: new () => { validate(): void }
  /** Where its TypeScript interface is, for the unknown-field check. */
  readonly module: string
  readonly type: string
}

/** Every kind the manifests may use; another kind fails the tests until it is added here. */
export const KINDS: Record<string, KindSpec> = {
  'v1/Namespace': { Model: Namespace, module: 'kubernetes-models/v1', type: 'INamespace' },
  'v1/ConfigMap': { Model: ConfigMap, module: 'kubernetes-models/v1', type: 'IConfigMap' },
  'v1/Secret': { Model: Secret, module: 'kubernetes-models/v1', type: 'ISecret' },
  'v1/Service': { Model: Service, module: 'kubernetes-models/v1', type: 'IService' },
  'apps/v1/StatefulSet': { Model: StatefulSet, module: 'kubernetes-models/apps/v1', type: 'IStatefulSet' },
  'apps/v1/DaemonSet': { Model: DaemonSet, module: 'kubernetes-models/apps/v1', type: 'IDaemonSet' },
  'policy/v1/PodDisruptionBudget': {
    Model: PodDisruptionBudget,
    module: 'kubernetes-models/policy/v1',
    type: 'IPodDisruptionBudget',
  },
  'monitoring.coreos.com/v1/ServiceMonitor': {
    Model: ServiceMonitor,
    module: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1',
    type: 'IServiceMonitor',
  },
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** The manifest files in deploy/kubernetes, kustomization.yaml aside. */
export async function manifestFiles(): Promise<string[]> {
  return (await readdir(KUBERNETES_DIR)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort()
}

/** Every YAML document of every manifest file. */
export async function loadManifests(): Promise<Manifest[]> {
  const manifests: Manifest[] = []
  for (const file of await manifestFiles()) {
    const docs = parseAllDocuments(await readFile(join(KUBERNETES_DIR, file), 'utf8'))
    for (const [i, parsed] of docs.entries()) {
      const source = `${file}#${i}`
      if (parsed.errors.length > 0) throw new Error(`${source}: ${parsed.errors.map((e) => e.message).join('; ')}`)
      const doc: unknown = parsed.toJS()
      if (!isRecord(doc)) throw new Error(`${source} is not a mapping`)
      const { apiVersion, kind, metadata } = doc
      const name = isRecord(metadata) ? metadata.name : undefined
      if (typeof apiVersion !== 'string' || typeof kind !== 'string' || typeof name !== 'string') {
        throw new Error(`${source} lacks apiVersion, kind or metadata.name`)
      }
      manifests.push({ source, apiVersion, kind, name, doc })
    }
  }
  return manifests
}

/** The API schema's verdict on a manifest: undefined when valid, else the validator's message. */
export function schemaError(manifest: Manifest): string | undefined {
  const spec = KINDS[`${manifest.apiVersion}/${manifest.kind}`]
  if (spec === undefined) return `${manifest.apiVersion} ${manifest.kind} is not a known kind`
  const model = Object.assign(new spec.Model(), manifest.doc)
  try {
    model.validate()
    return undefined
  } catch (e) {
    return (e as Error).message
  }
}

/**
 * The schemas accept fields they do not know (a misspelt `readinesProbe` passes), as the
 * API server does not. The models' TypeScript interfaces do not: each manifest becomes an
 * object literal of its kind's interface, and tsc's excess-property check names every
 * unknown field. Returns tsc's messages, each prefixed with the manifest's source.
 */
export function unknownFieldErrors(manifests: Manifest[]): string[] {
  const virtualPath = join(KUBERNETES_DIR, '../../test/deploy/manifests.virtual.ts')
  const imports = new Map<string, Set<string>>()
  const lines: string[] = []
  for (const [i, m] of manifests.entries()) {
    const spec = KINDS[`${m.apiVersion}/${m.kind}`]
    if (spec === undefined) continue
    imports.set(spec.module, (imports.get(spec.module) ?? new Set()).add(spec.type))
    lines.push(`// ${m.source}`, `export const m${i}: ${spec.type} = ${JSON.stringify(m.doc, null, 2)}`)
  }
  const header = [...imports].map(([module, types]) => `import type { ${[...types].join(', ')} } from '${module}'`)
  const text = [...header, ...lines].join('\n')
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
  }
  const base = ts.createCompilerHost(options)
  const host: ts.CompilerHost = {
    ...base,
    getSourceFile: (path, language, ...rest) =>
      path === virtualPath ? ts.createSourceFile(path, text, language) : base.getSourceFile(path, language, ...rest),
    fileExists: (path) => path === virtualPath || base.fileExists(path),
    readFile: (path) => (path === virtualPath ? text : base.readFile(path)),
  }
  const program = ts.createProgram([virtualPath], options, host)
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n')
    if (d.file?.fileName !== virtualPath || d.start === undefined) return message
    const marker = text.lastIndexOf('\n// ', d.start)
    const source = marker < 0 ? 'manifests' : text.slice(marker + 4, text.indexOf('\n', marker + 1))
    return `${source}: ${message}`
  })
}

/** A manifest's field by path, or undefined when any step is missing. */
export function field(doc: unknown, ...path: Array<string | number>): unknown {
  let value = doc
  for (const step of path) {
    if (typeof step === 'number') value = Array.isArray(value) ? value[step] : undefined
    else value = isRecord(value) ? value[step] : undefined
  }
  return value
}
