import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  formatBytes,
  formatCount,
  formatInt,
  formatNs,
  formatPercent,
  formatRate,
  formatRatio,
  mad,
  median,
  quantile,
  quantileSorted,
  sig3,
  summarize,
} from './stats.js';

const finite = fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e12, max: 1e12 });
const samples = fc.array(finite, { minLength: 1, maxLength: 200 });

describe('quantile', () => {
  it('quantileSorted() interpolates linearly between closest ranks (type 7)', () => {
    assert.equal(quantileSorted([1, 2, 3, 4], 0.5), 2.5);
    assert.equal(quantileSorted([1, 2, 3, 4], 0.25), 1.75);
    assert.equal(quantileSorted([10], 0.9), 10);
    assert.equal(quantileSorted([1, 2, 3, 4], 0), 1);
    assert.equal(quantileSorted([1, 2, 3, 4], 1), 4);
  });

  it('quantileSorted() is NaN for no samples and rejects q outside [0, 1]', () => {
    assert.ok(Number.isNaN(quantileSorted([], 0.5)));
    assert.throws(() => quantileSorted([1], 1.5), RangeError);
    assert.throws(() => quantileSorted([1], Number.NaN), RangeError);
  });

  it('quantile() sorts and ignores non-finite values', () => {
    assert.equal(quantile([4, Number.NaN, 1, Number.POSITIVE_INFINITY, 3, 2], 0.5), 2.5);
  });

  it('quantile() is monotone in q', () => {
    fc.assert(
      fc.property(
        samples,
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (xs, a, b) => {
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          assert.ok(quantile(xs, lo) <= quantile(xs, hi));
        },
      ),
    );
  });
});

describe('median and mad', () => {
  it('median() of odd and even counts', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
  });

  it('median() lies between min and max and does not depend on order', () => {
    fc.assert(
      fc.property(samples, (xs) => {
        const m = median(xs);
        assert.ok(m >= Math.min(...xs) && m <= Math.max(...xs));
        assert.equal(median([...xs].reverse()), m);
      }),
    );
  });

  it('mad() ignores a single wild outlier', () => {
    assert.equal(mad([10, 11, 12, 13, 14]), 1);
    assert.equal(mad([10, 11, 12, 13, 1e9]), 1);
  });

  it('mad() is non-negative and zero for constant samples', () => {
    fc.assert(fc.property(samples, (xs) => assert.ok(mad(xs) >= 0)));
    fc.assert(fc.property(finite, fc.integer({ min: 1, max: 50 }), (x, n) => assert.equal(mad(Array(n).fill(x)), 0)));
  });
});

describe('summarize', () => {
  it('summarize() orders min ≤ p25 ≤ median ≤ p75 ≤ max', () => {
    fc.assert(
      fc.property(samples, (xs) => {
        const s = summarize(xs);
        assert.equal(s.n, xs.length);
        assert.ok(s.min <= s.p25 && s.p25 <= s.median && s.median <= s.p75 && s.p75 <= s.max);
        assert.ok(s.mean >= s.min && s.mean <= s.max);
      }),
    );
  });

  it('summarize() keeps the mean within min and max despite rounding', () => {
    const s = summarize([0.1, 0.1, 0.1]);
    assert.equal(s.mean, 0.1);
  });

  it('summarize() counts only finite samples, and gives NaN fields when none are left', () => {
    const s = summarize([1, Number.NaN, 3]);
    assert.equal(s.n, 2);
    assert.equal(s.median, 2);
    const empty = summarize([Number.NaN]);
    assert.equal(empty.n, 0);
    assert.ok(Number.isNaN(empty.median) && Number.isNaN(empty.min) && Number.isNaN(empty.mean));
  });
});

describe('humanising', () => {
  it('formatNs() picks ns, µs, ms or s at three significant figures', () => {
    assert.equal(formatNs(12.34), '12.3 ns');
    assert.equal(formatNs(1234), '1.23 µs');
    assert.equal(formatNs(312_000), '312 µs');
    assert.equal(formatNs(1_020_000), '1.02 ms');
    assert.equal(formatNs(2.5e9), '2.50 s');
    assert.equal(formatNs(Number.NaN), '–');
  });

  it('formatNs() moves up a unit when rounding reaches it', () => {
    assert.equal(formatNs(999.7), '1.00 µs');
  });

  it('formatBytes() uses decimal units and keeps the sign', () => {
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(618_000), '618 kB');
    assert.equal(formatBytes(1_010_000), '1.01 MB');
    assert.equal(formatBytes(-2048), '-2.05 kB');
    assert.equal(formatBytes(0), '0 B');
  });

  it('formatRate() prints units per second, and MB/s for bytes', () => {
    assert.equal(formatRate(3.21e7, 'routes'), '32.1 M routes/s');
    assert.equal(formatRate(512, 'ops'), '512 ops/s');
    assert.equal(formatRate(2.5e8, 'bytes'), '250 MB/s');
  });

  it('formatRatio(), formatPercent(), formatCount(), formatInt() and sig3()', () => {
    assert.equal(formatRatio(0.31234), '0.312×');
    assert.equal(formatRatio(Number.NaN), '–');
    assert.equal(formatPercent(0.021), '2.1%');
    assert.equal(formatPercent(0.15), '15%');
    assert.equal(formatCount(1500), '1.50 k');
    assert.equal(formatInt(10_000), '10,000');
    assert.equal(sig3(0.000123456), '0.000123');
  });

  it('formatNs() never uses exponent notation', () => {
    fc.assert(
      fc.property(fc.double({ min: 1e-3, max: 1e15, noNaN: true }), (x) => assert.doesNotMatch(formatNs(x), /e/)),
    );
  });
});
