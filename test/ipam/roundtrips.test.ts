/**
 * Store round trips per allocation, counted with a wrapper around the Datastore (the target of issue 4:
 * 2 or fewer on the common path, when the node's block has room).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryBackend } from '../../datastore/memory/backend.js';
import { createDatastore } from '../../datastore/store.js';
import { Ipam } from '../../ipam/allocator.js';
import { countingDatastore } from './counting.js';

describe('Ipam round trips', () => {
  it('an allocation from the node`s block with room costs 2 round trips (handle create, block CAS); a release by handle 3', async () => {
    const ds = countingDatastore(createDatastore(new MemoryBackend()));
    await ds.create('IPPool', {
      apiVersion: 'crd.caracal.dev/v1',
      kind: 'IPPool',
      metadata: { name: 'p' },
      spec: { cidr: '10.0.0.0/16' },
    });
    const ipam = new Ipam(ds, { cacheTtlMs: 60_000 });
    await ipam.autoAssign({ handleId: 'net.warm', node: 'n1', num4: 1, num6: 0, attrs: {} }); // claims, fills caches
    const perAlloc: number[] = [];
    for (let i = 0; i < 20; i++) {
      ds.reset();
      await ipam.autoAssign({ handleId: `net.p${i}`, node: 'n1', num4: 1, num6: 0, attrs: { pod: `p${i}` } });
      perAlloc.push(ds.total());
    }
    assert.deepEqual(new Set(perAlloc), new Set([2]), `round trips per allocation: ${perAlloc.join(',')}`);
    assert.deepEqual({ ...ds.counts, create: 1, update: 1 }, ds.counts);
    ds.reset();
    await ipam.releaseByHandle('net.p0');
    assert.ok(ds.total() <= 3, `release by handle: ${JSON.stringify(ds.counts)}`);
  });
});
