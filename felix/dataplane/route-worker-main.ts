/**
 * The FIB worker's entry (started by route-worker.ts, never imported): opens a NETLINK_ROUTE socket, builds the
 * RouteTable and runs `syncFib` against a feed made of the parent's messages. Logs go to the parent.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { describeError } from '../../common/errors.js';
import { NetlinkRoutePort } from '../../kernel/netlink/routes.js';
import type { PackedBestRoutes, PackedRouteFeed } from '../../model/route-feed.js';
import { type FibLog, type FibSync, syncFib } from './fib-sync.js';
import { decodeChanges, type FibParentMessage, type FibWorkerConfig, type FibWorkerMessage } from './route-worker.js';
import { RouteTable } from './routes.js';

const parent = parentPort;
if (!parent) throw new Error('route-worker-main.ts runs as a worker thread (felix/dataplane/route-worker.ts)');
const cfg = workerData as FibWorkerConfig;
const post = (m: FibWorkerMessage) => parent.postMessage(m);
const log: FibLog = {
  isLevelEnabled: (level) => level !== 'debug' || cfg.debug === true,
  debug: (obj, msg) => {
    if (cfg.debug) post({ type: 'log', level: 'debug', obj: obj as Record<string, unknown>, msg });
  },
  info: (obj, msg) => post({ type: 'log', level: 'info', obj: obj as Record<string, unknown>, msg }),
  warn: (obj, msg) => post({ type: 'log', level: 'warn', obj: obj as Record<string, unknown>, msg }),
};

let port: NetlinkRoutePort | undefined;
let sync: FibSync | undefined;
try {
  port = NetlinkRoutePort.open();
  const table = new RouteTable({
    port,
    protocol: cfg.protocol,
    table: cfg.table,
    metric: cfg.metric,
    keepStaleMs: cfg.keepStaleMs,
    resyncIntervalMs: cfg.resyncIntervalMs,
  });
  const packedListeners = new Set<(batch: PackedBestRoutes) => void>();
  const feed: PackedRouteFeed = {
    // syncFib takes the packed form of a feed that offers it: text batches from the parent go through as
    // `other` of a packed batch.
    onChanges() {
      throw new Error('route-worker-main: the FIB worker feeds syncFib packed batches only');
    },
    onPackedChanges(l) {
      packedListeners.add(l);
      return () => void packedListeners.delete(l);
    },
    snapshot: () => decodeChanges(cfg.snapshot),
  };
  sync = syncFib(feed, table, log);
  parent.on('message', (m: FibParentMessage) => {
    if (m.type === 'changes') {
      const other = decodeChanges(m.text);
      const batch: PackedBestRoutes = { v4Keys: new Float64Array(0), v4NextHops: new Uint32Array(0), other };
      for (const l of packedListeners) l(batch);
    } else if (m.type === 'packed') {
      const batch: PackedBestRoutes = { v4Keys: m.v4Keys, v4NextHops: m.v4NextHops, other: decodeChanges(m.other) };
      for (const l of packedListeners) l(batch);
    } else if (m.type === 'stop') {
      sync?.stop();
      const done = () => {
        if (sync?.busy) return void setTimeout(done, 5);
        port?.close();
        post({ type: 'stopped' });
        parent.close();
      };
      done();
    }
  });
  post({ type: 'ready' });
} catch (e) {
  port?.close();
  post({ type: 'failed', message: describeError(e) });
  parent.close();
}
