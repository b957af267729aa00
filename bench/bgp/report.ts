/**
 * The ingest comparison as text: the receiver × N table (median time Established → all N in the RIB, its
 * spread, the poll window, peak RSS, ratios against BIRD), then the notes a reader needs to trust it (how
 * each receiver was polled, which receivers could not run and why, failed runs).
 */
import { formatNs, type Summary, summarize } from '../stats.js';
import type { Comparison } from './ingest.js';
import { type ComparisonRow, renderComparison } from './table.js';

export const formatMiB = (b: number): string => (Number.isFinite(b) ? `${(b / 2 ** 20).toFixed(0)} MiB` : '–');
const formatMs = (ms: number): string => formatNs(ms * 1e6);
const formatN = (n: number): string =>
  n >= 1e6 && n % 1e6 === 0 ? `${n / 1e6}M` : n >= 1e3 && n % 1e3 === 0 ? `${n / 1e3}k` : String(n);

/** Where the clock stops: the daemon's RIB (the ingest benchmark) or the kernel FIB (bench/bgp/fib.ts). */
export interface IngestFormat {
  readonly reference: string;
  readonly target: 'RIB' | 'FIB';
}

export function formatIngest(
  c: Comparison,
  title: string,
  f: IngestFormat = { reference: 'bird', target: 'RIB' },
): string {
  const rows: ComparisonRow[] = c.cells.map((cell) => {
    const routesPerSec: Summary | undefined = cell.samples.length
      ? summarize(cell.samples.map((s) => (s.n * 1000) / s.ms))
      : undefined;
    return {
      subject: cell.receiver,
      group: formatN(cell.n),
      runs: cell.samples.length,
      metrics: {
        time: cell.time,
        window: cell.resolution,
        maxPoll: cell.maxPoll,
        rss: cell.rss,
        startRss: cell.startRss,
        rate: routesPerSec,
      },
      ...(cell.errors.length
        ? { note: `${cell.errors.length} run(s) failed (see below)` }
        : cell.time && cell.resolution && cell.resolution.median >= 0.5 * cell.time.median
          ? { note: 'an upper bound: the first answer came at the end of the ingest' }
          : {}),
    };
  });
  const out = [
    renderComparison(
      {
        title,
        groupLabel: 'N',
        reference: f.reference,
        metrics: [
          { key: 'time', label: `Established→${f.target}`, format: formatMs, spread: true, ratio: true },
          { key: 'window', label: 'poll window', format: formatMs },
          { key: 'maxPoll', label: 'slowest poll', format: formatMs },
          { key: 'rss', label: 'peak RSS', format: formatMiB, spread: true, ratio: true },
          { key: 'startRss', label: 'idle RSS', format: formatMiB },
          { key: 'rate', label: 'routes/s', format: (x) => `${(x / 1e3).toFixed(0)}k` },
        ],
      },
      rows,
    ),
  ];
  for (const u of c.unavailable) out.push(`${u.receiver}: ${u.reason}`);
  out.push(
    `Established→${f.target}: median over runs, from Established (feeder side) to the end of the first poll that counted N${f.target === 'FIB' ? ' in the kernel' : ''};`,
    'the true moment lies within the "poll window" before it. peak RSS: VmHWM of the receiver daemon, read 0.5 s',
    'after that (a fresh daemon per run); idle RSS: the same, once ready and before the feeder connected. slowest',
    'poll: the longest the control channel (status API for caracal) took to answer one poll during the run. Ratios',
    `are ratios of medians against ${f.reference} for the same N. Polling:`,
  );
  for (const p of c.pollMethods)
    out.push(
      `  ${p.receiver}: every ${p.intervalMs} ms${p.backoff ? ` or ${p.backoff * 100}% of the time elapsed, whichever is longer` : ''}: ${p.method}`,
    );
  const failed = c.cells.filter((x) => x.errors.length);
  for (const f of failed)
    for (const e of f.errors) out.push(`FAILED ${f.receiver} N=${formatN(f.n)}: ${e.split('\n')[0]?.slice(0, 300)}`);
  return `${out.join('\n')}\n`;
}
