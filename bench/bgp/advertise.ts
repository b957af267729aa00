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
import { sleep } from '../../common/clock.js';
import { run } from '../../lab/netns.js';
import { formatPrefixKey } from '../../speaker/wire/index.js';
import { formatNs, type Summary, summarize } from '../stats.js';
import { FrrVty } from './control.js';
import { buildPrefixes, type LengthMix } from './feeder.js';
import { FEEDER_ADDRESS, FEEDER_AS, IngestLab, RECEIVER_ADDRESS, RECEIVER_AS, waitPortFree } from './ingest.js';
import {
  birdReceiver,
  caracalArgv,
  caracalReceiver,
  caracalSpeakerUnavailable,
  frrReceiver,
  logTail,
  peakRss,
  spawnDaemon,
  stopDaemon,
} from './receivers.js';
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

/** A sender for (a): started in the feeder's namespace with the prefixes, after BIRD (passive) is up. */
export interface Sender {
  readonly name: string;
  unavailable(): string | undefined;
  /** Starts the daemon; resolves once it holds all prefixes and its session to BIRD may start. */
  start(netns: string, dir: string, prefixes: readonly string[]): Promise<SenderHandle>;
}

export interface SenderHandle {
  readonly pid: number;
  stop(): Promise<void>;
}

const frrSender: Sender = {
  name: 'frr',
  unavailable: () => frrReceiver.unavailable(),
  async start(netns, dir, prefixes) {
    const conf = join(dir, 'bgpd.conf');
    const logPath = join(dir, 'bgpd.log');
    writeFileSync(conf, frrSenderConfig(prefixes));
    const argv = ['/usr/lib/frr/bgpd', '-f', conf, '-i', join(dir, 'bgpd.pid'), '--vty_socket', dir];
    argv.push('-Z', '-n', '-S', '-P', '0', '-l', FEEDER_ADDRESS);
    const frr = spawnDaemon(netns, argv, logPath);
    let vty: FrrVty | undefined;
    const stop = async () => {
      vty?.close();
      await stopDaemon(frr.proc);
    };
    try {
      // The neighbor starts shut down; enable it once bgpd holds all N, so the clock covers advertising only.
      const until = Date.now() + 120_000;
      for (;;) {
        const gone = frr.exited();
        if (gone) throw new Error(`Cannot start the FRR sender: it ${gone}: ${logTail(logPath)}`);
        if (Date.now() > until) throw new Error(`Cannot start the FRR sender: not ready: ${logTail(logPath)}`);
        try {
          vty ??= await FrrVty.connect(join(dir, 'bgpd.vty'));
          const j = JSON.parse(await vty.command('show bgp ipv4 unicast summary json')) as { ribCount?: number };
          if ((j.ribCount ?? 0) >= prefixes.length) break;
        } catch {
          // not yet
        }
        await sleep(50);
      }
      const cmds = ['configure terminal', `router bgp ${FEEDER_AS}`, `no neighbor ${RECEIVER_ADDRESS} shutdown`];
      const r = await run(['vtysh', '--vty_socket', dir, '-d', 'bgpd', ...cmds.flatMap((c) => ['-c', c])], {
        check: false,
      });
      if (r.code !== 0) throw new Error(`Cannot enable the FRR sender's neighbor: ${r.stderr || r.stdout}`);
    } catch (e) {
      await stop();
      throw e;
    }
    return { pid: frr.proc.pid, stop };
  },
};

export function caracalSenderConfig(prefixes: readonly string[]): string {
  const cfg = {
    asn: FEEDER_AS,
    routerId: FEEDER_ADDRESS,
    listen: { address: FEEDER_ADDRESS, port: 179 },
    status: { address: '127.0.0.1', port: 9179 },
    rfc8212: false,
    peers: [
      {
        address: RECEIVER_ADDRESS,
        asn: RECEIVER_AS,
        connectRetrySec: 1,
        gracefulRestart: false,
        import: 'reject-all',
        export: 'originated',
        holdTimeSec: 90,
        families: ['ipv4-unicast'],
      },
    ],
    originate: prefixes,
  };
  return `${JSON.stringify(cfg)}\n`;
}

/**
 * `caracal speaker` with the prefixes under `originate`. It connects at start; `originate` is loaded from the
 * config before the sessions start, so (like FRR above) the clock, which starts at Established, covers
 * advertising only.
 */
const caracalSender: Sender = {
  get name() {
    return caracalReceiver.name;
  },
  unavailable: () => caracalSpeakerUnavailable(),
  async start(netns, dir, prefixes) {
    const conf = join(dir, 'speaker.json');
    const logPath = join(dir, 'speaker.log');
    writeFileSync(conf, caracalSenderConfig(prefixes));
    const s = spawnDaemon(netns, [...caracalArgv(), 'speaker', '--config', conf], logPath);
    await sleep(50);
    const gone = s.exited();
    if (gone) {
      await stopDaemon(s.proc);
      throw new Error(`Cannot start the caracal sender: it ${gone}: ${logTail(logPath)}`);
    }
    return { pid: s.proc.pid, stop: () => stopDaemon(s.proc) };
  },
};

export const SENDERS: readonly Sender[] = [frrSender, caracalSender];

async function oneRun(lab: IngestLab, sender: Sender, prefixes: readonly string[]): Promise<AdvertiseSample> {
  const n = prefixes.length;
  await waitPortFree(lab.receiverNetns, 179);
  await waitPortFree(lab.feederNetns, 179);
  const benv = lab.env('bird');
  const bird = await birdReceiver.start(benv);
  const dir = join(benv.dir, '..', `${sender.name}-sender-${Date.now()}`);
  mkdirSync(dir, { recursive: true });
  let h: SenderHandle | undefined;
  try {
    h = await sender.start(lab.feederNetns, dir, prefixes);
    let prevStart = Date.now();
    let t1 = 0;
    let lower = 0;
    const until = Date.now() + 240_000;
    for (;;) {
      const start = Date.now();
      const count = await birdReceiver.routeCount(bird);
      const end = Date.now();
      if (count >= n) {
        t1 = end;
        lower = prevStart;
        break;
      }
      if (bird.exited()) throw new Error(`Cannot measure: BIRD ${bird.exited()}`);
      if (Date.now() > until) throw new Error(`Cannot measure: BIRD has ${count} of ${n} routes`);
      prevStart = start;
      await sleep(10);
    }
    const t0 = establishedSince(await bird.ctl.ask('show protocols feeder'));
    if (t0 === undefined) throw new Error('Cannot read when the session became Established from BIRD');
    return {
      sender: sender.name,
      n,
      ms: t1 - t0,
      resolutionMs: t1 - Math.max(lower, t0),
      senderPeakRssBytes: peakRss(h.pid),
    };
  } finally {
    await birdReceiver.stop(bird);
    await h?.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(benv.dir, { recursive: true, force: true });
  }
}

export interface SenderResult {
  readonly sender: string;
  readonly samples: readonly AdvertiseSample[];
  readonly time?: Summary;
  readonly rss?: Summary;
  readonly window?: Summary;
  readonly errors: readonly string[];
  /** Why this sender could not run. */
  readonly unavailable?: string;
}

export interface AdvertiseResult {
  readonly n: number;
  readonly senders: readonly SenderResult[];
  /** Why nothing ran (no BIRD). */
  readonly skipped?: string;
}

/** Every available sender `runs` times, interleaved (rotated order per round), into one BIRD per run. */
export async function advertiseToBird(opts: {
  n: number;
  runs: number;
  senders?: readonly Sender[];
  lengths?: LengthMix;
  log?: (line: string) => void;
}): Promise<AdvertiseResult> {
  const why = birdReceiver.unavailable();
  if (why) return { n: opts.n, senders: [], skipped: why };
  const all = opts.senders ?? SENDERS;
  const usable = all.filter((x) => x.unavailable() === undefined);
  const prefixes = buildPrefixes(opts.n, opts.lengths).map((k) => formatPrefixKey(k));
  const samples = new Map<string, AdvertiseSample[]>();
  const errors = new Map<string, string[]>();
  if (usable.length) {
    const lab = await IngestLab.up();
    try {
      for (let i = 0; i < opts.runs; i++) {
        for (const sender of usable.map((_, k) => usable[(k + i) % usable.length]!)) {
          try {
            const s = await oneRun(lab, sender, prefixes);
            samples.set(sender.name, [...(samples.get(sender.name) ?? []), s]);
            opts.log?.(
              `advertise ${sender.name} → bird n=${opts.n} run ${i + 1}/${opts.runs}: ${s.ms} ms (window ${s.resolutionMs} ms), sender peak RSS ${formatMiB(s.senderPeakRssBytes)}`,
            );
          } catch (e) {
            const msg = e instanceof Error ? e.message : String(e);
            errors.set(sender.name, [...(errors.get(sender.name) ?? []), msg]);
            opts.log?.(`advertise ${sender.name} → bird run ${i + 1}: FAILED: ${msg}`);
          }
        }
      }
    } finally {
      await lab.down();
    }
  }
  return {
    n: opts.n,
    senders: all.map((x) => {
      const u = x.unavailable();
      const ss = samples.get(x.name) ?? [];
      return {
        sender: x.name,
        samples: ss,
        errors: errors.get(x.name) ?? [],
        ...(u ? { unavailable: u } : {}),
        ...(ss.length
          ? {
              time: summarize(ss.map((s) => s.ms)),
              rss: summarize(ss.map((s) => s.senderPeakRssBytes)),
              window: summarize(ss.map((s) => s.resolutionMs)),
            }
          : {}),
      };
    }),
  };
}

export function formatAdvertise(r: AdvertiseResult): string {
  if (r.skipped) return `advertise to BIRD: skipped: ${r.skipped}\n`;
  const table = renderComparison(
    {
      title: `(a) advertise: a sender gets ${r.n / 1000}k prefixes into a BIRD receiver (medians)`,
      groupLabel: 'N',
      reference: 'frr',
      metrics: [
        {
          key: 'time',
          label: 'Established→BIRD has all',
          format: (ms) => formatNs(ms * 1e6),
          spread: true,
          ratio: true,
        },
        { key: 'window', label: 'poll window', format: (ms) => formatNs(ms * 1e6) },
        { key: 'rss', label: 'sender peak RSS', format: formatMiB, ratio: true },
      ],
    },
    r.senders.map((x) => ({
      subject: x.sender,
      group: `${r.n / 1000}k`,
      runs: x.samples.length,
      metrics: { time: x.time, window: x.window, rss: x.rss },
      ...(x.unavailable
        ? { note: x.unavailable.replace(/ \(.*$/, '') }
        : x.errors.length
          ? { note: `${x.errors.length} failed: ${x.errors[0]?.split('\n')[0]?.slice(0, 160)}` }
          : {}),
    })),
  );
  return `${table}t0 = Established as BIRD stamps it (ms), t1 = end of the first 10 ms poll in which BIRD imported all.\n`;
}
