/**
 * The FIB in a worker thread: a RouteTable over its own NETLINK_ROUTE socket, kept in step with a RouteFeed by
 * `syncFib`, in a `worker_threads` Worker (entry: route-worker-main.ts). Why a thread: the kernel inserts a
 * route inside the sendmsg() that carries it (several µs each; seconds for a full table), and our netlink
 * socket is synchronous, so on the speaker's thread every batch would stop BGP for that long. In the worker,
 * the kernel's work and the table's bookkeeping run on another core while the speaker keeps reading UPDATEs.
 *
 * Between the threads: one message per batch of changes, the batch as one string ("prefix nexthop" lines;
 * "prefix" alone = withdrawn): a string is copied as one block, where structured-cloning a million small
 * objects costs the sending thread about a second. The worker runs in the same network namespace (namespaces
 * are per process here: the worker thread inherits the thread that starts it, which is the process's).
 *
 * Leaves out: the route logic itself (routes.ts, fib-sync.ts). Stopping leaves every route in the kernel.
 */
import { Worker } from 'node:worker_threads';
import { CaracalError, ErrorCodes } from '../../common/errors.js';
import { type BestRouteChange, isPackedRouteFeed, type RouteFeed } from '../../model/route-feed.js';
import type { FibLog } from './fib-sync.js';

/** What the worker is started with (structured-cloned as workerData). */
export interface FibWorkerConfig {
  readonly protocol: number;
  readonly table?: number | undefined;
  readonly metric?: number | undefined;
  readonly keepStaleMs?: number | undefined;
  readonly resyncIntervalMs?: number | undefined;
  /** The feed's snapshot when the worker starts, encoded by `encodeChanges`. */
  readonly snapshot: string;
  /** Whether the parent logs at debug level (the worker then posts its debug lines). */
  readonly debug?: boolean | undefined;
}

/** Worker → parent. */
export type FibWorkerMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'failed'; readonly message: string; readonly code?: string | undefined }
  | {
      readonly type: 'log';
      readonly level: 'debug' | 'info' | 'warn';
      readonly obj: Record<string, unknown>;
      readonly msg: string;
    }
  | { readonly type: 'stopped' };

/** Parent → worker. `packed`: a PackedBestRoutes batch, its typed arrays transferred (not copied). */
export type FibParentMessage =
  | { readonly type: 'changes'; readonly text: string }
  | { readonly type: 'packed'; readonly v4Keys: Float64Array; readonly v4NextHops: Uint32Array; readonly other: string }
  | { readonly type: 'stop' };

/** Changes as lines: "prefix nexthop", or "prefix" for a withdrawal. */
export function encodeChanges(changes: readonly BestRouteChange[]): string {
  const lines = new Array<string>(changes.length);
  for (let i = 0; i < changes.length; i++) {
    const c = changes[i]!;
    lines[i] = c.nextHop === undefined ? c.prefix : `${c.prefix} ${c.nextHop}`;
  }
  return lines.join('\n');
}

/** The inverse of `encodeChanges`. */
export function decodeChanges(text: string): BestRouteChange[] {
  if (text === '') return [];
  const out: BestRouteChange[] = [];
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const sp = text.indexOf(' ', start);
    if (sp >= 0 && sp < end) out.push({ prefix: text.slice(start, sp), nextHop: text.slice(sp + 1, end) });
    else out.push({ prefix: text.slice(start, end) });
    start = end + 1;
  }
  return out;
}

export interface FibWorker {
  /** Stops following the feed, lets the worker finish its apply, ends it. The routes stay in the kernel. */
  stop(): Promise<void>;
  /** How many times a dead worker was started again. */
  readonly restarts: number;
  /** Kills the worker as a crash would (tests of the restart). */
  terminateForTest(): void;
}

const STOP_TIMEOUT_MS = 10_000;

/**
 * The worker on the entry next to this file. From the sources (tests, `CARACAL_BGP_BENCH_CARACAL=source`) the
 * entry is TypeScript, and Node 20 does not carry tsx's `--import` hooks into workers: the worker registers
 * tsx itself before importing it.
 */
function newWorker(workerData: FibWorkerConfig): Worker {
  if (!import.meta.url.endsWith('.ts'))
    return new Worker(new URL('./route-worker-main.js', import.meta.url), { workerData });
  const entry = new URL('./route-worker-main.ts', import.meta.url).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(code, { eval: true, workerData });
}

/** One running worker thread and what the parent tracks of it. */
interface Running {
  readonly worker: Worker;
  exited: boolean;
  readonly gone: Promise<void>;
  stopped?: () => void;
}

/** Starts one worker; resolves once its netlink socket is open, rejects with its error otherwise. */
async function launch(workerData: FibWorkerConfig, log: FibLog): Promise<Running> {
  const worker = newWorker(workerData);
  let markExited: () => void = () => {};
  const r: Running = {
    worker,
    exited: false,
    gone: new Promise<void>((resolve) => {
      markExited = resolve;
    }),
  };
  worker.once('exit', () => {
    r.exited = true;
    markExited();
  });
  await new Promise<void>((resolve, reject) => {
    worker.on('message', (m: FibWorkerMessage) => {
      if (m.type === 'ready') resolve();
      else if (m.type === 'failed')
        reject(new CaracalError(ErrorCodes.Internal, `Cannot start the FIB worker: ${m.message}`));
      else if (m.type === 'log') log[m.level](m.obj, m.msg);
      else if (m.type === 'stopped') r.stopped?.();
    });
    worker.once('error', (e) =>
      reject(new CaracalError(ErrorCodes.Internal, `Cannot start the FIB worker: ${e.message}`)),
    );
    worker.once('exit', (code) =>
      reject(new CaracalError(ErrorCodes.Internal, `The FIB worker exited with code ${code}`)),
    );
  }).catch(async (e) => {
    await worker.terminate();
    throw e;
  });
  worker.on('error', (e) => log.warn({ event: 'fibWorkerError', err: e.message }, 'the FIB worker failed'));
  return r;
}

/** After the worker died, the next start (doubling up to the max while starts keep failing). */
const RESTART_MS = 1_000;
const RESTART_MAX_MS = 30_000;

/**
 * Starts the worker and resolves once its netlink socket is open (rejects with the worker's error otherwise:
 * not root, no netlink). From then on every batch of `feed` goes to the worker. A worker that dies (an
 * exception in it, an out-of-memory) is started again with the feed's snapshot and no restart window (the
 * parent knows every route it wants; what the kernel holds beyond that is swept): the routes stay in the
 * kernel meanwhile, and changes during the gap are covered by the new snapshot.
 * @example const fib = await startFibWorker(speaker, { protocol: 44, snapshot: '' }, log); … await fib.stop();
 */
export async function startFibWorker(
  feed: RouteFeed,
  cfg: Omit<FibWorkerConfig, 'snapshot' | 'debug'>,
  log: FibLog,
): Promise<FibWorker> {
  const dataFor = (extra: Partial<FibWorkerConfig> = {}): FibWorkerConfig => ({
    ...cfg,
    snapshot: encodeChanges(feed.snapshot()),
    debug: log.isLevelEnabled?.('debug') ?? true,
    ...extra,
  });
  let cur: Running | undefined = await launch(dataFor(), log);
  let stopping = false;
  let restarts = 0;
  let retry: NodeJS.Timeout | undefined;
  const watch = (r: Running) => {
    void r.gone.then(() => {
      if (stopping || cur !== r) return;
      cur = undefined;
      log.warn({ event: 'fibWorkerExited' }, 'the FIB worker exited; starting a new one (routes stay meanwhile)');
      schedule(RESTART_MS);
    });
  };
  const schedule = (ms: number) => {
    retry = setTimeout(() => {
      retry = undefined;
      if (stopping) return;
      launch(dataFor({ keepStaleMs: 0 }), log).then(
        (r) => {
          if (stopping) return void r.worker.terminate();
          restarts++;
          cur = r;
          watch(r);
          log.info({ event: 'fibWorkerRestarted', restarts }, 'FIB worker started again');
        },
        (e: unknown) => {
          log.warn({ event: 'fibWorkerRestartFailed', err: String(e) }, 'cannot start the FIB worker; retrying');
          schedule(Math.min(ms * 2, RESTART_MAX_MS));
        },
      );
    }, ms);
    retry.unref?.();
  };
  watch(cur);
  const post = (m: FibParentMessage, transfer?: ArrayBuffer[]) => {
    if (cur && !cur.exited) cur.worker.postMessage(m, transfer);
  };
  // The packed form when the feed has it (the speaker): typed arrays are transferred, not copied or parsed.
  const off = isPackedRouteFeed(feed)
    ? feed.onPackedChanges((b) => {
        if (!cur || b.v4Keys.length + b.other.length === 0) return;
        // Own buffers: a view may share its buffer with other data, and transferring detaches the buffer.
        const v4Keys = b.v4Keys.slice();
        const v4NextHops = b.v4NextHops.slice();
        post({ type: 'packed', v4Keys, v4NextHops, other: encodeChanges(b.other) }, [v4Keys.buffer, v4NextHops.buffer]);
      })
    : feed.onChanges((changes) => {
        if (changes.length > 0) post({ type: 'changes', text: encodeChanges(changes) });
      });
  return {
    get restarts() {
      return restarts;
    },
    terminateForTest() {
      void cur?.worker.terminate();
    },
    async stop() {
      stopping = true;
      off();
      clearTimeout(retry);
      const r = cur;
      if (!r || r.exited) return;
      const stopped = new Promise<void>((resolve) => {
        r.stopped = resolve;
      });
      r.worker.postMessage({ type: 'stop' } satisfies FibParentMessage);
      const timer = setTimeout(() => void r.worker.terminate(), STOP_TIMEOUT_MS);
      await Promise.race([stopped, r.gone]);
      await r.worker.terminate();
      clearTimeout(timer);
      await r.gone;
    },
  };
}
