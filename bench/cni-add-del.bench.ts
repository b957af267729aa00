/**
 * CNI ADD and DEL latency, driven as a runtime drives a plugin (a fresh process per call: CNI_* environment,
 * configuration on stdin, inside the node's network namespace through `nsenter --net`): the built `caracal`
 * (bin/caracal → dist/cni/main.js) against the reference `ptp` plugin, both with host-local IPAM, alternated
 * call by call in one run. An empty `node -e 0` is measured in the same run and namespace, so the table shows
 * how much of caracal's time is Node's own start-up. A second pair runs caracal the cluster way (Caracal IPAM
 * and the WorkloadEndpoint in a real etcd) against the same reference.
 *
 * The first two caracal configurations set `agentSocket: ""`: the plugin doing IPAM and the endpoint itself
 * (the path without a node agent). The last pair runs the same cluster configuration with `caracal node`
 * (bin/caracal node, started in setup, in the node's namespace) serving the agent socket: the plugin hands the
 * whole command to it (cni/main.ts, node/cni-service.ts) and loads nothing else.
 *
 * Besides the runner's tables (one side-by-side sample = ADD then DEL of one pod), each benchmark's teardown
 * prints p50 and p99 of ADD and DEL separately (and of `node -e 0`). Needs root, iproute2, etcd and Debian's containernetworking-plugins, and a build
 * (`npm run build`); skips otherwise.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { datastoreFromEnv } from '../datastore/index.js';
import { closeFd, openNetns, withNetns } from '../kernel/netns.js';
import { EtcdServer } from '../lab/etcd.js';
import { CARACAL_API_VERSION } from '../model/resource.js';
import { type Benchmark, bench, sideBySide, suite } from './api.js';
import { quantile } from './stats.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CARACAL = join(ROOT, 'bin/caracal');
const PTP = '/usr/lib/cni/ptp';
const NODE_NS = `caracal-bench-cni-${process.pid}`;
const POD_OURS = `${NODE_NS}-a`;
const POD_REF = `${NODE_NS}-b`;
const RUNS = 30;

let tmp = '';
let etcd: EtcdServer | undefined;
let proxy: Server | undefined;
let seq = 0;
const samples: Record<string, number[]> = {};
const record = (k: string, ms: number) => {
  samples[k] ??= [];
  samples[k].push(ms);
};

function skip(): string | false {
  if (process.getuid?.() !== 0) return 'needs root (ip netns)';
  if (!existsSync(PTP)) return 'needs containernetworking-plugins';
  if (!existsSync(join(ROOT, 'dist/cni/main.js'))) return 'needs a build (npm run build)';
  return false;
}

function exec(file: string, env: Record<string, string>, stdin: string): Promise<number> {
  const t0 = performance.now();
  return new Promise((ok, fail) => {
    const c = spawn('nsenter', [`--net=/run/netns/${NODE_NS}`, '--', file], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    c.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    c.on('error', fail);
    c.on('close', (code) =>
      code === 0 ? ok(performance.now() - t0) : fail(new Error(`${file} ${env.CNI_COMMAND}: exit ${code}: ${out}`)),
    );
    c.stdin.end(stdin);
  });
}

function cniEnv(command: string, netns: string, id: string): Record<string, string> {
  return {
    CNI_COMMAND: command,
    CNI_CONTAINERID: id,
    CNI_NETNS: `/run/netns/${netns}`,
    CNI_IFNAME: 'eth0',
    CNI_PATH: `${join(ROOT, 'bin')}:/usr/lib/cni`,
    CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=${id}`,
  };
}

const hostLocal = (subnet: string) => ({
  type: 'host-local',
  ranges: [[{ subnet }]],
  dataDir: join(tmp, `ipam-${subnet.split('.')[1]}`),
});
const oursConf = () =>
  JSON.stringify({
    cniVersion: '1.0.0',
    name: 'caracal',
    type: 'caracal',
    nodename: 'n1',
    agentSocket: '', // the in-process path: never a node agent another test may be running
    mtu: 1450,
    datastore: { type: 'none' },
    ipam: hostLocal('10.201.0.0/16'),
  });
const clusterConf = () =>
  JSON.stringify({
    cniVersion: '1.0.0',
    name: 'caracal',
    type: 'caracal',
    nodename: 'n1',
    agentSocket: '', // the in-process path: never a node agent another test may be running
    mtu: 1450,
    datastore: { type: 'etcdv3', etcdEndpoints: 'http://127.0.0.1:2379' },
    ipam: { type: 'caracal', assignIpv4: true, ipv4Pools: ['10.203.0.0/16'] },
  });
const refConf = () =>
  JSON.stringify({ cniVersion: '1.0.0', name: 'ref', type: 'ptp', mtu: 1450, ipam: hostLocal('10.202.0.0/16') });

const agentConf = () => JSON.stringify({ ...JSON.parse(clusterConf()), agentSocket: join(tmp, 'cni.sock') });

let agent: ChildProcess | undefined;
/**
 * The lab plus `caracal node` on the same etcd, in the node's namespace as on a real node (it makes the veths'
 * host ends there, and takes whole commands only from plugins in its own namespace); etcd through the proxy.
 */
async function setupWithAgent(): Promise<void> {
  await setup();
  const argv = [`--net=/run/netns/${NODE_NS}`, '--', CARACAL, 'node', '--nodename', 'n1', '--cni-socket'];
  const child = spawn('nsenter', [...argv, join(tmp, 'cni.sock')], {
    env: { ...process.env, CARACAL_DATASTORE: 'etcdv3', CARACAL_ETCD_ENDPOINTS: 'http://127.0.0.1:2379' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  agent = child;
  let log = '';
  child.stderr?.on('data', (b: Buffer) => {
    log += b.toString();
  });
  for (let i = 0; i < 400 && !log.includes('"event":"agentUp"'); i++) {
    if (child.exitCode !== null) throw new Error(`caracal node exited: ${log}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  if (!log.includes('"event":"agentUp"')) throw new Error(`caracal node did not come up: ${log}`);
}
async function teardownWithAgent(): Promise<void> {
  if (agent && agent.exitCode === null) {
    const exited = new Promise((r) => agent?.once('exit', r));
    agent.kill('SIGTERM');
    await exited;
  }
  agent = undefined;
  await teardown();
}

/** ADD then DEL of one pod, each timed on its own. */
async function cycle(label: string, file: string, netns: string, conf: string): Promise<number> {
  const id = `${label.replace(/[^a-z0-9]+/gi, '').toLowerCase()}${++seq}`;
  const add = await exec(file, cniEnv('ADD', netns, id), conf);
  const del = await exec(file, cniEnv('DEL', netns, id), conf);
  record(`${label} ADD`, add);
  record(`${label} DEL`, del);
  return add + del;
}

async function nodeStart(): Promise<number> {
  const t0 = performance.now();
  await new Promise<void>((ok, fail) => {
    const c = spawn('nsenter', [`--net=/run/netns/${NODE_NS}`, '--', process.execPath, '-e', '0']);
    c.on('error', fail);
    c.on('close', () => ok());
  });
  const ms = performance.now() - t0;
  record('node -e 0', ms);
  return ms;
}

/** Each benchmark sets the lab up and tears it down, so any one of them can run alone (`--name` filters). */
async function setup(): Promise<void> {
  tmp = mkdtempSync(join(tmpdir(), 'caracal-bench-cni-'));
  for (const ns of [NODE_NS, POD_OURS, POD_REF]) {
    spawnSync('ip', ['netns', 'add', ns]);
    spawnSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  }
  etcd = await EtcdServer.start();
  const ds = await datastoreFromEnv({ CARACAL_ETCD_ENDPOINTS: etcd.endpoints.join(',') });
  await ds.create('IPPool', {
    apiVersion: CARACAL_API_VERSION,
    kind: 'IPPool',
    metadata: { name: 'bench' },
    spec: { cidr: '10.203.0.0/16' },
  } as never);
  await ds.close();
  // The plugin runs in the node namespace; this listener, made there, forwards to etcd on our loopback.
  const port = etcd.clientPort;
  proxy = createServer((c) => {
    const up = connect(port, '127.0.0.1');
    c.pipe(up).pipe(c);
    c.on('error', () => up.destroy());
    up.on('error', () => c.destroy());
  });
  const fd = openNetns(`/run/netns/${NODE_NS}`);
  try {
    withNetns(fd, () => proxy?.listen(2379));
  } finally {
    closeFd(fd);
  }
}

function printTable(): void {
  if (Object.keys(samples).length === 0) return;
  const rows = Object.entries(samples).map(([k, xs]) => {
    const p50 = quantile(xs, 0.5).toFixed(1);
    const p99 = quantile(xs, 0.99).toFixed(1);
    return `| ${k.padEnd(34)} | ${String(xs.length).padStart(3)} | ${p50.padStart(7)} | ${p99.padStart(7)} |`;
  });
  process.stdout.write(
    `\nCNI latency per call, ms (one process per call, inside the node netns via nsenter)\n` +
      `| ${'call'.padEnd(34)} |   n |     p50 |     p99 |\n|${'-'.repeat(36)}|-----|---------|---------|\n${rows.join('\n')}\n\n`,
  );
}

async function teardown(): Promise<void> {
  printTable();
  for (const k of Object.keys(samples)) delete samples[k];
  await new Promise((r) => (proxy ? proxy.close(r) : r(undefined)));
  proxy = undefined;
  await etcd?.remove();
  etcd = undefined;
  for (const ns of [POD_OURS, POD_REF, NODE_NS]) spawnSync('ip', ['netns', 'del', ns]);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  tmp = '';
}

const benches: Benchmark[] = [
  sideBySide('CNI ADD+DEL, host-local IPAM, no datastore', {
    labels: { ours: 'caracal', reference: 'ptp' },
    skip,
    runs: RUNS,
    warmup: 2,
    iterations: 1,
    setup,
    teardown,
    ours: () => cycle('caracal (host-local)', CARACAL, POD_OURS, oursConf()),
    reference: () => cycle('ptp + host-local', PTP, POD_REF, refConf()),
  }),
  suite('empty Node start-up in the node netns', {
    skip,
    setup,
    teardown,
    cases: [bench('node -e 0', nodeStart, { runs: RUNS, warmup: 2, iterations: 1 })],
  }),
  sideBySide('CNI ADD+DEL, caracal with etcd + Caracal IPAM', {
    labels: { ours: 'caracal+etcd', reference: 'ptp' },
    skip,
    runs: RUNS,
    warmup: 2,
    iterations: 1,
    setup,
    ours: () => cycle('caracal (etcd, Caracal IPAM)', CARACAL, POD_OURS, clusterConf()),
    reference: () => cycle('ptp + host-local', PTP, POD_REF, refConf()),
    teardown,
  }),
  sideBySide('CNI ADD+DEL, caracal with etcd + Caracal IPAM via the node agent', {
    labels: { ours: 'caracal+agent', reference: 'ptp' },
    skip,
    runs: RUNS,
    warmup: 2,
    iterations: 1,
    setup: setupWithAgent,
    ours: () => cycle('caracal (etcd, via agent)', CARACAL, POD_OURS, agentConf()),
    reference: () => cycle('ptp + host-local', PTP, POD_REF, refConf()),
    teardown: teardownWithAgent,
  }),
  // The measure of "Caracal's own work" (its calls minus an empty Node start), taken alternated in one
  // run instead of from two benchmarks minutes apart: one ADD + DEL through the agent against two `node -e 0`.
  sideBySide('caracal ADD+DEL via the node agent vs two empty Node starts', {
    labels: { ours: 'caracal+agent', reference: '2× node -e 0' },
    skip,
    runs: RUNS,
    warmup: 2,
    iterations: 1,
    setup: setupWithAgent,
    ours: () => cycle('caracal (etcd, via agent)', CARACAL, POD_OURS, agentConf()),
    reference: async () => (await nodeStart()) + (await nodeStart()),
    teardown: teardownWithAgent,
  }),
];
export default benches;
