/**
 * The per-file child process of the benchmark runner: loads one `*.bench.ts`, runs its benchmarks with
 * bench/measure.ts and sends the results to the parent (bench/run.ts) over IPC. One process per file keeps
 * heaps, JIT state and module-level caches of one file from bending another file's numbers.
 *
 * Started as `node --import tsx --expose-gc bench/child.ts <file> <config-json>`. Run by hand without an IPC
 * channel, it prints the tables itself, which is handy while writing a benchmark.
 * Exit code 1 when any benchmark threw; speed never decides the exit code.
 */
import { relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Benchmark, BenchResult } from './api.js';
import { acquireGc, runBenchmark } from './measure.js';
import { formatResult } from './report.js';

/** What the parent passes as the second argument. */
export interface ChildConfig {
  readonly runs?: number;
  readonly quick: boolean;
  /** Run only benchmarks whose name contains one of these (empty: all). */
  readonly names: readonly string[];
  /** Paths in results are relative to this. */
  readonly root: string;
}

/** The one IPC message a child sends. */
export interface ChildMessage {
  readonly type: 'caracal-bench-results';
  readonly results: readonly BenchResult[];
}

function isBenchmark(v: unknown): v is Benchmark {
  if (typeof v !== 'object' || v === null) return false;
  const kind = (v as { kind?: unknown }).kind;
  return (kind === 'suite' || kind === 'side-by-side') && typeof (v as { name?: unknown }).name === 'string';
}

async function loadBenchmarks(abs: string): Promise<Benchmark[]> {
  const mod = (await import(pathToFileURL(abs).href)) as { default?: unknown };
  const list = Array.isArray(mod.default) ? (mod.default as unknown[]) : [mod.default];
  if (list.length === 0 || !list.every(isBenchmark)) {
    throw new TypeError(
      'Cannot load benchmark file: its default export must be a suite(), a sideBySide() or an array of them',
    );
  }
  return list;
}

async function main(): Promise<void> {
  const [fileArg, configArg] = process.argv.slice(2);
  if (fileArg === undefined) {
    process.stderr.write('usage: node --import tsx --expose-gc bench/child.ts <file.bench.ts> [config-json]\n');
    process.exit(2);
  }
  const config: ChildConfig = configArg
    ? (JSON.parse(configArg) as ChildConfig)
    : { quick: false, names: [], root: process.cwd() };
  const abs = resolve(fileArg);
  const file = relative(config.root, abs);
  const gc = acquireGc();
  const log = (line: string) => process.stderr.write(`  · ${line}\n`);
  const results: BenchResult[] = [];
  try {
    for (const def of await loadBenchmarks(abs)) {
      if (config.names.length > 0 && !config.names.some((n) => def.name.includes(n))) continue;
      results.push(
        await runBenchmark(def, file, {
          quick: config.quick,
          ...(config.runs !== undefined ? { runs: config.runs } : {}),
          ...(gc ? { gc } : {}),
          log,
        }),
      );
    }
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    results.push({ kind: 'error', file, message: err.message, ...(err.stack ? { stack: err.stack } : {}) });
  }
  const code = results.some((r) => r.kind === 'error') ? 1 : 0;
  if (process.send) {
    const msg: ChildMessage = { type: 'caracal-bench-results', results };
    process.send(msg, () => process.exit(code));
  } else {
    for (const r of results) process.stdout.write(`${formatResult(r)}\n`);
    process.exit(code);
  }
}

await main();
