import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type Candidate, comparePaths, decidingStep, selectBest } from './best-path.js';

const base: Candidate = {
  local: false,
  localPref: 100,
  asPathLen: 2,
  origin: 0,
  med: 0,
  neighborAs: 65001,
  ibgp: false,
  igpCost: 0,
  routerId: 10,
  clusterListLen: 0,
  peerAddr: 100n,
  pathId: 0,
};
const c = (over: Partial<Candidate>): Candidate => ({ ...base, ...over });

describe('comparePaths()', () => {
  const cases: [string, Partial<Candidate>, Partial<Candidate>, string][] = [
    [
      'prefers a locally originated route over a higher local-pref',
      { local: true, localPref: 0 },
      { localPref: 500 },
      'local-origin',
    ],
    ['prefers the higher local-pref first', { localPref: 200, asPathLen: 9 }, { localPref: 100 }, 'local-pref'],
    ['prefers the shorter AS path when local-pref ties', { asPathLen: 1, origin: 2 }, { asPathLen: 2 }, 'as-path'],
    ['prefers IGP origin over EGP and INCOMPLETE', { origin: 0 }, { origin: 2 }, 'origin'],
    ['prefers the lower MED from the same neighbour AS', { med: 5, ibgp: true }, { med: 10 }, 'med'],
    ['prefers eBGP when local-pref ties', { ibgp: false, routerId: 99 }, { ibgp: true }, 'ebgp'],
    ['prefers the lower IGP cost', { igpCost: 1 }, { igpCost: 2 }, 'igp-cost'],
    ['prefers the lower router id', { routerId: 1 }, { routerId: 2 }, 'router-id'],
    [
      'prefers the shorter CLUSTER_LIST after router id (RFC 4456 §9)',
      { clusterListLen: 1 },
      { clusterListLen: 2 },
      'cluster-list',
    ],
    ['prefers the lower peer address last', { peerAddr: 1n }, { peerAddr: 2n }, 'peer-addr'],
  ];
  for (const [name, a, b, step] of cases) {
    it(name, () => {
      assert.ok(comparePaths(c(a), c(b)) < 0);
      assert.ok(comparePaths(c(b), c(a)) > 0);
      assert.equal(decidingStep(c(a), c(b)), step);
    });
  }
  it('ignores MED between different neighbour ASes', () => {
    assert.equal(decidingStep(c({ med: 1, neighborAs: 1 }), c({ med: 9, neighborAs: 2, routerId: 1 })), 'router-id');
  });
});

const arbCand = fc.record({
  local: fc.boolean(),
  localPref: fc.integer({ min: 99, max: 101 }),
  asPathLen: fc.integer({ min: 0, max: 2 }),
  origin: fc.integer({ min: 0, max: 2 }),
  med: fc.integer({ min: 0, max: 3 }),
  neighborAs: fc.integer({ min: 1, max: 3 }),
  ibgp: fc.boolean(),
  igpCost: fc.constant(0),
  routerId: fc.integer({ min: 0, max: 3 }),
  clusterListLen: fc.integer({ min: 0, max: 2 }),
  peerAddr: fc.bigInt({ min: 0n, max: 1n << 32n }),
  pathId: fc.integer({ min: 0, max: 3 }),
});
const uniqueCands = fc.uniqueArray(arbCand, {
  minLength: 1,
  maxLength: 8,
  selector: (x) => `${x.peerAddr}/${x.pathId}`,
});

describe('selectBest()', () => {
  it('`comparePaths()` is antisymmetric', () => {
    fc.assert(
      fc.property(arbCand, arbCand, (a, b) => Math.sign(comparePaths(a, b)) === -Math.sign(comparePaths(b, a))),
    );
  });
  it('picks the same path whatever the arrival order', () => {
    fc.assert(
      fc.property(
        uniqueCands.chain((cs) => fc.tuple(fc.constant(cs), fc.shuffledSubarray(cs, { minLength: cs.length }))),
        ([cs, shuffled]) => {
          const a = cs[selectBest(cs).index];
          const b = shuffled[selectBest(shuffled).index];
          assert.equal(a, b);
        },
      ),
    );
  });
  it('picks a path no other path beats outright on the pairwise order when all share one neighbour AS', () => {
    fc.assert(
      fc.property(uniqueCands, (cs) => {
        const same = cs.map((x) => ({ ...x, neighborAs: 1 }));
        const w = same[selectBest(same).index]!;
        for (const o of same) assert.ok(comparePaths(w, o) <= 0);
      }),
    );
  });
  it('removes MED losers per neighbour AS before later steps (RFC 4271 §9.1.2.2 c)', () => {
    // A (AS1, MED 10, router 1), B (AS2, router 2), C (AS1, MED 0, router 3): C eliminates A on MED, B wins on router id.
    const a = c({ neighborAs: 1, med: 10, routerId: 1 });
    const b = c({ neighborAs: 2, routerId: 2, peerAddr: 2n });
    const cc = c({ neighborAs: 1, med: 0, routerId: 3, peerAddr: 3n });
    for (const order of [
      [a, b, cc],
      [cc, b, a],
      [b, a, cc],
    ]) {
      const s = selectBest(order);
      assert.equal(order[s.index], b);
      assert.equal(s.reason, 'router-id');
    }
  });
  it('reports only-path for a single candidate', () => {
    assert.deepEqual(selectBest([base]), { index: 0, reason: 'only-path' });
  });
});
