/**
 * The benchmark runner: `npm run bench -- [filter...] [--json out.json] [--runs N] [--quick]`.
 *
 * Finds `bench/**\/*.bench.ts` (fixtures/ excluded), runs each file in its own child process
 * (`node --import tsx --expose-gc bench/child.ts <file>`, so heaps and JIT state stay apart), receives the
 * results over IPC, and prints a machine header, a table per benchmark and a summary of side-by-side
 * ratios. A filter is a substring of a file path or of a benchmark name; a path to a `.bench.ts` file runs
 * that file even under fixtures/. Exit code: 0, or 1 when a benchmark threw or a child died, or 2 for a
 * usage error. Never non-zero because something was slow: speed targets are read from the ratios.
 */
import { execFileSync, fork } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { arch, cpus, platform, totalmem } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { BenchResult } from './api.js';
import type { ChildConfig, ChildMessage } from './child.js';
import { formatMachine, formatResult, formatSummary, type MachineInfo, type RunReport } from './report.js';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(BENCH_DIR, '..');
const CHILD = join(BENCH_DIR, 'child.ts');

const USAGE = `usage: npm run bench -- [filter...] [--json out.json] [--runs N] [--quick]
  filter        substring of a bench file path or benchmark name; or a path to a .bench.ts file
  --json FILE   also write all results as JSON
  --runs N      samples (pairs, for side-by-side) per benchmark, overriding each benchmark's own
  --quick       at most 5 runs and 1 ms samples: a smoke test for CI, not numbers to quote`;

export interface CliOptions {
  readonly filters: readonly string[];
  readonly json?: string;
  readonly runs?: number;
  readonly quick: boolean;
  readonly help: boolean;
}

/** Parses the command line; throws a TypeError with a user-facing message on bad input. */
export function parseCli(argv: readonly string[]): CliOptions {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      json: { type: 'string' },
      runs: { type: 'string' },
      quick: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  let runs: number | undefined;
  if (values.runs !== undefined) {
    runs = Number(values.runs);
    if (!Number.isSafeInteger(runs) || runs < 1) {
      throw new TypeError(
        `Cannot run benchmarks: --runs must be a positive integer: current value is "${values.runs}"`,
      );
    }
  }
  return {
    filters: positionals,
    quick: values.quick ?? false,
    help: values.help ?? false,
    ...(values.json !== undefined ? { json: values.json } : {}),
    ...(runs !== undefined ? { runs } : {}),
  };
}

/** Every `*.bench.ts` under `dir`, sorted, skipping fixtures/ and node_modules/. */
export function findBenchFiles(dir: string = BENCH_DIR): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      if (name === 'fixtures' || name === 'node_modules') continue;
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.bench.ts')) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

/**
 * Which files to start, each with the benchmark-name filters it gets. A filter that names an existing
 * `.bench.ts` file, or is a substring of discovered paths, selects those files whole (no name filter). A
 * filter that matches no path is a benchmark-name filter: every other file is started too, and runs only
 * the benchmarks whose names contain one of those filters.
 */
export function selectFiles(
  all: readonly string[],
  filters: readonly string[],
  root: string = ROOT,
): { path: string; names: string[] }[] {
  if (filters.length === 0) return all.map((path) => ({ path, names: [] }));
  const whole = new Set<string>();
  const names: string[] = [];
  for (const f of filters) {
    const asPath = resolve(root, f);
    if (f.endsWith('.bench.ts') && existsSync(asPath)) {
      whole.add(asPath);
      continue;
    }
    const hits = all.filter((p) => relative(root, p).includes(f));
    for (const h of hits) whole.add(h);
    if (hits.length === 0) names.push(f);
  }
  const out = [...whole].map((path) => ({ path, names: [] as string[] }));
  if (names.length > 0) for (const path of all) if (!whole.has(path)) out.push({ path, names });
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function machineInfo(): MachineInfo {
  const list = cpus();
  let commit: string | undefined;
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    commit = undefined;
  }
  return {
    date: new Date().toISOString(),
    node: process.version,
    v8: process.versions.v8,
    platform: platform(),
    arch: arch(),
    cpu: list[0]?.model.trim() ?? 'unknown cpu',
    cores: list.length,
    memoryBytes: totalmem(),
    ...(commit ? { commit } : {}),
  };
}

/** Runs one file in a child process; a crash or a missing result becomes an ErrorResult. */
function runFile(file: string, config: ChildConfig): Promise<BenchResult[]> {
  const rel = relative(ROOT, file);
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT; // started from a test: the child is not a node:test subprocess
  return new Promise((resolvePromise) => {
    let results: BenchResult[] | undefined;
    const child = fork(CHILD, [file, JSON.stringify(config)], {
      cwd: ROOT,
      env,
      execArgv: ['--import', 'tsx', '--expose-gc'],
      serialization: 'advanced', // structured clone: NaN stays NaN
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    child.stdout?.pipe(process.stderr, { end: false });
    child.stderr?.pipe(process.stderr, { end: false });
    child.on('message', (m: ChildMessage) => {
      if (m?.type === 'caracal-bench-results') results = [...m.results];
    });
    child.on('error', (e) =>
      resolvePromise([{ kind: 'error', file: rel, message: `Cannot start benchmark process: ${e.message}` }]),
    );
    // 'close', not 'exit': 'exit' can come before the last IPC message has been read (the child sends its
    // results and exits at once); 'close' waits for stdio and the IPC channel to end.
    child.on('close', (code, signal) => {
      if (results) resolvePromise(results);
      else {
        const why = signal ? `killed by ${signal}` : `exit code ${code}`;
        resolvePromise([{ kind: 'error', file: rel, message: `Benchmark process ended without results: ${why}` }]);
      }
    });
  });
}

async function main(argv: readonly string[]): Promise<number> {
  let cli: CliOptions;
  try {
    cli = parseCli(argv);
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n${USAGE}\n`);
    return 2;
  }
  if (cli.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const files = selectFiles(findBenchFiles(), cli.filters);
  if (files.length === 0) {
    process.stderr.write(`No benchmark files match ${cli.filters.join(' ') || '(all)'}\n`);
    return 2;
  }
  const options: RunReport['options'] = {
    quick: cli.quick,
    filters: cli.filters,
    ...(cli.runs !== undefined ? { runs: cli.runs } : {}),
  };
  const machine = machineInfo();
  process.stdout.write(`${formatMachine(machine, options)}\n\n`);
  const results: BenchResult[] = [];
  for (const { path: file, names } of files) {
    process.stderr.write(`▸ ${relative(ROOT, file)}\n`);
    const config: ChildConfig = {
      quick: cli.quick,
      names,
      root: ROOT,
      ...(cli.runs !== undefined ? { runs: cli.runs } : {}),
    };
    for (const r of await runFile(file, config)) {
      results.push(r);
      process.stdout.write(`${formatResult(r)}\n`);
    }
  }
  if (results.length === 0) process.stdout.write(`No benchmarks match ${cli.filters.join(' ')}\n\n`);
  process.stdout.write(formatSummary(results));
  const ok = !results.some((r) => r.kind === 'error');
  if (cli.json !== undefined) {
    const report: RunReport = { machine, options, results, ok };
    writeFileSync(resolve(process.cwd(), cli.json), `${JSON.stringify(report, null, 2)}\n`);
    process.stderr.write(`wrote ${cli.json}\n`);
  }
  return ok ? 0 : 1;
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(resolve(entry)).href) {
  process.exitCode = await main(process.argv.slice(2));
}
