import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bench, sideBySide, suite } from './api.js';
import { acquireGc, effectiveRuns, runBenchmark } from './measure.js';

const quick = { quick: true };

describe('runBenchmark: side-by-side', () => {
  it('runBenchmark() alternates which side starts each pair, ABBA…', async () => {
    const calls: string[] = [];
    const r = await runBenchmark(
      sideBySide('alt', {
        ours: () => calls.push('o'),
        reference: () => calls.push('r'),
        iterations: 1, // with warmup 1, preparing makes exactly one call per side
        warmup: 1,
        runs: 4,
      }),
      'f',
      quick,
    );
    assert.equal(r.kind, 'side-by-side');
    if (r.kind !== 'side-by-side') return;
    assert.deepEqual(r.firsts, ['ours', 'reference', 'ours', 'reference']);
    assert.deepEqual(calls, ['o', 'r', 'o', 'r', 'r', 'o', 'o', 'r', 'r', 'o']);
  });

  it('runBenchmark() records one ratio per pair and a sample per side per pair', async () => {
    const r = await runBenchmark(sideBySide('n', { ours: () => 1, reference: () => 2, runs: 3 }), 'f', quick);
    assert.equal(r.kind, 'side-by-side');
    if (r.kind !== 'side-by-side') return;
    assert.equal(r.ratios.length, 3);
    assert.equal(r.ours.samples.length, 3);
    assert.equal(r.reference.samples.length, 3);
    assert.equal(r.runs, 3);
    assert.equal(r.metric, 'time');
    for (const [i, ratio] of r.ratios.entries()) {
      assert.equal(ratio, r.ours.samples[i]! / r.reference.samples[i]!);
    }
  });

  it('runBenchmark() awaits async functions and reports throughput when unitsPerRun is set', async () => {
    let done = 0;
    const r = await runBenchmark(
      sideBySide('async', {
        ours: async () => {
          await Promise.resolve();
          done++;
        },
        reference: () => 0,
        runs: 2,
        iterations: 3,
        warmup: 1,
        units: 'routes',
        unitsPerRun: 100,
      }),
      'f',
      quick,
    );
    assert.equal(r.kind, 'side-by-side');
    if (r.kind !== 'side-by-side') return;
    assert.equal(done, 1 + 2 * 3); // first call + 2 samples × 3 iterations
    assert.equal(r.ours.perUnit?.n, 2);
    assert.equal(r.units, 'routes');
  });

  it('runBenchmark() measures retained bytes for the memory metric', async () => {
    const gc = acquireGc();
    assert.ok(gc, 'a forced GC is available');
    const r = await runBenchmark(
      sideBySide('mem', {
        metric: 'memory',
        ours: () => new Float64Array(100_000), // 800 kB outside the JS heap
        reference: () => new Float64Array(10),
        runs: 3,
      }),
      'f',
      { ...quick, gc },
    );
    assert.equal(r.kind, 'side-by-side');
    if (r.kind !== 'side-by-side') return;
    assert.equal(r.ours.iterations, 1);
    assert.ok(r.ours.peak && r.ours.rss);
    assert.ok(r.ours.summary.median > r.reference.summary.median, 'the larger result retains more');
  });

  it('runBenchmark() turns a missing GC for a memory benchmark into an error result', async () => {
    const r = await runBenchmark(
      sideBySide('mem', { metric: 'memory', ours: () => 1, reference: () => 1 }),
      'f',
      quick,
    );
    assert.equal(r.kind, 'error');
    if (r.kind === 'error') assert.match(r.message, /--expose-gc/);
  });
});

describe('runBenchmark: suites, skips and failures', () => {
  it('runBenchmark() runs setup, every case and teardown', async () => {
    const log: string[] = [];
    const r = await runBenchmark(
      suite('s', {
        setup: () => log.push('setup'),
        teardown: () => log.push('teardown'),
        cases: [bench('a', () => 1, { runs: 2 }), bench('b', () => 2, { runs: 3, units: 'ops', unitsPerRun: 1 })],
      }),
      'f',
      quick,
    );
    assert.deepEqual(log, ['setup', 'teardown']);
    assert.equal(r.kind, 'suite');
    if (r.kind !== 'suite') return;
    assert.deepEqual(
      r.cases.map((c) => [c.label, c.samplesNs.length]),
      [
        ['a', 2],
        ['b', 3],
      ],
    );
    assert.equal(r.cases[1]?.throughput?.n, 3);
  });

  it('runBenchmark() reports a throw as an error result and still tears down', async () => {
    let tornDown = false;
    const r = await runBenchmark(
      sideBySide('boom', {
        ours: () => {
          throw new Error('boom');
        },
        reference: () => 1,
        teardown: () => {
          tornDown = true;
        },
      }),
      'f',
      quick,
    );
    assert.deepEqual([r.kind, r.kind === 'error' && r.message], ['error', 'boom']);
    assert.ok(tornDown);
  });

  it('runBenchmark() skips when skip() gives a reason, without calling anything', async () => {
    const r = await runBenchmark(
      sideBySide('skip', {
        skip: () => 'no nft',
        ours: () => assert.fail('ran'),
        reference: () => assert.fail('ran'),
      }),
      'f',
      quick,
    );
    assert.deepEqual(r, { kind: 'skipped', file: 'f', name: 'skip', reason: 'no nft' });
  });

  it('runBenchmark() rejects a non-positive runs count', async () => {
    const r = await runBenchmark(sideBySide('bad', { ours: () => 1, reference: () => 1, runs: 0 }), 'f', quick);
    assert.equal(r.kind, 'error');
  });

  it('effectiveRuns() lets --runs win and --quick cap', () => {
    assert.equal(effectiveRuns(undefined, { quick: false }), 20);
    assert.equal(effectiveRuns(50, { quick: true }), 5);
    assert.equal(effectiveRuns(3, { quick: true }), 3);
    assert.equal(effectiveRuns(50, { quick: true, runs: 7 }), 7);
  });
});
