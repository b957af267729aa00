/**
 * The measurement (a): how long a sender takes to get N prefixes (100k) into a BIRD receiver. The
 * sender is FRR bgpd for now (Caracal's speaker replaces it once `caracal speaker` exists; GoBGP would need its
 * table loaded through MRT or 100k API calls first, which this harness does not do yet).
 *
 * Per run: BIRD (passive, the receiver config of receivers.ts) in `rcv`; bgpd in `feeder` with the N prefixes
 * as `network` statements and the neighbor shut down; once bgpd holds all N (ribCount), `no neighbor …
 * shutdown`. t0 = Established as BIRD stamps it (`show protocols`, "Since" with milliseconds, wall clock),
 * t1 = the end of the first poll (every 10 ms) in which BIRD has imported N, also wall clock (Date.now).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../lab/netns.js';
import { formatPrefixKey } from '../../speaker/wire/index.js';
import { formatNs, type Summary, summarize } from '../stats.js';
import { FrrVty } from './control.js';
import { buildPrefixes, type LengthMix } from './feeder.js';
import { FEEDER_ADDRESS, FEEDER_AS, IngestLab, RECEIVER_ADDRESS, RECEIVER_AS, waitPortFree } from './ingest.js';
import { birdReceiver, caracalSpeakerUnavailable, logTail, peakRss, spawnDaemon, stopDaemon } from './receivers.js';
import { formatMiB } from './report.js';
import { renderComparison } from './table.js';

export interface AdvertiseSample {
  readonly sender: string;
  readonly n: number;
  readonly ms: number;
  /** Poll window before t1. */
  readonly resolutionMs: number;
  readonly senderPeakRssBytes: number;
}

export interface AdvertiseResult {
  readonly n: number;
  readonly samples: readonly AdvertiseSample[];
  readonly time?: Summary;
  readonly rss?: Summary;
  readonly errors: readonly string[];
  readonly skipped?: string;
}

export function frrSenderConfig(prefixes: readonly string[]): string {
  const peer = RECEIVER_ADDRESS;
  return [
    '! caracal bench/bgp: advertise benchmark sender',
    'frr defaults traditional',
    'hostname sender',
    'log stdout',
    '!',
    `router bgp ${FEEDER_AS}`,
    ` bgp router-id ${FEEDER_ADDRESS}`,
    ' no bgp ebgp-requires-policy',
    ' no bgp network import-check',
    ' no bgp default ipv4-unicast',
    ' coalesce-time 0', // the update-group waits 1 s by default before its first UPDATE: configuration, not speed
    ` neighbor ${peer} remote-as ${RECEIVER_AS}`,
    ` neighbor ${peer} timers 30 90`,
    ` neighbor ${peer} timers connect 1`,
    ` neighbor ${peer} advertisement-interval 0`,
    ` neighbor ${peer} shutdown`,
    ' !',
    ' address-family ipv4 unicast',
    ...prefixes.map((p) => `  network ${p}`),
    `  neighbor ${peer} activate`,
    ' exit-address-family',
    '!',
    '',
  ].join('\n');
}

/** BIRD's "Since" (`timeformat protocol iso long ms`) of the feeder protocol when Established, as epoch ms. */
function establishedSince(showProtocols: string): number | undefined {
  const m = /^\S+\s+BGP\s+\S+\s+up\s+(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d{3})\s+Established/m.exec(showProtocols);
  if (!m) return undefined;
  return new Date(`${m[1]}T${m[2]}`).getTime(); // BIRD prints local time; so does Date without a zone
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function oneRun(lab: IngestLab, n: number, prefixes: readonly string[]): Promise<AdvertiseSample> {
  await waitPortFree(lab.receiverNetns, 179);
  await waitPortFree(lab.feederNetns, 179);
  const benv = lab.env('bird');
  const bird = await birdReceiver.start(benv);
  const dir = join(benv.dir, '..', `frr-sender-${Date.now()}`);
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, 'bgpd.conf');
  const logPath = join(dir, 'bgpd.log');
  writeFileSync(conf, frrSenderConfig(prefixes));
  const argv = ['/usr/lib/frr/bgpd', '-f', conf, '-i', join(dir, 'bgpd.pid'), '--vty_socket', dir];
  argv.push('-Z', '-n', '-S', '-P', '0', '-l', FEEDER_ADDRESS);
  const frr = spawnDaemon(lab.feederNetns, argv, logPath);
  let vty: FrrVty | undefined;
  try {
    // Wait until bgpd holds all N of its own prefixes, so the clock covers advertising only.
    const until = Date.now() + 120_000;
    for (;;) {
      const gone = frr.exited();
      if (gone) throw new Error(`Cannot start the FRR sender: it ${gone}: ${logTail(logPath)}`);
      if (Date.now() > until) throw new Error(`Cannot start the FRR sender: not ready: ${logTail(logPath)}`);
      try {
        vty ??= await FrrVty.connect(join(dir, 'bgpd.vty'));
        const j = JSON.parse(await vty.command('show bgp ipv4 unicast summary json')) as { ribCount?: number };
        if ((j.ribCount ?? 0) >= n) break;
      } catch {
        // not yet
      }
      await sleep(50);
    }
    const r = await run(
      ['vtysh', '--vty_socket', dir, '-d', 'bgpd', '-c', 'configure terminal', '-c', `router bgp ${FEEDER_AS}`].concat([
        '-c',
        `no neighbor ${RECEIVER_ADDRESS} shutdown`,
      ]),
      { check: false },
    );
    if (r.code !== 0) throw new Error(`Cannot enable the FRR sender's neighbor: ${r.stderr || r.stdout}`);
    let prevStart = Date.now();
    let t1 = 0;
    let lower = 0;
    for (;;) {
      const start = Date.now();
      const count = await birdReceiver.routeCount(bird);
      const end = Date.now();
      if (count >= n) {
        t1 = end;
        lower = prevStart;
        break;
      }
      if (Date.now() > until + 120_000) throw new Error(`Cannot measure: BIRD has ${count} of ${n} routes`);
      prevStart = start;
      await sleep(10);
    }
    const t0 = establishedSince(await bird.ctl.ask('show protocols feeder'));
    if (t0 === undefined) throw new Error('Cannot read when the session became Established from BIRD');
    return {
      sender: 'frr',
      n,
      ms: t1 - t0,
      resolutionMs: t1 - Math.max(lower, t0),
      senderPeakRssBytes: peakRss(frr.proc.pid),
    };
  } finally {
    vty?.close();
    await stopDaemon(frr.proc);
    await birdReceiver.stop(bird);
    rmSync(dir, { recursive: true, force: true });
    rmSync(benv.dir, { recursive: true, force: true });
  }
}

export async function advertiseToBird(opts: {
  n: number;
  runs: number;
  lengths?: LengthMix;
  log?: (line: string) => void;
}): Promise<AdvertiseResult> {
  const why = birdReceiver.unavailable();
  if (why) return { n: opts.n, samples: [], errors: [], skipped: why };
  const prefixes = buildPrefixes(opts.n, opts.lengths).map((k) => formatPrefixKey(k));
  const samples: AdvertiseSample[] = [];
  const errors: string[] = [];
  const lab = await IngestLab.up();
  try {
    for (let i = 0; i < opts.runs; i++) {
      try {
        const s = await oneRun(lab, opts.n, prefixes);
        samples.push(s);
        opts.log?.(
          `advertise frr → bird n=${opts.n} run ${i + 1}/${opts.runs}: ${s.ms} ms (window ${s.resolutionMs} ms)`,
        );
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        errors.push(msg);
        opts.log?.(`advertise frr → bird run ${i + 1}: FAILED: ${msg}`);
      }
    }
  } finally {
    await lab.down();
  }
  return {
    n: opts.n,
    samples,
    errors,
    ...(samples.length
      ? {
          time: summarize(samples.map((s) => s.ms)),
          rss: summarize(samples.map((s) => s.senderPeakRssBytes)),
        }
      : {}),
  };
}

export function formatAdvertise(r: AdvertiseResult): string {
  if (r.skipped) return `advertise to BIRD: skipped: ${r.skipped}\n`;
  const window = r.samples.length ? summarize(r.samples.map((s) => s.resolutionMs)) : undefined;
  const table = renderComparison(
    {
      title: `(a) advertise: a sender gets ${r.n / 1000}k prefixes into a BIRD receiver (medians)`,
      groupLabel: 'N',
      reference: 'frr',
      metrics: [
        { key: 'time', label: 'Established→BIRD has all', format: (ms) => formatNs(ms * 1e6), spread: true },
        { key: 'window', label: 'poll window', format: (ms) => formatNs(ms * 1e6) },
        { key: 'rss', label: 'sender peak RSS', format: formatMiB },
      ],
    },
    [
      {
        subject: 'frr',
        group: `${r.n / 1000}k`,
        runs: r.samples.length,
        metrics: { time: r.time, window, rss: r.rss },
        ...(r.errors.length
          ? { note: `${r.errors.length} failed: ${r.errors[0]?.split('\n')[0]?.slice(0, 160)}` }
          : {}),
      },
      {
        subject: 'caracal',
        group: `${r.n / 1000}k`,
        runs: 0,
        metrics: {},
        note: caracalSpeakerUnavailable() ?? 'speaker exists: the sender adapter is still to be written',
      },
    ],
  );
  return `${table}t0 = Established as BIRD stamps it (ms), t1 = end of the first 10 ms poll in which BIRD imported all.\n`;
}
