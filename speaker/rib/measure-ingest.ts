/**
 * Quick measurement, not a test: ingest N IPv4 prefixes over one session into the Loc-RIB, ~10 attribute
 * sets, UPDATEs of 800 prefixes (about what fits in 4,096 bytes), and print time and memory.
 *   node --expose-gc --import tsx speaker/rib/measure-ingest.ts [N]
 * Prefix arrays (the codec's output) are built before timing and freed as they are consumed, as the
 * receive path would.
 */
import { ACCEPT_ALL, compilePolicy } from '../policy/policy.js';
import { baseAttrs } from './attr-intern.js';
import { LocRib } from './loc-rib.js';

const N = Number(process.argv[2] ?? 1_000_000);
const PER_UPDATE = 800;
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
gc();
const rss0 = process.memoryUsage().rss;
const heap0 = process.memoryUsage().heapUsed;

const rib = new LocRib({ asn: 64512, routerId: 0x0a000001 });
const sets = Array.from({ length: 10 }, (_, i) =>
  rib.interner.internAttrs(baseAttrs('192.0.2.1', { asPath: [{ type: 2, asns: [65001, 65100 + i] }], med: i })),
);
const updates: number[][] = [];
for (let base = 0; base < N; base += PER_UPDATE) {
  const u: number[] = [];
  for (let j = base; j < Math.min(N, base + PER_UPDATE); j++) u.push((0x01000000 + j * 256) * 64 + 24);
  updates.push(u);
}
rib.addPeer({ id: 'p1', address: '192.0.2.1', asn: 65001, routerId: 0x0a000002 }, compilePolicy(ACCEPT_ALL, rib));
const t0 = process.hrtime.bigint();
for (let u = 0; u < updates.length; u++) {
  rib.applyUpdate('p1', { afi: 1, safi: 1, prefixes: updates[u]! }, sets[u % 10]!);
  updates[u] = [];
}
const dirty = rib.takeDirty();
const t1 = process.hrtime.bigint();
const peak = process.memoryUsage();
gc();
const after = process.memoryUsage();
console.log(
  `ingest ${N} v4 prefixes: ${(Number(t1 - t0) / 1e6).toFixed(0)} ms; loc-rib ${rib.size}, dirty ${dirty.v4.length}; ` +
    `rss peak ${(peak.rss / 2 ** 20).toFixed(0)} MB (start ${(rss0 / 2 ** 20).toFixed(0)} MB); ` +
    `heap retained after gc ${((after.heapUsed - heap0) / 2 ** 20).toFixed(0)} MB; rss after gc ${(after.rss / 2 ** 20).toFixed(0)} MB`,
);
