/**
 * A comparison table for measurements that the runner's side-by-side can't take: several subjects (here,
 * BGP daemons) measured in the same run by an external procedure, one row per subject and group (here, N),
 * and ratios of medians against one reference subject of the same group. Rendered with the runner's own
 * `renderTable` and number formats (bench/report.ts, bench/stats.ts), so it reads like the other tables.
 *
 * Ratios here are ratios of medians, not medians of per-pair ratios: each sample is a separate daemon run,
 * and the runs of different subjects are interleaved but not paired.
 */
import { renderTable } from '../report.js';
import { formatRange, formatRatio, type Summary } from '../stats.js';

export interface MetricSpec {
  readonly key: string;
  readonly label: string;
  readonly format: (x: number) => string;
  /** Show p25–p75 next to the median. */
  readonly spread?: boolean;
  /** Add a "vs <reference>" column: this subject's median / the reference's median. */
  readonly ratio?: boolean;
}

export interface ComparisonRow {
  readonly subject: string;
  readonly group: string;
  /** Samples that made it; a row with 0 shows its `note`. */
  readonly runs: number;
  readonly metrics: Readonly<Record<string, Summary | undefined>>;
  readonly note?: string;
}

export interface ComparisonSpec {
  readonly title: string;
  readonly groupLabel: string;
  readonly reference: string;
  readonly metrics: readonly MetricSpec[];
}

const DASH = '–';

export function renderComparison(spec: ComparisonSpec, rows: readonly ComparisonRow[]): string {
  const header = ['', spec.groupLabel, 'runs'];
  for (const m of spec.metrics) {
    header.push(m.label);
    if (m.spread) header.push('p25–p75');
    if (m.ratio) header.push(`vs ${spec.reference}`);
  }
  header.push('');
  const refOf = (group: string) => rows.find((r) => r.group === group && r.subject === spec.reference);
  const body = rows.map((r) => {
    const cells = [r.subject, r.group, String(r.runs)];
    for (const m of spec.metrics) {
      const s = r.metrics[m.key];
      cells.push(s ? m.format(s.median) : DASH);
      if (m.spread) cells.push(s ? formatRange(s.p25, s.p75, m.format) : DASH);
      if (m.ratio) {
        const ref = refOf(r.group)?.metrics[m.key];
        cells.push(s && ref && ref.median > 0 ? formatRatio(s.median / ref.median) : DASH);
      }
    }
    cells.push(r.note ?? '');
    return cells;
  });
  const align = header.map((_, i) => (i === 0 || i === header.length - 1 ? 'left' : 'right') as 'left' | 'right');
  return `${spec.title}\n${renderTable(header, body, align)}\n`;
}
