/**
 * What is particular to the etcd v3 driver, on a real etcd-server: the key layout and stored bytes, bytes
 * that are not JSON, prefix isolation, and behaviour while etcd is down. The shared behaviour is in
 * etcdv3.test.ts (the contract).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ErrorCodes, isCaracalError } from '../../common/errors.js';
import { EtcdServer } from '../../lab/etcd.js';
import { KINDS } from '../../model/kinds.js';
import { sampleIPPool, sampleWorkloadEndpoint } from '../contract-fixtures.js';
import { createDatastore } from '../store.js';
import type { Datastore, WatchEvent } from '../types.js';
import { EtcdV3Backend } from './backend.js';

let etcd: EtcdServer;
before(async () => {
  etcd = await EtcdServer.start();
});
after(async () => {
  await etcd?.remove();
});

function open(prefix = `/caracal-test/${randomUUID()}/v1`): { ds: Datastore; backend: EtcdV3Backend } {
  const backend = new EtcdV3Backend({ endpoints: etcd.endpoints, prefix, requestTimeoutMs: 3_000 });
  return { ds: createDatastore(backend, { watch: { backoffBaseMs: 20, backoffMaxMs: 200 } }), backend };
}

async function nextOf<T>(it: AsyncIterator<WatchEvent<T>>, what: string, ms = 20_000): Promise<WatchEvent<T>> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const r = await Promise.race([
      it.next(),
      new Promise<never>((_, rej) => {
        timer = setTimeout(() => rej(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms);
      }),
    ]);
    assert.equal(r.done, false, `the watch ended while waiting for ${what}`);
    return r.value as WatchEvent<T>;
  } finally {
    clearTimeout(timer);
  }
}

describe('EtcdV3Backend', () => {
  it('stores <prefix>/<storeName>/[<namespace>/]<name> as JSON without resourceVersion', async () => {
    const { ds, backend } = open();
    try {
      const pool = await ds.create('IPPool', sampleIPPool('pool-1'));
      const wep = await ds.create('WorkloadEndpoint', sampleWorkloadEndpoint('ns-a', 'pod-1'));
      const keys = await backend.client.getAll().prefix(`${backend.prefix}/`).keys();
      assert.deepEqual(keys.sort(), [
        `${backend.prefix}/ippools/pool-1`,
        `${backend.prefix}/workloadendpoints/ns-a/${wep.metadata.name}`,
      ]);
      const stored = JSON.parse((await backend.client.get(`${backend.prefix}/ippools/pool-1`).string()) ?? 'null');
      assert.equal(stored.metadata.resourceVersion, undefined, 'the revision is never stored');
      assert.equal(stored.metadata.uid, pool.metadata.uid);
      assert.match(stored.metadata.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      const res = await backend.client.kv.range({ key: Buffer.from(`${backend.prefix}/ippools/pool-1`) });
      assert.equal(pool.metadata.resourceVersion, res.kvs[0]?.mod_revision, 'resourceVersion is the mod_revision');
    } finally {
      await ds.close();
    }
  });

  it('bytes that are not a JSON object are reported as invalid, not fatal', async () => {
    const { ds, backend } = open();
    try {
      await ds.create('IPPool', sampleIPPool('fine'));
      await backend.client.put(`${backend.prefix}/ippools/torn`).value('{"apiVersion":');
      await backend.client.put(`${backend.prefix}/ippools/array`).value('[1,2]');
      const { items, invalid } = await ds.list('IPPool');
      assert.deepEqual(
        items.map((o) => o.metadata.name),
        ['fine'],
      );
      assert.deepEqual(invalid.map((i) => i.key).sort(), ['ippools/array', 'ippools/torn']);
      assert.match(invalid.find((i) => i.key === 'ippools/torn')!.error.message, /not JSON/);
      assert.match(invalid.find((i) => i.key === 'ippools/array')!.error.message, /not a JSON object/);
      await assert.rejects(ds.get('IPPool', 'torn'), (e) => isCaracalError(e, ErrorCodes.InvalidResource));
      const deleted = await ds.delete('IPPool', 'torn');
      assert.equal(deleted.metadata.name, 'torn', 'the name comes from the key');
    } finally {
      await ds.close();
    }
  });

  it('two prefixes are two stores', async () => {
    const a = open();
    const b = open();
    try {
      await a.ds.create('IPPool', sampleIPPool('same-name'));
      assert.equal(await b.ds.get('IPPool', 'same-name'), undefined);
      assert.deepEqual((await b.ds.list('IPPool')).items, []);
      await b.ds.create('IPPool', sampleIPPool('same-name', { natOutgoing: true }));
      const mine = await a.ds.get('IPPool', 'same-name');
      assert.equal((mine?.spec as { natOutgoing?: boolean } | undefined)?.natOutgoing, false);
    } finally {
      await a.ds.close();
      await b.ds.close();
    }
  });

  it('a watch from a revision etcd has not reached ends with gone (relist), not a silent wait', async () => {
    // What a node sees after etcd is restored from an older snapshot: its revision is behind the one held.
    const { backend } = open();
    try {
      const now = (await backend.client.kv.range({ key: Buffer.from(`${backend.prefix}/`) })).header.revision;
      const end = await new Promise<{ gone: boolean; error?: unknown }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the watch neither ended nor delivered')), 10_000);
        backend.watch(
          KINDS.IPPool,
          { fromRevision: (BigInt(now) + 1000n).toString() },
          {
            onEvent: () => {},
            onEnd: (r) => {
              clearTimeout(timer);
              resolve(r);
            },
          },
        );
      });
      assert.deepEqual(end, { gone: true });
    } finally {
      await backend.close();
    }
  });

  it('while etcd is down, calls fail with DATASTORE_UNAVAILABLE and a watch reports errors, then recovers', async () => {
    const { ds } = open();
    const w = ds.watch('IPPool');
    const it = w[Symbol.asyncIterator]();
    try {
      assert.equal((await nextOf(it, 'synced')).type, 'synced');
      await etcd.kill();
      await assert.rejects(ds.get('IPPool', 'x'), (e) => isCaracalError(e, ErrorCodes.Unavailable));
      await assert.rejects(ds.create('IPPool', sampleIPPool('x')), (e) => isCaracalError(e, ErrorCodes.Unavailable));
      const err = await nextOf(it, 'an error event while etcd is down');
      assert.equal(err.type, 'error');
      assert.ok(err.type === 'error' && err.error.code === ErrorCodes.Unavailable);
      await etcd.restart();
      const made = await ds.create('IPPool', sampleIPPool('after'));
      let e = await nextOf(it, 'the create after recovery');
      while (e.type === 'error') e = await nextOf(it, 'the create after recovery');
      assert.equal(e.type, 'added');
      assert.equal(e.type === 'added' && e.revision, made.metadata.resourceVersion);
    } finally {
      w.close();
      await ds.close();
    }
  });
});
