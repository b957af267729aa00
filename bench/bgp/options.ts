/**
 * What the BGP comparison suites (bgp-ingest, bgp-fib) take from the runner and the environment: sizes, runs,
 * the prefix-length mix and which receivers, in one place.
 */
import type { LengthMix } from './feeder.js';
import type { Receiver } from './receivers.js';

/** The runner passes its config as the child's second argument (bench/child.ts). */
export function runnerConfig(argv: readonly string[] = process.argv): { quick: boolean; runs?: number } {
  try {
    const c = JSON.parse(argv[3] ?? '{}') as { quick?: boolean; runs?: number };
    return { quick: c.quick === true, ...(typeof c.runs === 'number' ? { runs: c.runs } : {}) };
  } catch {
    return { quick: false };
  }
}

export interface BgpSuiteOptions {
  readonly quick: boolean;
  readonly sizes: readonly number[];
  readonly runs: number;
  readonly lengths: LengthMix;
  readonly receivers: readonly Receiver[];
}

/**
 * `sizesVar`/`receiversVar` name the suite's environment variables (comma lists); `--quick` means 100k and one
 * run; CARACAL_BGP_BENCH_LENGTHS=24 means /24s only. A receiver is picked by its name or its name's first part.
 */
export function bgpSuiteOptions(o: {
  readonly all: readonly Receiver[];
  readonly sizesVar: string;
  readonly receiversVar: string;
  readonly defaultRuns: number;
  readonly env?: Record<string, string | undefined>;
}): BgpSuiteOptions {
  const env = o.env ?? process.env;
  const cfg = runnerConfig();
  const sizesText = env[o.sizesVar];
  const sizes = sizesText ? sizesText.split(',').map(Number) : cfg.quick ? [100_000] : [100_000, 1_000_000];
  const runs = cfg.runs ?? (cfg.quick ? 1 : o.defaultRuns);
  const lengths: LengthMix = env.CARACAL_BGP_BENCH_LENGTHS === '24' ? '24' : 'mixed';
  const wanted = env[o.receiversVar]?.split(',');
  const receivers = o.all.filter((r) => !wanted || wanted.includes(r.name) || wanted.includes(r.name.split('-')[0]!));
  return { quick: cfg.quick, sizes, runs, lengths, receivers };
}
