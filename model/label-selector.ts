/**
 * Kubernetes label selectors (the `?labelSelector=` string form and the structured LabelSelector of
 * NetworkPolicy): parse once, match many. Grammar, after apimachinery's labels.Parse:
 *   requirement := key [("=" | "==" | "!=") value] | key ("in" | "notin") "(" values ")" | "!" key
 *   selector    := requirement ("," requirement)*          (AND of all; empty selects everything)
 * Calico's richer selector language (has(), ||, starts with, ...) is a different grammar and lives with
 * the policy compiler, not here.
 */
import { CaracalError, ErrorCodes } from '../common/errors.js';

export type Requirement =
  | { op: 'eq' | 'neq'; key: string; value: string }
  | { op: 'in' | 'notin'; key: string; values: readonly string[] }
  | { op: 'exists' | 'notexists'; key: string };

export interface LabelSelectorObject {
  matchLabels?: Record<string, string> | undefined;
  matchExpressions?:
    | readonly {
        key: string;
        operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
        values?: readonly string[] | undefined;
      }[]
    | undefined;
}

export type Labels = Readonly<Record<string, string>> | undefined;

export function parseLabelSelector(text: string): Requirement[] {
  const reqs: Requirement[] = [];
  const fail = (why: string): never => {
    throw new CaracalError(ErrorCodes.InvalidResource, `Cannot parse label selector "${text}": ${why}`, {
      details: { field: 'labelSelector' },
    });
  };
  for (const raw of splitTopLevel(text)) {
    const part = raw.trim();
    if (part === '') {
      if (text.trim() === '') continue;
      fail('empty requirement');
    }
    let m = /^!\s*([A-Za-z0-9._/-]+)$/.exec(part);
    if (m) {
      reqs.push({ op: 'notexists', key: m[1]! });
      continue;
    }
    m = /^([A-Za-z0-9._/-]+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(part);
    if (m) {
      const values = m[3]!
        .split(',')
        .map((v) => v.trim())
        .filter((v) => v !== '');
      // apimachinery: "for 'in', 'notin' operators, values set can't be empty"
      if (values.length === 0) fail(`"${m[2]}" needs at least one value: "${part}" has none`);
      reqs.push({ op: m[2] === 'in' ? 'in' : 'notin', key: m[1]!, values });
      continue;
    }
    m = /^([A-Za-z0-9._/-]+)\s*(==|=|!=)\s*([A-Za-z0-9._-]*)$/.exec(part);
    if (m) {
      reqs.push({ op: m[2] === '!=' ? 'neq' : 'eq', key: m[1]!, value: m[3]! });
      continue;
    }
    m = /^([A-Za-z0-9._/-]+)$/.exec(part);
    if (m) {
      reqs.push({ op: 'exists', key: m[1]! });
      continue;
    }
    fail(`cannot understand requirement "${part}"`);
  }
  return reqs;
}

/** Split on commas that are not inside parentheses. */
function splitTopLevel(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

export function fromSelectorObject(sel: LabelSelectorObject): Requirement[] {
  const reqs: Requirement[] = [];
  for (const [key, value] of Object.entries(sel.matchLabels ?? {})) reqs.push({ op: 'eq', key, value });
  for (const e of sel.matchExpressions ?? []) {
    if (e.operator === 'In') reqs.push({ op: 'in', key: e.key, values: e.values ?? [] });
    else if (e.operator === 'NotIn') reqs.push({ op: 'notin', key: e.key, values: e.values ?? [] });
    else if (e.operator === 'Exists') reqs.push({ op: 'exists', key: e.key });
    else reqs.push({ op: 'notexists', key: e.key });
  }
  return reqs;
}

export function matchesLabels(reqs: readonly Requirement[], labels: Labels): boolean {
  const l = labels ?? {};
  for (const r of reqs) {
    const has = Object.hasOwn(l, r.key);
    const v = l[r.key];
    switch (r.op) {
      case 'eq':
        if (v !== r.value) return false;
        break;
      case 'neq': // apimachinery: true when the key is absent
        if (has && v === r.value) return false;
        break;
      case 'in':
        if (!has || !r.values.includes(v!)) return false;
        break;
      case 'notin':
        if (has && r.values.includes(v!)) return false;
        break;
      case 'exists':
        if (!has) return false;
        break;
      case 'notexists':
        if (has) return false;
        break;
    }
  }
  return true;
}
