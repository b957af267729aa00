/**
 * Turns benchmark results into the text tables `npm run bench` prints: a machine header, one table per
 * benchmark, and a closing summary of side-by-side ratios with a verdict. Pure: strings in, strings out.
 *
 * The verdict is deliberately cautious: when the interquartile range of the per-pair ratios contains 1,
 * it says "no clear difference" whatever the median says.
 */
import type { BenchResult, CaseResult, SideBySideResult, SideResult } from './api.js';
import {
  formatBytes,
  formatInt,
  formatNs,
  formatPercent,
  formatRange,
  formatRate,
  formatRatio,
  type Summary,
} from './stats.js';

export interface MachineInfo {
  readonly date: string;
  readonly node: string;
  readonly v8: string;
  readonly platform: string;
  readonly arch: string;
  readonly cpu: string;
  readonly cores: number;
  readonly memoryBytes: number;
  readonly commit?: string;
}

/** What `--json` writes. NaN values (a ratio against a zero reference) appear as null. */
export interface RunReport {
  readonly machine: MachineInfo;
  readonly options: { readonly quick: boolean; readonly runs?: number; readonly filters: readonly string[] };
  readonly results: readonly BenchResult[];
  /** False when any benchmark threw or a child process died; never because of a speed. */
  readonly ok: boolean;
}

export type Align = 'left' | 'right';

/** Display width in code points (µ, ×, – and ± are one column each). */
const width = (s: string): number => [...s].length;

/**
 * Aligned columns, two spaces apart, a rule under the header. The first column is left-aligned and the rest
 * right-aligned unless `align` says otherwise.
 *
 * @example renderTable(['side', 'median'], [['ours', '1.2 ms']])
 */
export function renderTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  align?: readonly Align[],
): string {
  const cols = header.length;
  const widths = header.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? ''))));
  const line = (cells: readonly string[]) =>
    widths
      .map((w, i) => {
        const cell = cells[i] ?? '';
        const pad = ' '.repeat(w - width(cell));
        return (align?.[i] ?? (i === 0 ? 'left' : 'right')) === 'left' ? cell + pad : pad + cell;
      })
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '─'.repeat(w)).join('  ');
  return [line(header), rule, ...rows.map((r) => line(r.slice(0, cols)))].join('\n');
}

export function formatMachine(m: MachineInfo, options: RunReport['options']): string {
  const mode = [
    options.quick ? 'quick' : undefined,
    options.runs !== undefined ? `runs ${options.runs}` : undefined,
    options.filters.length ? `filter ${options.filters.join(' ')}` : undefined,
  ].filter((x) => x !== undefined);
  return [
    `Caracal benchmarks  ${m.date}${m.commit ? `  commit ${m.commit}` : ''}`,
    `node ${m.node} (V8 ${m.v8})  ·  ${m.platform} ${m.arch}  ·  ${m.cpu} × ${m.cores} cores  ·  ${formatBytes(m.memoryBytes)} RAM` +
      (mode.length ? `  ·  ${mode.join(', ')}` : ''),
  ].join('\n');
}

/** MAD relative to the median, the spread column. */
const relMad = (s: Summary): string => (s.median !== 0 ? `±${formatPercent(s.mad / Math.abs(s.median))}` : '–');

function title(r: { file: string; name: string }, detail: string): string {
  return `${r.name}  [${r.file}]  ${detail}`;
}

function formatCaseRow(c: CaseResult): string[] {
  return [
    c.label,
    formatNs(c.time.median),
    formatRange(c.time.p25, c.time.p75, formatNs),
    formatRange(c.time.min, c.time.max, formatNs),
    relMad(c.time),
    c.throughput && c.units ? formatRate(c.throughput.median, c.units) : '–',
    `${c.runs}×${formatInt(c.iterations)}`,
  ];
}

/** Words for a ratio summary: "ours 3.27× faster", "ours 1.10× larger", or "no clear difference". */
export function verdict(r: Pick<SideBySideResult, 'metric' | 'ratio'>): string {
  const { median, p25, p75, n } = r.ratio;
  if (n === 0 || !Number.isFinite(median)) return 'no ratio (reference measured 0)';
  if (p25 <= 1 && p75 >= 1) return 'no clear difference';
  const [better, worse] = r.metric === 'memory' ? ['smaller', 'larger'] : ['faster', 'slower'];
  return median < 1 ? `ours ${formatRatio(1 / median)} ${better}` : `ours ${formatRatio(median)} ${worse}`;
}

function formatSideBySide(r: SideBySideResult): string {
  const mem = r.metric === 'memory';
  const f = mem ? formatBytes : formatNs;
  const perCall = r.unitsPerRun !== undefined ? `, ${formatInt(r.unitsPerRun)} ${r.units ?? 'ops'} per call` : '';
  const head = title(r, `${mem ? 'memory retained' : 'time per call'}, ${r.runs} alternated pairs${perCall}`);
  const sideRow = (s: SideResult): string[] => {
    const base = [
      s.label,
      f(s.summary.median),
      formatRange(s.summary.p25, s.summary.p75, f),
      formatRange(s.summary.min, s.summary.max, f),
      relMad(s.summary),
    ];
    if (mem) {
      return [
        ...base,
        s.peak ? formatBytes(s.peak.median) : '–',
        s.rss ? formatBytes(s.rss.median) : '–',
        s.perUnit ? formatBytes(s.perUnit.median) : '–',
      ];
    }
    return [
      ...base,
      s.perUnit && r.units !== undefined ? formatRate(s.perUnit.median, r.units) : '–',
      formatInt(s.iterations),
    ];
  };
  const q = r.ratio;
  const ratioRow = [
    'ratio',
    formatRatio(q.median),
    formatRange(q.p25, q.p75, formatRatio),
    formatRange(q.min, q.max, formatRatio),
    relMad(q),
    ...(mem ? ['', '', ''] : ['', '']),
  ];
  const header = mem
    ? ['', 'retained', 'p25–p75', 'min–max', 'MAD', 'peak', 'RSS Δ', `per ${unitWord(r)}`]
    : ['', 'median', 'p25–p75', 'min–max', 'MAD', 'throughput', 'calls/sample'];
  const table = renderTable(header, [sideRow(r.ours), sideRow(r.reference), ratioRow]);
  return `${head}\n${table}\n→ ${verdict(r)} (ratio = ${r.ours.label} / ${r.reference.label}, per pair)\n`;
}

const unitWord = (r: SideBySideResult): string => (r.units ?? 'op').replace(/s$/, '');

export function formatResult(r: BenchResult): string {
  switch (r.kind) {
    case 'suite':
      return `${title(r, 'time per call')}\n${renderTable(
        ['case', 'median', 'p25–p75', 'min–max', 'MAD', 'throughput', 'runs×calls'],
        r.cases.map(formatCaseRow),
      )}\n`;
    case 'side-by-side':
      return formatSideBySide(r);
    case 'skipped':
      return `${title(r, 'skipped')}: ${r.reason}\n`;
    case 'error':
      return `${r.name ?? '(file)'}  [${r.file}]  FAILED: ${r.message}\n${r.stack ? indent(r.stack) : ''}`;
  }
}

const indent = (s: string): string =>
  `${s
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n')}\n`;

/** The closing table: one row per side-by-side, then a count of failures and skips. */
export function formatSummary(results: readonly BenchResult[]): string {
  const pairs = results.filter((r): r is SideBySideResult => r.kind === 'side-by-side');
  const rows = pairs.map((r) => {
    const f = r.metric === 'memory' ? formatBytes : formatNs;
    return [
      r.name,
      r.metric,
      f(r.ours.summary.median),
      f(r.reference.summary.median),
      formatRatio(r.ratio.median),
      formatRange(r.ratio.p25, r.ratio.p75, formatRatio),
      verdict(r),
    ];
  });
  const out = ['Summary (ratio = ours / reference, median of per-pair ratios; below 1 is better for ours)'];
  out.push(
    rows.length
      ? renderTable(['benchmark', 'metric', 'ours', 'reference', 'ratio', 'p25–p75', 'verdict'], rows, [
          'left',
          'left',
          'right',
          'right',
          'right',
          'right',
          'left',
        ])
      : '(no side-by-side benchmarks ran)',
  );
  const failed = results.filter((r) => r.kind === 'error');
  const skipped = results.filter((r) => r.kind === 'skipped');
  const suites = results.filter((r) => r.kind === 'suite');
  out.push(
    `${pairs.length} side-by-side, ${suites.length} suite(s), ${skipped.length} skipped, ${failed.length} failed` +
      (failed.length ? `: ${failed.map((r) => `${r.name ?? r.file}`).join(', ')}` : ''),
  );
  return `${out.join('\n')}\n`;
}
