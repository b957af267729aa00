/**
 * Loc-RIB ingest (speaker/rib/loc-rib.ts) against a naive RIB, side by side: N IPv4 /24s from one eBGP
 * session in batches of 800 (one UPDATE's worth), 10 shared attribute sets, import policy accept-all.
 *
 * The naive reference is what a first RIB in JS looks like: Adj-RIB-In as `Map<string, attrs>` per peer and
 * the Loc-RIB as `Map<string, {peer, attrs}[]>` with the best path recomputed by a sort, one object per
 * prefix. Ours: one typed-array prefix table holding shared `Path` ids (docs/design/bgp-rib.md).
 *
 * How to read it: ratios below 1 favour ours. Time is per whole ingest (throughput in routes/s); memory is
 * what the filled RIB keeps alive after a forced GC. The absolute 1M-prefix numbers against BIRD come from
 * `speaker/rib/measure-ingest.ts` (one process, one run); this file states them as a ratio in one run.
 */
import { ACCEPT_ALL, compilePolicy } from '../speaker/policy/policy.js';
import { AttrInterner, baseAttrs } from '../speaker/rib/attr-intern.js';
import { LocRib } from '../speaker/rib/loc-rib.js';
import type { PathAttributes } from '../speaker/wire/types.js';
import { sideBySide } from './api.js';

const N = 200_000;
const PER_UPDATE = 800;
const interner = new AttrInterner();
const SETS: PathAttributes[] = Array.from({ length: 10 }, (_, i) =>
  interner.internAttrs(baseAttrs('192.0.2.1', { asPath: [{ type: 2, asns: [65001, 65100 + i] }], med: i })),
);
const BATCHES: number[][] = [];
for (let base = 0; base < N; base += PER_UPDATE) {
  const b: number[] = [];
  for (let j = base; j < Math.min(N, base + PER_UPDATE); j++) b.push((0x01000000 + j * 256) * 64 + 24);
  BATCHES.push(b);
}

function ours(): LocRib {
  const rib = new LocRib({ asn: 64512, routerId: 1, interner });
  rib.addPeer({ id: 'p1', address: '192.0.2.1', asn: 65001, routerId: 2 }, compilePolicy(ACCEPT_ALL, rib));
  for (let u = 0; u < BATCHES.length; u++)
    rib.applyUpdate('p1', { afi: 1, safi: 1, prefixes: BATCHES[u]! }, SETS[u % 10]!);
  rib.takeDirty();
  return rib;
}

interface NaiveRoute {
  readonly peer: string;
  readonly attrs: PathAttributes;
}
const keyText = (k: number): string => {
  const len = k % 64;
  const a = (k - len) / 64;
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}/${len}`;
};

function naive(): { adjIn: Map<string, Map<string, PathAttributes>>; loc: Map<string, NaiveRoute[]> } {
  const adjIn = new Map<string, Map<string, PathAttributes>>([['p1', new Map()]]);
  const loc = new Map<string, NaiveRoute[]>();
  const inP1 = adjIn.get('p1')!;
  for (let u = 0; u < BATCHES.length; u++) {
    const attrs = SETS[u % 10]!;
    for (const k of BATCHES[u]!) {
      const key = keyText(k);
      inP1.set(key, attrs);
      const list = (loc.get(key) ?? []).filter((r) => r.peer !== 'p1');
      list.push({ peer: 'p1', attrs });
      list.sort((a, b) => (b.attrs.localPref ?? 100) - (a.attrs.localPref ?? 100));
      loc.set(key, list);
    }
  }
  return { adjIn, loc };
}

const labels = { ours: 'LocRib (prefix table)', reference: 'naive Map<string, object[]>' };

export default [
  sideBySide(`RIB ingest: ${N / 1000}k IPv4 prefixes, one session`, {
    labels,
    ours,
    reference: naive,
    units: 'routes',
    unitsPerRun: N,
    iterations: 1,
    runs: 10,
    setup: () => {
      if (ours().size !== N || naive().loc.size !== N) throw new Error('Cannot compare RIBs: sizes differ');
    },
  }),
  sideBySide(`RIB ingest: ${N / 1000}k IPv4 prefixes, retained`, {
    labels,
    metric: 'memory',
    ours,
    reference: naive,
    units: 'routes',
    unitsPerRun: N,
    runs: 5,
  }),
];
