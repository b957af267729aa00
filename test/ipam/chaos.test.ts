/**
 * Crash safety against a real etcd: pretend CNI processes (chaos-worker.ts) on two nodes add and delete pods
 * and are SIGKILLed at random moments (mid-claim, mid-assign, mid-release), over several rounds. Afterwards
 * `gcIpam()` (grace 0: every worker is dead) and `checkIpam()` must leave no duplicate, no leak and no
 * inconsistency, and every surviving endpoint must still own its addresses (no address lost).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { EtcdV3Backend } from '../../datastore/etcdv3/backend.js';
import { createDatastore } from '../../datastore/store.js';
import type { Datastore } from '../../datastore/types.js';
import { allocatedAddresses } from '../../ipam/block.js';
import { checkIpam, gcIpam } from '../../ipam/gc.js';
import { EtcdServer } from '../../lab/etcd.js';

const WORKER = new URL('./chaos-worker.ts', import.meta.url).pathname;
const ROUNDS = 5;

let etcd: EtcdServer;
let ds: Datastore;
let admin: EtcdV3Backend;
const prefix = `/caracal-ipam-chaos/${randomUUID()}/v1`;
const children = new Set<ChildProcess>();

before(async () => {
  etcd = await EtcdServer.start();
  ds = createDatastore(new EtcdV3Backend({ endpoints: etcd.endpoints, prefix }));
  admin = new EtcdV3Backend({ endpoints: etcd.endpoints, prefix });
});
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await ds?.close();
  await admin?.client.delete().prefix(`${prefix}/`).exec();
  await admin?.close();
  await etcd?.remove();
});

/** Start a worker, wait for its first pod, let it run `ms` more, SIGKILL it. Resolves with its stderr. */
function runAndKill(node: string, seed: number, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(
      process.execPath,
      ['--import', 'tsx', WORKER, etcd.endpoints.join(','), prefix, node, String(seed)],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, CARACAL_LOG_LEVEL: 'silent' },
      },
    );
    children.add(c);
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    c.stderr!.on('data', (d) => {
      err += d;
    });
    c.stdout!.on('data', (d) => {
      if (!timer && String(d).includes('ready')) timer = setTimeout(() => c.kill('SIGKILL'), ms);
    });
    c.on('exit', (code, signal) => {
      children.delete(c);
      if (timer) clearTimeout(timer);
      if (signal === 'SIGKILL') resolve(err);
      else reject(new Error(`worker ${node} exited on its own (${code}): ${err}`));
    });
  });
}

describe('IPAM crash safety', { timeout: 120_000 }, () => {
  it('workers SIGKILLed at random points; then gc and check find no duplicate, no leak, no lost address', async () => {
    for (const [name, cidr, blockSize] of [
      ['p4', '10.50.0.0/24', 28],
      ['p6', 'fd00:50::/120', 124],
    ] as const) {
      await ds.create('IPPool', {
        apiVersion: 'crd.caracal.dev/v1',
        kind: 'IPPool',
        metadata: { name },
        spec: { cidr, blockSize },
      });
    }
    let seed = Date.now() >>> 0;
    for (let round = 0; round < ROUNDS; round++) {
      await Promise.all(['node-a', 'node-b'].map((node) => runAndKill(node, seed++, 200 + ((seed * 7919) % 900))));
    }
    const before = await checkIpam(ds, { gracePeriodMs: 0 });
    const weps = (await ds.list('WorkloadEndpoint')).items;
    assert.ok(weps.length > 0, 'the workers made pods');
    // Two passes: the first releases leaked addresses, the second removes handles the first emptied.
    const gc1 = await gcIpam(ds, { gracePeriodMs: 0 });
    const gc2 = await gcIpam(ds, { gracePeriodMs: 0 });
    const check = await checkIpam(ds, { gracePeriodMs: 0 });
    const report = JSON.stringify(
      {
        before: before.problems.length,
        gc1: gc1.released.length,
        gc2,
        problems: check.problems,
        warnings: check.warnings,
      },
      null,
      1,
    );
    assert.deepEqual(check.problems, [], report);
    assert.deepEqual(check.warnings, [], report);
    assert.deepEqual(check.leaks, [], report);
    // Every surviving endpoint still owns its addresses, under its own handle.
    const owner = new Map<string, string>();
    for (const b of (await ds.list('IPAMBlock')).items) {
      for (const a of allocatedAddresses(b.spec)) owner.set(a.ip, a.handleId ?? '');
    }
    for (const w of weps) {
      for (const net of w.spec.ipNetworks) {
        assert.equal(
          owner.get(net.slice(0, net.indexOf('/'))),
          `k8s-pod-network.${w.spec.pod}`,
          `${w.metadata.name} ${net}`,
        );
      }
    }
    assert.equal(
      owner.size,
      weps.reduce((s, w) => s + w.spec.ipNetworks.length, 0),
      'no allocation without an endpoint',
    );
  });
});
