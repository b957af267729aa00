/**
 * Runs the benchmarks that bench/api.ts describes and returns their results: warm-up, calibration of calls
 * per sample, the timed samples (process.hrtime.bigint), the alternated pairs of a side-by-side and the
 * memory measurement around a forced GC. Runs inside the per-file child process (bench/child.ts); the
 * parent (bench/run.ts) only formats.
 *
 * Hazards it defends against:
 * - Dead code: every result goes through `consume`, so V8 can't drop a call whose value looks unused.
 * - Async overhead on sync code: whether `fn` is async is found from its first call, and sync functions are
 *   timed in a loop without `await`, so a microtask per call doesn't drown a 50 ns operation.
 * - Timer resolution: a sample makes enough calls to last about `sampleTargetNs` (10 ms; 1 ms with --quick).
 * - Garbage from one side billed to the other: a forced GC (when available) precedes every sample.
 * - Drift: side-by-side pairs alternate which side goes first (ABBA…), see `sideBySide` in api.ts.
 */

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  type BenchCase,
  type BenchFn,
  type BenchResult,
  type CaseResult,
  consume,
  type Side,
  type SideBySideDef,
  type SideBySideResult,
  type SideResult,
  type SuiteDef,
  type SuiteResult,
} from './api.js';
import { summarize } from './stats.js';

export interface RunConfig {
  /** `--runs N`: overrides every benchmark's own `runs`. */
  readonly runs?: number;
  /** `--quick`: at most 5 samples, 1 ms samples, short warm-up. For CI smoke runs, not for numbers. */
  readonly quick: boolean;
  /** Forced full GC; undefined when the process can't get one (then memory benchmarks fail). */
  readonly gc?: () => void;
  /** Progress lines (to stderr in the child). */
  readonly log?: (line: string) => void;
}

export const DEFAULT_RUNS = 20;
export const QUICK_MAX_RUNS = 5;
const SAMPLE_TARGET_NS = 10e6;
const QUICK_SAMPLE_TARGET_NS = 1e6;
const MAX_ITERATIONS = 1e8;
/** Untimed calls for this long before calibrating, when a benchmark sets no `warmup` (lets the JIT settle). */
const WARMUP_NS = 100e6;
const QUICK_WARMUP_NS = 20e6;

/**
 * A forced full GC: `global.gc` under --expose-gc, else the flag is set at run time and `gc` fetched from a
 * fresh context (V8 installs it on contexts created after the flag). Undefined if neither works.
 */
export function acquireGc(): (() => void) | undefined {
  const g = (globalThis as { gc?: unknown }).gc;
  if (typeof g === 'function') return g as () => void;
  try {
    setFlagsFromString('--expose-gc');
    const fresh: unknown = runInNewContext('gc');
    if (typeof fresh === 'function') return fresh as () => void;
  } catch {
    // fall through: no GC available
  }
  return undefined;
}

/** Samples to take for a benchmark that asks for `own` (undefined: the default). */
export function effectiveRuns(own: number | undefined, cfg: RunConfig): number {
  if (cfg.runs !== undefined) return cfg.runs;
  const r = own ?? DEFAULT_RUNS;
  return cfg.quick ? Math.min(r, QUICK_MAX_RUNS) : r;
}

/** Runs one benchmark; a throw from setup, `fn` or teardown becomes an ErrorResult, never an exception. */
export async function runBenchmark(def: SuiteDef | SideBySideDef, file: string, cfg: RunConfig): Promise<BenchResult> {
  try {
    const reason = def.skip?.();
    if (reason) return { kind: 'skipped', file, name: def.name, reason };
    return def.kind === 'suite' ? await runSuite(def, file, cfg) : await runSideBySide(def, file, cfg);
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    return { kind: 'error', file, name: def.name, message: err.message, ...(err.stack ? { stack: err.stack } : {}) };
  }
}

async function withSetup<T>(
  setup: (() => unknown) | undefined,
  teardown: (() => unknown) | undefined,
  body: () => Promise<T>,
): Promise<T> {
  await setup?.();
  try {
    return await body();
  } finally {
    await teardown?.();
  }
}

// ---------------------------------------------------------------------------------------------------------

async function runSuite(def: SuiteDef, file: string, cfg: RunConfig): Promise<SuiteResult> {
  if (def.cases.length === 0) throw new TypeError(`Cannot run suite "${def.name}": it has no cases`);
  return withSetup(def.setup, def.teardown, async () => {
    const cases: CaseResult[] = [];
    for (const c of def.cases) {
      cfg.log?.(`${def.name} › ${c.label}`);
      cases.push(await runCase(c, cfg));
    }
    return { kind: 'suite', file, name: def.name, cases };
  });
}

async function runCase(c: BenchCase, cfg: RunConfig): Promise<CaseResult> {
  const runs = checkCount('runs', effectiveRuns(c.runs, cfg));
  const { isAsync, iterations } = await prepare(c.fn, c, cfg);
  const samplesNs: number[] = [];
  for (let i = 0; i < runs; i++) {
    cfg.gc?.();
    samplesNs.push(await timeSample(c.fn, iterations, isAsync));
  }
  const perUnit = c.unitsPerRun;
  return {
    label: c.label,
    runs,
    iterations,
    samplesNs,
    time: summarize(samplesNs),
    ...(c.units !== undefined ? { units: c.units } : {}),
    ...(perUnit !== undefined
      ? { unitsPerRun: perUnit, throughput: summarize(samplesNs.map((ns) => (perUnit * 1e9) / ns)) }
      : {}),
  };
}

// ---------------------------------------------------------------------------------------------------------

interface SideState {
  readonly fn: BenchFn;
  readonly isAsync: boolean;
  readonly iterations: number;
  readonly samples: number[];
  readonly peak: number[];
  readonly rss: number[];
}

async function runSideBySide(def: SideBySideDef, file: string, cfg: RunConfig): Promise<SideBySideResult> {
  const metric = def.metric ?? 'time';
  const runs = checkCount('runs', effectiveRuns(def.runs, cfg));
  if (metric === 'memory' && !cfg.gc) {
    throw new Error(`Cannot measure memory in "${def.name}": no forced GC available: run node with --expose-gc`);
  }
  cfg.log?.(`${def.name} (${metric}, ${runs} pairs)`);
  return withSetup(def.setup, def.teardown, async () => {
    const opts = metric === 'memory' ? { ...def, iterations: 1 } : def;
    const prepOurs = await prepare(def.ours, opts, cfg);
    const prepRef = await prepare(def.reference, opts, cfg);
    const state: Record<Side, SideState> = {
      ours: { fn: def.ours, ...prepOurs, samples: [], peak: [], rss: [] },
      reference: { fn: def.reference, ...prepRef, samples: [], peak: [], rss: [] },
    };
    const firsts: Side[] = [];
    const ratios: number[] = [];
    for (let i = 0; i < runs; i++) {
      const order: readonly Side[] = i % 2 === 0 ? ['ours', 'reference'] : ['reference', 'ours'];
      firsts.push(order[0]!);
      for (const side of order) {
        const s = state[side];
        if (metric === 'memory') {
          const m = await memorySample(s.fn, s.isAsync, cfg.gc!);
          s.samples.push(m.retained);
          s.peak.push(m.peak);
          s.rss.push(m.rss);
        } else {
          cfg.gc?.();
          s.samples.push(await timeSample(s.fn, s.iterations, s.isAsync));
        }
      }
      const ref = state.reference.samples[i]!;
      ratios.push(ref > 0 ? state.ours.samples[i]! / ref : Number.NaN);
    }
    const side = (k: Side, label: string | undefined): SideResult => {
      const s = state[k];
      const u = def.unitsPerRun;
      const perUnit =
        u === undefined
          ? undefined
          : summarize(metric === 'memory' ? s.samples.map((b) => b / u) : s.samples.map((ns) => (u * 1e9) / ns));
      return {
        label: label ?? k,
        iterations: s.iterations,
        samples: s.samples,
        summary: summarize(s.samples),
        ...(perUnit ? { perUnit } : {}),
        ...(metric === 'memory' ? { peak: summarize(s.peak), rss: summarize(s.rss) } : {}),
      };
    };
    return {
      kind: 'side-by-side',
      file,
      name: def.name,
      metric,
      runs,
      ...(def.units !== undefined ? { units: def.units } : {}),
      ...(def.unitsPerRun !== undefined ? { unitsPerRun: def.unitsPerRun } : {}),
      ours: side('ours', def.labels?.ours),
      reference: side('reference', def.labels?.reference),
      ratios,
      ratio: summarize(ratios),
      firsts,
    };
  });
}

// ---------------------------------------------------------------------------------------------------------

function checkCount(what: string, n: number): number {
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new RangeError(`Cannot run benchmark: ${what} must be a positive integer: current value is ${n}`);
  }
  return n;
}

const isThenable = (v: unknown): v is PromiseLike<unknown> =>
  (typeof v === 'object' || typeof v === 'function') &&
  v !== null &&
  typeof (v as { then?: unknown }).then === 'function';

/**
 * First call (tells sync from async), then warm-up (`warmup` calls, or 100 ms of calls; 20 ms with --quick),
 * then calibration: double the calls per sample until one sample lasts half the target, and size samples to
 * the target from the per-call time seen.
 */
async function prepare(
  fn: BenchFn,
  opts: { readonly warmup?: number | undefined; readonly iterations?: number | undefined },
  cfg: RunConfig,
): Promise<{ isAsync: boolean; iterations: number }> {
  const first = fn();
  const isAsync = isThenable(first);
  consume(isAsync ? await first : first);
  if (opts.warmup === undefined) {
    const until = process.hrtime.bigint() + BigInt(cfg.quick ? QUICK_WARMUP_NS : WARMUP_NS);
    while (process.hrtime.bigint() < until) consume(isAsync ? await fn() : fn());
  } else {
    const warmup = checkCount('warmup', Math.max(opts.warmup, 1));
    for (let i = 1; i < warmup; i++) consume(isAsync ? await fn() : fn());
  }
  if (opts.iterations !== undefined) return { isAsync, iterations: checkCount('iterations', opts.iterations) };
  const target = cfg.quick ? QUICK_SAMPLE_TARGET_NS : SAMPLE_TARGET_NS;
  let n = 1;
  for (;;) {
    const perCall = await timeSample(fn, n, isAsync);
    if (perCall * n >= target / 2 || n >= MAX_ITERATIONS) {
      const iterations = perCall > 0 ? Math.round(target / perCall) : MAX_ITERATIONS;
      return { isAsync, iterations: Math.min(MAX_ITERATIONS, Math.max(1, iterations)) };
    }
    n *= 2;
  }
}

/** Nanoseconds per call over `n` back-to-back calls. */
async function timeSample(fn: BenchFn, n: number, isAsync: boolean): Promise<number> {
  if (isAsync) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) consume(await fn());
    return Number(process.hrtime.bigint() - t0) / n;
  }
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) consume(fn());
  return Number(process.hrtime.bigint() - t0) / n;
}

/** JS heap plus memory outside it that JS objects own (ArrayBuffers, Buffers). */
function heapBytes(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

/**
 * Bytes still held by what one call returned: heap after a full GC with the result alive, minus heap after
 * a full GC before the call. The peak is sampled every millisecond while an async call runs and once when
 * any call returns (before the GC), so for sync code it is a lower bound of the true peak.
 */
async function memorySample(
  fn: BenchFn,
  isAsync: boolean,
  gc: () => void,
): Promise<{ retained: number; peak: number; rss: number }> {
  consume(undefined);
  gc();
  gc();
  const rss0 = process.memoryUsage.rss();
  const base = heapBytes();
  let peak = base;
  const timer = isAsync
    ? setInterval(() => {
        peak = Math.max(peak, heapBytes());
      }, 1)
    : undefined;
  let kept: unknown;
  try {
    kept = isAsync ? await fn() : fn();
  } finally {
    if (timer) clearInterval(timer);
  }
  peak = Math.max(peak, heapBytes());
  gc();
  gc();
  const retained = heapBytes() - base;
  const rss = process.memoryUsage.rss() - rss0;
  consume(kept); // `kept` is live until here, so the GCs above could not free it
  consume(undefined);
  return { retained, peak: peak - base, rss };
}
