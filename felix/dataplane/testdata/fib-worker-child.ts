/**
 * Child for route-worker.test.ts, run inside a test netns (`ip netns exec NS node --import tsx <this>`): starts
 * the FIB worker on a feed driven by stdin lines, and answers each line on stdout once the worker is idle:
 *   changes <text with \n as |>  → "ok"   (a batch of changes: "prefix nexthop" or "prefix")
 *   crash <changes>               → "restarted" (the worker killed, the changes made while none runs; once
 *                                   a new one runs)
 *   stop                          → "stopped" (then exits)
 * Logs from the worker go to stderr as JSON lines. argv: PROTOCOL [SNAPSHOT with | for \n] [RESYNC_INTERVAL_MS].
 */
import { createInterface } from 'node:readline';
import type { BestRouteChange, RouteFeed } from '../../../model/route-feed.js';
import { decodeChanges, startFibWorker } from '../route-worker.js';

const protocol = Number(process.argv[2] ?? 44);
const initial = decodeChanges((process.argv[3] ?? '').replaceAll('|', '\n'));
const listeners = new Set<(c: readonly BestRouteChange[]) => void>();
/** What the feed holds now (a restarted worker starts from it, as from the speaker's Loc-RIB). */
const state = new Map<string, string>(initial.flatMap((c) => (c.nextHop ? [[c.prefix, c.nextHop] as const] : [])));
const feed: RouteFeed = {
  onChanges(l) {
    listeners.add(l);
    return () => void listeners.delete(l);
  },
  snapshot: () => [...state].map(([prefix, nextHop]) => ({ prefix, nextHop })),
};
const log = (level: string) => (obj: object, msg: string) =>
  process.stderr.write(`${JSON.stringify({ level, ...obj, msg })}\n`);
const resyncIntervalMs = process.argv[4] ? Number(process.argv[4]) : undefined;
const fib = await startFibWorker(
  feed,
  { protocol, resyncIntervalMs },
  { debug: log('debug'), info: log('info'), warn: log('warn') },
);
process.stdout.write('ready\n');
for await (const line of createInterface({ input: process.stdin })) {
  if (line.startsWith('changes ')) {
    const changes = decodeChanges(line.slice('changes '.length).replaceAll('|', '\n'));
    for (const c of changes) {
      if (c.nextHop === undefined) state.delete(c.prefix);
      else state.set(c.prefix, c.nextHop);
    }
    for (const l of listeners) l(changes);
    process.stdout.write('ok\n');
  } else if (line.startsWith('crash ')) {
    // Kill the worker, then change the feed while no worker runs (those batches reach nobody).
    fib.terminateForTest();
    await new Promise((r) => setTimeout(r, 10));
    const changes = decodeChanges(line.slice('crash '.length).replaceAll('|', '\n'));
    for (const c of changes) {
      if (c.nextHop === undefined) state.delete(c.prefix);
      else state.set(c.prefix, c.nextHop);
    }
    for (const l of listeners) l(changes);
    while (fib.restarts === 0) await new Promise((r) => setTimeout(r, 20));
    process.stdout.write('restarted\n');
  } else if (line === 'stop') {
    await fib.stop();
    process.stdout.write('stopped\n');
    break;
  }
}
