/**
 * The datastore contract against a real etcd-server (lab/etcd.ts): one server for this file, a unique key
 * prefix per test, restart = stop and start the server on its data dir, compact = etcd compaction at the
 * current revision.
 */
import { randomUUID } from 'node:crypto';
import { after, before } from 'node:test';
import { EtcdServer } from '../../lab/etcd.js';
import { runDatastoreContract } from '../contract.js';
import { createDatastore } from '../store.js';
import { EtcdV3Backend } from './backend.js';

let etcd: EtcdServer | undefined;
before(async () => {
  etcd = await EtcdServer.start();
});
after(async () => {
  await etcd?.remove();
});

runDatastoreContract('etcdv3', async () => {
  if (!etcd) throw new Error('etcd did not start');
  const server = etcd;
  const backend = new EtcdV3Backend({ endpoints: server.endpoints, prefix: `/caracal-test/${randomUUID()}/v1` });
  // Writes for the harness go through their own client, as a second writer to the store would.
  const admin = new EtcdV3Backend({ endpoints: server.endpoints, prefix: backend.prefix });
  const store = createDatastore(backend);
  return {
    store,
    restart: () => server.restart(),
    compact: async () => {
      const res = await admin.client.kv.range({ key: Buffer.from(`${backend.prefix}/`) });
      await admin.client.kv.compact({ revision: res.header.revision, physical: true });
    },
    putRaw: async (kind, value) => {
      const meta = value.metadata as { name: string; namespace?: string };
      const key = admin.keyOf(kind, meta.name, meta.namespace);
      const res = await admin.client.put(key).value(JSON.stringify(value)).exec();
      return res.header.revision;
    },
    teardown: async () => {
      await store.close();
      await admin.client.delete().prefix(`${backend.prefix}/`).exec();
      await admin.close();
    },
  };
});
