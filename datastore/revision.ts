/**
 * Ordering of revisions. etcd's mod_revision and Kubernetes' resourceVersion (an etcd revision in every API
 * server we know, though the API calls it opaque) are int64 in decimal: compare them as BigInt, never as JS
 * numbers (2^53 is reachable in a long-lived cluster's mind, if not its etcd).
 */
import type { Revision } from './types.js';

const DECIMAL = /^(0|[1-9][0-9]*)$/;

/**
 * Negative when `a` is older than `b`, 0 when equal, positive when newer; `undefined` when either is not a
 * canonical decimal (an opaque revision we cannot order: callers then skip ordering-based logic).
 *
 * @example compareRevisions('9', '10') < 0 // true, where '9' > '10' as strings
 */
export function compareRevisions(a: Revision, b: Revision): number | undefined {
  if (!DECIMAL.test(a) || !DECIMAL.test(b)) return a === b ? 0 : undefined;
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
