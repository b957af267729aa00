/**
 * IPAM allocation against a real etcd (lab/etcd.ts), 10 nodes allocating at once.
 *
 * What it measures: one run releases the previous run's 40 pods (by handle) and then starts 10 nodes × 4
 * pods of `autoAssign` (one IPv4 address each) all at once; the time covers both, so the throughput (per
 * allocation) is that of a pod's whole IPAM life, ADD and DEL.
 * - ours: one long-lived `Ipam` per node (a node agent or an IPAM daemon): the node's blocks, the pools and
 *   IPAMConfig are cached, so an allocation from a block with room is a handle create and a block CAS.
 * - reference: a fresh `Ipam` per pod, the cost profile of a CNI process that starts cold for every pod
 *   (and of Calico's calico-ipam, which reads pools, config, affinities and blocks on each call).
 * Both run the same code paths and the same store; the difference is the cache.
 *
 * Round trips per allocation are counted with a counting Datastore wrapper and printed after the run
 * (issue 4's target: 2 or fewer on the common path).
 */
import { randomUUID } from 'node:crypto';
import { EtcdV3Backend } from '../datastore/etcdv3/backend.js';
import { createDatastore } from '../datastore/store.js';
import type { Datastore } from '../datastore/types.js';
import { Ipam } from '../ipam/index.js';
import { EtcdServer } from '../lab/etcd.js';
import { type CountingDatastore, countingDatastore } from '../test/ipam/counting.js';
import { sideBySide } from './api.js';

const NODES = 10;
const PODS_PER_RUN = 4;

interface Side {
  ds: CountingDatastore;
  ipams: Ipam[] | undefined; // undefined: a fresh Ipam per pod
  pending: { node: number; handleId: string }[];
  allocs: number;
  n: number;
}

let etcd: EtcdServer | undefined;
const sides: Record<'ours' | 'reference', Side | undefined> = { ours: undefined, reference: undefined };
const raw: Datastore[] = [];

async function makeSide(warm: boolean): Promise<Side> {
  const inner = createDatastore(
    new EtcdV3Backend({ endpoints: etcd!.endpoints, prefix: `/caracal-bench-ipam/${randomUUID()}/v1` }),
  );
  raw.push(inner);
  const ds = countingDatastore(inner);
  await ds.create('IPPool', {
    apiVersion: 'crd.caracal.dev/v1',
    kind: 'IPPool',
    metadata: { name: 'bench' },
    spec: { cidr: '10.128.0.0/12' },
  });
  return {
    ds,
    ipams: warm ? Array.from({ length: NODES }, () => new Ipam(ds, { cacheTtlMs: 60_000 })) : undefined,
    pending: [],
    allocs: 0,
    n: 0,
  };
}

async function runSide(s: Side): Promise<number> {
  const before = s.ds.total();
  // Each pod is deleted on its own node (its CNI DEL), by that node's allocator.
  await Promise.all(s.pending.map((p) => (s.ipams?.[p.node] ?? new Ipam(s.ds)).releaseByHandle(p.handleId)));
  const releaseTrips = s.ds.total() - before;
  s.pending = [];
  const calls: Promise<unknown>[] = [];
  for (let node = 0; node < NODES; node++) {
    for (let p = 0; p < PODS_PER_RUN; p++) {
      const handleId = `k8s-pod-network.n${node}-${s.n++}`;
      s.pending.push({ node, handleId });
      const ipam = s.ipams?.[node] ?? new Ipam(s.ds);
      calls.push(ipam.autoAssign({ handleId, node: `node-${node}`, num4: 1, num6: 0, attrs: { pod: handleId } }));
    }
  }
  await Promise.all(calls);
  s.allocs += calls.length;
  return releaseTrips;
}

/** Round trips spent on allocations only (release trips are counted and taken out). */
const allocTrips = { ours: 0, reference: 0 };

export default sideBySide('IPAM: 10 nodes allocating concurrently on etcd', {
  labels: { ours: 'long-lived Ipam (cached blocks)', reference: 'fresh Ipam per pod (cold)' },
  units: 'ops',
  unitsPerRun: NODES * PODS_PER_RUN,
  iterations: 1,
  warmup: 2,
  runs: 15,
  setup: async () => {
    etcd = await EtcdServer.start();
    sides.ours = await makeSide(true);
    sides.reference = await makeSide(false);
  },
  ours: async () => {
    const s = sides.ours!;
    const start = s.ds.total();
    const rel = await runSide(s);
    allocTrips.ours += s.ds.total() - start - rel;
  },
  reference: async () => {
    const s = sides.reference!;
    const start = s.ds.total();
    const rel = await runSide(s);
    allocTrips.reference += s.ds.total() - start - rel;
  },
  teardown: async () => {
    for (const k of ['ours', 'reference'] as const) {
      const s = sides[k];
      if (!s) continue;
      const per = (allocTrips[k] / Math.max(1, s.allocs)).toFixed(2);
      process.stdout.write(
        `ipam round trips per allocation, ${k}: ${per} (${JSON.stringify(s.ds.counts)} incl. releases)\n`,
      );
    }
    for (const d of raw) await d.close();
    await etcd?.remove();
  },
});
