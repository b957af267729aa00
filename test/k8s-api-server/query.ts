/**
 * Query-string pieces of the Kubernetes list/watch protocol for the test API server (TEST DOUBLE, see
 * server.ts): field selectors, label selectors (model/label-selector.ts, the same grammar as apimachinery's
 * labels.Parse) and continue tokens.
 *
 * Continue tokens use apiserver's own encoding (k8s.io/apiserver/pkg/storage/continue.go): unpadded
 * base64url of `{"v":"meta.k8s.io/v1","rv":<list RV>,"start":"<next key relative to the list prefix>\u0000"}`.
 * A client must treat them as opaque; encoding them the same way keeps this double honest about that.
 */
import { isCaracalError } from '../../common/errors.js';
import { matchesLabels, parseLabelSelector } from '../../model/label-selector.js';
import type { ApiResource, Obj } from './resources.js';
import { Errors } from './status.js';

export type Predicate = (o: Obj) => boolean;

const meta = (o: Obj): Obj => (o.metadata !== null && typeof o.metadata === 'object' ? (o.metadata as Obj) : {});

/** `labelSelector` → predicate; a malformed selector is a 400, as in apiserver. */
export function labelPredicate(text: string | undefined): Predicate | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  try {
    const reqs = parseLabelSelector(text);
    return (o) => matchesLabels(reqs, meta(o).labels as Record<string, string> | undefined);
  } catch (e) {
    if (isCaracalError(e)) throw Errors.badRequest(`unable to parse requirement: ${e.message}`);
    throw e;
  }
}

/**
 * `fieldSelector` → predicate. Grammar of apimachinery fields.ParseSelector: `key=value`, `key==value`,
 * `key!=value`, joined by commas (AND). Only the fields the resource supports are accepted; others are a
 * 400 "field label not supported", as the real server answers.
 */
export function fieldPredicate(text: string | undefined, r: ApiResource): Predicate | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const getters: Record<string, (o: Obj) => string> = {
    'metadata.name': (o) => String(meta(o).name ?? ''),
    'metadata.namespace': (o) => String(meta(o).namespace ?? ''),
    ...r.fieldLabels,
  };
  const terms: { get: (o: Obj) => string; value: string; negate: boolean }[] = [];
  for (const part of text.split(',')) {
    const m = /^\s*([A-Za-z0-9._-]+)\s*(==|=|!=)\s*(.*?)\s*$/.exec(part);
    if (!m) throw Errors.badRequest(`invalid selector: '${text}'; can't understand '${part}'`);
    const get = getters[m[1]!];
    if (!get) throw Errors.badRequest(`field label not supported: ${m[1]}`);
    terms.push({ get, value: m[3]!, negate: m[2] === '!=' });
  }
  return (o) => terms.every((t) => (t.get(o) === t.value) !== t.negate);
}

export function and(...ps: (Predicate | undefined)[]): Predicate {
  const live = ps.filter((p): p is Predicate => p !== undefined);
  return (o) => live.every((p) => p(o));
}

interface ContinueToken {
  v: string;
  rv: number;
  start: string;
}

export function encodeContinue(rv: number, nextKey: string): string {
  const token: ContinueToken = { v: 'meta.k8s.io/v1', rv, start: nextKey };
  return Buffer.from(JSON.stringify(token)).toString('base64url');
}

/** Returns the list RV the token was issued at (-1: "continue from the latest", after a 410) and its start key. */
export function decodeContinue(value: string): { rv: number; start: string } {
  let token: Partial<ContinueToken>;
  try {
    token = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as Partial<ContinueToken>;
  } catch (e) {
    throw Errors.badRequest(`invalid continue token: continue key is not valid: ${(e as Error).message}`);
  }
  if (token.v !== 'meta.k8s.io/v1') {
    throw Errors.badRequest(
      'invalid continue token: continue key is not valid: server does not recognize this encoded version',
    );
  }
  if (typeof token.rv !== 'number' || token.rv === 0) {
    throw Errors.badRequest(
      'invalid continue token: continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)',
    );
  }
  if (typeof token.start !== 'string' || token.start === '') {
    throw Errors.badRequest(
      'invalid continue token: continue key is not valid: encoded start key empty (version meta.k8s.io/v1)',
    );
  }
  return { rv: token.rv, start: token.start };
}

/** A resourceVersion query parameter as an integer; malformed → 400, as apiserver's versioner.ParseResourceVersion. */
export function parseResourceVersion(v: string): number {
  if (!/^[0-9]+$/.test(v)) throw Errors.badRequest(`invalid resource version: ${JSON.stringify(v)}`);
  return Number(v);
}
