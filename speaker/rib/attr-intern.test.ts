import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AttrInterner, asPathLength, baseAttrs, neighborAsOf } from './attr-intern.js';

describe('AttrInterner', () => {
  it('`internAttrs()` returns one frozen object for equal sets', () => {
    const i = new AttrInterner();
    const a = i.internAttrs(baseAttrs('10.0.0.1', { communities: [1, 2] }));
    const b = i.internAttrs(baseAttrs('10.0.0.1', { communities: [1, 2] }));
    assert.equal(a, b);
    assert.ok(Object.isFrozen(a) && Object.isFrozen(a.communities));
    assert.notEqual(a, i.internAttrs(baseAttrs('10.0.0.2')));
  });
  it('`intern()` builds once per raw key and lets locally built equal sets alias to it', () => {
    const i = new AttrInterner();
    const a = i.intern('raw-1', () => baseAttrs('10.0.0.1'));
    assert.equal(i.internAttrs(baseAttrs('10.0.0.1')), a);
    let built = 0;
    assert.equal(
      i.intern('raw-1', () => {
        built++;
        return baseAttrs('x');
      }),
      a,
    );
    assert.equal(built, 0);
  });
  it('`sweep()` frees unreferenced sets after two generations and keeps retained ones', () => {
    const i = new AttrInterner();
    const kept = i.internAttrs(baseAttrs('1.1.1.1'));
    i.retain(kept, 3);
    i.internAttrs(baseAttrs('2.2.2.2'));
    assert.equal(i.sweep(), 0);
    assert.equal(i.sweep(), 1);
    assert.equal(i.size, 1);
    i.release(kept, 3);
    i.sweep();
    i.sweep();
    assert.equal(i.size, 0);
  });
  it('`intern()` keeps the count when `build` returns a set it already holds', () => {
    const i = new AttrInterner();
    const shared = i.intern('k1', () => baseAttrs('1.1.1.1'));
    i.retain(shared, 5);
    assert.equal(
      i.intern('k2', () => shared),
      shared,
    );
    assert.equal(i.refs(shared), 5);
    i.release(shared, 5);
    i.sweep();
    i.sweep();
    assert.equal(i.size, 0);
    let built = 0;
    i.intern('k2', () => {
      built++;
      return baseAttrs('1.1.1.1');
    });
    assert.equal(built, 1, 'both keys were dropped with the set');
  });
  it('`retain()` re-registers a set swept before it was retained', () => {
    const i = new AttrInterner();
    const a = i.intern('k', () => baseAttrs('1.1.1.1'));
    i.sweep();
    i.sweep();
    i.retain(a);
    assert.equal(i.internAttrs(baseAttrs('1.1.1.1')), a);
  });
  it('does not grow across 1,000 flaps of the same sets', () => {
    const i = new AttrInterner();
    for (let f = 0; f < 1000; f++) {
      const sets = [];
      for (let s = 0; s < 10; s++) {
        const a = i.intern(`raw${f}-${s}`, () => baseAttrs(`10.0.0.${s}`, { med: f }));
        i.retain(a, 100);
        sets.push(a);
      }
      for (const a of sets) i.release(a, 100);
      i.maybeSweep(16);
    }
    assert.ok(i.size <= 40, `size ${i.size}`);
  });
  it('`asPathLength()` counts an AS_SET as one and skips confederation segments', () => {
    const p = [
      { type: 3 as const, asns: [1, 2] },
      { type: 2 as const, asns: [65001, 65002] },
      { type: 1 as const, asns: [7, 8, 9] },
    ];
    assert.equal(asPathLength(p), 3);
    assert.equal(neighborAsOf(p), 65001);
  });
});
