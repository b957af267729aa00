import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { IPAMBlockSpec } from '../model/ipam-block.js';
import {
  allocate,
  allocatedAddresses,
  allocateOrdinal,
  blockProblems,
  borrowedAddresses,
  handleCounts,
  newBlockSpec,
  ordinalsOf,
  release,
  releaseHandle,
  usedCount,
} from './block.js';

type Op =
  | { op: 'alloc'; n: number; h: number }
  | { op: 'exact'; ord: number; h: number }
  | { op: 'free'; ord: number; stale: boolean }
  | { op: 'freeHandle'; h: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant('alloc' as const),
    n: fc.integer({ min: 1, max: 5 }),
    h: fc.integer({ min: 0, max: 3 }),
  }),
  fc.record({
    op: fc.constant('exact' as const),
    ord: fc.integer({ min: 0, max: 15 }),
    h: fc.integer({ min: 0, max: 3 }),
  }),
  fc.record({ op: fc.constant('free' as const), ord: fc.integer({ min: 0, max: 15 }), stale: fc.boolean() }),
  fc.record({ op: fc.constant('freeHandle' as const), h: fc.integer({ min: 0, max: 3 }) }),
);

describe('ipam/block', () => {
  it('`allocate()`/`release()` never hand out an ordinal twice, keep free + used = size, refuse stale sequence numbers, and never mutate their input', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('10.0.0.0/28', '10.0.0.0/30', '10.0.0.5/32', 'fd00::/124'),
        fc.array(opArb, { maxLength: 60 }),
        (cidr, ops) => {
          let spec = newBlockSpec(cidr, 'host:n1', '2026-01-01T00:00:00Z', '1000');
          const size = spec.allocations.length;
          // Reference model: ordinal → [handle, sequence number]; free list in reuse order.
          const model = new Map<number, [string, string]>();
          let free = Array.from({ length: size }, (_, i) => i);
          for (const o of ops) {
            const prev = spec;
            const before = JSON.stringify(prev);
            if (o.op === 'alloc') {
              const a = allocate(spec, o.n, `h${o.h}`, { pod: `p${o.h}` });
              const want = free.slice(0, Math.min(o.n, free.length));
              assert.deepEqual(a.ordinals, want, 'takes from the front of the free list');
              free = free.slice(want.length);
              for (const ord of a.ordinals) {
                assert.equal(model.has(ord), false, `ordinal ${ord} handed out twice`);
                model.set(ord, [`h${o.h}`, a.sequenceNumber]);
              }
              spec = a.spec;
            } else if (o.op === 'exact') {
              const ord = o.ord % size;
              const a = allocateOrdinal(spec, ord, `h${o.h}`, {});
              assert.equal(a === undefined, model.has(ord));
              if (a) {
                model.set(ord, [`h${o.h}`, a.sequenceNumber]);
                free = free.filter((x) => x !== ord);
                spec = a.spec;
              }
            } else if (o.op === 'free') {
              const ord = o.ord % size;
              const held = model.get(ord);
              const seq = held && o.stale ? `${BigInt(held[1]) - 1n}` : held?.[1];
              const r = release(spec, [{ ordinal: ord, sequenceNumber: seq }]);
              if (held && !o.stale) {
                assert.deepEqual(r.released, [{ ordinal: ord, handleId: held[0] }]);
                model.delete(ord);
                free.push(ord);
              } else {
                assert.deepEqual(r.released, []);
                assert.deepEqual(r.stale, held ? [ord] : []);
              }
              spec = r.spec;
            } else {
              const mine = [...model]
                .filter(([, [h]]) => h === `h${o.h}`)
                .map(([ord]) => ord)
                .sort((x, y) => x - y);
              const r = releaseHandle(spec, `h${o.h}`);
              assert.deepEqual(
                r.released.map((x) => x.ordinal),
                mine,
              );
              for (const ord of mine) {
                model.delete(ord);
                free.push(ord);
              }
              spec = r.spec;
            }
            assert.equal(JSON.stringify(prev), before, 'the input spec is never mutated');
            assert.deepEqual(blockProblems(spec), []);
            assert.equal(usedCount(spec) + spec.unallocated.length, size);
            assert.equal(usedCount(spec), model.size);
            assert.deepEqual(spec.unallocated, free, 'free list in reuse order (FIFO)');
            for (const [ord, [h, seq]] of model) {
              assert.ok(ordinalsOf(spec, h).includes(ord));
              assert.equal(spec.sequenceNumberForAllocation[String(ord)], seq);
            }
            assert.equal(IPAMBlockSpec.safeParse(spec).success, true, 'still a valid stored block');
          }
          const counts = handleCounts(spec);
          assert.equal(
            [...counts.values()].reduce((s, n) => s + n, 0),
            model.size,
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('`allocate()` leaves the input untouched', () => {
    const spec = newBlockSpec('10.0.0.0/30', 'host:n1', '2026-01-01T00:00:00Z', '7');
    const frozen = JSON.stringify(spec);
    const a = allocate(spec, 2, 'h', { pod: 'p' });
    assert.equal(JSON.stringify(spec), frozen);
    assert.equal(a.sequenceNumber, '8');
    assert.deepEqual(
      allocatedAddresses(a.spec).map((x) => x.ip),
      ['10.0.0.0', '10.0.0.1'],
    );
    const r = release(a.spec, [{ ordinal: 0 }]);
    assert.equal(JSON.stringify(allocate(spec, 0, 'h', {}).spec), frozen);
    assert.deepEqual(r.spec.unallocated, [2, 3, 0], 'released ordinals go to the back');
  });

  it('`borrowedAddresses()` lists addresses of nodes other than the block owner', () => {
    let spec = newBlockSpec('10.0.0.0/30', 'host:n1', '2026-01-01T00:00:00Z', '1');
    spec = allocate(spec, 1, 'a', { node: 'n1' }).spec;
    spec = allocate(spec, 1, 'b', { node: 'n2' }).spec;
    assert.deepEqual(
      borrowedAddresses(spec).map((x) => [x.ip, x.handleId]),
      [['10.0.0.1', 'b']],
    );
  });
});
