import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRandom } from './random.js';

describe('seededRandom()', () => {
  it('repeats its sequence for a seed, differs between seeds, and stays in [0, 1)', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const xs = Array.from({ length: 1000 }, () => a());
    assert.deepEqual(
      Array.from({ length: 1000 }, () => b()),
      xs,
    );
    assert.notDeepEqual(Array.from({ length: 1000 }, seededRandom(43)), xs);
    assert.ok(xs.every((x) => x >= 0 && x < 1));
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    assert.ok(mean > 0.45 && mean < 0.55, `mean ${mean} of 1000 draws should be near 0.5`);
  });
});
