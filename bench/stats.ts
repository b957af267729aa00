/**
 * Pure statistics and number formatting for the benchmark runner: quantiles, median, MAD, a five-number
 * summary, and the humanisers the tables use (ns/µs/ms/s, B/kB/MB/GB, rates, ratios).
 *
 * Robust statistics on purpose: benchmark samples have a long right tail (GC pauses, a noisy neighbour),
 * so the tables lead with the median and the interquartile range and never with a mean ± stddev.
 * Non-finite samples (NaN, ±Infinity) are ignored by `summarize`, so a ratio whose reference was zero
 * drops out of the summary instead of poisoning it. Nothing here reads a clock or does I/O.
 */

/** Median, quartiles, extremes and spread of one series of samples. `n` counts the finite samples used. */
export interface Summary {
  readonly n: number;
  readonly min: number;
  readonly p25: number;
  readonly median: number;
  readonly p75: number;
  readonly max: number;
  readonly mean: number;
  /** Median absolute deviation from the median (unscaled). */
  readonly mad: number;
}

/** A sorted copy holding only the finite values. */
export function sortedFinite(xs: readonly number[]): number[] {
  return xs.filter(Number.isFinite).sort((a, b) => a - b);
}

/**
 * The q-quantile (0 ≤ q ≤ 1) of an ascending array, interpolating linearly between closest ranks
 * (Hyndman & Fan type 7, what R and NumPy use by default). NaN for an empty array.
 *
 * @example quantileSorted([1, 2, 3, 4], 0.5) // 2.5
 */
export function quantileSorted(sorted: readonly number[], q: number): number {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`Cannot take quantile: q must be in [0, 1]: current value is ${q}`);
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const pos = (n - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, n - 1);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return Math.min(b, a + (b - a) * (pos - lo)); // min: rounding must not step past the next rank
}

/** The q-quantile of unsorted values; non-finite values are ignored. */
export function quantile(xs: readonly number[], q: number): number {
  return quantileSorted(sortedFinite(xs), q);
}

/** @example median([3, 1, 2]) // 2 */
export function median(xs: readonly number[]): number {
  return quantile(xs, 0.5);
}

/** Median absolute deviation: median(|x − median(x)|). A spread measure that ignores outliers. */
export function mad(xs: readonly number[]): number {
  const s = sortedFinite(xs);
  const m = quantileSorted(s, 0.5);
  return quantileSorted(
    s.map((x) => Math.abs(x - m)).sort((a, b) => a - b),
    0.5,
  );
}

export function summarize(xs: readonly number[]): Summary {
  const s = sortedFinite(xs);
  const n = s.length;
  const med = quantileSorted(s, 0.5);
  let sum = 0;
  for (const x of s) sum += x;
  return {
    n,
    min: n ? s[0]! : Number.NaN,
    p25: quantileSorted(s, 0.25),
    median: med,
    p75: quantileSorted(s, 0.75),
    max: n ? s[n - 1]! : Number.NaN,
    mean: n ? Math.min(s[n - 1]!, Math.max(s[0]!, sum / n)) : Number.NaN, // clamped: rounding in the sum
    mad: quantileSorted(
      s.map((x) => Math.abs(x - med)).sort((a, b) => a - b),
      0.5,
    ),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Humanising. Three significant figures everywhere; "–" for a value we don't have (NaN).

const DASH = '–';

/** Three significant figures without exponent notation: 1.23, 12.3, 123, 1234. */
export function sig3(x: number): string {
  if (!Number.isFinite(x)) return DASH;
  const a = Math.abs(x);
  if (a >= 100 || a === 0) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toPrecision(3);
}

/** Picks the largest unit not above |x| and prints x in it; moves up one unit when rounding reaches it. */
function scaled(x: number, units: readonly (readonly [number, string])[]): string {
  if (!Number.isFinite(x)) return DASH;
  const a = Math.abs(x);
  let i = 0;
  while (i + 1 < units.length && a >= units[i + 1]![0]) i++;
  let [factor, suffix] = units[i]!;
  let text = sig3(x / factor);
  const next = units[i + 1];
  if (next && Math.abs(Number(text)) * factor >= next[0]) {
    [factor, suffix] = next;
    text = sig3(x / factor);
  }
  return `${text} ${suffix}`;
}

const TIME_UNITS = [
  [1, 'ns'],
  [1e3, 'µs'],
  [1e6, 'ms'],
  [1e9, 's'],
] as const;
const BYTE_UNITS = [
  [1, 'B'],
  [1e3, 'kB'],
  [1e6, 'MB'],
  [1e9, 'GB'],
] as const;
const COUNT_UNITS = [
  [1, ''],
  [1e3, 'k'],
  [1e6, 'M'],
  [1e9, 'G'],
] as const;

/** @example formatNs(1234) // "1.23 µs" */
export const formatNs = (ns: number): string => scaled(ns, TIME_UNITS);

/** Decimal units (1 MB = 10^6 bytes); negative values keep their sign (a heap can shrink). */
export const formatBytes = (bytes: number): string => scaled(bytes, BYTE_UNITS);

/** @example formatCount(32_100_000) // "32.1 M" */
export const formatCount = (x: number): string => scaled(x, COUNT_UNITS).trimEnd();

/** An integer with thousands separators: `formatInt(10000)` → "10,000". */
export const formatInt = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : DASH);

/** A throughput: `formatRate(3.2e7, 'routes')` → "32.0 M routes/s"; bytes become "MB/s". */
export function formatRate(perSec: number, unit: string): string {
  if (!Number.isFinite(perSec)) return DASH;
  if (unit === 'bytes') return `${formatBytes(perSec)}/s`;
  return `${formatCount(perSec)} ${unit}/s`;
}

/** @example formatRatio(0.3123) // "0.312×" */
export const formatRatio = (r: number): string => (Number.isFinite(r) ? `${sig3(r)}×` : DASH);

/** A relative spread: `formatPercent(0.021)` → "2.1%". */
export function formatPercent(x: number): string {
  if (!Number.isFinite(x)) return DASH;
  const p = x * 100;
  return `${Math.abs(p) >= 10 ? p.toFixed(0) : p.toFixed(1)}%`;
}

/** "a–b" for an interval, formatted by `f`. */
export const formatRange = (lo: number, hi: number, f: (x: number) => string): string => `${f(lo)}–${f(hi)}`;
