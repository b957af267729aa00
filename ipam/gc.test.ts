import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Clock } from '../common/clock.js';
import { MemoryBackend } from '../datastore/memory/backend.js';
import { createDatastore } from '../datastore/store.js';
import type { Datastore } from '../datastore/types.js';
import { blockName } from '../model/ipam-block.js';
import { workloadEndpointName } from '../model/workload-endpoint.js';
import { Ipam } from './allocator.js';
import { checkIpam, gcIpam } from './gc.js';

const MIN = 60_000;

function fakeClock(start = Date.parse('2026-01-01T00:00:00Z')): Clock & { advance(ms: number): void } {
  let t = start;
  return {
    now: () => t,
    setTimeout: (fn, ms) => {
      const h = setTimeout(fn, ms);
      return { cancel: () => clearTimeout(h) };
    },
    advance(ms) {
      t += ms;
    },
  };
}

async function setup(): Promise<{ ds: Datastore; ipam: Ipam; clock: ReturnType<typeof fakeClock> }> {
  const ds = createDatastore(new MemoryBackend());
  await ds.create('IPPool', {
    apiVersion: 'crd.caracal.dev/v1',
    kind: 'IPPool',
    metadata: { name: 'p4' },
    spec: { cidr: '10.244.0.0/16' },
  });
  const clock = fakeClock();
  return { ds, ipam: new Ipam(ds, { clock }), clock };
}

async function pod(ipam: Ipam, ds: Datastore, name: string, node: string, withEndpoint: boolean): Promise<string> {
  const got = await ipam.autoAssign({
    handleId: `net.${name}`,
    node,
    num4: 1,
    num6: 0,
    attrs: { pod: name, namespace: 'default', containerID: name },
  });
  const ip = got.ipv4[0]!.ip;
  if (withEndpoint) {
    await ds.create('WorkloadEndpoint', {
      apiVersion: 'crd.caracal.dev/v1',
      kind: 'WorkloadEndpoint',
      metadata: { name: workloadEndpointName({ node, pod: name }), namespace: 'default' },
      spec: { node, pod: name, interfaceName: `cali${name}`, ipNetworks: [`${ip}/32`] },
    });
  }
  return ip;
}

describe('checkIpam() and gcIpam()', () => {
  it('an address without an endpoint is a candidate, then a confirmed leak after the grace period', async () => {
    const { ds, ipam, clock } = await setup();
    const live = await pod(ipam, ds, 'live', 'n1', true);
    const leaked = await pod(ipam, ds, 'gone', 'n1', false);
    let check = await checkIpam(ds, { clock, gracePeriodMs: 15 * MIN });
    assert.deepEqual(check.problems, []);
    assert.deepEqual(
      check.leaks.map((l) => [l.ip, l.confirmed]),
      [[leaked, false]],
    );
    assert.equal((await gcIpam(ds, { clock, gracePeriodMs: 15 * MIN })).released.length, 0, 'not before the grace');
    clock.advance(16 * MIN);
    check = await checkIpam(ds, { clock, gracePeriodMs: 15 * MIN });
    assert.deepEqual(
      check.problems.map((p) => [p.kind, p.ip]),
      [['leak', leaked]],
    );
    const dry = await gcIpam(ds, { clock, gracePeriodMs: 15 * MIN, dryRun: true });
    assert.deepEqual(
      dry.candidates.map((c) => c.ip),
      [leaked],
    );
    assert.ok(await ds.get('IPAMHandle', 'net.gone'), 'a dry run changes nothing');
    const gc = await gcIpam(ds, { clock, gracePeriodMs: 15 * MIN });
    assert.deepEqual(gc.released, [leaked]);
    assert.equal(await ds.get('IPAMHandle', 'net.gone'), undefined);
    check = await checkIpam(ds, { clock, gracePeriodMs: 15 * MIN });
    assert.deepEqual(check.problems, []);
    assert.equal(check.blocks[0]?.allocated, 1, `${live} stays`);
  });

  it('a stale GC release leaves a reused address with its new owner', async () => {
    const { ds, ipam, clock } = await setup();
    const ip = await pod(ipam, ds, 'old', 'n1', false);
    clock.advance(20 * MIN);
    const check = await checkIpam(ds, { clock, gracePeriodMs: MIN });
    // Between the scan and the release: the pod is deleted and the address handed to a new pod.
    await ipam.releaseByHandle('net.old');
    await ipam.assignIp({ ip, handleId: 'net.new', node: 'n1', attrs: { pod: 'new', namespace: 'default' } });
    const gc = await gcIpam(ds, { clock, gracePeriodMs: MIN, check });
    assert.deepEqual(gc.released, []);
    assert.deepEqual(gc.stale, [ip]);
    assert.ok(await ds.get('IPAMHandle', 'net.new'));
  });

  it('`checkIpam()` reports a handle that under-counts and an affinity whose block is gone', async () => {
    const { ds, ipam, clock } = await setup();
    await pod(ipam, ds, 'a', 'n1', false); // inside the grace period: a candidate, not a problem
    const h = (await ds.get('IPAMHandle', 'net.a'))!;
    const cidr = Object.keys(h.spec.block)[0]!;
    const wrong = await ds.update('IPAMHandle', { ...h, spec: { ...h.spec, block: { '10.244.255.0/26': 1 } } });
    let check = await checkIpam(ds, { clock });
    assert.deepEqual(
      check.problems.map((p) => [p.kind, p.block]),
      [['handle', cidr]],
    );
    await ds.update('IPAMHandle', { ...wrong, spec: h.spec });
    await ipam.releaseByHandle('net.a');
    await ds.delete('IPAMBlock', blockName(cidr));
    check = await checkIpam(ds, { clock });
    assert.deepEqual(
      check.problems.map((p) => [p.kind, p.block]),
      [['affinity', cidr]],
    );
  });
});

describe('checkIpam() duplicates', () => {
  it('reports an endpoint address that IPAM has free (it could be handed out twice)', async () => {
    const { ds, ipam, clock } = await setup();
    const ip = await pod(ipam, ds, 'a', 'n1', true);
    await ipam.releaseIps([{ ip }]);
    const check = await checkIpam(ds, { clock });
    assert.deepEqual(
      check.problems.map((p) => [p.kind, p.ip]),
      [['duplicate', ip]],
    );
  });
});

describe('gcIpam() and deleted nodes', () => {
  it('an address listed by a non-Kubernetes endpoint (spec.workload, as the CNI plugin writes it) is live', async () => {
    const { ds, ipam, clock } = await setup();
    const got = await ipam.autoAssign({
      handleId: 'net.podman1',
      node: 'n1',
      num4: 1,
      num6: 0,
      attrs: { pod: 'podman1', namespace: 'default', containerID: 'podman1' },
    });
    const ip = got.ipv4[0]!.ip;
    await ds.create('WorkloadEndpoint', {
      apiVersion: 'crd.caracal.dev/v1',
      kind: 'WorkloadEndpoint',
      metadata: {
        name: workloadEndpointName({ node: 'n1', pod: 'podman1', orchestrator: 'cni' }),
        namespace: 'default',
      },
      spec: {
        orchestrator: 'cni',
        node: 'n1',
        workload: 'podman1',
        interfaceName: 'calipodman1',
        ipNetworks: [`${ip}/32`],
      },
    });
    clock.advance(16 * MIN);
    const check = await checkIpam(ds, { clock, gracePeriodMs: 15 * MIN });
    assert.deepEqual(check.leaks, []);
    assert.deepEqual((await gcIpam(ds, { clock, gracePeriodMs: 15 * MIN })).released, []);
  });

  it('releases the addresses and the block affinities of a node that no longer exists', async () => {
    const { ds, ipam, clock } = await setup();
    for (const n of ['n1', 'n2']) {
      await ds.create('Node', { apiVersion: 'crd.caracal.dev/v1', kind: 'Node', metadata: { name: n }, spec: {} });
    }
    await pod(ipam, ds, 'a', 'n1', true);
    const gone = await pod(ipam, ds, 'b', 'n2', true);
    await ds.delete('Node', 'n2');
    const partial = await checkIpam(ds, { clock });
    assert.deepEqual(partial.goneNodes, [], 'off the kubernetes driver the node list is not taken as complete');
    assert.deepEqual(partial.leaks, [], 'so nothing of n2 is a confirmed leak by default');
    const check = await checkIpam(ds, { clock, nodeListAuthoritative: true });
    assert.deepEqual(check.goneNodes, ['n2']);
    assert.deepEqual(
      check.leaks.map((l) => [l.ip, l.confirmed]),
      [[gone, true]],
      'a gone node confirms at once, whatever the grace period',
    );
    const gc = await gcIpam(ds, { clock, check });
    assert.deepEqual(gc.released, [gone]);
    assert.equal(gc.blocksReleased.length, 1);
    assert.deepEqual(
      (await ds.list('BlockAffinity')).items.map((a) => a.spec.node),
      ['n1'],
    );
  });
});
