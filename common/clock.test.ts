import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { backoffMs } from './clock.js';

describe('backoffMs()', () => {
  it('stays below min(max, base * 2^attempt) for any attempt and random draw', () => {
    fc.assert(
      fc.property(fc.nat(100), fc.double({ min: 0, max: 0.999999, noNaN: true }), (attempt, r) => {
        const d = backoffMs(attempt, 200, 30_000, () => r);
        return d >= 0 && d < Math.min(30_000, 200 * 2 ** attempt);
      }),
    );
  });
  it('grows with the attempt number at a fixed draw until it reaches the cap', () => {
    const at = (n: number) => backoffMs(n, 100, 10_000, () => 0.5);
    assert.deepEqual([0, 1, 2, 3, 10].map(at), [50, 100, 200, 400, 5000]);
  });
});
