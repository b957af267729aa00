/**
 * The allocator against a real etcd (lab/etcd.ts), under concurrency:
 *   - a fast-check model test: random batches of concurrent assigns, specific assigns, releases by address
 *     and by handle, empty-block releases and node deletions, run by several `Ipam` instances per node (as
 *     separate CNI processes would be, so they really meet in the CAS), never produce a duplicate address,
 *     a lost address, or a block whose counts disagree with its handles;
 *   - 10 nodes × 20 concurrent pods.
 * Each case gets its own key prefix; the server is removed at the end.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { isCaracalError } from '../../common/errors.js';
import { EtcdV3Backend } from '../../datastore/etcdv3/backend.js';
import { createDatastore } from '../../datastore/store.js';
import type { Datastore } from '../../datastore/types.js';
import { Ipam } from '../../ipam/allocator.js';
import { allocatedAddresses, handleCounts } from '../../ipam/block.js';
import { checkIpam } from '../../ipam/gc.js';
import { EtcdServer } from '../../lab/etcd.js';

let etcd: EtcdServer;
const open: { ds: Datastore; admin: EtcdV3Backend; prefix: string }[] = [];

before(async () => {
  etcd = await EtcdServer.start();
});
after(async () => {
  for (const o of open) {
    await o.ds.close();
    await o.admin.client.delete().prefix(`${o.prefix}/`).exec();
    await o.admin.close();
  }
  await etcd?.remove();
});

async function freshStore(pools: { name: string; cidr: string; blockSize: number }[]): Promise<Datastore> {
  const prefix = `/caracal-ipam-test/${randomUUID()}/v1`;
  const ds = createDatastore(new EtcdV3Backend({ endpoints: etcd.endpoints, prefix }));
  open.push({ ds, admin: new EtcdV3Backend({ endpoints: etcd.endpoints, prefix }), prefix });
  for (const p of pools) {
    await ds.create('IPPool', {
      apiVersion: 'crd.caracal.dev/v1',
      kind: 'IPPool',
      metadata: { name: p.name },
      spec: { cidr: p.cidr, blockSize: p.blockSize },
    });
  }
  return ds;
}

/** Store state → ip → handle, asserting no address appears twice and every block's counts match its handles. */
async function storeState(ds: Datastore): Promise<Map<string, string>> {
  const byIp = new Map<string, string>();
  const perHandle = new Map<string, Map<string, number>>();
  for (const b of (await ds.list('IPAMBlock')).items) {
    for (const a of allocatedAddresses(b.spec)) {
      assert.equal(byIp.has(a.ip), false, `${a.ip} allocated twice`);
      byIp.set(a.ip, a.handleId ?? '');
    }
    for (const [h, n] of handleCounts(b.spec)) {
      const m = perHandle.get(h) ?? new Map<string, number>();
      m.set(b.spec.cidr, n);
      perHandle.set(h, m);
    }
  }
  const handles = (await ds.list('IPAMHandle')).items;
  assert.deepEqual(
    Object.fromEntries(handles.map((h) => [h.spec.handleID, h.spec.block])),
    Object.fromEntries([...perHandle].map(([h, m]) => [h, Object.fromEntries(m)])),
    'every handle counts exactly what the blocks hold',
  );
  return byIp;
}

const ALLOWED = new Set(['IPAM_POOL_EXHAUSTED', 'IPAM_ADDRESS_IN_USE', 'IPAM_BLOCK_LIMIT', 'IPAM_STRICT_AFFINITY']);

type Op =
  | { op: 'assign'; node: number; inst: number; n: number }
  | { op: 'assignIp'; node: number; inst: number; host: number }
  | { op: 'releaseHandle'; pick: number; inst: number }
  | { op: 'releaseIp'; pick: number; inst: number; stale: boolean }
  | { op: 'releaseEmpty'; node: number; inst: number }
  | { op: 'deleteNode'; node: number; inst: number };

const NODES = 3;
const INSTANCES = 2;
const node = fc.integer({ min: 0, max: NODES - 1 });
const inst = fc.integer({ min: 0, max: INSTANCES - 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({ op: fc.constant('assign' as const), node, inst, n: fc.integer({ min: 1, max: 3 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('assignIp' as const), node, inst, host: fc.integer({ min: 0, max: 63 }) }),
  },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('releaseHandle' as const), pick: fc.nat(), inst }) },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('releaseIp' as const), pick: fc.nat(), inst, stale: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('releaseEmpty' as const), node, inst }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('deleteNode' as const), node, inst }) },
);

describe('Ipam on etcd', { timeout: 120_000 }, () => {
  it('random concurrent assigns, releases, claims and node deletions: no duplicate, no lost address, counts agree', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(opArb, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 4 }),
        fc.constantFrom(0, 0, 2),
        async (batches, strictCap) => {
          // A /26 pool in /29 blocks: 8 blocks of 8, so claims, borrowing and exhaustion all happen. strictCap > 0:
          // strictAffinity on, at most that many blocks per node (no borrowing; the block limit applies).
          const ds = await freshStore([{ name: 'p', cidr: '10.9.0.0/26', blockSize: 29 }]);
          if (strictCap > 0) {
            await ds.create('IPAMConfig', {
              apiVersion: 'crd.caracal.dev/v1',
              kind: 'IPAMConfig',
              metadata: { name: 'default' },
              spec: { strictAffinity: true, maxBlocksPerHost: strictCap },
            });
          }
          const ipams = Array.from({ length: INSTANCES }, () => new Ipam(ds, { cacheTtlMs: 60_000 }));
          /** The model: what each live handle holds (ip → sequence number). */
          const held = new Map<string, Map<string, number>>();
          let next = 0;
          run++;
          for (const batch of batches) {
            const handles = [...held.keys()];
            const taken = new Set<string>();
            const tasks = batch.map(async (o) => {
              const ipam = ipams[o.inst]!;
              if (o.op === 'assign' || o.op === 'assignIp') {
                const h = `r${run}.h${next++}`;
                try {
                  if (o.op === 'assign') {
                    const got = await ipam.autoAssign({
                      handleId: h,
                      node: `n${o.node}`,
                      num4: o.n,
                      num6: 0,
                      attrs: { pod: h },
                    });
                    assert.equal(got.ipv4.length, o.n, 'all requested addresses or an error');
                    held.set(h, new Map(got.ipv4.map((a) => [a.ip, a.sequenceNumber])));
                  } else {
                    const a = await ipam.assignIp({
                      ip: `10.9.0.${o.host}`,
                      handleId: h,
                      node: `n${o.node}`,
                      attrs: { pod: h },
                    });
                    held.set(h, new Map([[a.ip, a.sequenceNumber]]));
                  }
                } catch (e) {
                  if (!isCaracalError(e) || !ALLOWED.has(e.code)) throw e;
                }
              } else if (o.op === 'releaseHandle' || o.op === 'releaseIp') {
                const h = handles.length ? handles[o.pick % handles.length]! : undefined;
                if (!h || taken.has(h)) return; // one release per handle per batch: the model stays exact
                taken.add(h);
                const ips = held.get(h)!;
                if (o.op === 'releaseHandle') {
                  const released = await ipam.releaseByHandle(h);
                  assert.deepEqual(released.sort(), [...ips.keys()].sort());
                  held.delete(h);
                } else {
                  const [ip, seq] = [...ips][o.pick % ips.size]!;
                  const out = await ipam.releaseIpsDetailed([{ ip, sequenceNumber: o.stale ? seq - 1 : seq }]);
                  if (o.stale) {
                    assert.deepEqual(out.stale, [ip], 'a stale release is refused');
                  } else {
                    assert.deepEqual(out.released, [ip]);
                    ips.delete(ip);
                    if (ips.size === 0) held.delete(h);
                  }
                }
              } else if (o.op === 'releaseEmpty') {
                await ipam.releaseEmptyBlocks(`n${o.node}`);
              } else {
                await ipam.releaseNodeAffinities(`n${o.node}`);
              }
            });
            await Promise.all(tasks);
            const state = await storeState(ds);
            const want = new Map<string, string>();
            for (const [h, ips] of held) for (const ip of ips.keys()) want.set(ip, h);
            assert.deepEqual(
              [...state].sort(),
              [...want].sort(),
              'the store holds exactly the addresses the model says are held (no lost, no leaked address)',
            );
          }
          const check = await checkIpam(ds, { gracePeriodMs: 3_600_000 });
          assert.deepEqual(
            check.problems.filter((p) => p.kind !== 'leak'),
            [],
            'no duplicate, affinity, handle or block problem',
          );
        },
      ),
      { numRuns: 40 },
    );
  });

  it('10 nodes × 20 concurrent pods: 200 distinct addresses, each from its node`s own blocks', async () => {
    const ds = await freshStore([{ name: 'p', cidr: '10.100.0.0/16', blockSize: 26 }]);
    const nodes = Array.from({ length: 10 }, (_, i) => `worker-${i}`);
    // Two processes per node (the CNI runs one per pod), so pods of one node race in the CAS too.
    const ipams = nodes.map(() => [new Ipam(ds), new Ipam(ds)] as const);
    const results = await Promise.all(
      nodes.flatMap((n, i) =>
        Array.from({ length: 20 }, (_, p) =>
          ipams[i]![p % 2]!.autoAssign({
            handleId: `k8s-pod-network.${n}-${p}`,
            node: n,
            num4: 1,
            num6: 0,
            attrs: { pod: `${n}-${p}` },
          }).then((r) => ({ node: n, a: r.ipv4[0]! })),
        ),
      ),
    );
    assert.equal(new Set(results.map((r) => r.a.ip)).size, 200);
    const blocks = new Map((await ds.list('IPAMBlock')).items.map((b) => [b.spec.cidr, b.spec.affinity]));
    for (const r of results) {
      assert.equal(r.a.borrowed, false);
      assert.equal(blocks.get(r.a.blockCidr), `host:${r.node}`);
    }
    await storeState(ds);
    const check = await checkIpam(ds, { gracePeriodMs: 3_600_000 });
    assert.deepEqual(check.problems, []);
    await Promise.all(
      results.map((r, i) =>
        ipams[nodes.indexOf(r.node)]![i % 2]!.releaseByHandle(`k8s-pod-network.${r.node}-${i % 20}`),
      ),
    );
    assert.equal((await storeState(ds)).size, 0);
    assert.equal((await ds.list('IPAMHandle')).items.length, 0);
  });
});
