/**
 * The feeder as a child process, so it can run inside the feeder's network namespace:
 *
 *   ip netns exec NS node --import tsx bench/bgp/feeder-cli.ts '<FeederCliConfig as JSON>'
 *
 * Builds the feed first (never on the clock), then connects and feeds (bench/bgp/feeder.ts). Reports on stdout,
 * one JSON object per line: `{"event":"encoded",…}`, `{"event":"established","t":"<hrtime ns>"}`,
 * `{"event":"sent","t":"<hrtime ns>"}`, `{"event":"error","message":…}`. Keeps the session up until stdin says
 * `stop` or closes (so it also ends when the parent dies), then sends a Cease and exits 0.
 */
import { createInterface } from 'node:readline';
import { buildFeed, type FeedSpec, startFeeder } from './feeder.js';

export interface FeederCliConfig {
  readonly spec: FeedSpec;
  readonly host: string;
  readonly port: number;
  readonly routerId: string;
  readonly localAddress?: string;
  readonly connectTimeoutMs?: number;
}

export type FeederEvent =
  | { event: 'encoded'; messages: number; bytes: number; prefixes: number; ms: number }
  | { event: 'established'; t: string }
  | { event: 'sent'; t: string }
  | { event: 'error'; message: string };

const say = (e: FeederEvent) => process.stdout.write(`${JSON.stringify(e)}\n`);

async function main(): Promise<void> {
  const arg = process.argv[2];
  if (!arg) {
    process.stderr.write("usage: feeder-cli.ts '<json config>'\n");
    process.exit(2);
  }
  const cfg = JSON.parse(arg) as FeederCliConfig;
  let stopRequested = false;
  let stopNow: (() => Promise<void>) | undefined;
  const rl = createInterface({ input: process.stdin });
  const requestStop = () => {
    stopRequested = true;
    if (stopNow) void stopNow().then(() => process.exit(0));
    else process.exit(0);
  };
  rl.on('line', (l) => {
    if (l.trim() === 'stop') requestStop();
  });
  rl.on('close', requestStop);

  const t = performance.now();
  const feed = buildFeed(cfg.spec);
  say({
    event: 'encoded',
    messages: feed.messages,
    bytes: feed.bytes,
    prefixes: feed.prefixes,
    ms: Math.round(performance.now() - t),
  });
  if (stopRequested) return;
  const h = await startFeeder({
    host: cfg.host,
    port: cfg.port,
    localAs: cfg.spec.localAs,
    routerId: cfg.routerId,
    feed,
    ...(cfg.localAddress ? { localAddress: cfg.localAddress } : {}),
    ...(cfg.connectTimeoutMs ? { connectTimeoutMs: cfg.connectTimeoutMs } : {}),
  });
  stopNow = () => h.stop();
  h.established.then(
    (t0) => say({ event: 'established', t: String(t0) }),
    () => {},
  );
  h.sent.then(
    (t1) => say({ event: 'sent', t: String(t1) }),
    () => {},
  );
  await h.closed;
}

main().catch((e: unknown) => {
  say({ event: 'error', message: e instanceof Error ? e.message : String(e) });
  process.exit(1);
});
