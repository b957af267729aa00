/**
 * The CRD generator: each of our kinds' zod schema → an apiextensions.k8s.io/v1 CustomResourceDefinition
 * with a structural OpenAPI v3 schema → `crds/crd.caracal.dev_<plural>.yaml`. Native kinds get no CRD.
 *
 *   node --import tsx model/gen-crds.ts           write crds/ (npm run gen:crds)
 *   node --import tsx model/gen-crds.ts --check   exit 1 and list the stale files
 *
 * `z.toJSONSchema(…, { io: 'input', target: 'openapi-3.0' })` does most of the work (input side, so fields
 * with defaults are optional and carry `default`); `toStructural()` then enforces what Kubernetes requires
 * of a structural schema (a type on every node, no $ref, no additionalProperties beside properties, no
 * unions except int-or-string) and throws, naming the path, on anything it cannot express, rather than
 * emit a schema the API server would refuse. Refinements stay zod-only unless the schema carries a CEL
 * rule through `.meta({ 'x-kubernetes-validations': [...] })`.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { z } from 'zod';
import { CaracalError, ErrorCodes } from '../common/errors.js';
import type { KindInfo, PrinterColumn } from './kind.js';
import { KINDS } from './kinds.js';

export type JsonSchema = { [keyword: string]: unknown };

export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string; labels: Record<string, string> };
  spec: {
    group: string;
    names: { kind: string; listKind: string; plural: string; singular: string; shortNames?: string[] };
    scope: 'Cluster' | 'Namespaced';
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      schema: { openAPIV3Schema: JsonSchema };
      subresources?: { status: Record<string, never> };
      additionalPrinterColumns: PrinterColumn[];
    }[];
  };
}

/** Formats the API server knows (k8s.io/kube-openapi strfmt); others are dropped rather than refused. */
const K8S_FORMATS = new Set([
  'int32',
  'int64',
  'float',
  'double',
  'byte',
  'binary',
  'date',
  'date-time',
  'duration',
  'password',
  'uri',
  'email',
  'hostname',
  'ipv4',
  'ipv6',
  'cidr',
  'mac',
  'uuid',
  'uuid3',
  'uuid4',
  'uuid5',
]);

/** Keywords apiextensions.k8s.io/v1 JSONSchemaProps accepts, in the order we print them. */
const KEYWORD_ORDER = [
  'description',
  'type',
  'format',
  'enum',
  'default',
  'nullable',
  'minimum',
  'exclusiveMinimum',
  'maximum',
  'exclusiveMaximum',
  'multipleOf',
  'minLength',
  'maxLength',
  'pattern',
  'minItems',
  'maxItems',
  'minProperties',
  'maxProperties',
  'items',
  'properties',
  'additionalProperties',
  'required',
  'x-kubernetes-int-or-string',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'x-kubernetes-validations',
] as const;
const ALLOWED = new Set<string>(KEYWORD_ORDER);
/** zod output that has no CRD counterpart and carries nothing a CRD needs. */
const DROPPED = new Set(['$schema', '$id', 'id', 'title', 'propertyNames', 'contentEncoding', 'examples']);

const isObject = (v: unknown): v is JsonSchema => typeof v === 'object' && v !== null && !Array.isArray(v);
const isEmptySchema = (v: unknown) => isObject(v) && Object.keys(v).length === 0;

function fail(path: readonly string[], why: string): never {
  throw new CaracalError(ErrorCodes.Internal, `Cannot generate CRD schema at ${path.join('.') || '(root)'}: ${why}`, {
    details: { path: path.join('.') },
  });
}

/** anyOf/oneOf of exactly an integer and a string: Kubernetes' int-or-string. */
function isIntOrString(branches: unknown): boolean {
  if (!Array.isArray(branches) || branches.length !== 2) return false;
  const types = branches.map((b) => (isObject(b) ? b.type : undefined)).sort();
  return types[0] === 'integer' && types[1] === 'string';
}

/**
 * One JSON Schema node (zod's openapi-3.0 output) → a structural CRD schema node. Throws INTERNAL, naming
 * the path, on anything Kubernetes would refuse.
 */
export function toStructural(node: unknown, path: readonly string[] = []): JsonSchema {
  if (!isObject(node)) fail(path, 'a schema must be an object');
  if ('$ref' in node) fail(path, '$ref is not structural: the schema must be inlined (is a schema recursive?)');
  const n: JsonSchema = {};
  for (const [k, v] of Object.entries(node)) if (!DROPPED.has(k)) n[k] = v;

  const union = n.anyOf ?? n.oneOf;
  if (union !== undefined) {
    if (!isIntOrString(union)) fail(path, 'unions are not structural; only integer-or-string is supported');
    delete n.anyOf;
    delete n.oneOf;
    delete n.type;
    n['x-kubernetes-int-or-string'] = true;
  }
  if (n.allOf !== undefined || n.not !== undefined)
    fail(path, 'allOf/not are not supported (two regexes on one string?)');
  if ('const' in n) {
    n.enum = [n.const];
    delete n.const;
  }
  if (n.uniqueItems !== undefined) fail(path, 'uniqueItems is forbidden; use x-kubernetes-list-type: set');

  if (n.type === 'integer') {
    // zod's .int() implies the safe-integer range; Kubernetes integers are int64 anyway.
    if (n.minimum === Number.MIN_SAFE_INTEGER) delete n.minimum;
    if (n.maximum === Number.MAX_SAFE_INTEGER) delete n.maximum;
  }
  if (typeof n.format === 'string') {
    if (!K8S_FORMATS.has(n.format)) delete n.format;
    else if (n.format === 'date-time') delete n.pattern; // the format says it, and zod's regex is long
  }

  if (n.type === 'object') {
    if (isObject(n.properties)) {
      const props: JsonSchema = {};
      for (const [k, v] of Object.entries(n.properties)) props[k] = toStructural(v, [...path, k]);
      n.properties = props;
      if (n.additionalProperties !== undefined) {
        // A loose object: keep what we do not model instead of pruning it.
        if (isEmptySchema(n.additionalProperties) || n.additionalProperties === true) {
          n['x-kubernetes-preserve-unknown-fields'] = true;
        }
        delete n.additionalProperties;
      }
    } else if (isObject(n.additionalProperties) && !isEmptySchema(n.additionalProperties)) {
      n.additionalProperties = toStructural(n.additionalProperties, [...path, '*']);
    } else {
      delete n.additionalProperties;
      n['x-kubernetes-preserve-unknown-fields'] = true;
    }
  }
  if (n.type === 'array') {
    if (!isObject(n.items)) fail(path, 'a list needs one items schema (tuples are not structural)');
    n.items = toStructural(n.items, [...path, '[]']);
  }
  if (
    n.type === undefined &&
    n['x-kubernetes-int-or-string'] !== true &&
    n['x-kubernetes-preserve-unknown-fields'] !== true
  ) {
    const rest = Object.keys(n).filter((k) => k !== 'description' && k !== 'default');
    if (rest.length > 0) fail(path, `a node without a type carries ${rest.join(', ')}`);
    n['x-kubernetes-preserve-unknown-fields'] = true;
  }

  const out: JsonSchema = {};
  for (const k of KEYWORD_ORDER) if (n[k] !== undefined) out[k] = n[k];
  const unknown = Object.keys(n).filter((k) => !ALLOWED.has(k));
  if (unknown.length > 0) fail(path, `keyword ${unknown.join(', ')} is not supported by apiextensions.k8s.io/v1`);
  return out;
}

/** The structural openAPIV3Schema of a whole-object zod schema. */
export function crdSchemaFor(schema: z.ZodType): JsonSchema {
  const raw = z.toJSONSchema(schema, { io: 'input', target: 'openapi-3.0', unrepresentable: 'throw' });
  const s = toStructural(raw);
  const props = { ...(s.properties as JsonSchema) };
  props.apiVersion = {
    description:
      'Versioned schema of this representation of the object; servers convert recognised schemas to the latest',
    type: 'string',
  };
  props.kind = { description: 'REST resource this object represents, in CamelCase', type: 'string' };
  props.metadata = { type: 'object' };
  const required = ((s.required as string[] | undefined) ?? []).filter(
    (k) => k !== 'apiVersion' && k !== 'kind' && k !== 'metadata',
  );
  const { required: _r, properties: _p, ...rest } = s;
  return { ...rest, properties: props, ...(required.length > 0 ? { required } : {}) };
}

/** The CustomResourceDefinition of one of our kinds. */
export function crdFor(kind: KindInfo): CustomResourceDefinition {
  if (kind.native) {
    throw new CaracalError(
      ErrorCodes.Internal,
      `Cannot generate a CRD for ${kind.key}: it is a native Kubernetes kind`,
    );
  }
  const openAPIV3Schema = crdSchemaFor(kind.schema);
  const hasStatus = isObject(openAPIV3Schema.properties) && 'status' in openAPIV3Schema.properties;
  const columns: PrinterColumn[] = [
    ...(kind.printerColumns ?? []),
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ];
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${kind.plural}.${kind.group}`, labels: { 'app.kubernetes.io/part-of': 'caracal' } },
    spec: {
      group: kind.group,
      names: {
        kind: kind.kind,
        listKind: `${kind.kind}List`,
        plural: kind.plural,
        singular: kind.singular,
        ...(kind.shortNames && kind.shortNames.length > 0 ? { shortNames: [...kind.shortNames] } : {}),
      },
      scope: kind.namespaced ? 'Namespaced' : 'Cluster',
      versions: [
        {
          name: kind.version,
          served: true,
          storage: true,
          schema: { openAPIV3Schema },
          ...(hasStatus ? { subresources: { status: {} } } : {}),
          additionalPrinterColumns: columns,
        },
      ],
    },
  };
}

export const CRD_HEADER = '# generated by model/gen-crds.ts; do not edit (regenerate: npm run gen:crds)\n';

/** File name of a kind's CRD under crds/. */
export function crdFileName(kind: Pick<KindInfo, 'group' | 'plural'>): string {
  return `${kind.group}_${kind.plural}.yaml`;
}

export function renderCrdYaml(kind: KindInfo): string {
  return CRD_HEADER + stringify(crdFor(kind), { lineWidth: 0, aliasDuplicateObjects: false });
}

/** Every CRD file's name and text, for our kinds only, in registry order. */
export function renderCrdsYaml(): ReadonlyMap<string, string> {
  const files = new Map<string, string>();
  for (const kind of Object.values(KINDS) as KindInfo[]) {
    if (!kind.native) files.set(crdFileName(kind), renderCrdYaml(kind));
  }
  return files;
}

export interface StaleFile {
  readonly file: string;
  readonly state: 'missing' | 'differs' | 'extra';
}

const GENERATED = /^crd\.caracal\.dev_.*\.yaml$/;

/** What in `dir` differs from freshly rendered CRDs (files we did not generate are left alone). */
export function staleCrdFiles(dir: string, want: ReadonlyMap<string, string> = renderCrdsYaml()): StaleFile[] {
  let present: string[] = [];
  try {
    present = readdirSync(dir).filter((f) => GENERATED.test(f));
  } catch {
    // no directory: everything is missing
  }
  const out: StaleFile[] = [];
  for (const [file, text] of want) {
    if (!present.includes(file)) out.push({ file, state: 'missing' });
    else if (readFileSync(join(dir, file), 'utf8') !== text) out.push({ file, state: 'differs' });
  }
  for (const file of present) if (!want.has(file)) out.push({ file, state: 'extra' });
  return out;
}

export const CRDS_DIR = resolve(fileURLToPath(new URL('..', import.meta.url)), 'crds');

/** The CLI: write crds/, or with `--check` report stale files. Returns the exit code. */
export function main(
  argv: readonly string[],
  dir: string = CRDS_DIR,
  out: (line: string) => void = console.log,
): number {
  const want = renderCrdsYaml();
  const stale = staleCrdFiles(dir, want);
  if (argv.includes('--check')) {
    if (stale.length === 0) {
      out(`crds/ is up to date (${want.size} files)`);
      return 0;
    }
    out(`crds/ is stale (${stale.length} file${stale.length === 1 ? '' : 's'}); run: npm run gen:crds`);
    for (const s of stale) out(`  ${s.state.padEnd(7)} crds/${s.file}`);
    return 1;
  }
  mkdirSync(dir, { recursive: true });
  for (const s of stale) {
    if (s.state === 'extra') rmSync(join(dir, s.file));
    else writeFileSync(join(dir, s.file), want.get(s.file)!);
    out(`${s.state === 'extra' ? 'removed' : 'wrote  '} crds/${s.file}`);
  }
  if (stale.length === 0) out(`crds/ is up to date (${want.size} files)`);
  return 0;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
