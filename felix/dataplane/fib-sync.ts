/**
 * `syncFib`: keeps a RouteTable in step with a RouteFeed (model/route-feed.ts) — the snapshot at start, then
 * each batch of changes. At most one apply() runs at a time; changes arriving meanwhile are folded into the
 * desired set and trigger one more apply after it. Also applies when the restart window closes, every resync
 * interval, and (after a failure) every 5 s.
 *
 * Runs wherever the table runs: in the speaker's thread on fakes (tests), or inside the FIB worker
 * (felix/dataplane/route-worker.ts), where the kernel's time for each netlink batch does not stop BGP.
 */
import { describeError } from '../../common/errors.js';
import { isPackedRouteFeed, type RouteFeed } from '../../model/route-feed.js';
import type { RouteTable } from './routes.js';

/** After a failed apply (a refused route, a socket error), the next try. */
export const FIB_RETRY_MS = 5_000;

/** The part of a logger syncFib uses (pino's Logger fits; the FIB worker forwards to its parent's). */
export interface FibLog {
  /** pino's; when absent, debug is taken as enabled. */
  isLevelEnabled?(level: string): boolean;
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface FibSync {
  /** Stops following the feed; the routes stay in the kernel. */
  stop(): void;
  /** True while an apply() runs (tests wait on it). */
  readonly busy: boolean;
}

export function syncFib(feed: RouteFeed, table: RouteTable, log: FibLog): FibSync {
  let running = false;
  let again = false;
  let stopped = false;
  let lastFailed = 0;
  let firstResync = true;
  let retry: NodeJS.Timeout | undefined;
  const debug = log.isLevelEnabled?.('debug') ?? true;
  const run = async (): Promise<void> => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    let failed = false;
    try {
      do {
        again = false;
        try {
          const started = performance.now();
          const r = await table.apply();
          if (debug && r.ops > 0)
            log.debug(
              {
                event: 'fibApplied',
                ops: r.ops,
                failed: r.failed.length,
                ms: Math.round(performance.now() - started),
                heapMiB: Math.round(process.memoryUsage().heapUsed / 2 ** 20),
              },
              'FIB batch applied',
            );
          if (r.resynced && firstResync) {
            firstResync = false;
            log.info({ event: 'fibResync', ops: r.ops, held: r.held }, 'FIB resynced with the kernel');
          } else if (r.resynced) log.debug({ event: 'fibResync', ops: r.ops, held: r.held }, 'FIB resynced');
          failed = r.failed.length > 0;
          if (r.failed.length !== lastFailed && r.failed.length > 0)
            log.warn(
              { event: 'fibApplyFailed', failed: r.failed.length, first: r.failed[0] },
              'some routes were not installed; retrying',
            );
          lastFailed = r.failed.length;
        } catch (e) {
          failed = true;
          log.warn({ event: 'fibApplyFailed', err: describeError(e) }, 'FIB apply failed; retrying after a resync');
        }
      } while (again && !stopped);
    } finally {
      running = false;
    }
    if (failed && !stopped && !retry)
      retry = setTimeout(() => {
        retry = undefined;
        void run();
      }, FIB_RETRY_MS).unref();
  };
  table.setRoutes(feed.snapshot());
  // The packed form when the feed has it (the speaker): no prefix text formatted, sent or parsed per route.
  const off = isPackedRouteFeed(feed)
    ? feed.onPackedChanges((batch) => {
        table.applyPacked(batch);
        void run();
      })
    : feed.onChanges((changes) => {
        table.applyChanges(changes);
        void run();
      });
  const windowMs = table.keepStaleUntilMs - Date.now();
  const sweep = windowMs > 0 ? setTimeout(() => void run(), windowMs + 10).unref() : undefined;
  const every = table.resyncIntervalMs;
  const periodic = every > 0 ? setInterval(() => void run(), every).unref() : undefined;
  void run();
  return {
    stop(): void {
      stopped = true;
      off();
      clearTimeout(retry);
      clearTimeout(sweep);
      clearInterval(periodic);
    },
    get busy(): boolean {
      return running;
    },
  };
}
