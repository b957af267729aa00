/**
 * Quick measurement, not a test: ingest N IPv4 prefixes over one session into the Loc-RIB, 10 attribute
 * sets, and print time and memory. Two modes:
 *   rib   batches of 800 keys straight into `applyUpdate` (the RIB alone)
 *   wire  UPDATEs encoded by speaker/wire (4,096-byte packing) one batch at a time, untimed, then timed:
 *         `decodeUpdate` with the interner + `applyMessage` (the receive path after framing). Messages are
 *         dropped once applied, as a session would, so peak RSS is the RIB's, not the harness's.
 *   node --expose-gc --import tsx speaker/rib/measure-ingest.ts [N] [rib|wire]
 */
import { ACCEPT_ALL, compilePolicy } from '../policy/policy.js';
import { decodeUpdate, encodeUpdates, updateContext } from '../wire/update.js';
import { baseAttrs } from './attr-intern.js';
import { LocRib } from './loc-rib.js';

const N = Number(process.argv[2] ?? 1_000_000);
const mode = process.argv[3] ?? 'rib';
const PER_UPDATE = 800;
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const mb = (n: number) => `${(n / 2 ** 20).toFixed(0)} MB`;

const rib = new LocRib({ asn: 64512, routerId: 0x0a000001, expectedPrefixes: Number(process.env.PRESIZE ?? 1024) });
const sets = Array.from({ length: 10 }, (_, i) =>
  rib.interner.internAttrs(baseAttrs('192.0.2.1', { asPath: [{ type: 2, asns: [65001, 65100 + i] }], med: i })),
);
const chunks: number[][] = [];
for (let base = 0; base < N; base += PER_UPDATE) {
  const u: number[] = [];
  for (let j = base; j < Math.min(N, base + PER_UPDATE); j++) u.push((0x01000000 + j * 256) * 64 + 24);
  chunks.push(u);
}
rib.addPeer({ id: 'p1', address: '192.0.2.1', asn: 65001, routerId: 0x0a000002 }, compilePolicy(ACCEPT_ALL, rib));
const ctx = updateContext({ fourOctetAs: true, ibgp: false, intern: (k, b) => rib.interner.intern(k, b) });
gc();
const before = process.memoryUsage();
let t0 = process.hrtime.bigint();
if (mode === 'wire') {
  let spent = 0n;
  for (let u = 0; u < chunks.length; u++) {
    const msgs = encodeUpdates(sets[u % 10]!, { afi: 1, safi: 1, prefixes: chunks[u]! }, { fourOctetAs: true });
    chunks[u] = [];
    const s = process.hrtime.bigint();
    for (const m of msgs) rib.applyMessage('p1', decodeUpdate(m.subarray(19), ctx));
    spent += process.hrtime.bigint() - s;
  }
  t0 = process.hrtime.bigint() - spent;
} else {
  for (let u = 0; u < chunks.length; u++) {
    rib.applyUpdate('p1', { afi: 1, safi: 1, prefixes: chunks[u]! }, sets[u % 10]!);
    chunks[u] = [];
  }
}
const dirty = rib.takeDirty();
const t1 = process.hrtime.bigint();
const peak = process.memoryUsage();
gc();
const after = process.memoryUsage();
console.log(
  `${mode}: ${N} v4 prefixes in ${(Number(t1 - t0) / 1e6).toFixed(0)} ms (loc-rib ${rib.size}, dirty ${dirty.v4.length}); ` +
    `rss before ${mb(before.rss)}, at end ${mb(peak.rss)}, after gc ${mb(after.rss)}; ` +
    `RIB retained heap+buffers ${mb(after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers + (mode === 'wire' ? 0 : 0))}`,
);

// The rest of the pipeline, for scale: one eBGP Adj-RIB-Out's initial sync, then the session dropping.
const { AdjRibOut } = await import('./adj-rib-out.js');
const out = new AdjRibOut(
  rib,
  { id: 'p2', address: '192.0.2.9', asn: 65002, routerId: 3, localAddress: '192.0.2.2' },
  { exportPolicy: compilePolicy(ACCEPT_ALL, rib) },
);
const tp = process.hrtime.bigint();
const page1 = rib.bestRoutes({ limit: 1000 });
const page2 = rib.bestRoutes({ after: page1.next, limit: 1000 });
const tq = process.hrtime.bigint();
console.log(
  `status: first page (sorts 1M keys) + second page in ${(Number(tq - tp) / 1e6).toFixed(0)} ms, ${page2.routes[0]?.prefix}`,
);
const t2 = process.hrtime.bigint();
const initial = out.initialSync();
const t3 = process.hrtime.bigint();
const removed = rib.removePeer('p1');
const t4 = process.hrtime.bigint();
console.log(
  `adj-rib-out initial sync: ${initial.announce.length} groups, ${out.size} prefixes in ${(Number(t3 - t2) / 1e6).toFixed(0)} ms; ` +
    `removePeer: ${removed} routes in ${(Number(t4 - t3) / 1e6).toFixed(0)} ms; rss ${mb(process.memoryUsage().rss)}`,
);
