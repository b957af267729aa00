/**
 * BGP to FIB: Established → all N routes in the kernel's forwarding table, one eBGP session, for BIRD with a
 * kernel protocol, FRR bgpd with zebra, and `caracal speaker --fib` (felix's RouteTable over kernel/netlink).
 * Same lab, feeder and interleaving as bench/bgp-ingest.bench.ts; the receivers and how the kernel's count is
 * read are in bench/bgp/fib.ts. Target (issue 3): Caracal faster than BIRD. Peak RSS is the daemon's (FRR:
 * bgpd + zebra).
 *
 * Sizes: 100k and 1M (`--quick`: 100k, 1 run); runs: 3 by default (a 1M run of a slow receiver takes
 * ~15 s plus the flush). Environment: CARACAL_BGP_FIB_SIZES=100000,1000000 CARACAL_BGP_FIB_RECEIVERS=bird,caracal
 * CARACAL_BGP_BENCH_LENGTHS=24|mixed  CARACAL_BGP_BENCH_JSON=out.json (all samples)
 * CARACAL_BGP_BENCH_CARACAL=source (the speaker from the sources through tsx).
 *
 * The whole comparison runs in the suite's setup and prints its own table; the suite's one timed case is the
 * feeder's encoding of 100k prefixes (off the clock in every run; bench/netlink-routes.bench.ts has the raw
 * netlink install rate, the floor for any receiver here).
 */
import { writeFileSync } from 'node:fs';
import { bench, suite } from './api.js';
import { buildFeed } from './bgp/feeder.js';
import { FIB_RECEIVERS } from './bgp/fib.js';
import { compareReceivers, missingPrerequisite } from './bgp/ingest.js';
import { bgpSuiteOptions } from './bgp/options.js';
import { formatIngest } from './bgp/report.js';

const env = process.env;
const { sizes, runs, lengths, receivers } = bgpSuiteOptions({
  all: FIB_RECEIVERS,
  sizesVar: 'CARACAL_BGP_FIB_SIZES',
  receiversVar: 'CARACAL_BGP_FIB_RECEIVERS',
  defaultRuns: 3,
});
const log = (line: string) => process.stderr.write(`  · ${line}\n`);

function skip(): string | undefined {
  const why = missingPrerequisite();
  if (why) return why;
  if (!receivers.some((r) => r.unavailable() === undefined)) return 'no receiver daemon installed (bird, bgpd+zebra)';
  return undefined;
}

export default suite('bgp fib: receivers × N, Established → all in the kernel FIB', {
  skip,
  async setup() {
    const title = `BGP → kernel FIB, one eBGP session, ${lengths === '24' ? '/24s' : 'mixed /18–/24'}, ${runs} run(s) per cell (medians)`;
    const c = await compareReceivers({ receivers, sizes, runs, lengths, log });
    const reference = receivers[0]?.name ?? 'bird-kernel';
    process.stdout.write(`\n${formatIngest(c, title, { reference, target: 'FIB' })}\n`);
    if (env.CARACAL_BGP_BENCH_JSON)
      writeFileSync(env.CARACAL_BGP_BENCH_JSON, `${JSON.stringify({ fib: c }, null, 2)}\n`);
  },
  cases: [
    bench(
      'feeder: encode 100k prefixes (before connecting; off the clock)',
      () => buildFeed({ n: 100_000, localAs: 65001, nextHop: '127.0.0.1', lengths }).bytes,
      { iterations: 1, warmup: 1, runs: 5, units: 'routes', unitsPerRun: 100_000 },
    ),
  ],
});
