import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SideBySideResult, SideResult } from './api.js';
import { formatMachine, formatResult, formatSummary, renderTable, verdict } from './report.js';
import { summarize } from './stats.js';

const side = (label: string, samples: number[]): SideResult => ({
  label,
  iterations: 10,
  samples,
  summary: summarize(samples),
});

function pair(metric: 'time' | 'memory', ours: number[], reference: number[]): SideBySideResult {
  const ratios = ours.map((o, i) => o / reference[i]!);
  return {
    kind: 'side-by-side',
    file: 'bench/x.bench.ts',
    name: 'x',
    metric,
    runs: ours.length,
    ours: side('ours', ours),
    reference: side('reference', reference),
    ratios,
    ratio: summarize(ratios),
    firsts: ours.map((_, i) => (i % 2 === 0 ? 'ours' : 'reference')),
  };
}

describe('renderTable', () => {
  it('renderTable() pads every column to one width, first left and the rest right', () => {
    const t = renderTable(
      ['side', 'median'],
      [
        ['ours', '1.2 µs'],
        ['reference', '312 ns'],
      ],
    );
    const lines = t.split('\n');
    assert.equal(lines.length, 4);
    assert.equal(lines[0], 'side       median');
    assert.equal(lines[2], 'ours       1.2 µs');
    assert.equal(lines[3], 'reference  312 ns');
    assert.match(lines[1]!, /^─+ {2}─+$/);
  });
});

describe('verdict', () => {
  it('verdict() says faster or slower when the ratio IQR excludes 1', () => {
    assert.equal(verdict(pair('time', [1, 1, 1, 1], [4, 4, 4, 4])), 'ours 4.00× faster');
    assert.equal(verdict(pair('time', [2, 2, 2], [1, 1, 1])), 'ours 2.00× slower');
    assert.equal(verdict(pair('memory', [1, 1], [2, 2])), 'ours 2.00× smaller');
  });

  it('verdict() says "no clear difference" when the ratio IQR contains 1', () => {
    assert.equal(verdict(pair('time', [0.8, 1.2, 0.9, 1.1], [1, 1, 1, 1])), 'no clear difference');
  });
});

describe('formatResult and formatSummary', () => {
  it('formatResult() prints both sides and a ratio row for a side-by-side', () => {
    const text = formatResult(pair('time', [100, 110, 120], [300, 310, 320]));
    assert.match(text, /^ours\s+110 ns/m);
    assert.match(text, /^reference\s+310 ns/m);
    assert.match(text, /^ratio\s+0\.3\d+×/m);
  });

  it('formatSummary() has one row per side-by-side and counts failures', () => {
    const text = formatSummary([
      pair('time', [1, 1], [2, 2]),
      { kind: 'error', file: 'bench/y.bench.ts', name: 'y', message: 'boom' },
      { kind: 'skipped', file: 'bench/z.bench.ts', name: 'z', reason: 'no nft' },
    ]);
    assert.match(text, /^x\s+time/m);
    assert.match(text, /1 side-by-side, 0 suite\(s\), 1 skipped, 1 failed: y/);
  });

  it('formatMachine() names node, cpu and cores', () => {
    const text = formatMachine(
      {
        date: '2026-01-01T00:00:00.000Z',
        node: 'v20.20.2',
        v8: '11.3',
        platform: 'linux',
        arch: 'x64',
        cpu: 'AMD EPYC',
        cores: 2,
        memoryBytes: 8e9,
      },
      { quick: true, filters: [] },
    );
    assert.match(text, /node v20\.20\.2/);
    assert.match(text, /AMD EPYC × 2 cores/);
    assert.match(text, /quick/);
  });
});
