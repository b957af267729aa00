/**
 * PATCH bodies for the test API server (TEST DOUBLE, see server.ts): JSON merge patch (RFC 7386,
 * `application/merge-patch+json`) and JSON patch (RFC 6902, `application/json-patch+json`). Strategic merge
 * patch is approximated by merge patch for native kinds (lists are replaced, not merged by key); server-side
 * apply is not implemented.
 */
import { isDeepStrictEqual } from 'node:util';
import { Errors } from './status.js';

type Json = unknown;

const isObject = (v: Json): v is Record<string, Json> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** `o[k] = v` as an own data property: a "__proto__" key stays a key and never replaces the prototype. */
function setOwn(o: Record<string, Json>, k: string, v: Json): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

/** RFC 7386 §2. */
export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const out: Record<string, Json> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else setOwn(out, k, mergePatch(Object.hasOwn(out, k) ? out[k] : undefined, v));
  }
  return out;
}

/** RFC 6901 pointer → tokens. */
function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw invalid(`invalid JSON pointer "${path}"`);
  return path
    .slice(1)
    .split('/')
    .map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'));
}

const invalid = (why: string) =>
  Errors.invalidOptions('Patch', [
    {
      reason: 'FieldValueInvalid',
      field: 'patch',
      message: `the server rejected our request due to an error in our request: ${why}`,
    },
  ]);

function parentOf(doc: Json, tokens: string[], op: string): [Record<string, Json> | Json[], string] {
  let cur: Json = doc;
  for (const t of tokens.slice(0, -1)) {
    cur = child(cur, t);
    if (cur === undefined) throw invalid(`${op}: missing path "/${tokens.join('/')}"`);
  }
  if (!Array.isArray(cur) && !isObject(cur)) throw invalid(`${op}: cannot traverse "/${tokens.join('/')}"`);
  return [cur, tokens[tokens.length - 1]!];
}

/** The member `t` of `cur`: own properties only, so "/constructor" or "/__proto__" is a missing path. */
function child(cur: Json, t: string): Json {
  if (Array.isArray(cur)) return /^(0|[1-9][0-9]*)$/.test(t) ? cur[Number(t)] : undefined;
  if (isObject(cur)) return Object.hasOwn(cur, t) ? cur[t] : undefined;
  return undefined;
}

function getAt(doc: Json, tokens: string[]): Json {
  let cur: Json = doc;
  for (const t of tokens) {
    cur = child(cur, t);
    if (cur === undefined) return undefined;
  }
  return cur;
}

function add(doc: Json, tokens: string[], value: Json, op: string): Json {
  if (tokens.length === 0) return structuredClone(value);
  const [parent, last] = parentOf(doc, tokens, op);
  if (Array.isArray(parent)) {
    const i = last === '-' ? parent.length : Number(last);
    if (!Number.isInteger(i) || i < 0 || i > parent.length) throw invalid(`${op}: index "${last}" out of range`);
    parent.splice(i, 0, structuredClone(value));
  } else setOwn(parent, last, structuredClone(value));
  return doc;
}

function remove(doc: Json, tokens: string[], op: string): Json {
  const [parent, last] = parentOf(doc, tokens, op);
  if (Array.isArray(parent)) {
    const i = Number(last);
    if (!Number.isInteger(i) || i < 0 || i >= parent.length) throw invalid(`${op}: index "${last}" out of range`);
    parent.splice(i, 1);
  } else {
    if (!Object.hasOwn(parent, last)) throw invalid(`${op}: missing path "/${tokens.join('/')}"`);
    delete parent[last];
  }
  return doc;
}

/** RFC 6902 §4, applied to a copy; any failed operation rejects the whole patch (§5). */
export function jsonPatch(target: Json, ops: Json): Json {
  if (!Array.isArray(ops)) throw invalid('a JSON patch must be an array of operations');
  let doc: Json = structuredClone(target);
  for (const raw of ops) {
    if (!isObject(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string')
      throw invalid('malformed operation');
    const tokens = pointer(raw.path);
    switch (raw.op) {
      case 'add':
        doc = add(doc, tokens, raw.value, 'add');
        break;
      case 'remove':
        doc = remove(doc, tokens, 'remove');
        break;
      case 'replace':
        if (getAt(doc, tokens) === undefined) throw invalid(`replace: missing path "${raw.path}"`);
        doc =
          tokens.length === 0
            ? structuredClone(raw.value)
            : add(remove(doc, tokens, 'replace'), tokens, raw.value, 'replace');
        break;
      case 'move':
      case 'copy': {
        if (typeof raw.from !== 'string') throw invalid(`${raw.op}: "from" is required`);
        const from = pointer(raw.from);
        const value = getAt(doc, from);
        if (value === undefined) throw invalid(`${raw.op}: missing path "${raw.from}"`);
        if (raw.op === 'move') doc = remove(doc, from, 'move');
        doc = add(doc, tokens, value, raw.op);
        break;
      }
      case 'test':
        if (!isDeepStrictEqual(getAt(doc, tokens), raw.value)) throw invalid(`testing value ${raw.path} failed`);
        break;
      default:
        throw invalid(`unknown operation "${raw.op}"`);
    }
  }
  return doc;
}
