/**
 * IPv4 prefix keys in a RIB map: the compact number `addr * 64 + len` (STYLE §2.9) against the string
 * `${addr}/${len}`. This file tests that claim instead of taking it on trust.
 *
 * What it measures, for 10,000 distinct prefixes (random /8–/32 under a fixed seed, held as uint32 address +
 * length, the way speaker/wire decodes NLRI):
 * - time: build the key and insert into a fresh Map (all 10k), then build the key again and look it up
 *   (all 10k), as a RIB does for an UPDATE and its later withdrawal. Key construction is counted on both
 *   sides because a RIB pays it on every message.
 * - memory: bytes the filled Map keeps alive after a forced GC (keys, entries, table), one shared value.
 *
 * How to read it: a ratio below 1 favours the compact key. Numbers above 2^31 are not small integers in V8,
 * so most numeric keys here are heap numbers; the result includes that cost. IPv6 keys (17-byte latin1
 * strings) are not covered here.
 */
import { sideBySide } from './api.js';

const N = 10_000;
const SHARED_ATTRS = Object.freeze({ localPref: 100 });

/** Distinct prefixes, address masked to its length; a fixed xorshift32 stream. */
function prefixes(n: number): { addrs: Uint32Array; lens: Uint8Array } {
  const addrs = new Uint32Array(n);
  const lens = new Uint8Array(n);
  const seen = new Set<number>();
  let x = 0x2545f491;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  for (let i = 0; i < n; ) {
    const len = 8 + (next() % 25);
    const addr = len === 32 ? next() : (next() & ~(0xffffffff >>> len)) >>> 0;
    const key = addr * 64 + len;
    if (seen.has(key)) continue;
    seen.add(key);
    addrs[i] = addr;
    lens[i] = len;
    i++;
  }
  return { addrs, lens };
}

const { addrs, lens } = prefixes(N);

function fillNumeric(): Map<number, object> {
  const m = new Map<number, object>();
  for (let i = 0; i < N; i++) m.set(addrs[i]! * 64 + lens[i]!, SHARED_ATTRS);
  return m;
}

function fillString(): Map<string, object> {
  const m = new Map<string, object>();
  for (let i = 0; i < N; i++) m.set(`${addrs[i]!}/${lens[i]!}`, SHARED_ATTRS);
  return m;
}

function insertLookupNumeric(): number {
  const m = fillNumeric();
  let found = 0;
  for (let i = 0; i < N; i++) if (m.get(addrs[i]! * 64 + lens[i]!) !== undefined) found++;
  if (found !== N) throw new Error(`Cannot look up numeric keys: found ${found} of ${N}`);
  return found;
}

function insertLookupString(): number {
  const m = fillString();
  let found = 0;
  for (let i = 0; i < N; i++) if (m.get(`${addrs[i]!}/${lens[i]!}`) !== undefined) found++;
  if (found !== N) throw new Error(`Cannot look up string keys: found ${found} of ${N}`);
  return found;
}

const labels = { ours: 'addr*64+len', reference: 'addr/len string' };

export default [
  sideBySide('IPv4 prefix keys: insert + lookup 10k', {
    labels,
    ours: insertLookupNumeric,
    reference: insertLookupString,
    units: 'routes',
    unitsPerRun: N,
  }),
  sideBySide('IPv4 prefix keys: Map of 10k, retained', {
    labels,
    metric: 'memory',
    ours: fillNumeric,
    reference: fillString,
    units: 'routes',
    unitsPerRun: N,
  }),
];
