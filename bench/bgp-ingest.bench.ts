/**
 * BGP ingest: how fast a receiver takes a full table over one session, and how much memory it needs for it.
 *
 * A feeder (bench/bgp/feeder.ts, our codec) pre-encodes N distinct IPv4 prefixes (a table-like mix of /18–/24,
 * 40 attribute sets with varied AS paths) into packed UPDATEs, connects from its own network namespace, and
 * writes them as fast as the socket drains, then End-of-RIB. For each receiver (BIRD 2, FRR bgpd, GoBGP, and
 * `caracal speaker` when bin/caracal has it) in the other namespace, in the same run, interleaved, several runs:
 *
 * - time from Established to all N counted in the receiver's RIB (polled on its control channel), median;
 * - peak RSS of the receiver daemon (VmHWM, a fresh daemon per run), median;
 * - both as ratios against BIRD.
 *
 * The target (issue): Caracal well ahead of FRR and GoBGP and within 2× of BIRD's time, and at most 1.5× BIRD's
 * peak RSS at 1M prefixes. What it does not say: anything about sending (see the "advertise" table), best-path
 * churn, or several sessions. Method and numbers: docs/design/bgp-bench.md.
 *
 * The comparison runs in the suite's setup and prints its own table (the runner's tables hold per-call timings;
 * see bench/bgp/table.ts); the suite's cases time the feeder itself, on loopback, as the yardstick for how fast
 * routes can arrive at all. Sizes: 100k and 1M (`--quick`: 100k, 1 run). Environment overrides:
 * CARACAL_BGP_BENCH_SIZES=100000,1000000  CARACAL_BGP_BENCH_RECEIVERS=bird,frr
 * CARACAL_BGP_BENCH_LENGTHS=24|mixed  CARACAL_BGP_BENCH_JSON=out.json (all samples)
 * CARACAL_BGP_BENCH_CARACAL=source (run caracal speaker from the sources through tsx, row `caracal-tsx`)
 */
import { writeFileSync } from 'node:fs';
import { bench, suite } from './api.js';
import { advertiseToBird, formatAdvertise } from './bgp/advertise.js';
import { buildFeed, type Feed, startFeeder } from './bgp/feeder.js';
import { compareReceivers, missingPrerequisite } from './bgp/ingest.js';
import { bgpSuiteOptions } from './bgp/options.js';
import { RECEIVERS } from './bgp/receivers.js';
import { formatIngest } from './bgp/report.js';
import { startSink } from './bgp/sink.js';

const env = process.env;
const { quick, sizes, runs, lengths, receivers } = bgpSuiteOptions({
  all: RECEIVERS,
  sizesVar: 'CARACAL_BGP_BENCH_SIZES',
  receiversVar: 'CARACAL_BGP_BENCH_RECEIVERS',
  defaultRuns: 5,
});
const log = (line: string) => process.stderr.write(`  · ${line}\n`);

function skip(): string | undefined {
  const why = missingPrerequisite();
  if (why) return why;
  if (!receivers.some((r) => r.unavailable() === undefined)) return 'no receiver daemon installed (bird, bgpd, gobgpd)';
  return undefined;
}

const FEED_N = quick ? 100_000 : 1_000_000;
let feed: Feed | undefined;

/** One session to a framing-only sink on loopback: connect, handshake, N prefixes, End-of-RIB seen. */
async function feedLoopback(): Promise<number> {
  const sink = await startSink({ decode: false });
  try {
    const h = await startFeeder({
      host: '127.0.0.1',
      port: sink.port,
      localAs: 65001,
      routerId: '127.0.0.1',
      feed: feed!,
    });
    const s = await sink.session;
    await s.done;
    await h.stop();
    return s.updates;
  } finally {
    await sink.close();
  }
}

export default suite('bgp ingest: receivers × N, Established → all in RIB', {
  skip,
  async setup() {
    const title = `BGP ingest, one eBGP session, ${lengths === '24' ? '/24s' : 'mixed /18–/24'}, ${runs} run(s) per cell (medians)`;
    const c = await compareReceivers({ receivers, sizes, runs, lengths, log });
    let text = formatIngest(c, title);
    let adv: Awaited<ReturnType<typeof advertiseToBird>> | undefined;
    if (!env.CARACAL_BGP_BENCH_RECEIVERS) {
      adv = await advertiseToBird({ n: 100_000, runs, log });
      text += `\n${formatAdvertise(adv)}`;
    }
    // The child's stdout reaches the terminal through the runner (on its stderr).
    process.stdout.write(`\n${text}\n`);
    if (env.CARACAL_BGP_BENCH_JSON)
      writeFileSync(env.CARACAL_BGP_BENCH_JSON, `${JSON.stringify({ ingest: c, advertise: adv }, null, 2)}\n`);
    feed = buildFeed({ n: FEED_N, localAs: 65001, nextHop: '127.0.0.1', lengths });
  },
  cases: [
    bench(
      `feeder: encode ${FEED_N / 1000}k prefixes (before connecting)`,
      () => buildFeed({ n: FEED_N, localAs: 65001, nextHop: '127.0.0.1', lengths }).bytes,
      {
        iterations: 1,
        warmup: 1,
        runs: 5,
        units: 'routes',
        unitsPerRun: FEED_N,
      },
    ),
    bench(`feeder: ${FEED_N / 1000}k prefixes to a loopback sink (framing only)`, feedLoopback, {
      iterations: 1,
      warmup: 1,
      runs: 5,
      units: 'routes',
      unitsPerRun: FEED_N,
    }),
  ],
});
