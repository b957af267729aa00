/**
 * `parseResource()`: the edge where raw JSON becomes a typed object (the datastore calls it on every read
 * and every write). It turns zod issues into one CaracalError(INVALID_RESOURCE) whose message names the kind,
 * the object and every failing field path with its reason:
 *
 *   Cannot accept IPPool "pool-a": spec.blockSize: must be between 20 and 32 for IPv4: current value is 19
 *
 * Reasons come from the schemas' own checks (fields.ts `addIssue`) or, for zod's built-in checks, from
 * `reasonFor()` below, which words them the same way. ": current value is …" is appended from the issue's
 * input whenever there is one and the reason does not already say it.
 */
import type { z } from 'zod';
import { CaracalError, type ErrorCode, ErrorCodes } from '../common/errors.js';
import { isKindName, KINDS, type KindName, type ResourceOf } from './kinds.js';

export interface ResourceIssue {
  /** Field path in the form the message uses: `spec.ports[0].port`, `spec.block["10.0.0.0/26"]`. */
  readonly path: string;
  /** The reason, with the current value when there is one. */
  readonly message: string;
}

export type SafeParseResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: CaracalError };

/** At most this many issues are spelled out in the message (all are in `details.issues`). */
export const MAX_ISSUES_IN_MESSAGE = 10;

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `['spec', 'ports', 0, 'port']` → `spec.ports[0].port`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (typeof seg === 'string' && IDENT.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(String(seg))}]`;
  }
  return out;
}

/** A value as it appears in a message: strings quoted, long values cut short. */
export function describeValue(v: unknown): string {
  let s: string;
  try {
    s = typeof v === 'bigint' ? `${v}` : (JSON.stringify(v) ?? String(v));
  } catch {
    s = String(v);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

const TYPE_WORDS: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'an object',
  record: 'an object',
  array: 'a list',
  null: 'null',
  bigint: 'an integer',
};

const sizeWord = (origin: string, n: unknown, dir: 'least' | 'most'): string => {
  if (origin === 'string') return `must be at ${dir} ${n} characters long`;
  if (origin === 'array' || origin === 'set') return `must have at ${dir} ${n} items`;
  return `must be at ${dir} ${n}`;
};

/** The reason for one of zod's built-in issues, or undefined to keep zod's text. */
export function reasonFor(iss: z.core.$ZodRawIssue): string | undefined {
  if (
    iss.input === undefined &&
    (iss.code === 'invalid_type' || iss.code === 'invalid_union' || iss.code === 'invalid_value')
  ) {
    return 'is required';
  }
  const input = iss.input;
  const length = Array.isArray(input) || typeof input === 'string' ? `: current length is ${input.length}` : '';
  switch (iss.code) {
    case 'invalid_type':
      return `must be ${TYPE_WORDS[iss.expected] ?? iss.expected}`;
    case 'too_small':
      if (!iss.inclusive && (iss.origin === 'number' || iss.origin === 'int'))
        return `must be greater than ${iss.minimum}`;
      return sizeWord(iss.origin, iss.minimum, 'least') + length;
    case 'too_big':
      if (!iss.inclusive && (iss.origin === 'number' || iss.origin === 'int'))
        return `must be less than ${iss.maximum}`;
      return sizeWord(iss.origin, iss.maximum, 'most') + length;
    case 'invalid_value':
      return iss.values.length === 1
        ? `must be ${describeValue(iss.values[0])}`
        : `must be one of ${iss.values.map((v) => describeValue(v)).join(', ')}`;
    case 'invalid_format':
      if (iss.format === 'datetime') return 'must be an RFC 3339 timestamp such as 2026-01-02T03:04:05Z';
      if (iss.format === 'regex' && iss.pattern) return `must match ${iss.pattern}`;
      return `must be a valid ${iss.format}`;
    case 'not_multiple_of':
      return `must be a multiple of ${iss.divisor}`;
    case 'unrecognized_keys':
      return `has unknown fields ${iss.keys.map((k) => describeValue(k)).join(', ')}`;
    case 'invalid_union':
      return 'does not match any allowed form';
    default:
      return undefined;
  }
}

function issuesOf(error: z.ZodError): ResourceIssue[] {
  return error.issues.map((iss) => {
    let message = iss.message;
    const input = (iss as { input?: unknown }).input;
    if ('input' in iss && input !== undefined && !message.includes(': current ')) {
      message += `: current value is ${describeValue(input)}`;
    }
    return { path: formatPath(iss.path), message };
  });
}

/** "path: reason; path: reason", at most MAX_ISSUES_IN_MESSAGE of them. */
function joinIssues(issues: readonly ResourceIssue[]): string {
  const shown = issues
    .slice(0, MAX_ISSUES_IN_MESSAGE)
    .map((i) => (i.path === '' ? i.message : `${i.path}: ${i.message}`));
  if (issues.length > MAX_ISSUES_IN_MESSAGE) shown.push(`and ${issues.length - MAX_ISSUES_IN_MESSAGE} more`);
  return shown.join('; ');
}

/**
 * Validate `value` against any schema (a config file, CNI stdin, ...), reporting like `parseResource`:
 * `Cannot <what>: peers[0].asn: must be at most 4294967295: current value is -1`. Throws INVALID_CONFIG
 * (or `code`) with `details.issues`.
 */
export function parseWithSchema<S extends z.ZodType>(
  schema: S,
  value: unknown,
  what: string,
  code: ErrorCode = ErrorCodes.InvalidConfig,
): z.infer<S> {
  const r = schema.safeParse(value, { error: reasonFor, reportInput: true });
  if (r.success) return r.data;
  const issues = issuesOf(r.error);
  throw new CaracalError(code, `Cannot ${what}: ${joinIssues(issues)}`, { details: { issues }, cause: r.error });
}

function objectLabel(value: unknown): { name?: string; namespace?: string; label: string } {
  const meta = (value as { metadata?: { name?: unknown; namespace?: unknown } } | null)?.metadata;
  const name = typeof meta?.name === 'string' ? meta.name : undefined;
  const namespace = typeof meta?.namespace === 'string' ? meta.namespace : undefined;
  if (name === undefined) return { label: '(unnamed)' };
  return {
    name,
    ...(namespace === undefined ? {} : { namespace }),
    label: `"${namespace ? `${namespace}/` : ''}${name}"`,
  };
}

/**
 * Validate `value` as an object of the kind `kindKey` (a registry key of KINDS), with defaults applied.
 * Never throws: the error is returned.
 */
export function safeParseResource<K extends KindName>(kindKey: K, value: unknown): SafeParseResult<ResourceOf<K>> {
  if (!isKindName(kindKey)) {
    return {
      ok: false,
      error: new CaracalError(
        ErrorCodes.UnknownKind,
        `Cannot accept object: kind "${String(kindKey)}" is not in the registry`,
        {
          details: { kind: kindKey },
        },
      ),
    };
  }
  const info = KINDS[kindKey];
  const r = (info.schema as z.ZodType).safeParse(value, { error: reasonFor, reportInput: true });
  if (r.success) return { ok: true, value: r.data as ResourceOf<K> };
  const issues = issuesOf(r.error);
  const { label, ...id } = objectLabel(value);
  return {
    ok: false,
    error: new CaracalError(ErrorCodes.InvalidResource, `Cannot accept ${info.kind} ${label}: ${joinIssues(issues)}`, {
      details: { kind: info.kind, ...id, issues },
      cause: r.error,
    }),
  };
}

/**
 * Validate `value` as an object of the kind `kindKey`, with defaults applied, or throw INVALID_RESOURCE
 * (UNKNOWN_KIND for a key not in the registry).
 * @example parseResource('IPPool', { apiVersion: 'crd.caracal.dev/v1', kind: 'IPPool', metadata: { name: 'p' }, spec: { cidr: '10.244.0.0/16' } }).spec.blockSize // 26
 */
export function parseResource<K extends KindName>(kindKey: K, value: unknown): ResourceOf<K> {
  const r = safeParseResource(kindKey, value);
  if (!r.ok) throw r.error;
  return r.value;
}
