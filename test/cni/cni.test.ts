/**
 * The caracal CNI plugin driven exactly as a runtime drives it (test/cni/runtime.ts: environment + stdin,
 * conflist chaining, the result cache), in namespaces this test makes: two "nodes" joined by a veth, and
 * pods behind them. IPAM is the stock host-local plugin (delegation) or Caracal's own over a real etcd.
 * Needs root, iproute2 and Debian's containernetworking-plugins; skips otherwise.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { datastoreFromEnv } from '../../datastore/index.js';
import type { Datastore } from '../../datastore/types.js';
import { EtcdServer } from '../../lab/etcd.js';
import { CARACAL_API_VERSION } from '../../model/resource.js';
import { TestApiServer } from '../k8s-api-server/server.js';
import {
  type Attachment,
  type CniError,
  CniRuntime,
  type ConfList,
  forwardIntoNetns,
  writePluginShim,
} from './runtime.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const STOCK = '/usr/lib/cni';
const skip =
  process.getuid?.() !== 0
    ? 'needs root (network namespaces)'
    : !existsSync(join(STOCK, 'host-local'))
      ? 'needs containernetworking-plugins in /usr/lib/cni'
      : false;

const P = `ccni${process.pid % 100000}`;
const N1 = `${P}-n1`;
const N2 = `${P}-n2`;
const made: string[] = [];

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8' });
}
function inNs(ns: string, ...argv: string[]): string {
  return execFileSync('nsenter', [`--net=/run/netns/${ns}`, '--', ...argv], { encoding: 'utf8' });
}
/**
 * Reachability: any reply to 3 echo requests 0.2 s apart (ping's exit code 0). One packet was flaky for IPv6
 * across nodes right after set-up, while neighbour discovery on the fresh links converges.
 */
function ping(from: string, to: string): boolean {
  const args = ['-c', '3', '-i', '0.2', '-W', '2', to];
  return (
    spawnSync('nsenter', [`--net=/run/netns/${from}`, '--', 'ping', ...(to.includes(':') ? ['-6'] : []), ...args])
      .status === 0
  );
}
function addNs(name: string): string {
  ip('netns', 'add', name);
  made.push(name);
  ip('-n', name, 'link', 'set', 'lo', 'up');
  return `/run/netns/${name}`;
}
function links(ns: string): string[] {
  return (JSON.parse(ip('-j', '-n', ns, 'link', 'show')) as { ifname: string }[]).map((l) => l.ifname);
}

let tmp = '';
let rt: CniRuntime;
let rt2: CniRuntime;
let etcd: EtcdServer | undefined;
let ds: Datastore | undefined;
let proxy: Server | undefined;
let k8sDs: Datastore | undefined;

function hostLocalConf(node: 1 | 2, extra: Record<string, unknown> = {}, v6 = true): ConfList {
  return {
    cniVersion: '1.0.0',
    name: 'caracal',
    plugins: [
      {
        type: 'caracal',
        nodename: `n${node}`,
        agentSocket: '', // the in-process path: never a node agent another test may be running
        mtu: 1400,
        datastore: { type: 'none' },
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: `10.244.${node}.0/24` }], ...(v6 ? [[{ subnet: `fd00:244:${node}::/64` }]] : [])],
          dataDir: join(tmp, `ipam-n${node}`),
        },
        ...extra,
      },
    ],
  };
}

function pod(name: string, node = 1): Attachment {
  return {
    containerId: `${name}-${P}`,
    netns: addNs(`${P}-${name}`),
    args: { K8S_POD_NAMESPACE: 'ns1', K8S_POD_NAME: name, K8S_POD_UID: `uid-${name}` },
    ...(node === 2 ? {} : {}),
  };
}

/** The host veth name ADD derives for pod `name` in namespace ns1 (Calico's scheme, cni/dataplane.ts). */
function vethOf(name: string): string {
  return `cali${createHash('sha1').update(`ns1.${name}`).digest('hex').slice(0, 11)}`;
}

function ipOf(result: Record<string, unknown>, family: 4 | 6): string {
  const ips = result.ips as { address: string }[];
  const a = ips.find((i) => i.address.includes(':') === (family === 6));
  assert.ok(a, `result has an IPv${family} address: ${JSON.stringify(result)}`);
  return a.address.split('/')[0] as string;
}

describe('caracal CNI plugin', { skip }, () => {
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'caracal-cni-'));
    const bin = writePluginShim(join(tmp, 'bin'), ROOT);
    rt = new CniRuntime({ binDirs: [bin, STOCK], cacheDir: join(tmp, 'cache'), callerNetns: N1 });
    rt2 = new CniRuntime({ binDirs: [bin, STOCK], cacheDir: join(tmp, 'cache2'), callerNetns: N2 });
    addNs(N1);
    addNs(N2);
    // Two nodes on one link; each routes the other's pod range to it (what BGP would program). No default route.
    ip('link', 'add', `${P}a`, 'netns', N1, 'type', 'veth', 'peer', 'name', `${P}b`, 'netns', N2);
    for (const [ns, dev, me, other, v6me, v6other] of [
      [N1, `${P}a`, '10.0.0.1', 2, 'fd00:ff::1', 'fd00:ff::2'],
      [N2, `${P}b`, '10.0.0.2', 1, 'fd00:ff::2', 'fd00:ff::1'],
    ] as const) {
      inNs(ns, 'sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward; echo 1 > /proc/sys/net/ipv6/conf/all/forwarding');
      ip('-n', ns, 'addr', 'add', `${me}/24`, 'dev', dev);
      ip('-n', ns, 'addr', 'add', `${v6me}/64`, 'dev', dev, 'nodad');
      ip('-n', ns, 'link', 'set', dev, 'up');
      ip('-n', ns, 'route', 'add', `10.244.${other}.0/24`, 'via', `10.0.0.${other}`);
      ip('-n', ns, 'route', 'add', `fd00:244:${other}::/64`, 'via', v6other);
    }
  });

  after(async () => {
    await new Promise((r) => (proxy ? proxy.close(r) : r(undefined)));
    await ds?.close();
    await etcd?.remove();
    for (const ns of made.reverse()) spawnSync('ip', ['netns', 'del', ns]);
    rmSync(tmp, { recursive: true, force: true });
  });

  it('VERSION lists the spec versions; an unsupported cniVersion is error 1', async () => {
    const v = await rt.exec('caracal', { CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.1.0"}');
    assert.equal(v.code, 0);
    assert.deepEqual(v.json, { cniVersion: '1.1.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
    const bad = await rt.exec(
      'caracal',
      { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'x', CNI_NETNS: '/nonexistent', CNI_IFNAME: 'eth0' },
      JSON.stringify({ cniVersion: '0.2.0', name: 'caracal', type: 'caracal', ipam: { type: 'caracal' } }),
    );
    assert.equal(bad.code, 1);
    assert.equal(bad.json?.code, 1);
    assert.match(String(bad.json?.msg), /supported are/);
  });

  it('the built bin/caracal acts as the plugin when CNI_COMMAND is set', {
    skip: existsSync(join(ROOT, 'dist/cni/main.js')) ? false : 'not built (npm run build)',
  }, () => {
    const r = spawnSync(join(ROOT, 'bin/caracal'), [], {
      env: { PATH: process.env.PATH, CNI_COMMAND: 'VERSION' },
      input: '{"cniVersion":"1.0.0"}',
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).supportedVersions, ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']);
  });

  it('pods on one node and on two nodes ping each other over IPv4 and IPv6; CHECK passes; DEL cleans up', async () => {
    const a = pod('a');
    const b = pod('b');
    const c = pod('c', 2);
    const ra = await rt.add(hostLocalConf(1), a);
    const rb = await rt.add(hostLocalConf(1), b);
    const rc = await rt2.add(hostLocalConf(2), c);
    // The result: host veth and pod eth0 with MACs (podman needs them), /32 and /128, routes via the gateways.
    const ifs = ra.interfaces as { name: string; mac: string; sandbox?: string }[];
    assert.equal(ifs.length, 2);
    assert.match(ifs[0]?.name ?? '', /^cali[0-9a-f]{11}$/);
    assert.equal(ifs[1]?.sandbox, a.netns);
    const podLink = JSON.parse(ip('-j', '-n', `${P}-a`, 'link', 'show', 'eth0'))[0];
    assert.equal(podLink.address, ifs[1]?.mac);
    assert.equal(podLink.mtu, 1400);
    assert.deepEqual(
      (ra.ips as { address: string }[]).map((i) => i.address.split('/')[1]),
      ['32', '128'],
    );
    for (const [from, to] of [
      [`${P}-a`, ipOf(rb, 4)],
      [`${P}-a`, ipOf(rc, 4)],
      [`${P}-c`, ipOf(ra, 4)],
      [`${P}-a`, ipOf(rb, 6)],
      [`${P}-c`, ipOf(ra, 6)],
      [N1, ipOf(ra, 4)],
    ] as const) {
      assert.ok(ping(from, to), `${from} pings ${to}`);
    }
    await rt.check(hostLocalConf(1), a);

    const hostIf = ifs[0]?.name as string;
    await rt.del(hostLocalConf(1), a);
    assert.ok(!links(N1).includes(hostIf), 'host veth gone');
    assert.ok(!ip('-n', N1, 'route').includes(ipOf(ra, 4)), 'host route gone');
    assert.ok(!readdirSync(join(tmp, 'ipam-n1', 'caracal')).includes(ipOf(ra, 4)), 'address released');
    assert.ok(!ping(`${P}-b`, ipOf(ra, 4)), 'the deleted pod is unreachable');
    await rt.del(hostLocalConf(1), a); // twice in a row
    // DEL after the namespace is gone.
    ip('netns', 'del', `${P}-b`);
    await rt.del(hostLocalConf(1), b);
    assert.ok(!readdirSync(join(tmp, 'ipam-n1', 'caracal')).includes(ipOf(rb, 4)));
    await rt2.del(hostLocalConf(2), c);
    assert.deepEqual(
      links(N2).filter((l) => l.startsWith('cali')),
      [],
    );
  });

  it('CHECK detects a broken interface', async () => {
    const d = pod('d');
    await rt.add(hostLocalConf(1), d);
    await rt.check(hostLocalConf(1), d);
    ip('-n', `${P}-d`, 'route', 'del', 'default');
    await assert.rejects(
      rt.check(hostLocalConf(1), d),
      (e: CniError) => e.cniCode === 104 && /default route/.test(e.message),
    );
    ip('-n', `${P}-d`, 'link', 'set', 'eth0', 'down');
    await assert.rejects(rt.check(hostLocalConf(1), d), (e: CniError) => e.cniCode === 104 && /down/.test(e.message));
    await rt.del(hostLocalConf(1), d);
  });

  it('a failed ADD releases what it took (the pod already has an eth0)', async () => {
    const e = pod('e');
    ip('-n', `${P}-e`, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'x0');
    const before = readdirSync(join(tmp, 'ipam-n1', 'caracal')).length;
    await assert.rejects(rt.add(hostLocalConf(1), e), (err: CniError) => err.cniCode === 102);
    assert.equal(readdirSync(join(tmp, 'ipam-n1', 'caracal')).length, before, 'no address kept');
    assert.ok(!links(N1).includes(vethOf('e')), 'no host veth kept');
  });

  it('chains with the reference portmap and bandwidth plugins through prevResult', async () => {
    // IPv4 only: Debian's portmap 1.1.1 CHECK looks for the IPv4 DNAT rule in ip6tables on dual-stack pods.
    const list = hostLocalConf(1, {}, false);
    list.plugins.push(
      { type: 'portmap', capabilities: { portMappings: true }, snat: false },
      { type: 'bandwidth', capabilities: { bandwidth: true } },
    );
    const f: Attachment = {
      ...pod('f'),
      capabilityArgs: {
        portMappings: [{ hostPort: 18080, containerPort: 80, protocol: 'tcp' }],
        bandwidth: { ingressRate: 1_000_000, ingressBurst: 100_000, egressRate: 1_000_000, egressBurst: 100_000 },
      },
    };
    const r = await rt.add(list, f);
    const hostIf = (r.interfaces as { name: string }[])[0]?.name as string;
    assert.match(inNs(N1, 'iptables-save'), /18080/, 'portmap programmed the node');
    assert.match(ip('-n', N1, 'link'), /bwp/, 'bandwidth added its ifb device');
    assert.match(execFileSync('tc', ['-n', N1, 'qdisc', 'show', 'dev', hostIf], { encoding: 'utf8' }), /tbf/);
    // CHECK through our plugin alone, against the chained result (Debian's portmap 1.1.1 CHECK looks for an
    // IPv6 DNAT chain even for an IPv4-only pod, so the whole list's CHECK fails for reasons not ours).
    await rt.check(hostLocalConf(1, {}, false), f);
    await rt.del(list, f);
    assert.doesNotMatch(inNs(N1, 'iptables-save'), /18080/);
    assert.ok(!links(N1).includes(hostIf));
  });

  describe('with a datastore (etcd)', () => {
    let endpoints = '';
    const conf = (extra: Record<string, unknown> = {}, ipam?: Record<string, unknown>): ConfList => ({
      cniVersion: '1.1.0',
      name: 'caracal',
      plugins: [
        {
          type: 'caracal',
          nodename: 'n1',
          agentSocket: '', // the in-process path: never a node agent another test may be running
          mtu: 1400,
          datastore: { type: 'etcdv3', etcdEndpoints: endpoints },
          ipam: ipam ?? { type: 'caracal', assignIpv4: true, assignIpv6: false, ipv4Pools: ['10.245.0.0/16'] },
          ...extra,
        },
      ],
    });

    before(async () => {
      etcd = await EtcdServer.start();
      ds = await datastoreFromEnv({ CARACAL_ETCD_ENDPOINTS: etcd.endpoints.join(',') });
      // The plugin runs in the node's namespace, whose loopback is not ours.
      proxy = await forwardIntoNetns(N1, 2379, etcd.clientPort);
      endpoints = 'http://127.0.0.1:2379';
      await ds.create('IPPool', {
        apiVersion: CARACAL_API_VERSION,
        kind: 'IPPool',
        metadata: { name: 'pods' },
        spec: { cidr: '10.245.0.0/16' },
      } as never);
    });

    it('ADD with Caracal IPAM writes the WorkloadEndpoint; DEL removes it and releases the address', async () => {
      const g = pod('g');
      const r = await rt.add(conf(), g);
      const addr = ipOf(r, 4);
      assert.match(addr, /^10\.245\./);
      const wep = await ds?.get('WorkloadEndpoint', 'n1-k8s-g-eth0', 'ns1');
      assert.ok(wep, 'endpoint written');
      assert.equal(wep.spec.containerID, g.containerId);
      assert.deepEqual(wep.spec.ipNetworks, [`${addr}/32`]);
      assert.equal(wep.spec.interfaceName, (r.interfaces as { name: string }[])[0]?.name);
      assert.equal(wep.spec.mac, (r.interfaces as { mac: string }[])[1]?.mac);
      const h = await ds?.get('IPAMHandle', `caracal.${g.containerId}`.toLowerCase());
      assert.ok(h && !h.spec.deleted, 'handle holds the address');
      await rt.status(conf());
      await rt.del(conf(), g);
      assert.equal(await ds?.get('WorkloadEndpoint', 'n1-k8s-g-eth0', 'ns1'), undefined);
      const h2 = await ds?.get('IPAMHandle', `caracal.${g.containerId}`.toLowerCase());
      assert.ok(!h2 || h2.spec.deleted || Object.keys(h2.spec.block).length === 0, 'address released');
      await rt.del(conf(), g);
    });

    it('policy wait: times out and fails closed, leaving nothing; succeeds once the agent reports', async () => {
      const statusDir = join(tmp, 'status');
      const pw = { policyWait: { statusDir, timeoutMs: 300 } };
      const hl = { type: 'host-local', ranges: [[{ subnet: '10.246.0.0/24' }]], dataDir: join(tmp, 'ipam-pw') };
      const h = pod('h');
      await assert.rejects(rt.add(conf(pw, hl), h), (e: CniError) => e.cniCode === 103 && /fail/.test(e.message));
      assert.equal(await ds?.get('WorkloadEndpoint', 'n1-k8s-h-eth0', 'ns1'), undefined, 'endpoint undone');
      assert.ok(!links(N1).includes(vethOf('h')), 'veth undone');
      assert.deepEqual(
        readdirSync(join(tmp, 'ipam-pw', 'caracal')).filter((n) => n.startsWith('10.')),
        [],
      );

      // The agent's side: write the status file for this container once the endpoint shows up.
      const agent = (async () => {
        for (let i = 0; i < 400; i++) {
          const ep = await ds?.get('WorkloadEndpoint', 'n1-k8s-h-eth0', 'ns1');
          if (ep) {
            mkdirSync(join(statusDir, 'ns1'), { recursive: true });
            writeFileSync(
              join(statusDir, 'ns1', 'n1-k8s-h-eth0'),
              JSON.stringify({ containerID: h.containerId, programmed: true }),
            );
            return;
          }
          await new Promise((r) => setTimeout(r, 10));
        }
      })();
      const slow = conf({ policyWait: { statusDir, timeoutMs: 5000 } }, hl);
      await rt.add(slow, h);
      await agent;
      await rt.del(slow, h);
    });

    it('GC removes endpoints, veths and addresses of containers no longer valid', async () => {
      const i = pod('i');
      const j = pod('j');
      const k = pod('k');
      const other = { ...conf(), name: 'other-net' }; // a second caracal network on the same node
      await rt.add(conf(), i);
      const rj = await rt.add(conf(), j);
      const rk = await rt.add(other, k);
      await rt.gc(conf(), [{ containerID: i.containerId, ifname: 'eth0' }]);
      assert.ok(await ds?.get('WorkloadEndpoint', 'n1-k8s-i-eth0', 'ns1'));
      assert.equal(await ds?.get('WorkloadEndpoint', 'n1-k8s-j-eth0', 'ns1'), undefined);
      assert.ok(!links(N1).includes((rj.interfaces as { name: string }[])[0]?.name as string));
      const kEp = await ds?.get('WorkloadEndpoint', 'n1-k8s-k-eth0', 'ns1');
      assert.equal(kEp?.metadata.labels?.['caracal.io/network'], 'other-net', "the other network's endpoint is kept");
      assert.ok(links(N1).includes((rk.interfaces as { name: string }[])[0]?.name as string), 'and its veth');
      await rt.del(conf(), i);
      await rt.del(conf(), j);
      await rt.del(other, k);
    });

    it('STATUS reports 50 when the datastore does not answer', async () => {
      const down = conf();
      (down.plugins[0] as { datastore: unknown }).datastore = { type: 'etcdv3', etcdEndpoints: 'http://127.0.0.1:1' };
      await assert.rejects(rt.status(down), (e: CniError) => e.cniCode === 50);
    });
  });
  describe('with the Kubernetes API (test API server)', () => {
    let api: TestApiServer | undefined;
    let fwd: Server | undefined;
    let kubeconfig = '';
    before(async () => {
      api = await TestApiServer.start();
      fwd = await forwardIntoNetns(N1, 6443, api.port);
      const path = await api.writeKubeconfig(tmp);
      // The plugin reaches the server through the forwarder inside the node's namespace.
      kubeconfig = join(tmp, 'kubeconfig-n1');
      writeFileSync(kubeconfig, readFileSync(path, 'utf8').replace(api.url, 'http://127.0.0.1:6443'));
      const k = await datastoreFromEnv({ CARACAL_DATASTORE: 'kubernetes', KUBECONFIG: path });
      await k.create('Pod', {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'web', namespace: 'ns1', labels: { app: 'web', tier: 'front' } },
        spec: { nodeName: 'n1', serviceAccountName: 'web-sa', containers: [{ name: 'c', image: 'x' }] },
      } as never);
      k8sDs = k;
    });
    after(async () => {
      await k8sDs?.close();
      await new Promise((r) => (fwd ? fwd.close(r) : r(undefined)));
      await api?.stop();
    });

    it("ADD writes the WorkloadEndpoint with the pod's labels and service account; DEL deletes it", async () => {
      const list: ConfList = {
        cniVersion: '1.0.0',
        name: 'caracal',
        plugins: [
          {
            type: 'caracal',
            nodename: 'n1',
            agentSocket: '', // the in-process path: never a node agent another test may be running
            datastore: { type: 'kubernetes', kubeconfig },
            ipam: { type: 'host-local', ranges: [[{ subnet: '10.247.0.0/24' }]], dataDir: join(tmp, 'ipam-k8s') },
          },
        ],
      };
      const w = pod('web');
      await rt.add(list, w);
      const ep = await k8sDs?.get('WorkloadEndpoint', 'n1-k8s-web-eth0', 'ns1');
      assert.ok(ep, 'endpoint written through the API');
      assert.equal(ep.metadata.labels?.app, 'web');
      assert.equal(ep.metadata.labels?.['caracal.io/namespace'], 'ns1');
      assert.equal(ep.spec.serviceAccountName, 'web-sa');
      assert.equal(ep.spec.pod, 'web');
      await rt.del(list, w);
      assert.equal(await k8sDs?.get('WorkloadEndpoint', 'n1-k8s-web-eth0', 'ns1'), undefined);
    });
  });
});
