/**
 * Runs the real runner (bench/run.ts, child processes and all) on the fixtures under bench/fixtures/ and
 * checks the shape of what it prints and writes. Never a timing value: only structure and exit codes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { SideBySideResult, SuiteResult } from './api.js';
import type { RunReport } from './report.js';
import { findBenchFiles, parseCli, selectFiles } from './run.js';

const BENCH = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(BENCH, '..');
const tmp = mkdtempSync(join(tmpdir(), 'caracal-bench-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function runner(...args: string[]) {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(BENCH, 'run.ts'), ...args], {
    cwd: ROOT,
    env,
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('bench/run.ts on fixtures', () => {
  it('runs a fixture with --quick --json: both sides, one ratio per run, tables printed', () => {
    const out = join(tmp, 'tiny.json');
    const r = runner('bench/fixtures/tiny.bench.ts', '--quick', '--json', out);
    assert.equal(r.code, 0, r.stderr);

    const report = JSON.parse(readFileSync(out, 'utf8')) as RunReport;
    assert.equal(report.ok, true);
    assert.equal(report.options.quick, true);
    assert.equal(report.machine.node, process.version);
    assert.ok(report.machine.cores >= 1 && report.machine.cpu.length > 0);
    assert.deepEqual(
      report.results.map((x) => [x.kind, 'name' in x ? x.name : '']),
      [
        ['suite', 'tiny suite'],
        ['side-by-side', 'tiny time'],
        ['side-by-side', 'tiny memory'],
      ],
    );
    for (const x of report.results.filter((y): y is SideBySideResult => y.kind === 'side-by-side')) {
      assert.equal(x.file, 'bench/fixtures/tiny.bench.ts');
      assert.ok(x.runs >= 1 && x.runs <= 5, '--quick caps runs at 5');
      assert.equal(x.ratios.length, x.runs);
      assert.equal(x.ours.samples.length, x.runs);
      assert.equal(x.reference.samples.length, x.runs);
      assert.equal(x.firsts.length, x.runs);
      assert.equal(x.ratio.n, x.ratios.filter((v) => v !== null).length);
      for (const k of ['min', 'p25', 'median', 'p75', 'max', 'mad'] as const) {
        assert.equal(typeof x.ours.summary[k], 'number');
      }
    }
    const memory = report.results.find((x) => 'name' in x && x.name === 'tiny memory') as SideBySideResult;
    assert.equal(memory.metric, 'memory');
    assert.ok(memory.ours.peak && memory.ours.rss && memory.ours.perUnit);
    const suiteResult = report.results[0] as SuiteResult;
    assert.equal(suiteResult.cases[0]?.samplesNs.length, suiteResult.cases[0]?.runs);

    assert.match(r.stdout, /^Caracal benchmarks/);
    assert.match(r.stdout, /^node v\d+\.\d+\.\d+ .*cores/m);
    assert.match(r.stdout, /^tiny time +\[bench\/fixtures\/tiny\.bench\.ts\]/m);
    assert.match(r.stdout, /^ +median +p25–p75 +min–max +MAD +throughput +calls\/sample$/m);
    assert.match(r.stdout, /^ours +\S/m);
    assert.match(r.stdout, /^reference +\S/m);
    assert.match(r.stdout, /^ratio +\S+×/m);
    assert.match(r.stdout, /^Summary /m);
    assert.match(r.stdout, /^tiny memory +memory /m);
    assert.match(r.stdout, /2 side-by-side, 1 suite\(s\), 0 skipped, 0 failed/);
  });

  it('--runs N sets the number of samples and pairs, past the --quick cap', () => {
    const out = join(tmp, 'runs.json');
    const r = runner('bench/fixtures/tiny.bench.ts', '--quick', '--runs', '7', '--json', out);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(readFileSync(out, 'utf8')) as RunReport;
    assert.equal(report.options.runs, 7);
    for (const x of report.results) {
      if (x.kind === 'side-by-side') assert.equal(x.ratios.length, 7);
      else if (x.kind === 'suite') assert.equal(x.cases[0]?.samplesNs.length, 7);
      else assert.fail(`unexpected ${x.kind}`);
    }
  });

  it('exits 1 when a benchmark throws, and still runs and reports the others', () => {
    const out = join(tmp, 'throws.json');
    const r = runner('bench/fixtures/throws.bench.ts', '--quick', '--json', out);
    assert.equal(r.code, 1);
    const report = JSON.parse(readFileSync(out, 'utf8')) as RunReport;
    assert.equal(report.ok, false);
    assert.deepEqual(
      report.results.map((x) => x.kind),
      ['error', 'side-by-side'],
    );
    assert.match(r.stdout, /fixture throws .*FAILED: fixture failure/);
    assert.match(r.stdout, /1 failed: fixture throws/);
  });

  it('exits 2 on a usage error', () => {
    const r = runner('--runs', 'zero');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--runs must be a positive integer/);
  });
});

describe('bench/run.ts helpers', () => {
  it('parseCli() reads filters, --json, --runs and --quick', () => {
    assert.deepEqual(parseCli(['json', '--quick', '--runs', '4', '--json', 'o.json']), {
      filters: ['json'],
      quick: true,
      help: false,
      json: 'o.json',
      runs: 4,
    });
    assert.throws(() => parseCli(['--runs', '1.5']), /positive integer/);
    assert.throws(() => parseCli(['--runs=0']), /positive integer/);
  });

  it('findBenchFiles() finds *.bench.ts and leaves fixtures out', () => {
    const files = findBenchFiles();
    assert.ok(files.includes(join(BENCH, 'json-codec.bench.ts')));
    assert.ok(files.every((f) => !f.includes('/fixtures/')));
  });

  it('selectFiles() matches paths first and treats other filters as benchmark names', () => {
    const a = join(ROOT, 'bench/a.bench.ts');
    const b = join(ROOT, 'bench/b.bench.ts');
    const all = [a, b];
    assert.deepEqual(selectFiles(all, [], ROOT), [
      { path: a, names: [] },
      { path: b, names: [] },
    ]);
    assert.deepEqual(selectFiles(all, ['a.bench'], ROOT), [{ path: a, names: [] }]);
    assert.deepEqual(selectFiles(all, ['a.bench', 'prefix keys'], ROOT), [
      { path: a, names: [] },
      { path: b, names: ['prefix keys'] },
    ]);
    const fixture = join(BENCH, 'fixtures/tiny.bench.ts');
    assert.deepEqual(selectFiles(all, ['bench/fixtures/tiny.bench.ts'], ROOT), [{ path: fixture, names: [] }]);
  });
});
