/**
 * One ingest measurement, and the comparison across receivers.
 *
 * `IngestLab.up()` builds a two-namespace lab with lab/lab.ts (nodes `feeder` and `rcv`, one veth,
 * 10.77.0.1/30 ↔ 10.77.0.2/30; torn down by `down()`, and by the lab's own exit and signal hooks).
 * `lab.measure(receiver, n)` then does one run:
 *
 *   1. a fresh receiver daemon in `rcv` (so its VmHWM is this run's), ready on its control channel;
 *   2. the feeder (bench/bgp/feeder-cli.ts) as a child process in `feeder`: it encodes N prefixes first,
 *      then connects and reports t0 = Established (CLOCK_MONOTONIC, process.hrtime.bigint);
 *   3. `routeCount` every `pollIntervalMs` until it reaches N: t1 = the end of the first poll that saw N.
 *      The true moment lies between the start of the poll before it and t1: that window is `resolutionMs`;
 *   4. peak RSS = VmHWM of the receiver's pid, read `settleMs` after t1 (so work a daemon finishes right
 *      after counting, a best-path queue or a GC, is included; also read once ready: the idle RSS), then the
 *      daemon is stopped, then the feeder (the other way round, the daemon would first withdraw N routes).
 *
 * `compareReceivers()` runs every receiver × N `runs` times, interleaved (round r runs the receivers in a
 * rotated order, so drift spreads over all of them like the side-by-side method's ABBA), and summarises.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { sleep } from '../../common/clock.js';
import { Lab } from '../../lab/lab.js';
import { run } from '../../lab/netns.js';
import { commandExists } from '../api.js';
import { type Summary, summarize } from '../stats.js';
import type { LengthMix } from './feeder.js';
import type { FeederCliConfig, FeederEvent } from './feeder-cli.js';
import { peakRss, type Receiver, type ReceiverEnv, type ReceiverHandle } from './receivers.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FEEDER_CLI = join(ROOT, 'bench', 'bgp', 'feeder-cli.ts');

export const FEEDER_ADDRESS = '10.77.0.1';
export const RECEIVER_ADDRESS = '10.77.0.2';
export const FEEDER_AS = 65001;
export const RECEIVER_AS = 65000;

/** Why the benchmark can't run here (not root, a missing tool), or undefined. */
export function missingPrerequisite(bins: readonly string[] = []): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  const gone = ['ip', ...bins].filter((b) => !commandExists(b));
  return gone.length ? `${gone.join(', ')} not installed` : undefined;
}

export interface IngestSample {
  readonly receiver: string;
  readonly n: number;
  /** Established (feeder side) → all N counted in the receiver's RIB. */
  readonly ms: number;
  /** Width of the window the true moment lies in (poll granularity). */
  readonly resolutionMs: number;
  readonly polls: number;
  /** The slowest answer of the receiver's control channel during the run: how responsive it stayed. */
  readonly maxPollMs: number;
  /** VmHWM of the receiver daemon, `settleMs` after t1. */
  readonly peakRssBytes: number;
  /** VmHWM of the receiver daemon once ready, before the feeder connected: its fixed cost. */
  readonly startRssBytes: number;
  /** Established → the feeder's last byte (End-of-RIB) handed to the kernel; undefined if not reported. */
  readonly feederSendMs?: number;
  /** Feeder-side encoding time (not on the clock). */
  readonly encodeMs: number;
  readonly routes: number;
}

export interface MeasureOptions {
  readonly timeoutMs?: number;
  readonly settleMs?: number;
  readonly lengths?: LengthMix;
  /** Overrides the receiver's own poll interval. */
  readonly pollIntervalMs?: number;
}

interface FeederProc {
  readonly child: ChildProcess;
  readonly events: FeederEvent[];
  next(kind: FeederEvent['event'], timeoutMs: number): Promise<FeederEvent>;
  stop(): Promise<void>;
}

function startFeederProcess(netns: string, cfg: FeederCliConfig): FeederProc {
  const argv = [
    'ip',
    'netns',
    'exec',
    netns,
    '/usr/bin/setpriv',
    '--pdeathsig',
    'KILL',
    '--',
    process.execPath,
    '--import',
    'tsx',
    FEEDER_CLI,
    JSON.stringify(cfg),
  ];
  const child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  const events: FeederEvent[] = [];
  let stderr = '';
  let exited: string | undefined;
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of [...waiters]) w();
  };
  createInterface({ input: child.stdout! }).on('line', (l) => {
    try {
      events.push(JSON.parse(l) as FeederEvent);
    } catch {
      stderr += `${l}\n`;
    }
    wake();
  });
  child.stderr!.on('data', (d: Buffer) => {
    if (stderr.length < 8000) stderr += d.toString('utf8');
  });
  child.stdin!.on('error', () => {});
  child.on('error', (e) => {
    exited = e.message;
    wake();
  });
  child.on('exit', (code, sig) => {
    exited = sig ? `killed by ${sig}` : `exited with code ${code}`;
    wake();
  });
  const next = (kind: FeederEvent['event'], timeoutMs: number) =>
    new Promise<FeederEvent>((res, rej) => {
      const timer = setTimeout(() => {
        waiters.delete(check);
        rej(
          new Error(`Cannot feed: no "${kind}" from the feeder after ${timeoutMs} ms: ${stderr.trim().slice(-1500)}`),
        );
      }, timeoutMs);
      const check = () => {
        const err = events.find((e) => e.event === 'error');
        const hit = events.find((e) => e.event === kind);
        if (hit || err || exited) {
          waiters.delete(check);
          clearTimeout(timer);
          if (hit) res(hit);
          else
            rej(
              new Error(
                `Cannot feed: ${err && err.event === 'error' ? err.message : `the feeder ${exited}`}: ${stderr.trim().slice(-1500)}`,
              ),
            );
        }
      };
      waiters.add(check);
      check();
    });
  const stop = async () => {
    if (exited === undefined) {
      child.stdin!.end('stop\n');
      const gone = new Promise<void>((r) => child.once('exit', () => r()));
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await gone;
      clearTimeout(t);
    }
  };
  return { child, events, next, stop };
}

const hr = () => process.hrtime.bigint();
const msBetween = (a: bigint, b: bigint) => Number(b - a) / 1e6;

/** Waits until no socket listens on `port` in `netns` (`ss`), up to `timeoutMs`. */
export async function waitPortFree(netns: string, port: number, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = await run(['ip', 'netns', 'exec', netns, 'ss', '-Hltn', `sport = :${port}`], { check: false });
    if (r.code !== 0 || r.stdout.trim() === '') return;
    if (Date.now() > until)
      throw new Error(`Cannot start a receiver: port ${port} is still in use: ${r.stdout.trim()}`);
    await sleep(100);
  }
}

let labSeq = 0;

export class IngestLab {
  readonly #lab: Lab;
  #runs = 0;
  /** Progress and retry notes. */
  log: ((line: string) => void) | undefined;

  private constructor(lab: Lab) {
    this.#lab = lab;
  }

  static async up(): Promise<IngestLab> {
    const name = `bgpb-${process.pid.toString(36)}-${(labSeq++).toString(36)}-${Math.floor(Math.random() * 36 ** 4).toString(36)}`;
    const lab = await Lab.up(
      {
        name,
        nodes: [{ name: 'feeder' }, { name: 'rcv' }],
        links: [{ a: 'feeder', b: 'rcv', addresses: { a: `${FEEDER_ADDRESS}/30`, b: `${RECEIVER_ADDRESS}/30` } }],
      },
      { name },
    );
    return new IngestLab(lab);
  }

  get name(): string {
    return this.#lab.name;
  }
  get feederNetns(): string {
    return this.#lab.netnsOf('feeder');
  }
  get receiverNetns(): string {
    return this.#lab.netnsOf('rcv');
  }

  /** A fresh environment (directory) for the next run of `receiver`. */
  env(receiver: string): ReceiverEnv {
    const dir = join(this.#lab.stateDir, 'runs', `${receiver}-${this.#runs++}`);
    return {
      netns: this.receiverNetns,
      dir,
      address: RECEIVER_ADDRESS,
      peerAddress: FEEDER_ADDRESS,
      localAs: RECEIVER_AS,
      peerAs: FEEDER_AS,
      routerId: RECEIVER_ADDRESS,
      holdTimeSec: 90,
    };
  }

  /** One run; see the file header. */
  async measure<H extends ReceiverHandle>(
    receiver: Receiver<H>,
    n: number,
    opts: MeasureOptions = {},
  ): Promise<IngestSample> {
    const timeoutMs = opts.timeoutMs ?? 300_000;
    // Nothing may hold port 179 from an earlier run (a daemon with a GB heap can take seconds to exit).
    await waitPortFree(this.receiverNetns, 179);
    // gobgpd once died at start with "bind: address already in use" in a fresh namespace where nothing
    // listened; a start that fails is retried with a fresh directory.
    let env = this.env(receiver.name);
    let h: H | undefined;
    for (let attempt = 1; h === undefined; attempt++) {
      try {
        h = await receiver.start(env);
      } catch (e) {
        rmSync(env.dir, { recursive: true, force: true });
        if (attempt >= 3) throw e;
        this.log?.(`${receiver.name}: start failed, retrying: ${e instanceof Error ? e.message.slice(0, 300) : e}`);
        env = this.env(receiver.name);
      }
    }
    const rssOf = (x: H) => (receiver.rssPids?.(x) ?? [receiver.pid(x)]).reduce((sum, pid) => sum + peakRss(pid), 0);
    const startRss = rssOf(h);
    let feeder: FeederProc | undefined;
    try {
      feeder = startFeederProcess(this.feederNetns, {
        spec: { n, localAs: FEEDER_AS, nextHop: FEEDER_ADDRESS, ...(opts.lengths ? { lengths: opts.lengths } : {}) },
        host: RECEIVER_ADDRESS,
        port: 179,
        routerId: FEEDER_ADDRESS,
        connectTimeoutMs: 30_000,
      });
      const encoded = await feeder.next('encoded', 120_000);
      const est = await feeder.next('established', 60_000);
      const t0 = BigInt((est as { t: string }).t);
      let prevStart = t0;
      let polls = 0;
      let maxPollMs = 0;
      let count = 0;
      let t1: bigint | undefined;
      let lower = t0;
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const start = hr();
        count = await receiver.routeCount(h);
        const end = hr();
        polls++;
        maxPollMs = Math.max(maxPollMs, msBetween(start, end));
        if (count >= n) {
          t1 = end;
          lower = prevStart;
          break;
        }
        const gone = h.exited();
        if (gone) throw new Error(`Cannot measure ${receiver.name}: it ${gone} with ${count} of ${n} routes`);
        if (Date.now() > deadline)
          throw new Error(`Cannot measure ${receiver.name}: ${count} of ${n} routes after ${timeoutMs} ms`);
        prevStart = start;
        const base = opts.pollIntervalMs ?? receiver.pollIntervalMs;
        const backoff = receiver.pollBackoff ? msBetween(t0, hr()) * receiver.pollBackoff : 0;
        await sleep(Math.max(base, backoff));
      }
      const sentEv = feeder.events.find((e) => e.event === 'sent') as { t: string } | undefined;
      await sleep(opts.settleMs ?? 500);
      const rss = rssOf(h);
      return {
        receiver: receiver.name,
        n,
        ms: msBetween(t0, t1),
        resolutionMs: msBetween(lower, t1),
        polls,
        maxPollMs,
        peakRssBytes: rss,
        startRssBytes: startRss,
        ...(sentEv ? { feederSendMs: msBetween(t0, BigInt(sentEv.t)) } : {}),
        encodeMs: encoded.event === 'encoded' ? encoded.ms : 0,
        routes: count,
      };
    } finally {
      // The receiver first: stopping the feeder first would make it withdraw N routes (GoBGP takes seconds).
      try {
        await receiver.stop(h);
      } finally {
        await feeder?.stop();
        // CARACAL_BGP_BENCH_KEEP_LOGS=DIR: keep each run's daemon log (DIR/<receiver>-<run>.log) for a post-mortem.
        const keep = process.env.CARACAL_BGP_BENCH_KEEP_LOGS;
        if (keep) {
          mkdirSync(keep, { recursive: true });
          cpSync(h.logPath, join(keep, `${basename(env.dir)}.log`), { force: true });
        }
        rmSync(env.dir, { recursive: true, force: true });
      }
    }
  }

  down(): Promise<void> {
    return this.#lab.down();
  }
}

// ---------------------------------------------------------------------------------------------------------
// The comparison

export interface CompareOptions {
  readonly receivers: readonly Receiver[];
  readonly sizes: readonly number[];
  readonly runs: number;
  readonly lengths?: LengthMix;
  readonly settleMs?: number;
  readonly log?: (line: string) => void;
}

export interface CellResult {
  readonly receiver: string;
  readonly n: number;
  readonly samples: readonly IngestSample[];
  readonly time?: Summary;
  readonly rss?: Summary;
  readonly startRss?: Summary;
  readonly resolution?: Summary;
  readonly maxPoll?: Summary;
  readonly feederSend?: Summary;
  /** Set when a run failed; the other runs still count. */
  readonly errors: readonly string[];
}

export interface Comparison {
  readonly cells: readonly CellResult[];
  /** Receivers that could not run, with why. */
  readonly unavailable: readonly { readonly receiver: string; readonly reason: string }[];
  readonly pollMethods: readonly {
    readonly receiver: string;
    readonly method: string;
    readonly intervalMs: number;
    readonly backoff?: number;
  }[];
}

export async function compareReceivers(opts: CompareOptions): Promise<Comparison> {
  const unavailable: { receiver: string; reason: string }[] = [];
  const usable = opts.receivers.filter((r) => {
    const why = r.unavailable();
    if (why) unavailable.push({ receiver: r.name, reason: why });
    return !why;
  });
  const samples = new Map<string, IngestSample[]>();
  const errors = new Map<string, string[]>();
  const key = (r: string, n: number) => `${r}\u0000${n}`;
  const lab = await IngestLab.up();
  lab.log = opts.log;
  try {
    for (const n of opts.sizes) {
      for (let round = 0; round < opts.runs; round++) {
        const order = usable.map((_, i) => usable[(i + round) % usable.length]!);
        for (const r of order) {
          const k = key(r.name, n);
          try {
            const s = await lab.measure(r, n, {
              ...(opts.lengths ? { lengths: opts.lengths } : {}),
              ...(opts.settleMs !== undefined ? { settleMs: opts.settleMs } : {}),
            });
            samples.set(k, [...(samples.get(k) ?? []), s]);
            opts.log?.(
              `${r.name} n=${n} run ${round + 1}/${opts.runs}: ${s.ms.toFixed(1)} ms (±${s.resolutionMs.toFixed(1)} ms, ${s.polls} polls), peak RSS ${(s.peakRssBytes / 2 ** 20).toFixed(0)} MiB`,
            );
          } catch (e) {
            const msg = e instanceof Error ? e.message : String(e);
            errors.set(k, [...(errors.get(k) ?? []), msg]);
            opts.log?.(`${r.name} n=${n} run ${round + 1}/${opts.runs}: FAILED: ${msg}`);
          }
        }
      }
    }
  } finally {
    await lab.down();
  }
  const cells: CellResult[] = [];
  for (const n of opts.sizes)
    for (const r of usable) {
      const s = samples.get(key(r.name, n)) ?? [];
      const sends = s.map((x) => x.feederSendMs).filter((x): x is number => x !== undefined);
      cells.push({
        receiver: r.name,
        n,
        samples: s,
        errors: errors.get(key(r.name, n)) ?? [],
        ...(s.length
          ? {
              time: summarize(s.map((x) => x.ms)),
              rss: summarize(s.map((x) => x.peakRssBytes)),
              startRss: summarize(s.map((x) => x.startRssBytes)),
              resolution: summarize(s.map((x) => x.resolutionMs)),
              maxPoll: summarize(s.map((x) => x.maxPollMs)),
            }
          : {}),
        ...(sends.length ? { feederSend: summarize(sends) } : {}),
      });
    }
  return {
    cells,
    unavailable,
    pollMethods: usable.map((r) => ({
      receiver: r.name,
      method: r.pollMethod,
      intervalMs: r.pollIntervalMs,
      ...(r.pollBackoff ? { backoff: r.pollBackoff } : {}),
    })),
  };
}
