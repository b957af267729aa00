import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CaracalError, ErrorCodes } from '../../common/errors.js';
import type { Route, RouteKey, RouteOp, RouteOpResult, RoutePort } from '../../kernel/netlink/routes.js';
import { routeKey } from '../../kernel/netlink/routes.js';
import { formatIp, tryParseIp } from '../../model/ip.js';
import { canonicalV4, DEFAULT_METRIC, planRouteOps, RouteTable, routeForChange } from './routes.js';

const PROTO = 44;
const O = { protocol: PROTO, table: 254, metric: DEFAULT_METRIC };
const route = (prefix: string, nextHop: string, over: Partial<Route> = {}): Route => ({
  ...routeForChange({ prefix, nextHop }, O)!,
  ...over,
});
const key = (r: Route) => routeKey(r);
const map = (...rs: Route[]) => new Map(rs.map((r) => [key(r), r]));

/** A kernel that holds routes of every protocol; `fail` makes ops on those keys fail (errno 101). */
class FakePort implements RoutePort {
  readonly routes = new Map<string, Route>(); // key|protocol → route
  readonly fail = new Set<RouteKey>();
  readonly batches: RouteOp[][] = [];
  lists = 0;
  throwNext = false;

  add(r: Route): void {
    this.routes.set(`${key(r)}|${r.protocol}`, r);
  }
  owned(protocol = PROTO): Route[] {
    return [...this.routes.values()].filter((r) => r.protocol === protocol);
  }
  async listOwnedRoutes(protocol: number): Promise<Map<RouteKey, Route>> {
    this.lists++;
    return new Map(this.owned(protocol).map((r) => [key(r), r]));
  }
  async applyBatch<Op extends RouteOp>(ops: readonly Op[]): Promise<RouteOpResult<Op>[]> {
    if (this.throwNext) {
      this.throwNext = false;
      throw new Error('netlink socket closed');
    }
    this.batches.push([...ops]);
    return ops.map((op) => {
      const k = key(op.route);
      if (this.fail.has(k)) {
        return {
          op,
          error: new CaracalError(ErrorCodes.Internal, `Cannot ${op.kind} route ${k}`, { details: { errno: 101 } }),
        };
      }
      if (op.kind === 'delete') this.routes.delete(`${k}|${op.route.protocol}`);
      else this.add(op.route);
      return { op };
    });
  }
}

describe('planRouteOps()', () => {
  const a = route('10.244.1.0/26', '192.168.1.11');
  const a2 = route('10.244.1.0/26', '192.168.1.12');
  const b = route('fd00:10:244:1::/122', 'fd00::11');
  const cases: { name: string; desired: Route[]; actual: Route[]; dirty: Route[]; want: RouteOp[] }[] = [
    {
      name: 'adds a desired route the kernel lacks',
      desired: [a, b],
      actual: [],
      dirty: [a, b],
      want: [
        { kind: 'replace', route: a },
        { kind: 'replace', route: b },
      ],
    },
    {
      name: 'replaces a route whose next hop changed',
      desired: [a2],
      actual: [a],
      dirty: [a],
      want: [{ kind: 'replace', route: a2 }],
    },
    {
      name: 'deletes an actual route no longer desired',
      desired: [],
      actual: [a],
      dirty: [a],
      want: [{ kind: 'delete', route: a }],
    },
    { name: 'does nothing when actual equals desired', desired: [a, b], actual: [a, b], dirty: [a, b], want: [] },
    {
      name: 'ignores the interface the kernel resolved a gateway to (desired names none)',
      desired: [a],
      actual: [{ ...a, oif: 3 }],
      dirty: [a],
      want: [],
    },
    {
      name: 'replaces a route on another interface than the desired one',
      desired: [{ ...a, oif: 4 }],
      actual: [{ ...a, oif: 3 }],
      dirty: [a],
      want: [{ kind: 'replace', route: { ...a, oif: 4 } }],
    },
    { name: 'visits only dirty keys', desired: [a, b], actual: [], dirty: [b], want: [{ kind: 'replace', route: b }] },
    { name: 'ignores kernel-added flag bits', desired: [a], actual: [{ ...a, flags: 0x200 }], dirty: [a], want: [] },
  ];
  for (const c of cases) {
    it(`planRouteOps() ${c.name}`, () => {
      assert.deepEqual(planRouteOps(map(...c.desired), map(...c.actual), c.dirty.map(key)), c.want);
    });
  }
  it('planRouteOps() deletes then adds when the metric changes (an IPv4 replace would add a second route)', () => {
    const old = { ...a, priority: 20 };
    assert.deepEqual(planRouteOps(map(a), map(old), [key(a)]), [
      { kind: 'delete', route: old },
      { kind: 'replace', route: a },
    ]);
  });
});

describe('planRouteOps() property', () => {
  it('planRouteOps() with every key dirty, applied to actual, makes actual equal desired', () => {
    const prefixes = ['10.244.1.0/26', '10.244.2.0/26', '10.244.3.0/26', 'fd00:1::/64'];
    const arbRoutes = fc
      .array(
        fc.record({
          i: fc.nat(prefixes.length - 1),
          hop: fc.constantFrom('1', '2', '3'),
          metric: fc.constantFrom(1024, 20),
        }),
      )
      .map((xs) =>
        map(
          ...xs.map(({ i, hop, metric }) => {
            const p = prefixes[i]!;
            return route(p, p.includes(':') ? `fd00::${hop}` : `192.168.1.${hop}`, { priority: metric });
          }),
        ),
      );
    fc.assert(
      fc.property(arbRoutes, arbRoutes, (desired, actual0) => {
        const actual = new Map(actual0);
        const ops = planRouteOps(desired, actual, new Set([...desired.keys(), ...actual.keys()]));
        for (const op of ops) {
          if (op.kind === 'delete') actual.delete(key(op.route));
          else actual.set(key(op.route), op.route);
        }
        assert.deepEqual(actual, new Map(desired));
        assert.deepEqual(planRouteOps(desired, actual, desired.keys()), [], 'a second plan is empty');
      }),
    );
  });
});

describe('routeForChange()', () => {
  it('routeForChange() builds a gateway route with our protocol, table and metric', () => {
    assert.deepEqual(routeForChange({ prefix: '10.244.1.0/26', nextHop: '192.168.1.11' }, O), {
      family: 4,
      dst: '10.244.1.0',
      prefixLen: 26,
      table: 254,
      protocol: PROTO,
      scope: 0,
      type: 1,
      gateway: '192.168.1.11',
      priority: 1024,
      flags: 0,
    });
  });
  it('routeForChange() refuses withdrawn, wrong-family and IPv4-mapped next hops', () => {
    assert.equal(routeForChange({ prefix: '10.244.1.0/26' }, O), undefined);
    assert.equal(routeForChange({ prefix: '10.244.1.0/26', nextHop: 'fd00::1' }, O), undefined);
    assert.equal(routeForChange({ prefix: 'fd00:1::/64', nextHop: '::ffff:192.168.1.1' }, O), undefined);
    assert.equal(routeForChange({ prefix: 'bad', nextHop: '192.168.1.1' }, O), undefined);
  });
});

describe('RouteTable', () => {
  it('apply() installs desired routes in one batch, and is a no-op the second time', async () => {
    const port = new FakePort();
    const t = new RouteTable({ port, protocol: PROTO, resyncIntervalMs: 0 });
    t.setRoutes([
      { prefix: '10.244.1.0/26', nextHop: '192.168.1.11' },
      { prefix: 'fd00:10:244:1::/122', nextHop: 'fd00::11' },
    ]);
    assert.equal(port.batches.length, 0, 'setRoutes does no I/O');
    const r = await t.apply();
    assert.deepEqual(r, { resynced: true, ops: 2, held: 0, failed: [] });
    assert.equal(port.batches.length, 1);
    assert.equal(port.owned().length, 2);
    assert.deepEqual(await t.apply(), { resynced: false, ops: 0, held: 0, failed: [] });
    assert.equal(port.lists, 1);
  });

  it('apply() replaces on a next-hop change and deletes on withdrawal', async () => {
    const port = new FakePort();
    const t = new RouteTable({ port, protocol: PROTO, resyncIntervalMs: 0 });
    t.applyChanges([{ prefix: '10.244.1.0/26', nextHop: '192.168.1.11' }]);
    await t.apply();
    t.applyChanges([{ prefix: '10.244.1.0/26', nextHop: '192.168.1.12' }]);
    await t.apply();
    assert.equal(port.owned()[0]!.gateway, '192.168.1.12');
    t.applyChanges([{ prefix: '10.244.1.0/26' }]);
    await t.apply();
    assert.equal(port.owned().length, 0);
  });

  it('apply() keeps a failed op dirty and retries it on the next apply(), the rest landing', async () => {
    const port = new FakePort();
    const t = new RouteTable({ port, protocol: PROTO, resyncIntervalMs: 0 });
    const bad = route('10.244.2.0/26', '192.168.9.9');
    port.fail.add(key(bad));
    t.setRoutes([
      { prefix: '10.244.1.0/26', nextHop: '192.168.1.11' },
      { prefix: '10.244.2.0/26', nextHop: '192.168.9.9' },
    ]);
    const r1 = await t.apply();
    assert.equal(r1.failed.length, 1);
    assert.equal(r1.failed[0]!.key, key(bad));
    assert.equal(port.owned().length, 1, 'the good route landed');
    assert.ok(t.pending);
    port.fail.clear();
    const r2 = await t.apply();
    assert.equal(r2.resynced, true, 'a failure forces a resync');
    assert.equal(r2.ops, 1, 'only the failed route is retried');
    assert.equal(port.owned().length, 2);
  });

  it('apply() keeps every op dirty when the port throws, and rethrows', async () => {
    const port = new FakePort();
    const t = new RouteTable({ port, protocol: PROTO, resyncIntervalMs: 0 });
    t.setRoutes([{ prefix: '10.244.1.0/26', nextHop: '192.168.1.11' }]);
    port.throwNext = true;
    await assert.rejects(t.apply(), /socket closed/);
    assert.equal((await t.apply()).ops, 1);
    assert.equal(port.owned().length, 1);
  });

  it('the first apply() sweeps stale owned routes and never touches another protocol or table', async () => {
    const port = new FakePort();
    const stale = route('10.244.9.0/26', '192.168.1.99');
    const kept = route('10.244.1.0/26', '192.168.1.11');
    const foreign = route('10.244.9.0/26', '192.168.1.1', { protocol: 4 }); // proto static, same prefix
    const otherTable = route('10.244.8.0/26', '192.168.1.1', { table: 100 });
    for (const r of [stale, kept, foreign, otherTable]) port.add(r);
    const t = new RouteTable({ port, protocol: PROTO, resyncIntervalMs: 0 });
    t.setRoutes([{ prefix: '10.244.1.0/26', nextHop: '192.168.1.11' }]);
    const r = await t.apply();
    assert.deepEqual(port.batches, [[{ kind: 'delete', route: stale }]], 'the kept route is recognised, not rewritten');
    assert.equal(r.ops, 1);
    assert.deepEqual([...port.routes.values()].map(key).sort(), [key(kept), key(foreign), key(otherTable)].sort());
  });

  it('apply() resyncs again once resyncIntervalMs has passed (drift is repaired)', async () => {
    let now = 1_000_000;
    const clock = { now: () => now, setTimeout: () => ({ cancel() {} }) };
    const port = new FakePort();
    const t = new RouteTable({ port, protocol: PROTO, clock, resyncIntervalMs: 90_000 });
    t.setRoutes([{ prefix: '10.244.1.0/26', nextHop: '192.168.1.11' }]);
    await t.apply();
    port.routes.clear(); // someone deleted our route
    assert.equal(t.pending, false);
    now += 90_000;
    assert.equal(t.pending, true);
    const r = await t.apply();
    assert.equal(r.resynced, true);
    assert.equal(port.owned().length, 1);
  });

  it("apply() keeps a previous run's routes during keepStaleMs, then sweeps them; its own withdrawals go at once", async () => {
    let now = 1_000_000;
    const clock = { now: () => now, setTimeout: () => ({ cancel() {} }) };
    const port = new FakePort();
    const stale = route('10.244.9.0/26', '192.168.1.99');
    port.add(stale);
    const t = new RouteTable({ port, protocol: PROTO, clock, resyncIntervalMs: 0, keepStaleMs: 120_000 });
    t.setRoutes([{ prefix: '10.244.1.0/26', nextHop: '192.168.1.11' }]);
    const r1 = await t.apply();
    assert.equal(r1.held, 1);
    assert.equal(port.owned().length, 2, 'the stale route stays in the window');
    t.applyChanges([{ prefix: '10.244.1.0/26' }]);
    await t.apply();
    assert.deepEqual(port.owned(), [stale], 'a route this process wanted is withdrawn at once');
    now += 120_000;
    const r2 = await t.apply();
    assert.equal(r2.held, 0);
    assert.equal(port.owned().length, 0, 'swept after the window');
  });

  it('setRoutes() replaces the desired set: prefixes left out are removed', async () => {
    const port = new FakePort();
    const t = new RouteTable({ port, protocol: PROTO, resyncIntervalMs: 0 });
    t.setRoutes([
      { prefix: '10.244.1.0/26', nextHop: '192.168.1.11' },
      { prefix: '10.244.2.0/26', nextHop: '192.168.1.12' },
    ]);
    await t.apply();
    t.setRoutes([{ prefix: '10.244.2.0/26', nextHop: '192.168.1.12' }]);
    await t.apply();
    assert.deepEqual(
      port.owned().map((r) => r.dst),
      ['10.244.2.0'],
    );
    t.applyChanges([{ prefix: '10.244.3.0/26', nextHop: 'fd00::1' }]);
    assert.equal(t.unusable, 1);
  });
});

describe('applyChanges() fast IPv4 path', () => {
  it('canonicalV4() accepts exactly the canonical dotted quads tryParseIp accepts', () => {
    const octet = fc.oneof(fc.nat(300).map(String), fc.constantFrom('00', '01', '', 'a', '-1', '256'));
    fc.assert(
      fc.property(fc.array(octet, { minLength: 3, maxLength: 5 }), (parts) => {
        const text = parts.join('.');
        const got = canonicalV4(text, 0, text.length);
        const ip = tryParseIp(text);
        const canonical = ip.ok && ip.value.family === 4 && formatIp(ip.value) === text;
        assert.equal(got >= 0, canonical, text);
        if (canonical) assert.equal(BigInt(got), ip.value.value);
      }),
    );
  });

  it('gives the same desired routes and unusable count as the general path, for any prefix and next hop', () => {
    const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join('.'));
    const prefix = fc.oneof(
      fc.tuple(v4, fc.integer({ min: 0, max: 33 })).map(([a, l]) => `${a}/${l}`),
      fc.constantFrom('10.0.0.0/08', '010.0.0.0/8', 'fd00::/64', '10.0.0.0', '0.0.0.0/0'),
    );
    const nextHop = fc.oneof(
      v4,
      fc.constantFrom('0.0.0.0', 'fd00::1', '::ffff:10.0.0.1', '10.1.1.01', 'x'),
      fc.constant(undefined), // a withdrawal
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(prefix, nextHop)), (pairs) => {
        const t = new RouteTable({ port: new FakePort(), protocol: PROTO, resyncIntervalMs: 0 });
        t.applyChanges(pairs.map(([p, n]) => (n === undefined ? { prefix: p } : { prefix: p, nextHop: n })));
        const want = new Map<string, Route>();
        let unusable = 0;
        for (const [p, n] of pairs) {
          const r = n === undefined ? undefined : routeForChange({ prefix: p, nextHop: n }, O);
          if (r) want.set(key(r), r);
          else {
            // A withdrawal or an unusable change takes the prefix out of the desired set (when it parses).
            const any = routeForChange({ prefix: p, nextHop: p.includes(':') ? 'fd00::1' : '10.0.0.1' }, O);
            if (any) want.delete(key(any));
            if (n !== undefined || !any) unusable++; // a withdrawal counts only when its prefix is bad
          }
        }
        assert.deepEqual(new Map(t.desired), want);
        assert.equal(t.unusable, unusable);
      }),
    );
  });
});

describe('RouteTable model property (both stores: plain IPv4 and general routes)', () => {
  it('after any mix of changes, drift, failures and applies, a clean resync leaves the kernel equal to desired', async () => {
    const prefix = fc.constantFrom(
      '10.1.0.0/24',
      '10.1.0.7/24', // host bits: the general path, same route as 10.1.0.0/24
      '10.2.0.0/16',
      '10.3.3.3/32',
      '0.0.0.0/0',
      'fd00:1::/64',
      'fd00:2::/120',
    );
    const nextHop = fc.constantFrom('192.168.1.1', '192.168.1.2', 'fd00::1', 'fd00::2', '0.0.0.0', undefined);
    const step = fc.oneof(
      fc.record({ t: fc.constant('changes' as const), c: fc.array(fc.tuple(prefix, nextHop), { maxLength: 6 }) }),
      fc.record({ t: fc.constant('apply' as const) }),
      fc.record({ t: fc.constant('drift-delete' as const), i: fc.nat() }),
      fc.record({ t: fc.constant('drift-add' as const), p: prefix }),
      fc.record({ t: fc.constant('fail' as const), p: prefix }),
      fc.record({ t: fc.constant('time' as const) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 30 }), async (steps) => {
        let now = 1_000_000;
        const clock = { now: () => now } as unknown as ConstructorParameters<typeof RouteTable>[0]['clock'];
        const port = new FakePort();
        const t = new RouteTable({ port, protocol: PROTO, clock, resyncIntervalMs: 10_000 });
        for (const s of steps) {
          if (s.t === 'changes')
            t.applyChanges(s.c.map(([p, n]) => (n === undefined ? { prefix: p } : { prefix: p, nextHop: n })));
          else if (s.t === 'apply') await t.apply();
          else if (s.t === 'drift-delete') {
            const owned = port.owned();
            const r = owned[s.i % Math.max(1, owned.length)];
            if (r) port.routes.delete(`${key(r)}|${PROTO}`);
          } else if (s.t === 'drift-add') {
            const r = routeForChange({ prefix: s.p, nextHop: s.p.includes(':') ? 'fd00::9' : '192.168.9.9' }, O);
            if (r) port.add(r); // a route of ours nobody wants (a previous run's, or an operator's mistake)
          } else if (s.t === 'fail') {
            const r = routeForChange({ prefix: s.p, nextHop: s.p.includes(':') ? 'fd00::9' : '192.168.9.9' }, O);
            if (r) port.fail.add(key(r));
          } else now += 11_000; // the next apply resyncs
        }
        port.fail.clear();
        now += 11_000;
        await t.apply();
        await t.apply();
        const gw = (m: ReadonlyMap<string, Route>) => new Map([...m].map(([k, r]) => [k, r.gateway]));
        assert.deepEqual(gw(new Map(port.owned().map((r) => [key(r), r]))), gw(t.desired));
        assert.deepEqual(gw(t.actual), gw(t.desired));
      }),
      { numRuns: 300 },
    );
  });
});

describe('applyPacked()', () => {
  it('gives the same desired routes and unusable count as the text form of the same batch', () => {
    const v4 = fc
      .tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.integer({ min: 0, max: 32 }))
      .map(([a, b, c, len]) => {
        const addr = ((a << 24) | (b << 16) | (c << 8)) >>> 0;
        const net = len === 0 ? 0 : addr - (addr % 2 ** (32 - len));
        return {
          key: net * 64 + len,
          text: `${net >>> 24}.${(net >>> 16) & 255}.${(net >>> 8) & 255}.${net & 255}/${len}`,
        };
      });
    const hop = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2 ** 32 - 1 }));
    const u32Text = (u: number) => `${u >>> 24}.${(u >>> 16) & 255}.${(u >>> 8) & 255}.${u & 255}`;
    const other = fc.array(
      fc.record(
        {
          prefix: fc.constantFrom('fd00:1::/64', '10.9.0.0/24', 'bad'),
          nextHop: fc.constantFrom('fd00::1', undefined),
        },
        { requiredKeys: ['prefix'] },
      ),
      { maxLength: 3 },
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(v4, hop), { maxLength: 30 }), other, (pairs, rest) => {
        const others = rest.map((c) =>
          c.nextHop === undefined ? { prefix: c.prefix } : { prefix: c.prefix, nextHop: c.nextHop },
        );
        const a = new RouteTable({ port: new FakePort(), protocol: PROTO, resyncIntervalMs: 0 });
        a.applyPacked({
          v4Keys: Float64Array.from(pairs.map(([p]) => p.key)),
          v4NextHops: Uint32Array.from(pairs.map(([, h]) => h)),
          other: others,
        });
        const b = new RouteTable({ port: new FakePort(), protocol: PROTO, resyncIntervalMs: 0 });
        b.applyChanges([
          ...pairs.map(([p, h]) => (h === 0 ? { prefix: p.text } : { prefix: p.text, nextHop: u32Text(h) })),
          ...others,
        ]);
        assert.deepEqual(new Map(a.desired), new Map(b.desired));
        assert.equal(a.unusable, b.unusable);
      }),
    );
  });
});
