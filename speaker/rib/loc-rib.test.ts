import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { compilePolicy } from '../policy/policy.js';
import type { PathAttributes, PrefixKey } from '../wire/types.js';
import { baseAttrs } from './attr-intern.js';
import { LOCAL_PEER, LocRib } from './loc-rib.js';
import { NONE, PrefixTable } from './prefix-table.js';

export const v4 = (text: string): number => {
  const [a, l] = text.split('/');
  return a!.split('.').reduce((x, o) => x * 256 + Number(o), 0) * 64 + Number(l);
};
const b = (...prefixes: PrefixKey[]) => ({ afi: 1 as const, safi: 1 as const, prefixes });

function setup() {
  const rib = new LocRib({ asn: 64512, routerId: 1 });
  rib.addPeer({ id: 'ibgp-a', address: '10.0.0.2', asn: 64512, routerId: 2 });
  rib.addPeer({ id: 'ibgp-b', address: '10.0.0.3', asn: 64512, routerId: 3 });
  rib.addPeer({ id: 'ebgp', address: '192.0.2.1', asn: 65001, routerId: 9 });
  const at = (nh: string, extra: Parameters<typeof baseAttrs>[1] = {}): PathAttributes =>
    rib.interner.internAttrs(baseAttrs(nh, extra));
  return { rib, at };
}

describe('LocRib', () => {
  it('`applyUpdate()` installs a single candidate and marks it dirty', () => {
    const { rib, at } = setup();
    const a = at('10.0.0.2', { localPref: 100 });
    rib.applyUpdate('ibgp-a', b(v4('10.1.0.0/24'), v4('10.2.0.0/24')), a);
    assert.equal(rib.size, 2);
    assert.equal(rib.best(v4('10.1.0.0/24'))?.attrs, a);
    assert.equal(rib.reason(v4('10.1.0.0/24')), 'only-path');
    assert.deepEqual([...rib.takeDirty().v4].sort(), [v4('10.1.0.0/24'), v4('10.2.0.0/24')].sort());
    assert.equal(rib.pathCount, 1, 'one Path shared by both prefixes');
  });
  it('picks the higher local-pref across peers and records the step', () => {
    const { rib, at } = setup();
    const k = v4('10.1.0.0/24');
    rib.applyUpdate('ibgp-a', b(k), at('10.0.0.2', { localPref: 100 }));
    rib.applyUpdate('ibgp-b', b(k), at('10.0.0.3', { localPref: 200 }));
    assert.equal(rib.best(k)?.peer.config.id, 'ibgp-b');
    assert.equal(rib.reason(k), 'local-pref');
    rib.withdraw('ibgp-b', b(k));
    assert.equal(rib.best(k)?.peer.config.id, 'ibgp-a');
    assert.equal(rib.candidates(k).length, 1);
  });
  it('prefers eBGP when local-pref ties and ignores a LOCAL_PREF received over eBGP', () => {
    const { rib, at } = setup();
    const k = v4('10.1.0.0/24');
    rib.applyUpdate('ibgp-a', b(k), at('10.0.0.2', { localPref: 100, asPath: [{ type: 2, asns: [65001] }] }));
    rib.applyUpdate('ebgp', b(k), at('192.0.2.1', { localPref: 50, asPath: [{ type: 2, asns: [65001] }] }));
    assert.equal(rib.best(k)?.peer.config.id, 'ebgp');
    assert.equal(rib.reason(k), 'ebgp');
    assert.equal(rib.best(k)?.attrs.localPref, undefined);
  });
  it('prefers originated routes and `unoriginate()` hands back to learned ones', () => {
    const { rib, at } = setup();
    const k = v4('10.9.0.0/26');
    rib.applyUpdate('ibgp-a', b(k), at('10.0.0.2', { localPref: 1000 }));
    rib.originate([k], at(''));
    assert.equal(rib.best(k)?.peer.config.id, LOCAL_PEER);
    assert.equal(rib.reason(k), 'local-origin');
    rib.unoriginate([k]);
    assert.equal(rib.best(k)?.peer.config.id, 'ibgp-a');
  });
  it('keeps routes rejected by import policy out of the decision but counts them as received', () => {
    const { rib, at } = setup();
    rib.removePeer('ebgp');
    const pol = compilePolicy(
      {
        name: 'only-10-1',
        rules: [{ match: { prefix: [{ cidr: '10.1.0.0/16', le: 24 }] }, actions: { action: 'accept' } }],
        default: 'reject',
      },
      rib,
    );
    const adj = rib.addPeer({ id: 'ebgp', address: '192.0.2.1', asn: 65001, routerId: 9 }, pol);
    rib.applyUpdate(
      'ebgp',
      b(v4('10.1.1.0/24'), v4('10.2.0.0/24')),
      at('192.0.2.1', { asPath: [{ type: 2, asns: [65001] }] }),
    );
    assert.equal(adj.received, 2);
    assert.equal(adj.accepted, 1);
    assert.equal(rib.size, 1);
    assert.equal(rib.best(v4('10.2.0.0/24')), undefined);
    // Soft reconfiguration: a new policy re-runs over what was received.
    rib.setImportPolicy('ebgp', compilePolicy({ name: 'all', rules: [], default: 'accept' }, rib));
    assert.equal(rib.size, 2);
    assert.equal(adj.accepted, 2);
  });
  it('drops routes with our AS in the path from eBGP and reflection loops from iBGP (RFC 4456 §8)', () => {
    const { rib, at } = setup();
    rib.applyUpdate('ebgp', b(v4('10.1.0.0/24')), at('192.0.2.1', { asPath: [{ type: 2, asns: [65001, 64512] }] }));
    rib.applyUpdate('ibgp-a', b(v4('10.2.0.0/24')), at('10.0.0.2', { originatorId: 1 }));
    rib.applyUpdate('ibgp-a', b(v4('10.3.0.0/24')), at('10.0.0.2', { clusterList: [7, 1] }));
    assert.equal(rib.size, 0);
    assert.equal(rib.peer('ibgp-a')?.received, 2);
  });
  it("ignores eBGP routes whose first AS is not the peer's, unless told not to (RFC 4271 §6.3)", () => {
    const { rib, at } = setup();
    rib.applyUpdate('ebgp', b(v4('10.1.0.0/24')), at('192.0.2.1', { asPath: [{ type: 2, asns: [65002, 65001] }] }));
    rib.applyUpdate('ebgp', b(v4('10.2.0.0/24')), at('192.0.2.1', { asPath: [] }));
    assert.equal(rib.size, 0);
    rib.addPeer({ id: 'route-server', address: '192.0.2.9', asn: 65009, routerId: 10, enforceFirstAs: false });
    rib.applyUpdate('route-server', b(v4('10.3.0.0/24')), at('192.0.2.20', { asPath: [{ type: 2, asns: [65020] }] }));
    assert.equal(rib.size, 1);
  });

  it('ignores a route whose NEXT_HOP is our own address on the session (RFC 4271 §6.3)', () => {
    const rib = new LocRib({ asn: 64512, routerId: 1 });
    rib.addPeer({ id: 'a', address: '10.0.0.2', asn: 64512, routerId: 2, localAddress: '10.0.0.1' });
    const at = (nh: string) => rib.interner.internAttrs(baseAttrs(nh));
    rib.applyUpdate('a', b(v4('10.1.0.0/24')), at('10.0.0.1'));
    rib.applyUpdate('a', b(v4('10.2.0.0/24')), at('10.0.0.2'));
    assert.equal(rib.size, 1);
    assert.equal(rib.best(v4('10.1.0.0/24')), undefined);
    assert.equal(rib.peer('a')?.received, 2);
  });

  it('`removePeer()` withdraws every route of the peer', () => {
    const { rib, at } = setup();
    const k = v4('10.1.0.0/24');
    rib.applyUpdate('ibgp-a', b(k, v4('10.5.0.0/16')), at('10.0.0.2'));
    rib.applyUpdate('ibgp-b', b(k), at('10.0.0.3'));
    rib.takeDirty();
    assert.equal(rib.removePeer('ibgp-a'), 2);
    assert.equal(rib.size, 1);
    assert.equal(rib.best(k)?.peer.config.id, 'ibgp-b');
    assert.deepEqual([...rib.takeDirty().v4].sort(), [k, v4('10.5.0.0/16')].sort());
  });
  it('graceful restart: stale routes stay usable, refreshed ones un-stale, `sweepStale()` removes the rest', () => {
    const { rib, at } = setup();
    const a = at('10.0.0.2');
    rib.applyUpdate('ibgp-a', b(v4('10.1.0.0/24'), v4('10.2.0.0/24')), a);
    rib.markStale('ibgp-a');
    assert.equal(rib.best(v4('10.1.0.0/24'))?.stale, true);
    assert.equal(rib.size, 2);
    rib.addPeer({ id: 'ibgp-a', address: '10.0.0.2', asn: 64512, routerId: 2 }); // session back
    rib.applyUpdate('ibgp-a', b(v4('10.1.0.0/24')), a);
    assert.equal(rib.best(v4('10.1.0.0/24'))?.stale, false);
    assert.equal(rib.peer('ibgp-a')?.staleCount, 1);
    assert.equal(rib.sweepStale('ibgp-a'), 1);
    assert.equal(rib.size, 1);
    assert.equal(rib.best(v4('10.2.0.0/24')), undefined);
  });
  it('`applyMessage()` handles treat-as-withdraw (RFC 7606)', () => {
    const { rib, at } = setup();
    const k = v4('10.1.0.0/24');
    rib.applyUpdate('ibgp-a', b(k), at('10.0.0.2'));
    rib.applyMessage('ibgp-a', {
      type: 2,
      withdrawn: [],
      reachable: [b(k)],
      attributes: at('10.0.0.9'),
      treatAsWithdraw: true,
      discarded: [],
    });
    assert.equal(rib.size, 0);
  });
  it('`bestRoutes()` pages in prefix order with a stable cursor', () => {
    const { rib, at } = setup();
    rib.applyUpdate(
      'ibgp-a',
      b(v4('10.3.0.0/24'), v4('10.1.0.0/24'), v4('10.1.0.0/16'), v4('10.2.0.0/24')),
      at('10.0.0.2', { communities: [0xfde80001] }),
    );
    const p1 = rib.bestRoutes({ limit: 2 });
    assert.deepEqual(
      p1.routes.map((r) => r.prefix),
      ['10.1.0.0/16', '10.1.0.0/24'],
    );
    assert.equal(p1.routes[0]?.communities[0], '65000:1');
    rib.withdraw('ibgp-a', b(v4('10.1.0.0/24')));
    assert.equal(rib.route(v4('10.1.0.0/16'))?.prefix, '10.1.0.0/16');
    assert.equal(rib.route(v4('10.1.0.0/16'))?.reason, 'only-path');
    assert.equal(rib.route(v4('10.9.0.0/16')), undefined);
    const p2 = rib.bestRoutes({ after: p1.next, limit: 2 });
    assert.deepEqual(
      p2.routes.map((r) => r.prefix),
      ['10.2.0.0/24', '10.3.0.0/24'],
    );
    assert.equal(p2.next, undefined);
  });
  it('frees Paths and attribute sets after 1,000 session flaps', () => {
    const { rib } = setup();
    for (let f = 0; f < 1000; f++) {
      rib.addPeer({ id: 'flap', address: '10.0.0.9', asn: 64512, routerId: 99 });
      const a = rib.interner.intern(`raw-${f}`, () => baseAttrs('10.0.0.9', { med: f }));
      rib.applyUpdate('flap', b(v4('10.7.0.0/24'), v4('10.8.0.0/24')), a);
      rib.removePeer('flap');
    }
    assert.equal(rib.pathCount, 0);
    assert.ok(rib.interner.size < 10, `interner holds ${rib.interner.size}`);
  });
  it('agrees with a model of candidates per prefix under random announce/withdraw sequences', () => {
    const peers = ['ibgp-a', 'ibgp-b', 'ebgp'];
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.constantFrom(...peers),
            fc.integer({ min: 0, max: 5 }),
            fc.option(fc.integer({ min: 0, max: 3 })),
          ),
          { maxLength: 60 },
        ),
        (ops) => {
          const { rib, at } = setup();
          const sets = [0, 1, 2, 3].map((i) =>
            at(`10.0.0.${i + 1}`, { localPref: 100 + i, asPath: [{ type: 2, asns: [65001] }] }),
          );
          const model = new Map<string, number>();
          for (const [peer, pfx, set] of ops) {
            const k = v4(`10.${pfx}.0.0/24`);
            if (set === null) {
              rib.withdraw(peer, b(k));
              model.delete(`${peer}/${pfx}`);
            } else {
              rib.applyUpdate(peer, b(k), sets[set]!);
              model.set(`${peer}/${pfx}`, set);
            }
          }
          for (let pfx = 0; pfx <= 5; pfx++) {
            const cands = peers.filter((p) => model.has(`${p}/${pfx}`));
            const best = rib.best(v4(`10.${pfx}.0.0/24`));
            assert.equal(rib.candidates(v4(`10.${pfx}.0.0/24`)).length, cands.length);
            if (cands.length === 0) assert.equal(best, undefined);
            else {
              // eBGP LOCAL_PREF is ignored on receipt (RFC 4271 §5.1.5): that peer's routes count as 100.
              const max = Math.max(...cands.map((p) => (p === 'ebgp' ? 0 : model.get(`${p}/${pfx}`)!)));
              assert.equal(best?.localPref, 100 + max);
            }
          }
          assert.equal(rib.size, new Set([...model.keys()].map((k) => k.split('/')[1])).size);
        },
      ),
    );
  });
});

describe('LocRib (IPv6, ADD-PATH, order)', () => {
  const v6 = (bytes: number[], len: number): string =>
    Buffer.from([...bytes, ...new Array(16 - bytes.length).fill(0)]).toString('latin1') + String.fromCharCode(len);

  it('holds IPv6 keys beside IPv4 ones and pages them after IPv4', () => {
    const { rib, at } = setup();
    const k6 = v6([0xfd, 0, 0, 0x10], 64);
    rib.applyUpdate('ibgp-a', { afi: 2, safi: 1, prefixes: [k6] }, at('fd00::2'));
    rib.applyUpdate('ibgp-a', b(v4('10.1.0.0/24')), at('10.0.0.2'));
    assert.equal(rib.best(k6)?.attrs.nextHop, 'fd00::2');
    assert.deepEqual(rib.takeDirty().v6, [k6]);
    assert.deepEqual(
      rib.bestRoutes().routes.map((r) => r.prefix),
      ['10.1.0.0/24', 'fd00:10::/64'],
    );
    rib.withdraw('ibgp-a', { afi: 2, safi: 1, prefixes: [k6] });
    assert.equal(rib.size, 1);
  });
  it('keeps ADD-PATH paths of one peer apart by path id (RFC 7911)', () => {
    const { rib, at } = setup();
    const k = v4('10.1.0.0/24');
    rib.applyUpdate('ibgp-a', { afi: 1, safi: 1, prefixes: [k, k], pathIds: [1, 2] }, at('10.0.0.2'));
    assert.equal(rib.candidates(k).length, 2);
    assert.equal(rib.best(k)?.pathId, 1);
    assert.equal(rib.reason(k), 'path-id');
    rib.withdraw('ibgp-a', { afi: 1, safi: 1, prefixes: [k], pathIds: [1] });
    assert.equal(rib.best(k)?.pathId, 2);
    assert.equal(rib.peer('ibgp-a')?.received, 1);
  });
  it('ends with the same best paths whatever order the peers announce in', () => {
    const peers = ['ibgp-a', 'ibgp-b', 'ebgp'] as const;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(...peers), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 5 })), {
          maxLength: 30,
        }),
        fc.array(fc.nat(), { minLength: 30, maxLength: 30 }),
        (anns, order) => {
          // Last announcement per (peer, prefix) wins, so shuffle only across distinct (peer, prefix).
          const last = new Map<string, [string, number, number]>();
          for (const a of anns) last.set(`${a[0]}/${a[1]}`, a);
          const uniq = [...last.values()];
          const run = (list: [string, number, number][]) => {
            const { rib, at } = setup();
            const sets = [0, 1, 2, 3, 4, 5].map((i) =>
              at(`10.0.0.${i + 1}`, { med: i % 3, asPath: [{ type: 2, asns: [65001 + (i % 2)] }] }),
            );
            for (const [peer, pfx, set] of list) rib.applyUpdate(peer, b(v4(`10.${pfx}.0.0/24`)), sets[set]!);
            return [0, 1, 2, 3].map((p) => {
              const best = rib.best(v4(`10.${p}.0.0/24`));
              return best ? `${best.peer.config.id}:${best.attrs.nextHop}` : '-';
            });
          };
          const shuffled = uniq
            .map((u, i) => [order[i]!, u] as const)
            .sort((x, y) => x[0] - y[0])
            .map((x) => x[1]);
          assert.deepEqual(run(uniq), run(shuffled));
        },
      ),
    );
  });
});

describe('PrefixTable', () => {
  it('behaves like a Map under random set/delete (backward-shift deletion)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 200 })), { maxLength: 400 }), (ops) => {
        const t = new PrefixTable(4);
        const m = new Map<number, number>();
        ops.forEach(([del, x], i) => {
          const k = x * 2 ** 30 + 24;
          if (del) assert.equal(t.delete(k), m.delete(k));
          else {
            t.set(k, i);
            m.set(k, i);
          }
        });
        assert.equal(t.size, m.size);
        for (const [k, v] of m) assert.equal(t.get(k), v);
        const seen: number[] = [];
        t.forEach((k) => {
          seen.push(k as number);
        });
        assert.deepEqual(seen.sort(), [...m.keys()].sort());
      }),
    );
  });
  it('forEachDeletable() visits each entry once while the callback deletes some, then compact() keeps the rest', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 5000 }), { maxLength: 1500 }),
        fc.integer({ min: 2, max: 5 }),
        (xs, every) => {
          const t = new PrefixTable(4);
          // Keys in few home slots make long clusters that wrap around the end of the table.
          const keys = xs.map((x) => (x % 7) * 2 ** 30 + x * 64 + 24);
          for (const [i, k] of keys.entries()) t.set(k, i);
          t.set('fd00::/64 as a v6 key', -5);
          const visits = new Map<number | string, number>();
          t.forEachDeletable((k, v) => {
            visits.set(k, (visits.get(k) ?? 0) + 1);
            if (typeof k === 'number' && v % every === 0) assert.ok(t.delete(k));
            else if (typeof k === 'string') assert.ok(t.delete(k));
          });
          assert.equal(visits.size, keys.length + 1, 'every key visited');
          assert.ok(
            [...visits.values()].every((n) => n === 1),
            'no key visited twice',
          );
          t.compact();
          const kept = keys.filter((_, i) => i % every !== 0);
          assert.equal(t.size, kept.length);
          for (const [i, k] of keys.entries()) assert.equal(t.get(k), i % every === 0 ? NONE : i);
        },
      ),
    );
  });
});

describe('LocRib (bounds)', () => {
  it('keeps the dirty list bounded when a prefix flaps and nobody takes it', () => {
    const rib = new LocRib({ asn: 64512, routerId: 1 });
    rib.addPeer({ id: 'p', address: '10.0.0.2', asn: 64512, routerId: 2 });
    const a = rib.interner.internAttrs(baseAttrs('10.0.0.2'));
    const k = v4('10.1.0.0/24');
    for (let i = 0; i < 1_200_000; i++) {
      rib.applyUpdate('p', b(k), a);
      rib.withdraw('p', b(k));
    }
    assert.ok(rib.takeDirty().v4.length <= (1 << 20) + 2);
  });
  it('takeDirty() lists every changed IPv4 prefix across growth of its reused buffer', () => {
    const rib = new LocRib({ asn: 64512, routerId: 1 });
    rib.addPeer({ id: 'p', address: '10.0.0.2', asn: 64513, routerId: 2 });
    const a = rib.interner.internAttrs(baseAttrs('10.0.0.2', { asPath: [{ type: 2, asns: [64513] }] }));
    const keys = Array.from({ length: 300_000 }, (_, i) => (0x0b000000 + i * 256) * 64 + 24);
    for (let i = 0; i < keys.length; i += 400) rib.applyUpdate('p', b(...keys.slice(i, i + 400)), a);
    const big = rib.takeDirty().v4;
    assert.equal(big.length, keys.length);
    assert.deepEqual([...big], keys, 'in arrival order, each once');
    // A small change after the burst: only that prefix, and the burst's view is not needed any more.
    rib.withdraw('p', b(keys[7]!));
    assert.deepEqual([...rib.takeDirty().v4], [keys[7]]);
    assert.equal(rib.takeDirty().v4.length, 0);
  });
  it('re-evaluating a stale route under a new import policy keeps it stale (RFC 4724)', () => {
    const rib = new LocRib({ asn: 64512, routerId: 1 });
    rib.addPeer({ id: 'p', address: '10.0.0.2', asn: 64512, routerId: 2 });
    rib.applyUpdate('p', b(v4('10.1.0.0/24')), rib.interner.internAttrs(baseAttrs('10.0.0.2')));
    rib.markStale('p');
    rib.setImportPolicy(
      'p',
      compilePolicy({ name: 'lp', rules: [{ match: {}, actions: { setLocalPref: 50 } }], default: 'accept' }, rib),
    );
    assert.equal(rib.best(v4('10.1.0.0/24'))?.localPref, 50);
    assert.equal(rib.best(v4('10.1.0.0/24'))?.stale, true);
    assert.equal(rib.sweepStale('p'), 1);
    assert.equal(rib.size, 0);
  });
});
