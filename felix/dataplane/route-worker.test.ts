/**
 * The FIB worker (route-worker.ts): the change codec between the threads (pure, properties), and the real
 * thing in a network namespace — a child process inside the netns starts the worker, feeds it batches, and the
 * kernel's table (read with `ip -j route`) must follow: snapshot installed at start, changes applied, a
 * withdrawal removed, and every route left in place after stop (the restart contract). Needs root for the
 * netns part (skips with the reason otherwise).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import type { BestRouteChange } from '../../model/route-feed.js';
import { decodeChanges, encodeChanges } from './route-worker.js';

describe('encodeChanges()/decodeChanges()', () => {
  it('round-trips any batch of announcements and withdrawals, in order', () => {
    const v4 = fc
      .tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.integer({ min: 8, max: 32 }))
      .map(([a, b, c, l]) => `${a}.${b}.${c}.0/${l}`);
    const change = fc.record(
      { prefix: fc.oneof(v4, fc.constant('fd00:10:244:1::/122')), nextHop: fc.option(fc.ipV4(), { nil: undefined }) },
      { requiredKeys: ['prefix'] },
    );
    fc.assert(
      fc.property(fc.array(change, { maxLength: 50 }), (changes) => {
        const norm = changes.map(
          (c): BestRouteChange =>
            c.nextHop === undefined ? { prefix: c.prefix } : { prefix: c.prefix, nextHop: c.nextHop },
        );
        assert.deepEqual(decodeChanges(encodeChanges(norm)), norm);
      }),
    );
  });
  it('an empty batch is the empty string', () => {
    assert.equal(encodeChanges([]), '');
    assert.deepEqual(decodeChanges(''), []);
  });
});

const CHILD = fileURLToPath(new URL('./testdata/fib-worker-child.ts', import.meta.url));
const NS = `caracal-fibw-${process.pid}`;
const PROTO = 45;
const root = process.getuid?.() === 0;

function routes(): { dst: string; gateway?: string }[] {
  const out = execFileSync('ip', ['-n', NS, '-j', 'route', 'show', 'proto', String(PROTO)], { encoding: 'utf8' });
  return (JSON.parse(out || '[]') as { dst: string; gateway?: string }[])
    .map((r) => ({ dst: r.dst, ...(r.gateway ? { gateway: r.gateway } : {}) }))
    .sort((a, b) => a.dst.localeCompare(b.dst));
}

describe('the FIB worker in a network namespace', { skip: root ? false : 'needs root (network namespaces)' }, () => {
  let child: ChildProcess;
  let lines: AsyncIterator<string>;
  const next = async () => (await lines.next()).value as string;
  before(() => {
    execFileSync('ip', ['netns', 'add', NS]);
    for (const a of [
      ['link', 'set', 'lo', 'up'],
      ['link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1'],
      ['link', 'set', 'v0', 'up'],
      ['link', 'set', 'v1', 'up'],
      ['addr', 'add', '10.55.0.1/24', 'dev', 'v0'],
    ])
      execFileSync('ip', ['-n', NS, ...a]);
  });
  after(() => {
    child?.kill('SIGKILL');
    execFileSync('ip', ['netns', 'del', NS]);
  });

  it('installs the snapshot, follows changes, and leaves the routes in place when stopped', async () => {
    child = spawn(
      'ip',
      ['netns', 'exec', NS, process.execPath, '--import', 'tsx', CHILD, String(PROTO), '10.90.0.0/24 10.55.0.2', '150'],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const logs: { event?: string; ops?: number }[] = [];
    createInterface({ input: child.stderr! }).on('line', (l) => {
      try {
        logs.push(JSON.parse(l) as { event?: string });
      } catch {
        process.stderr.write(`${l}\n`);
      }
    });
    const count = (event: string) => logs.filter((l) => l.event === event).length;
    assert.equal(await next(), 'ready');
    const waitFor = async (want: { dst: string; gateway?: string }[]) => {
      const until = Date.now() + 10_000;
      while (Date.now() < until) {
        if (JSON.stringify(routes()) === JSON.stringify(want)) return;
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.deepEqual(routes(), want);
    };
    await waitFor([{ dst: '10.90.0.0/24', gateway: '10.55.0.2' }]);

    const batch = Array.from({ length: 2000 }, (_, i) => `10.91.${i >> 8}.${i & 255}/32 10.55.0.3`);
    child.stdin!.write(`changes ${batch.join('|')}|10.90.0.0/24 10.55.0.4\n`);
    assert.equal(await next(), 'ok');
    const until = Date.now() + 10_000;
    while (routes().length < 2001 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    const r = routes();
    assert.equal(r.length, 2001);
    assert.deepEqual(
      r.find((x) => x.dst === '10.90.0.0/24'),
      { dst: '10.90.0.0/24', gateway: '10.55.0.4' },
      'a changed next hop is replaced',
    );

    child.stdin!.write(
      `changes ${batch
        .slice(1)
        .map((l) => l.split(' ')[0])
        .join('|')}\n`,
    );
    assert.equal(await next(), 'ok');
    await waitFor([
      { dst: '10.90.0.0/24', gateway: '10.55.0.4' },
      { dst: '10.91.0.0', gateway: '10.55.0.3' },
    ]);

    // Resyncs (every 150 ms here) read the kernel's routes back, which carry the interface the kernel resolved
    // each gateway to: they must find nothing to do (no batch applied), not rewrite every route.
    await new Promise((r) => setTimeout(r, 300)); // the last batch's log line may still be on its way
    const applied = count('fibApplied');
    const resyncs = count('fibResync');
    await new Promise((r) => setTimeout(r, 800));
    assert.ok(count('fibResync') >= resyncs + 2, `resyncs ran: ${count('fibResync') - resyncs}`);
    assert.equal(count('fibApplied'), applied, 'a resync of an in-sync FIB applies nothing');

    // A worker that dies is started again from the feed's snapshot; what changed while none ran is covered.
    child.stdin!.write('crash 10.91.0.0/32\n'); // withdrawn while no worker runs
    assert.equal(await next(), 'restarted');
    child.stdin!.write('changes 10.93.0.0/24 10.55.0.5\n');
    assert.equal(await next(), 'ok');
    await waitFor([
      { dst: '10.90.0.0/24', gateway: '10.55.0.4' },
      { dst: '10.93.0.0/24', gateway: '10.55.0.5' },
    ]);

    child.stdin!.write('stop\n');
    assert.equal(await next(), 'stopped');
    assert.equal(routes().length, 2, 'routes stay in the kernel after stop');
  });
});
