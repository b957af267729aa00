/**
 * NetlinkRoutePort against the real kernel, in a fresh network namespace with a veth pair (there is no `dummy`
 * module here). The port runs in a child process under `ip netns exec` (testdata/route-driver.ts); `ip -j`
 * checks what landed. Needs root and iproute2; skips with a message otherwise. The namespace is always deleted.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Route, type RouteOp, RouteScope, RouteType, RtmFlag } from './codec.js';

const NS = `caracal-nl-${process.pid}`;
const PROTO = 80;
const DRIVER = fileURLToPath(new URL('./testdata/route-driver.ts', import.meta.url));

function hasIp(): boolean {
  return spawnSync('ip', ['-V']).status === 0;
}
const skip = process.getuid?.() !== 0 ? 'needs root (ip netns)' : !hasIp() ? 'needs iproute2' : false;

function ip(...args: string[]): string {
  return execFileSync('ip', ['-n', NS, ...args], { encoding: 'utf8' });
}
function ipJson<T>(...args: string[]): T {
  const out = ip('-j', ...args).trim();
  return (out === '' ? [] : JSON.parse(out)) as T;
}

interface DriverApply {
  results: { errno?: number; message?: string }[];
  ms: number;
}
interface DriverList {
  routes: Route[];
  ms: number;
}
function driver<T>(cmd: unknown): T {
  const r = spawnSync('ip', ['netns', 'exec', NS, process.execPath, '--import', 'tsx', DRIVER], {
    input: JSON.stringify(cmd),
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  assert.equal(r.status, 0, `route driver failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
const apply = (ops: RouteOp[]) => driver<DriverApply>({ cmd: 'apply', ops });
const list = (protocol: number) => driver<DriverList>({ cmd: 'list', protocol });

function v4Host(i: number): string {
  return `10.100.${(i >> 8) & 0xff}.${i & 0xff}`;
}

describe('NetlinkRoutePort in a network namespace', { skip }, () => {
  let veth0 = 0;
  let veth1 = 0;
  const linkRoute = (i: number, oif = veth0): Route => ({
    family: 4,
    dst: v4Host(i),
    prefixLen: 32,
    table: 254,
    protocol: PROTO,
    scope: RouteScope.Link,
    type: RouteType.Unicast,
    oif,
    flags: 0,
  });

  before(() => {
    execFileSync('ip', ['netns', 'add', NS]);
    ip('link', 'set', 'lo', 'up'); // onlink gateways are checked against the local table
    ip('link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth1');
    ip('link', 'set', 'veth0', 'up');
    ip('link', 'set', 'veth1', 'up');
    const links = ipJson<{ ifname: string; ifindex: number }[]>('link', 'show');
    veth0 = links.find((l) => l.ifname === 'veth0')?.ifindex ?? 0;
    veth1 = links.find((l) => l.ifname === 'veth1')?.ifindex ?? 0;
    assert.ok(veth0 > 0 && veth1 > 0);
  });
  after(() => {
    spawnSync('ip', ['netns', 'del', NS]);
  });

  it('installs 10,000 routes; a route to a missing ifindex fails alone with ENODEV', () => {
    const ops: RouteOp[] = [];
    for (let i = 0; i < 10_000; i++) ops.push({ kind: 'replace', route: linkRoute(i) });
    // Refused ops in the middle of a 1000-op batch, as the last op of a batch (the one that carries the ACK
    // request) and as the very last op: each fails alone.
    const bad = (i: number): RouteOp => ({ kind: 'replace', route: { ...linkRoute(60_000 + i), oif: 9999 } });
    ops.splice(4321, 0, bad(0));
    ops.splice(999, 0, bad(1));
    ops.push(bad(2));
    const { results } = apply(ops);
    assert.equal(results.length, ops.length);
    const failed = results.flatMap((r, i) => (r.errno ? [i] : []));
    assert.deepEqual(failed, [999, 4322, ops.length - 1]);
    assert.equal(results[999]?.errno, 19);
    assert.equal(results[ops.length - 1]?.errno, 19);
    results.splice(999, 1);
    assert.equal(results[4321]?.errno, 19); // ENODEV
    assert.match(results[4321]?.message ?? '', /No such device/);

    const shown = ipJson<{ dst: string; dev: string; scope: string; protocol?: string }[]>(
      'route',
      'show',
      'proto',
      String(PROTO),
    );
    assert.equal(shown.length, 10_000);
    for (const i of [0, 1, 255, 256, 9_999]) {
      const r = shown.find((s) => s.dst === v4Host(i));
      assert.deepEqual({ dev: r?.dev, scope: r?.scope }, { dev: 'veth0', scope: 'link' }, v4Host(i));
    }
  });

  it('lists only our protocol and leaves a foreign route alone', () => {
    ip('route', 'add', '10.200.0.0/24', 'dev', 'veth0', 'proto', 'static');
    const { routes } = list(PROTO);
    assert.equal(routes.length, 10_000);
    assert.ok(routes.every((r) => r.protocol === PROTO));
    assert.ok(!routes.some((r) => r.dst === '10.200.0.0'));
    assert.deepEqual(
      routes.find((r) => r.dst === v4Host(7)),
      { ...linkRoute(7), oif: veth0 },
    );
    // A delete names our protocol, so the kernel will not remove the foreign route with the same prefix.
    const foreign: Route = { ...linkRoute(0), dst: '10.200.0.0', prefixLen: 24 };
    const { results } = apply([{ kind: 'delete', route: foreign }]);
    assert.equal(results[0]?.errno, 3); // ESRCH
    assert.equal(ipJson<unknown[]>('route', 'show', '10.200.0.0/24', 'proto', 'static').length, 1);
  });

  it('replaces 500 routes in place and deletes 1,000', () => {
    const ops: RouteOp[] = [];
    for (let i = 0; i < 500; i++) ops.push({ kind: 'replace', route: linkRoute(i, veth1) });
    for (let i = 9_000; i < 10_000; i++) ops.push({ kind: 'delete', route: linkRoute(i) });
    const { results } = apply(ops);
    assert.ok(
      results.every((r) => !r.errno),
      JSON.stringify(results.find((r) => r.errno)),
    );
    const shown = ipJson<{ dst: string; dev: string }[]>('route', 'show', 'proto', String(PROTO));
    assert.equal(shown.length, 9_000);
    assert.equal(shown.filter((s) => s.dev === 'veth1').length, 500);
    assert.equal(shown.find((s) => s.dst === v4Host(3))?.dev, 'veth1');
    assert.equal(shown.find((s) => s.dst === v4Host(600))?.dev, 'veth0');
    assert.ok(!shown.some((s) => s.dst === v4Host(9_500)));
    assert.equal(ipJson<unknown[]>('route', 'show', 'proto', 'static').length, 1);
  });

  it('round-trips IPv6, table > 255, onlink gateway, blackhole and metric through the kernel', () => {
    const routes: Route[] = [
      {
        family: 6,
        dst: 'fd00:1::',
        prefixLen: 64,
        table: 1000,
        protocol: PROTO,
        scope: RouteScope.Universe,
        type: RouteType.Unicast,
        oif: veth0,
        gateway: 'fe80::1',
        priority: 5,
        flags: 0,
      },
      {
        family: 4,
        dst: '10.9.0.0',
        prefixLen: 16,
        table: 300,
        protocol: PROTO,
        scope: RouteScope.Universe,
        type: RouteType.Unicast,
        oif: veth1,
        gateway: '192.168.7.1',
        priority: 7,
        flags: RtmFlag.Onlink,
      },
      {
        family: 4,
        dst: '10.8.0.0',
        prefixLen: 16,
        table: 254,
        protocol: PROTO,
        scope: RouteScope.Universe,
        type: RouteType.Blackhole,
        flags: 0,
      },
    ];
    const { results } = apply(routes.map((route) => ({ kind: 'replace', route })));
    assert.ok(
      results.every((r) => !r.errno),
      JSON.stringify(results),
    );
    const got = list(PROTO).routes.filter((r) => r.dst === 'fd00:1::' || r.dst === '10.9.0.0' || r.dst === '10.8.0.0');
    const norm = (r: Route) => ({ ...r, oif: r.oif, gateway: r.gateway, priority: r.priority });
    assert.deepEqual(
      got.map(norm).sort((a, b) => a.dst.localeCompare(b.dst)),
      routes.map(norm).sort((a, b) => a.dst.localeCompare(b.dst)),
    );
    // What iproute2 reads back agrees.
    const v4 = ipJson<{ dst: string; gateway?: string; dev?: string; metric?: number; flags: string[] }[]>(
      'route',
      'show',
      'table',
      '300',
      'proto',
      String(PROTO),
    );
    assert.deepEqual(v4, [{ dst: '10.9.0.0/16', gateway: '192.168.7.1', dev: 'veth1', metric: 7, flags: ['onlink'] }]);
  });

  it('decodes a route that iproute2 installed', () => {
    ip(
      'route',
      'add',
      '10.60.0.0/20',
      'via',
      '192.168.9.9',
      'dev',
      'veth0',
      'onlink',
      'proto',
      String(PROTO),
      'metric',
      '42',
      'table',
      '4242',
    );
    const r = list(PROTO).routes.find((x) => x.dst === '10.60.0.0');
    assert.deepEqual(r, {
      family: 4,
      dst: '10.60.0.0',
      prefixLen: 20,
      table: 4242,
      protocol: PROTO,
      scope: RouteScope.Universe,
      type: RouteType.Unicast,
      oif: veth0,
      gateway: '192.168.9.9',
      priority: 42,
      flags: RtmFlag.Onlink,
    });
  });
});
