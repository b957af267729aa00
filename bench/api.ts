/**
 * The API a benchmark file uses. A file named `*.bench.ts` under bench/ default-exports one benchmark or an
 * array of them; `npm run bench` (bench/run.ts) runs each file in its own child process and prints tables.
 *
 * Two shapes:
 * - `suite(name, { cases: [bench(label, fn, opts), …] })`: plain measurements, time per call of `fn`.
 * - `sideBySide(name, { ours, reference })`: our code against a reference in the same process and the same
 *   run, alternated sample by sample, reporting the per-pair ratio ours/reference. This is how Caracal
 *   states a speed or memory target (a ratio, never a timing assert in a test; STYLE §2.8).
 *
 * `command(argv, …)` turns an external tool (`ip -batch`, `nft -f`, `birdc`) into a reference function, so
 * a benchmark can hold our code against the real tool. See docs/design/bench.md for the method.
 *
 * This module only describes benchmarks; bench/measure.ts runs them. It holds no state except `consume`'s
 * sink, which exists so that V8 cannot prove a benchmarked call's result unused and drop the call.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Summary } from './stats.js';

/** What `unitsPerRun` counts; throughput is printed as "<n> <units>/s" ("MB/s" for bytes). */
export type Units = 'ops' | 'bytes' | 'routes' | 'elements';

/** The code under measurement: sync or async; its return value is consumed so it can't be optimised away. */
export type BenchFn = () => unknown;

/** What `metric: 'memory'` measures per run; see `sideBySide`. */
export type Metric = 'time' | 'memory';

/** Returns a reason to skip (say, a missing tool or no root), or nothing to run. */
export type SkipCheck = () => string | false | undefined;

export interface BenchOptions {
  /** Calls of `fn` per timed sample; calibrated so that a sample lasts about 10 ms when unset. */
  readonly iterations?: number;
  /** Untimed calls before calibrating and measuring (default: as many as fit in 100 ms, 20 ms with --quick). */
  readonly warmup?: number;
  /** Timed samples (default 20; `--quick` caps at 5, `--runs N` overrides). */
  readonly runs?: number;
  readonly units?: Units;
  /** How many `units` one call of `fn` processes; turns time per call into throughput. */
  readonly unitsPerRun?: number;
}

export interface BenchCase extends BenchOptions {
  readonly label: string;
  readonly fn: BenchFn;
}

export interface SuiteDef {
  readonly kind: 'suite';
  readonly name: string;
  readonly cases: readonly BenchCase[];
  /** Once before the first case, untimed. */
  readonly setup?: () => unknown;
  /** Once after the last case (also after a failure), untimed. */
  readonly teardown?: () => unknown;
  readonly skip?: SkipCheck;
}

export interface SideBySideOptions extends BenchOptions {
  readonly ours: BenchFn;
  readonly reference: BenchFn;
  /** Names printed in the tables (default "ours" and "reference"). */
  readonly labels?: { readonly ours?: string; readonly reference?: string };
  /**
   * 'time' (default): nanoseconds per call. 'memory': bytes of JS heap + external memory still held after
   * a forced GC by what one call returned (so `fn` should return what it built), with the heap peak seen
   * during the call and the RSS delta as side columns. Memory runs make exactly one call per sample.
   */
  readonly metric?: Metric;
  readonly setup?: () => unknown;
  readonly teardown?: () => unknown;
  readonly skip?: SkipCheck;
}

export interface SideBySideDef extends SideBySideOptions {
  readonly kind: 'side-by-side';
  readonly name: string;
}

export type Benchmark = SuiteDef | SideBySideDef;

/** One benchmark case of a suite. */
export function bench(label: string, fn: BenchFn, opts: BenchOptions = {}): BenchCase {
  return { ...opts, label, fn };
}

/**
 * Plain measurements, one table row per case.
 *
 * @example
 * export default suite('prefix parse', { cases: [bench('parseCidr v4', () => parseCidr('10.0.0.0/8'))] });
 */
export function suite(
  name: string,
  def: { cases: readonly BenchCase[]; setup?: () => unknown; teardown?: () => unknown; skip?: SkipCheck },
): SuiteDef {
  return { ...def, kind: 'suite', name };
}

/**
 * Our code against a reference, alternated: pair i runs ours then reference when i is even, reference then
 * ours when i is odd, so drift (thermal, frequency scaling, a heap that fills up) hits both sides alike.
 * Reports each side's median and spread and the median and spread of the per-pair ratios ours/reference.
 *
 * @example
 * export default sideBySide('prefix keys', { ours: () => buildNumeric(), reference: () => buildString(),
 *   units: 'routes', unitsPerRun: 10_000 });
 */
export function sideBySide(name: string, opts: SideBySideOptions): SideBySideDef {
  return { ...opts, kind: 'side-by-side', name };
}

// ---------------------------------------------------------------------------------------------------------

let sink: unknown;

/**
 * Keeps a value observably alive. The runner passes every result of a benchmarked call through here;
 * call it yourself for values computed inside a loop in `fn` that would otherwise be dead.
 */
export function consume(value: unknown): void {
  sink = value;
}

/** The last consumed value; exists so that `sink` is read somewhere and can't be elided. */
export const lastConsumed = (): unknown => sink;

// ---------------------------------------------------------------------------------------------------------
// External commands as references.

export interface CommandOptions {
  /** Written to the child's stdin. A function is called on every run, inside the timed region. */
  readonly input?: string | Uint8Array | (() => string | Uint8Array);
  /** Run inside this network namespace (`ip netns exec <netns> …`; needs root). */
  readonly netns?: string;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Exit codes that count as success (default [0]). */
  readonly okExitCodes?: readonly number[];
}

export interface CommandResult {
  readonly exitCode: number;
  readonly stdoutBytes: number;
}

const STDERR_KEEP = 4096;

/**
 * A benchmark function that runs `argv` as a child process and resolves when it exits, so that a side-by-side
 * can hold our code against a real tool in the same run. Rejects when the exit code isn't in `okExitCodes`.
 * The time includes process start (about a millisecond for a small binary): compare it with an end-to-end
 * measurement of ours, not with a single function call.
 *
 * @example
 * sideBySide('route batch', { ours: () => port.applyBatch(ops), reference: command(['ip', '-batch', '-'],
 *   { input: batchText, netns: 'bench' }) });
 */
export function command(argv: readonly string[], opts: CommandOptions = {}): () => Promise<CommandResult> {
  if (argv.length === 0) throw new TypeError('Cannot build command: argv is empty');
  const full = opts.netns === undefined ? [...argv] : ['ip', 'netns', 'exec', opts.netns, ...argv];
  const [file, ...args] = full as [string, ...string[]];
  const ok = opts.okExitCodes ?? [0];
  const shown = full.join(' ');
  return () =>
    new Promise<CommandResult>((resolve, reject) => {
      const input = typeof opts.input === 'function' ? opts.input() : opts.input;
      const child = spawn(file, args, {
        cwd: opts.cwd,
        env: opts.env,
        stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      });
      let stdoutBytes = 0;
      let stderr = '';
      child.stdout?.on('data', (c: Buffer) => {
        stdoutBytes += c.length;
      });
      child.stderr?.on('data', (c: Buffer) => {
        if (stderr.length < STDERR_KEEP) stderr += c.toString('utf8');
      });
      child.on('error', (e) => reject(new Error(`Cannot run command "${shown}": ${e.message}`, { cause: e })));
      child.on('close', (code, signal) => {
        const exitCode = code ?? -1;
        if (ok.includes(exitCode)) resolve({ exitCode, stdoutBytes });
        else {
          const why = signal ? `killed by ${signal}` : `exit code ${exitCode}`;
          reject(new Error(`Cannot run command "${shown}": ${why}: ${stderr.trim().slice(0, STDERR_KEEP)}`));
        }
      });
      if (input !== undefined && child.stdin) {
        child.stdin.on('error', () => {}); // EPIPE when the tool exits early; 'close' reports the outcome
        child.stdin.end(input);
      }
    });
}

/** Whether an executable named `name` is on PATH; for `skip: () => !commandExists('nft') && 'no nft'`. */
export function commandExists(name: string, path = process.env.PATH ?? ''): boolean {
  if (name.includes('/')) return isExecutable(name);
  return path.split(delimiter).some((dir) => dir !== '' && isExecutable(join(dir, name)));
}

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Results, as the child process reports them and `--json` writes them.

export interface CaseResult {
  readonly label: string;
  readonly runs: number;
  readonly iterations: number;
  /** Nanoseconds per call, one per sample. */
  readonly samplesNs: readonly number[];
  readonly time: Summary;
  readonly units?: Units;
  readonly unitsPerRun?: number;
  /** Units per second, one per sample, summarised. */
  readonly throughput?: Summary;
}

export interface SuiteResult {
  readonly kind: 'suite';
  readonly file: string;
  readonly name: string;
  readonly cases: readonly CaseResult[];
}

export type Side = 'ours' | 'reference';

export interface SideResult {
  readonly label: string;
  /** Calls per sample (1 for memory). */
  readonly iterations: number;
  /** Time: nanoseconds per call. Memory: bytes retained. One per pair, in pair order. */
  readonly samples: readonly number[];
  readonly summary: Summary;
  /** Time metric with `unitsPerRun`: units per second. Memory metric with `unitsPerRun`: bytes per unit. */
  readonly perUnit?: Summary;
  /** Memory metric only: peak heap + external seen during the call, above the baseline. */
  readonly peak?: Summary;
  /** Memory metric only: RSS after the call and a GC, minus RSS before. */
  readonly rss?: Summary;
}

export interface SideBySideResult {
  readonly kind: 'side-by-side';
  readonly file: string;
  readonly name: string;
  readonly metric: Metric;
  readonly runs: number;
  readonly units?: Units;
  readonly unitsPerRun?: number;
  readonly ours: SideResult;
  readonly reference: SideResult;
  /** ours / reference for each pair (NaN, written as null in JSON, when the reference sample was 0). */
  readonly ratios: readonly number[];
  readonly ratio: Summary;
  /** Which side ran first in each pair. */
  readonly firsts: readonly Side[];
}

export interface SkippedResult {
  readonly kind: 'skipped';
  readonly file: string;
  readonly name: string;
  readonly reason: string;
}

export interface ErrorResult {
  readonly kind: 'error';
  readonly file: string;
  /** Absent when the file itself failed to load or its process died. */
  readonly name?: string;
  readonly message: string;
  readonly stack?: string;
}

export type BenchResult = SuiteResult | SideBySideResult | SkippedResult | ErrorResult;
