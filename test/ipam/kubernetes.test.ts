/**
 * The allocator on the kubernetes driver (CRDs over HTTP, CAS on resourceVersion, deletes with preconditions),
 * against the project's test API server (test/k8s-api-server): concurrent pods on three nodes with two
 * allocators each, releases, a node deletion, then `checkIpam` (which reads Pods on this driver).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createKubernetesBackend } from '../../datastore/kubernetes/backend.js';
import { createDatastore } from '../../datastore/store.js';
import { Ipam } from '../../ipam/allocator.js';
import { allocatedAddresses, handleCounts } from '../../ipam/block.js';
import { checkIpam } from '../../ipam/gc.js';
import { TestApiServer } from '../k8s-api-server/server.js';

describe('Ipam on the kubernetes datastore', { timeout: 60_000 }, () => {
  it('concurrent pods on 3 nodes: distinct addresses, handle counts agree, node deletion and release leave nothing', async () => {
    const server = await TestApiServer.start({});
    const dir = await mkdtemp(join(tmpdir(), 'caracal-ipam-k8s-'));
    const ds = createDatastore(createKubernetesBackend({ kubeconfigPath: await server.writeKubeconfig(dir) }));
    try {
      await ds.create('IPPool', {
        apiVersion: 'crd.caracal.dev/v1',
        kind: 'IPPool',
        metadata: { name: 'p' },
        spec: { cidr: '10.70.0.0/24', blockSize: 29 },
      });
      const nodes = ['k1', 'k2', 'k3'];
      const ipams = nodes.map(() => [new Ipam(ds), new Ipam(ds)]);
      const got = await Promise.all(
        nodes.flatMap((n, i) =>
          Array.from({ length: 10 }, (_, p) =>
            ipams[i]![p % 2]!.autoAssign({
              handleId: `k8s-pod-network.${n}-${p}`,
              node: n,
              num4: 1,
              num6: 0,
              attrs: { pod: `${n}-${p}`, namespace: 'default' },
            }).then((r) => r.ipv4[0]!),
          ),
        ),
      );
      assert.equal(new Set(got.map((a) => a.ip)).size, 30);
      const blocks = (await ds.list('IPAMBlock')).items;
      const counts = new Map<string, number>();
      for (const b of blocks) for (const [h, c] of handleCounts(b.spec)) counts.set(`${h} ${b.spec.cidr}`, c);
      const handles = (await ds.list('IPAMHandle')).items;
      assert.equal(handles.length, 30);
      for (const h of handles) {
        for (const [cidr, c] of Object.entries(h.spec.block)) assert.equal(counts.get(`${h.spec.handleID} ${cidr}`), c);
      }
      // The pods do not exist as Pods: on this driver the check says so.
      const check = await checkIpam(ds, { gracePeriodMs: 0 });
      assert.equal(check.leaks.length, 30);
      assert.match(check.leaks[0]!.reason, /pod default\/k\d-\d+ no longer exists/);
      assert.deepEqual(
        check.problems.filter((p) => p.kind !== 'leak'),
        [],
      );

      // Node k3 is deleted: its blocks lose their owner but keep their addresses.
      await ipams[2]![0]!.releaseNodeAffinities('k3');
      const k3 = (await ds.list('IPAMBlock')).items.filter((b) =>
        allocatedAddresses(b.spec).some((a) => a.attrs.node === 'k3'),
      );
      assert.ok(k3.length > 0);
      for (const b of k3) assert.equal(b.spec.affinity, undefined);
      await Promise.all(
        got.map((_, i) => ipams[0]![0]!.releaseByHandle(`k8s-pod-network.${nodes[Math.floor(i / 10)]}-${i % 10}`)),
      );
      assert.equal((await ds.list('IPAMHandle')).items.length, 0);
      const left = (await ds.list('IPAMBlock')).items;
      assert.ok(
        left.every((b) => b.spec.affinity !== undefined && b.spec.unallocated.length === b.spec.allocations.length),
        'unowned blocks went with their last address',
      );
      assert.deepEqual((await checkIpam(ds, { gracePeriodMs: 0 })).problems, []);
    } finally {
      await ds.close();
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
