/**
 * `caracal speaker --fib` on lab/ (docs/design/felix-routes.md): BIRD (iBGP, next hop self) originates three
 * prefixes; they appear in the speaker node's kernel as `proto 44` routes via BIRD's address; a prefix BIRD
 * withdraws is deleted; a foreign `proto static` route is never touched; stopping the speaker leaves its routes
 * in place (forwarding continues while the agent restarts); the next start recognises them by protocol and
 * keeps a route of the previous run it does not re-learn for gracefulRestartTimeSec, then sweeps it. The lab (and so the netns) is removed in `after`.
 *
 * Needs root (skips with a message otherwise). The first suite, `syncFib()` on a fake feed and a slow fake
 * kernel (at most one apply in flight, changes during it folded into one more), runs anywhere.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { logger } from '../../common/logger.js';
import { syncFib } from '../../felix/dataplane/fib-sync.js';
import { RouteTable } from '../../felix/dataplane/routes.js';
import type { Route, RouteOp, RouteOpResult, RoutePort } from '../../kernel/netlink/routes.js';
import { routeKey } from '../../kernel/netlink/routes.js';
import { Lab } from '../../lab/lab.js';
import type { BestRouteChange, RouteFeed } from '../../model/route-feed.js';
import { DEFAULT_FIB_PROTOCOL } from '../../node/speaker-cmd.js';
import { labSkipReason, withdrawFromRouter } from './support/daemons.js';
import { SpeakerProcess } from './support/speaker-process.js';
import { waitFor } from './support/wait.js';

const skip = labSkipReason();
const AS = 64512;
const tag = (process.pid % 100_000).toString(36);
const NETS = ['10.251.1.0/24', '10.251.2.0/24', '10.251.3.0/24'];

describe('syncFib()', () => {
  it('syncFib() applies the snapshot, runs one apply at a time and folds changes meanwhile into one more', async () => {
    const listeners = new Set<(c: readonly BestRouteChange[]) => void>();
    const feed: RouteFeed = {
      onChanges: (l) => {
        listeners.add(l);
        return () => void listeners.delete(l);
      },
      snapshot: () => [{ prefix: '10.251.1.0/24', nextHop: '10.9.0.2' }],
    };
    const emit = (c: BestRouteChange[]) => {
      for (const l of listeners) l(c);
    };
    let inFlight = 0;
    let maxInFlight = 0;
    const batches: RouteOp[][] = [];
    const kernel = new Map<string, Route>();
    const gates: (() => void)[] = [];
    const port: RoutePort = {
      listOwnedRoutes: async () => new Map(kernel),
      async applyBatch<Op extends RouteOp>(ops: readonly Op[]): Promise<RouteOpResult<Op>[]> {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        batches.push([...ops]);
        await new Promise<void>((r) => gates.push(r)); // held until the test releases it
        for (const op of ops)
          if (op.kind === 'delete') kernel.delete(routeKey(op.route));
          else kernel.set(routeKey(op.route), op.route);
        inFlight--;
        return ops.map((op) => ({ op }));
      },
    };
    const table = new RouteTable({ port, protocol: DEFAULT_FIB_PROTOCOL, resyncIntervalMs: 0 });
    const log = logger('fib-test');
    const fib = syncFib(feed, table, log);
    const settle = () => new Promise((r) => setImmediate(r));
    await settle();
    assert.equal(batches.length, 1, 'the snapshot goes out at once');
    emit([{ prefix: '10.251.2.0/24', nextHop: '10.9.0.2' }]);
    emit([{ prefix: '10.251.3.0/24', nextHop: '10.9.0.2' }]);
    emit([{ prefix: '10.251.1.0/24' }]);
    await settle();
    assert.equal(batches.length, 1, 'no second apply while the first is in flight');
    gates.shift()!();
    await settle();
    await settle();
    assert.equal(batches.length, 2, 'the three batches of changes make one more apply');
    assert.deepEqual(batches[1]!.map((op) => `${op.kind} ${op.route.dst}`).sort(), [
      'delete 10.251.1.0',
      'replace 10.251.2.0',
      'replace 10.251.3.0',
    ]);
    gates.shift()!();
    await settle();
    await settle();
    assert.equal(batches.length, 2, 'then it is idle');
    assert.equal(maxInFlight, 1);
    assert.deepEqual([...kernel.values()].map((r) => r.dst).sort(), ['10.251.2.0', '10.251.3.0']);
    fib.stop();
    emit([{ prefix: '10.251.4.0/24', nextHop: '10.9.0.2' }]);
    await settle();
    assert.equal(batches.length, 2, 'nothing after stop()');
  });
});

describe('caracal speaker --fib', { skip }, () => {
  it('installs BIRD’s prefixes via BIRD’s address under proto 44, deletes a withdrawn one, keeps them on stop', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'caracal-fib-'));
    const lab = await Lab.up(
      {
        name: `fib-${tag}`,
        nodes: [{ name: 'caracal' }],
        routers: [
          {
            name: 'bird',
            daemon: 'bird',
            asNumber: AS,
            routerId: '10.0.0.2',
            networks: NETS,
            peers: [{ address: '10.9.0.1', asNumber: AS }],
          },
        ],
        links: [{ lan: 'fabric', members: { caracal: ['10.9.0.1/24'], bird: ['10.9.0.2/24'] } }],
      },
      { stateRoot: join(dir, 'labs') },
    );
    t.after(async () => {
      await lab.down();
      rmSync(dir, { recursive: true, force: true });
    });
    const foreign = await lab.exec('caracal', [
      'ip',
      'route',
      'add',
      '10.251.9.0/24',
      'via',
      '10.9.0.2',
      'proto',
      'static',
    ]);
    assert.equal(foreign.code, 0, foreign.stderr);

    const config = {
      asn: AS,
      routerId: '10.0.0.1',
      listen: { address: '10.9.0.1', port: 179 },
      peers: [{ address: '10.9.0.2', asn: AS, holdTimeSec: 9, connectRetrySec: 1 }],
    };
    const caracal = new SpeakerProcess(lab, 'caracal', dir, config, ['--fib']);
    t.after(() => caracal.kill());

    const ours = async () => {
      const r = await lab.exec('caracal', ['ip', '-j', 'route', 'show', 'proto', String(DEFAULT_FIB_PROTOCOL)]);
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(r.stdout || '[]') as { dst: string; gateway?: string; metric?: number }[]).sort((a, b) =>
        a.dst.localeCompare(b.dst),
      );
    };
    const fail = (e: unknown) => {
      throw new Error(`${(e as Error).message}\nCaracal log:\n${caracal.logTail()}`);
    };
    const installed = await waitFor('BIRD’s three prefixes in the kernel, proto 44', async () => {
      const rs = await ours();
      return rs.length === 3 && rs;
    }).catch(fail);
    assert.deepEqual(
      installed.map((r) => [r.dst, r.gateway, r.metric]),
      NETS.map((n) => [n, '10.9.0.2', 1024]),
    );

    await withdrawFromRouter(lab, 'bird', '10.251.2.0/24');
    await waitFor('the withdrawn prefix deleted from the kernel', async () => {
      const rs = await ours();
      return rs.length === 2 && !rs.some((r) => r.dst === '10.251.2.0/24');
    }).catch(fail);

    await caracal.signal('SIGTERM');
    assert.deepEqual(
      (await ours()).map((r) => r.dst),
      ['10.251.1.0/24', '10.251.3.0/24'],
      'the routes stay after the speaker stops',
    );
    const st = await lab.exec('caracal', ['ip', 'route', 'show', '10.251.9.0/24', 'proto', 'static']);
    assert.match(st.stdout, /via 10\.9\.0\.2/, 'the foreign route is untouched');

    // A route of ours that the next run will not re-learn (as if its peer went away while we were down).
    const gone = await lab.exec('caracal', [
      'ip',
      'route',
      'add',
      '10.251.7.0/24',
      'via',
      '10.9.0.2',
      'proto',
      '44',
      'metric',
      '1024',
    ]);
    assert.equal(gone.code, 0, gone.stderr);
    caracal.writeConfig({ ...config, gracefulRestartTimeSec: 3 });
    caracal.start();
    const started = Date.now();
    await waitFor(
      'the previous run’s routes swept after the 3 s restart window, the re-learned ones kept',
      async () => {
        const rs = (await ours()).map((r) => r.dst);
        if (Date.now() - started < 2000) assert.ok(rs.includes('10.251.7.0/24'), 'kept inside the window');
        return rs.length === 2 && !rs.includes('10.251.7.0/24') && rs;
      },
      { timeoutMs: 15_000 },
    ).catch(fail);
    assert.deepEqual(
      (await ours()).map((r) => r.dst),
      ['10.251.1.0/24', '10.251.3.0/24'],
    );
  });
});
