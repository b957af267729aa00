/**
 * The agent's CNI service over a real unix socket, spoken to by the plugin's own client (cni/agent-client.ts),
 * on the in-memory datastore (test/cni/agent.test.ts does the same end to end with real etcd and the plugin
 * exec'd as a runtime does).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type AgentClient, AgentUnavailable, connectAgent } from '../cni/agent-client.js';
import { CniError } from '../cni/errors.js';
import { viaAgent } from '../cni/main.js';
import { MemoryBackend } from '../datastore/memory/backend.js';
import { createDatastore } from '../datastore/store.js';
import type { Datastore } from '../datastore/types.js';
import type { Ipam } from '../ipam/index.js';
import { CniService, inOrder } from './cni-service.js';

const IPAM = { assignIpv4: true, assignIpv6: false, ipv4Pools: [], ipv6Pools: [] };
const POD = { namespace: 'ns1', name: 'p1', fromOrchestrator: true };

async function rawExchange(path: string, line: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        s.destroy();
        resolve(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
      }
    });
    s.on('error', reject);
    s.write(line);
  });
}

describe('CniService', () => {
  let dir: string;
  let ds: Datastore;
  let svc: CniService;
  let agent: AgentClient;
  let sock: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'caracal-cni-service-'));
    sock = join(dir, 'run', 'cni.sock');
    ds = createDatastore(new MemoryBackend());
    await ds.create('IPPool', {
      apiVersion: 'crd.caracal.dev/v1',
      kind: 'IPPool',
      metadata: { name: 'pods' },
      spec: { cidr: '10.77.0.0/16' },
    });
    svc = await CniService.start({ node: 'n1', ds, socketPath: sock });
    agent = (await connectAgent(sock)) as AgentClient;
    assert.ok(agent, 'the plugin connects');
  });
  after(async () => {
    agent?.close();
    await svc?.close();
    await ds?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('start() makes the socket with mode 0600 (parent directory created)', () => {
    assert.equal(statSync(sock).mode & 0o777, 0o600);
    assert.ok(statSync(sock).isSocket());
  });

  it('assign, writeEndpoint, deleteEndpoint, release: the plugin steps, done by the agent', async () => {
    const got = await agent.call('assign', { handleId: 'net.c1', node: 'n1', ipam: IPAM, attrs: { pod: 'p1' } });
    assert.match(got.ipv4 ?? '', /^10\.77\.\d+\.\d+$/);
    assert.equal(got.ipv6, undefined);
    const facts = {
      node: 'n1',
      pod: POD,
      ifname: 'eth0',
      containerId: 'c1',
      hostIfname: 'cali0123456789a',
      podMac: '02:00:00:00:00:01',
      ipNetworks: [`${got.ipv4}/32`],
    };
    const { name } = await agent.call('writeEndpoint', facts);
    const ep = await ds.get('WorkloadEndpoint', name, 'ns1');
    assert.equal(ep?.spec.containerID, 'c1');
    assert.deepEqual(ep?.spec.ipNetworks, [`${got.ipv4}/32`]);
    // Another container's DEL leaves it alone; this container's removes it; a second one is fine.
    await agent.call('deleteEndpoint', { node: 'n1', pod: POD, ifname: 'eth0', containerId: 'other' });
    assert.ok(await ds.get('WorkloadEndpoint', name, 'ns1'));
    const del = await agent.call('deleteEndpoint', { node: 'n1', pod: POD, ifname: 'eth0', containerId: 'c1' });
    assert.equal(del.name, name);
    assert.equal(await ds.get('WorkloadEndpoint', name, 'ns1'), undefined);
    await agent.call('deleteEndpoint', { node: 'n1', pod: POD, ifname: 'eth0', containerId: 'c1' });
    assert.deepEqual((await agent.call('release', { handleId: 'net.c1' })).released, [got.ipv4]);
    assert.deepEqual((await agent.call('release', { handleId: 'net.c1' })).released, []);
  });

  it('answers concurrent requests on one connection, each with its own address', async () => {
    const ids = Array.from({ length: 20 }, (_, i) => `net.k${i}`);
    const got = await Promise.all(
      ids.map((handleId) => agent.call('assign', { handleId, node: 'n1', ipam: IPAM, attrs: {} })),
    );
    assert.equal(new Set(got.map((g) => g.ipv4)).size, 20);
    await Promise.all(ids.map((handleId) => agent.call('release', { handleId })));
  });

  it('errors come back with the CNI code the in-process path reports', async () => {
    await assert.rejects(
      agent.call('assign', { handleId: 'net.x', node: 'n2', ipam: IPAM, attrs: {} }),
      (e: CniError) =>
        e instanceof CniError && e.code === 7 && e.details === 'INVALID_CONFIG' && /"n2"/.test(e.message),
    );
    await assert.rejects(
      agent.call('assign', { handleId: 'net.x', node: 'n1', ipam: { ...IPAM, ipv4Pools: ['nope'] }, attrs: {} }),
      (e: CniError) => e instanceof CniError && e.code === 101 && e.details.startsWith('IPAM_'),
    );
  });

  it('a malformed request gets AGENT_BAD_REQUEST, and the connection keeps working', async () => {
    const notJson = await rawExchange(sock, 'hello\n');
    assert.equal((notJson.error as { code: string }).code, 'AGENT_BAD_REQUEST');
    const unknownOp = await rawExchange(sock, '{"id":3,"op":"frobnicate"}\n');
    assert.equal(unknownOp.id, 3);
    assert.match((unknownOp.error as { message: string }).message, /op must be one of/);
    const missing = await rawExchange(sock, '{"id":4,"op":"release"}\n');
    assert.match((missing.error as { message: string }).message, /release needs handleId/);
    assert.deepEqual((await agent.call('release', { handleId: 'net.none' })).released, []);
  });

  it('a connection refused for an over-long line runs none of the requests it sends afterwards', async () => {
    // A peer that keeps its side open after the agent's FIN (allowHalfOpen) can still send.
    const s = connect({ path: sock, allowHalfOpen: true });
    s.on('error', () => {});
    let got = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      got += d;
    });
    await new Promise((r) => s.once('connect', r));
    await new Promise((r) => s.write('x'.repeat((1 << 20) + 16), r));
    await new Promise((r) => setTimeout(r, 100));
    assert.match(got, /longer than/, 'the agent refused the line');
    const req = { id: 9, op: 'assign', handleId: 'net.after-refusal', node: 'n1', ipam: IPAM, attrs: { pod: 'px' } };
    s.write(`\n${JSON.stringify(req)}\n`);
    await new Promise((r) => setTimeout(r, 200));
    s.destroy();
    assert.equal(await ds.get('IPAMHandle', 'net.after-refusal'), undefined, 'no address taken for it');
  });

  it('a request that outlives the time limit fails with AGENT_TIMEOUT (CNI 11)', async () => {
    const path = join(dir, 'slow.sock');
    const never = { autoAssign: () => new Promise(() => {}), releaseByHandle: async () => [] };
    const slow = await CniService.start({
      node: 'n1',
      ds,
      socketPath: path,
      requestTimeoutMs: 50,
      ipam: never as unknown as Ipam,
    });
    const c = (await connectAgent(path)) as AgentClient;
    try {
      await assert.rejects(
        c.call('assign', { handleId: 'net.s', node: 'n1', ipam: IPAM, attrs: {} }),
        (e: CniError) => e instanceof CniError && e.code === 11 && e.details === 'AGENT_TIMEOUT',
      );
    } finally {
      c.close();
      await slow.close();
    }
  });

  it('a release after an assign that timed out waits for it, so the late assign does not leave its address behind', async () => {
    const path = join(dir, 'late.sock');
    const { Ipam: RealIpam } = await import('../ipam/index.js');
    const real = new RealIpam(ds, { node: 'n1' });
    const late = {
      autoAssign: async (r: Parameters<Ipam['autoAssign']>[0]) => {
        await new Promise((res) => setTimeout(res, 150));
        return real.autoAssign(r);
      },
      releaseByHandle: (h: string) => real.releaseByHandle(h),
    };
    const svc2 = await CniService.start({
      node: 'n1',
      ds,
      socketPath: path,
      requestTimeoutMs: 50,
      ipam: late as unknown as Ipam,
    });
    const c = (await connectAgent(path)) as AgentClient;
    try {
      await assert.rejects(c.call('assign', { handleId: 'net.late', node: 'n1', ipam: IPAM, attrs: {} }), /longer/);
      // The plugin's undo of the failed ADD: release by handle (it may time out too; it still runs).
      await c.call('release', { handleId: 'net.late' }).catch(() => undefined);
    } finally {
      c.close();
      await svc2.close();
    }
    await new Promise((res) => setTimeout(res, 100));
    assert.equal(await ds.get('IPAMHandle', 'net.late'), undefined, 'the handle is gone');
    const held = (await ds.list('IPAMBlock')).items.flatMap((b) =>
      b.spec.allocations.filter((a) => a !== null && b.spec.attributes[a]?.handle_id === 'net.late'),
    );
    assert.deepEqual(held, [], 'no address left allocated to it');
  });

  it('the client: nothing listening → undefined; a dropped connection → AgentUnavailable', async () => {
    assert.equal(await connectAgent(join(dir, 'absent.sock')), undefined);
    assert.equal(await connectAgent(''), undefined);
    const stale = join(dir, 'stale.sock');
    writeFileSync(stale, '');
    assert.equal(await connectAgent(stale), undefined);
    // A server that reads and hangs up.
    const path = join(dir, 'drop.sock');
    const srv = createServer((s) => s.once('data', () => s.destroy()));
    await new Promise<void>((r) => srv.listen(path, r));
    const c = (await connectAgent(path)) as AgentClient;
    await assert.rejects(c.call('release', { handleId: 'h' }), AgentUnavailable);
    await assert.rejects(c.call('release', { handleId: 'h' }), AgentUnavailable);
    c.close();
    await new Promise((r) => srv.close(r));
  });

  it('start() replaces a dead socket file and refuses a live one; close() removes the file', async () => {
    const path = join(dir, 'again.sock');
    const first = await CniService.start({ node: 'n1', ds, socketPath: path });
    await assert.rejects(CniService.start({ node: 'n1', ds, socketPath: path }), /another process is listening/);
    await first.close();
    assert.throws(() => statSync(path), /ENOENT/);
    // What a crashed agent leaves: a socket file nobody answers on (bound, never listened, its process gone).
    const made = spawnSync('python3', [
      '-c',
      `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(path)})`,
    ]);
    assert.equal(made.status, 0, String(made.stderr));
    assert.ok(statSync(path).isSocket());
    const second = await CniService.start({ node: 'n1', ds, socketPath: path });
    assert.ok(statSync(path).isSocket());
    await second.close();
    // A regular file is not replaced: a mistyped --cni-socket must not delete someone's file.
    const file = join(dir, 'not-a-socket');
    writeFileSync(file, 'precious');
    await assert.rejects(CniService.start({ node: 'n1', ds, socketPath: file }), /is not a socket/);
    assert.equal(readFileSync(file, 'utf8'), 'precious');
  });

  it('a whole DEL handed over by the plugin takes the node name from the plugin environment (CARACAL_NODENAME)', async () => {
    await agent.call('assign', { handleId: 'net.c-env', node: 'n1', ipam: IPAM, attrs: { pod: 'p9' } });
    // No "nodename" in the configuration: docs/cni.md says it defaults to the plugin's $CARACAL_NODENAME.
    const stdin = JSON.stringify({
      cniVersion: '1.0.0',
      name: 'net',
      type: 'caracal',
      agentSocket: sock,
      datastore: { type: 'etcdv3' },
      ipam: { type: 'caracal' },
    });
    const env = {
      CNI_COMMAND: 'DEL',
      CNI_CONTAINERID: 'c-env',
      CNI_IFNAME: 'eth0',
      CNI_ARGS: 'K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=p9',
      CARACAL_NODENAME: 'n1',
    };
    const out = await viaAgent(env, stdin);
    assert.ok(out, 'the agent ran the command');
    assert.deepEqual(out, { stdout: '', exitCode: 0 });
    assert.equal(await ds.get('IPAMHandle', 'net.c-env'), undefined, 'the handle is released');
  });
});

describe('inOrder() (per-handle and per-attachment ordering in the agent)', () => {
  it('runs work under one key one after another, under other keys at once; a failure does not block the chain', async () => {
    const chains = new Map<string, Promise<void>>();
    const log: string[] = [];
    const step =
      (name: string, ms: number, fail = false) =>
      async () => {
        log.push(`${name}>`);
        await new Promise((r) => setTimeout(r, ms));
        log.push(`<${name}`);
        if (fail) throw new Error(name);
        return name;
      };
    const a1 = inOrder(chains, 'a', step('a1', 40, true));
    const a2 = inOrder(chains, 'a', step('a2', 5));
    const b1 = inOrder(chains, 'b', step('b1', 10));
    await assert.rejects(a1, /a1/);
    assert.equal(await a2, 'a2');
    assert.equal(await b1, 'b1');
    assert.ok(log.indexOf('<a1') < log.indexOf('a2>'), `a2 starts after a1 ends: ${log.join(' ')}`);
    assert.ok(log.indexOf('b1>') < log.indexOf('<a1'), `b1 does not wait for a1: ${log.join(' ')}`);
    await new Promise((r) => setImmediate(r));
    assert.equal(chains.size, 0, 'idle keys are dropped');
  });
});
