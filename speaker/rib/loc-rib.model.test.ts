/** Model-based check of the Loc-RIB table against a plain Map of candidates and `selectBest`. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { compilePolicy } from '../policy/policy.js';
import type { PathAttributes } from '../wire/types.js';
import { baseAttrs } from './attr-intern.js';
import { selectBest } from './best-path.js';
import { LocRib } from './loc-rib.js';

const PEERS = [
  { id: 'a', address: '10.0.0.2', asn: 64512, routerId: 2 },
  { id: 'b', address: '10.0.0.3', asn: 64512, routerId: 3 },
  // The sets are shared by every peer, so their AS paths do not start with e's AS: this model checks the
  // RIB's bookkeeping, not the first-AS import check (loc-rib.test.ts covers that).
  { id: 'e', address: '192.0.2.1', asn: 65001, routerId: 9, enforceFirstAs: false },
] as const;
const key = (p: number) => (0x0a000000 + p * 256) * 64 + 24;

type Op =
  | { kind: 'ann'; peer: number; pfx: number; set: number; pathId: number }
  | { kind: 'wd'; peer: number; pfx: number; pathId: number }
  | { kind: 'down'; peer: number }
  | { kind: 'stale'; peer: number }
  | { kind: 'sweep'; peer: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('ann' as const),
      peer: fc.nat(2),
      pfx: fc.nat(5),
      set: fc.nat(5),
      pathId: fc.nat(1),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('wd' as const), peer: fc.nat(2), pfx: fc.nat(5), pathId: fc.nat(1) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('down' as const), peer: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('stale' as const), peer: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('sweep' as const), peer: fc.nat(2) }) },
);

describe('LocRib against a model', () => {
  it('matches a Map of candidates under announce, withdraw, session down and graceful restart', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const rib = new LocRib({ asn: 64512, routerId: 1 });
        // Import policy for every peer: reject prefix 10.0.5.0/24 (a prefix-dependent policy) and set 5.
        const policy = compilePolicy(
          {
            name: 'm',
            rules: [
              { match: { prefix: [{ cidr: '10.0.5.0/24' }] }, actions: { action: 'reject' } },
              { match: { community: ['65000:5'] }, actions: { action: 'reject' } },
            ],
            default: 'accept',
          },
          rib,
        );
        const sets: PathAttributes[] = [0, 1, 2, 3, 4, 5].map((i) =>
          rib.interner.internAttrs(
            baseAttrs(`10.9.0.${i}`, {
              localPref: 100 + (i % 2),
              med: i % 3,
              asPath: [{ type: 2, asns: [65001 + (i % 2), 65100] }],
              communities: i === 5 ? [0xfde80005] : [],
            }),
          ),
        );
        const up = new Set<number>();
        const ensure = (p: number) => {
          if (!up.has(p) && !rib.peer(PEERS[p]!.id)) rib.addPeer(PEERS[p]!, policy);
          up.add(p);
        };
        // model: "peer/pfx/pathId" → { set, stale }
        const model = new Map<string, { set: number; stale: boolean }>();
        const staleAfter = new Set<number>();
        for (const o of ops) {
          const id = PEERS[o.peer]!.id;
          if (o.kind === 'ann') {
            ensure(o.peer);
            rib.applyUpdate(id, { afi: 1, safi: 1, prefixes: [key(o.pfx)], pathIds: [o.pathId] }, sets[o.set]!);
            model.set(`${o.peer}/${o.pfx}/${o.pathId}`, { set: o.set, stale: false });
          } else if (o.kind === 'wd') {
            if (!rib.peer(id)) continue;
            rib.withdraw(id, { afi: 1, safi: 1, prefixes: [key(o.pfx)], pathIds: [o.pathId] });
            model.delete(`${o.peer}/${o.pfx}/${o.pathId}`);
          } else if (o.kind === 'down') {
            if (!rib.peer(id)) continue;
            rib.removePeer(id);
            up.delete(o.peer);
            staleAfter.delete(o.peer);
            for (const k of [...model.keys()]) if (k.startsWith(`${o.peer}/`)) model.delete(k);
          } else if (o.kind === 'stale') {
            if (!rib.peer(id)) continue;
            rib.markStale(id);
            staleAfter.add(o.peer);
            for (const [k, v] of model) if (k.startsWith(`${o.peer}/`)) v.stale = true;
          } else {
            if (!rib.peer(id)) continue;
            rib.sweepStale(id);
            if (staleAfter.has(o.peer))
              for (const [k, v] of [...model]) if (k.startsWith(`${o.peer}/`) && v.stale) model.delete(k);
            staleAfter.delete(o.peer);
          }
        }
        let routes = 0;
        for (let pfx = 0; pfx <= 5; pfx++) {
          const cands = rib.candidates(key(pfx));
          const mine = [...model].filter(([k]) => k.split('/')[1] === String(pfx));
          assert.equal(cands.length, mine.length, `candidates for prefix ${pfx}`);
          const usable = cands.filter((c) => !c.rejected);
          const expectUsable = mine.filter(([, v]) => pfx !== 5 && v.set !== 5);
          assert.equal(usable.length, expectUsable.length);
          const best = rib.best(key(pfx));
          if (usable.length === 0) {
            assert.equal(best, undefined);
            continue;
          }
          routes++;
          assert.equal(best, usable[selectBest(usable).index]);
          for (const c of cands) {
            const m = model.get(`${PEERS.findIndex((p) => p.id === c.peer.config.id)}/${pfx}/${c.pathId}`);
            assert.ok(m, 'candidate present in model');
            assert.equal(c.pre, sets[m.set]);
            assert.equal(c.stale, m.stale);
          }
        }
        assert.equal(rib.size, routes);
        for (const [i, p] of PEERS.entries()) {
          const adj = rib.peer(p.id);
          if (adj) assert.equal(adj.received, [...model.keys()].filter((k) => k.startsWith(`${i}/`)).length);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('AdjRibOut against a fresh start', () => {
  it('incremental `sync()` leaves the peer with what a fresh `initialSync()` would send', async () => {
    const { AdjRibOut } = await import('./adj-rib-out.js');
    const { ACCEPT_ALL } = await import('../policy/policy.js');
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const rib = new LocRib({ asn: 64512, routerId: 1 });
        const target = {
          id: 't',
          address: '10.0.0.9',
          asn: 64512,
          routerId: 99,
          rrClient: true,
          localAddress: '10.0.0.1',
        };
        const sets: PathAttributes[] = [0, 1, 2, 3, 4, 5].map((i) =>
          rib.interner.internAttrs(
            baseAttrs(`10.9.0.${i}`, {
              localPref: 100 + (i % 2),
              med: i % 3,
              asPath: [{ type: 2, asns: [65001 + (i % 2)] }],
            }),
          ),
        );
        const all = compilePolicy(ACCEPT_ALL, rib);
        const peers = PEERS.map((p, i) => ({ ...p, rrClient: i === 0 }));
        const out = new AdjRibOut(rib, target, { exportPolicy: all });
        // What the peer has, rebuilt from the updates it was sent.
        const peerView = new Map<number, PathAttributes>();
        const apply = (u: ReturnType<typeof out.sync>) => {
          for (const w of u.withdraw)
            for (const k of w.prefixes) assert.ok(peerView.delete(k as number), 'withdraw of a prefix it has');
          for (const a of u.announce) for (const k of a.batch.prefixes) peerView.set(k as number, a.attrs);
        };
        apply(out.initialSync());
        for (const o of ops) {
          const p = peers[o.peer]!;
          if (o.kind === 'ann') {
            if (!rib.peer(p.id)) rib.addPeer(p, all);
            rib.applyUpdate(p.id, { afi: 1, safi: 1, prefixes: [key(o.pfx)] }, sets[o.set]!);
          } else if (!rib.peer(p.id)) continue;
          else if (o.kind === 'wd') rib.withdraw(p.id, { afi: 1, safi: 1, prefixes: [key(o.pfx)] });
          else if (o.kind === 'down') rib.removePeer(p.id);
          else if (o.kind === 'stale') rib.markStale(p.id);
          else rib.sweepStale(p.id);
          if (!('pfx' in o) || o.pfx % 2 === 0) apply(out.sync(rib.takeDirty())); // sync at random points
        }
        apply(out.sync(rib.takeDirty()));
        const fresh = new AdjRibOut(rib, target, { exportPolicy: all });
        const want = new Map<number, PathAttributes>();
        for (const a of fresh.initialSync().announce) for (const k of a.batch.prefixes) want.set(k as number, a.attrs);
        assert.deepEqual(
          [...peerView].sort((x, y) => x[0] - y[0]),
          [...want].sort((x, y) => x[0] - y[0]),
        );
        assert.equal(out.size, want.size);
      }),
      { numRuns: 200 },
    );
  });
});
