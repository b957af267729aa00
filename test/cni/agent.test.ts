/**
 * The plugin's agent path end to end: `caracal node` (run unbuilt through tsx) serves its CNI socket over a
 * real etcd, and the plugin is exec'd as a runtime does (test/cni/runtime.ts) inside a "node" namespace.
 * ADD and DEL go through the agent (its debug log names each request); a failed ADD is undone through it;
 * without an agent, and with an agent killed between ADD and DEL, the plugin does the same in-process;
 * SIGTERM stops the agent cleanly; `caracalctl ipam check` finds nothing wrong afterwards.
 * Needs root (network namespaces) and etcd; skips otherwise.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { datastoreFromEnv } from '../../datastore/index.js';
import type { Datastore } from '../../datastore/types.js';
import { EtcdServer } from '../../lab/etcd.js';
import { CARACAL_API_VERSION } from '../../model/resource.js';
import {
  type Attachment,
  type CniError,
  CniRuntime,
  type ConfList,
  forwardIntoNetns,
  writePluginShim,
} from './runtime.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const skip = process.getuid?.() !== 0 ? 'needs root (network namespaces)' : false;

const P = `cagt${process.pid % 100000}`;
const NODE = `${P}-n1`;
const made: string[] = [];
const POOL = '10.248.0.0/16';

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8' });
}
function addNs(name: string): string {
  ip('netns', 'add', name);
  made.push(name);
  ip('-n', name, 'link', 'set', 'lo', 'up');
  return `/run/netns/${name}`;
}

/**
 * A CNI_PATH directory whose `caracal` is the plugin from the sources with a module-resolution hook that
 * appends every module URL it loads to `logFile` (Node's module.register; the hook runs off-thread).
 */
function writeRecordingShim(dir: string, logFile: string): string {
  mkdirSync(dir, { recursive: true });
  const hooks = join(dir, 'hooks.mjs');
  writeFileSync(
    hooks,
    `import { appendFileSync } from 'node:fs';
export async function resolve(spec, ctx, next) {
  const r = await next(spec, ctx);
  appendFileSync(${JSON.stringify(logFile)}, r.url + '\\n');
  return r;
}\n`,
  );
  const register = join(dir, 'register.mjs');
  writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(`file://${hooks}`)});\n`);
  const loader = join(ROOT, 'node_modules/tsx/dist/loader.mjs');
  const main = join(ROOT, 'cni/main.ts');
  writeFileSync(
    join(dir, 'caracal'),
    `#!/bin/sh\nexec "${process.execPath}" --import "file://${loader}" --import "file://${register}" -e "import('${main}').then((m) => m.main())"\n`,
    { mode: 0o755 },
  );
  return dir;
}
/** The datastore stack: its packages, datastore/, ipam/ and the zod models (model/ip.ts is plain code). */
const HEAVY =
  /\/node_modules\/(zod|etcd3|@grpc|protobufjs|@kubernetes|yaml|pino)\/|\/(datastore|ipam)\/|\/model\/(?!ip\.ts)/;

/** `caracal node` from the sources, its stderr (the JSON log) collected. */
class Agent {
  readonly child: ChildProcess;
  log = '';
  readonly exited: Promise<number | null>;
  /** `netns`: where the agent runs (default the node's; null: this process's own namespace). */
  constructor(socket: string, etcdEndpoints: string, netns: string | null = NODE) {
    const code = `import('${join(ROOT, 'node/cli.ts')}').then((m) => m.main(process.argv.slice(1)))`;
    // In the node's namespace, as on a real node (the veth's host end is made there); etcd through the proxy.
    const inNetns = netns === null ? [] : ['ip', 'netns', 'exec', netns];
    this.child = spawn(
      inNetns[0] ?? process.execPath,
      [
        ...inNetns.slice(1),
        ...(netns === null ? [] : [process.execPath]),
        '--import',
        'tsx',
        '-e',
        code,
        '--',
        'node',
        '--nodename',
        'n1',
        '--cni-socket',
        socket,
      ],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          CARACAL_DATASTORE: 'etcdv3',
          CARACAL_ETCD_ENDPOINTS: etcdEndpoints,
          CARACAL_LOG_LEVEL: 'debug',
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    this.child.stderr?.on('data', (b: Buffer) => {
      this.log += b.toString();
    });
    this.exited = new Promise((r) => this.child.once('exit', (c) => r(c)));
  }
  async ready(): Promise<void> {
    for (let i = 0; i < 600 && !/"event":"agentUp"/.test(this.log); i++) {
      if (this.child.exitCode !== null) throw new Error(`agent exited: ${this.log}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.match(this.log, /"event":"agentUp"/, 'the agent came up');
  }
  /** The requests the agent served, in order (from its debug lines). */
  ops(): string[] {
    return [...this.log.matchAll(/"op":"(\w+)","ms"/g)].map((m) => m[1] as string);
  }
}

describe('caracal CNI plugin through the node agent', { skip }, () => {
  let tmp = '';
  let rt: CniRuntime;
  let etcd: EtcdServer | undefined;
  let ds: Datastore | undefined;
  let proxy: Server | undefined;
  let agent: Agent | undefined;
  let socket = '';
  let seq = 0;

  const conf = (extra: Record<string, unknown> = {}): ConfList => ({
    cniVersion: '1.1.0',
    name: 'caracal',
    plugins: [
      {
        type: 'caracal',
        nodename: 'n1',
        agentSocket: socket,
        datastore: { type: 'etcdv3', etcdEndpoints: 'http://127.0.0.1:2379' },
        ipam: { type: 'caracal', assignIpv4: true, ipv4Pools: [POOL] },
        ...extra,
      },
    ],
  });
  const pod = (name: string): Attachment => ({
    containerId: `${name}-${P}-${++seq}`,
    netns: addNs(`${P}-${name}`),
    args: { K8S_POD_NAMESPACE: 'ns1', K8S_POD_NAME: name, K8S_POD_UID: `uid-${name}` },
  });
  const addrOf = (r: Record<string, unknown>) => ((r.ips as { address: string }[])[0]?.address ?? '').split('/')[0];
  const endpoint = (name: string) => ds?.get('WorkloadEndpoint', `n1-k8s-${name}-eth0`, 'ns1');
  /** The addresses the pod's IPAM handle holds (none once released). */
  const held = async (a: Attachment) => {
    const h = await ds?.get('IPAMHandle', `caracal.${a.containerId}`.toLowerCase());
    return h && !h.spec.deleted ? Object.values(h.spec.block).reduce((n, c) => n + c, 0) : 0;
  };

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'caracal-cni-agent-'));
    socket = join(tmp, 'run', 'cni.sock');
    const bin = writePluginShim(join(tmp, 'bin'), ROOT);
    addNs(NODE);
    rt = new CniRuntime({ binDirs: [bin], cacheDir: join(tmp, 'cache'), callerNetns: NODE });
    etcd = await EtcdServer.start();
    ds = await datastoreFromEnv({ CARACAL_ETCD_ENDPOINTS: etcd.endpoints.join(',') });
    await ds.create('IPPool', {
      apiVersion: CARACAL_API_VERSION,
      kind: 'IPPool',
      metadata: { name: 'agent-test' },
      spec: { cidr: POOL },
    } as never);
    // The in-process fallback runs in the node's namespace, whose loopback is not the one etcd listens on.
    proxy = await forwardIntoNetns(NODE, 2379, etcd.clientPort);
    agent = new Agent(socket, 'http://127.0.0.1:2379');
    await agent.ready();
  });

  after(async () => {
    if (agent && agent.child.exitCode === null && agent.child.signalCode === null) {
      agent.child.kill('SIGTERM');
      await agent.exited;
    }
    await new Promise((r) => (proxy ? proxy.close(r) : r(undefined)));
    await ds?.close();
    await etcd?.remove();
    for (const ns of made.reverse()) spawnSync('ip', ['netns', 'del', ns]);
    rmSync(tmp, { recursive: true, force: true });
  });

  it('ADD takes the address and writes the endpoint through the agent; DEL (twice) undoes both', async () => {
    assert.equal(statSync(socket).mode & 0o777, 0o600, 'socket is 0600');
    const a = pod('a');
    const r = await rt.add(conf(), a);
    assert.ok(addrOf(r)?.startsWith('10.248.'), JSON.stringify(r));
    const ep = await endpoint('a');
    assert.equal(ep?.spec.containerID, a.containerId);
    assert.deepEqual(ep?.spec.ipNetworks, [`${addrOf(r)}/32`]);
    assert.equal(await held(a), 1);
    // The plugin hands the whole command over (cni/main.ts); the agent runs the IPAM and endpoint steps itself.
    assert.deepEqual(agent?.ops(), ['cni'], 'ADD went to the agent whole');
    await rt.del(conf(), a);
    assert.equal(await endpoint('a'), undefined, 'endpoint deleted');
    assert.equal(await held(a), 0, 'address released');
    assert.deepEqual(agent?.ops().slice(1), ['cni']);
    await rt.del(conf(), a);
    assert.deepEqual(agent?.ops().slice(2), ['cni'], 'the second DEL, also fine');
  });

  it('a failed ADD gives back what the agent took (the pod already has an eth0)', async () => {
    const b = pod('b');
    ip('-n', `${P}-b`, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'x0');
    const before = agent?.ops().length ?? 0;
    await assert.rejects(rt.add(conf(), b), (e: CniError) => e.cniCode === 102);
    assert.equal(await held(b), 0, 'no address kept');
    assert.equal(await endpoint('b'), undefined);
    assert.deepEqual(agent?.ops().slice(before), ['cni']);
  });

  it('an agent in another network namespace refuses the command; the plugin runs it in-process', async () => {
    const elsewhere = new Agent(join(tmp, 'run', 'root.sock'), etcd?.endpoints.join(',') ?? '', null);
    try {
      await elsewhere.ready();
      const g = pod('g');
      const r = await rt.add(conf({ agentSocket: join(tmp, 'run', 'root.sock') }), g);
      assert.ok(addrOf(r)?.startsWith('10.248.'), JSON.stringify(r));
      // Refused whole; the in-process run still takes its IPAM and endpoint steps there (namespace-blind).
      assert.deepEqual(elsewhere.ops(), ['cni', 'assign', 'writeEndpoint'], 'asked, refused, then steps only');
      const hostIf = (r.interfaces as { name: string; sandbox?: string }[]).find((i) => !i.sandbox)?.name ?? '';
      assert.equal(spawnSync('ip', ['-n', NODE, 'link', 'show', hostIf]).status, 0, 'host end in the node namespace');
      assert.notEqual(spawnSync('ip', ['link', 'show', hostIf]).status, 0, 'nothing made in the agent namespace');
      await rt.del(conf({ agentSocket: join(tmp, 'run', 'root.sock') }), g);
      assert.equal(await held(g), 0);
    } finally {
      elsewhere.child.kill('SIGTERM');
      await elsewhere.exited;
    }
  });

  it('without an agent on the socket, ADD and DEL work in-process', async () => {
    const c = pod('c');
    const before = agent?.ops().length ?? 0;
    const off = conf({ agentSocket: join(tmp, 'nobody.sock') });
    const r = await rt.add(off, c);
    assert.ok(addrOf(r)?.startsWith('10.248.'));
    assert.ok(await endpoint('c'));
    assert.equal(await held(c), 1);
    await rt.del(off, c);
    assert.equal(await endpoint('c'), undefined);
    assert.equal(await held(c), 0);
    assert.equal(agent?.ops().length, before, 'the agent saw none of it');
  });

  it('an agent killed between ADD and DEL: DEL releases in-process; SIGTERM stops a new one cleanly', async () => {
    const d = pod('d');
    await rt.add(conf(), d);
    assert.equal(await held(d), 1);
    agent?.child.kill('SIGKILL');
    await agent?.exited;
    assert.ok(existsSync(socket), 'a killed agent leaves its socket file (nobody answers on it)');
    await rt.del(conf(), d);
    assert.equal(await endpoint('d'), undefined, 'endpoint deleted in-process');
    assert.equal(await held(d), 0, 'address released in-process');

    agent = new Agent(socket, 'http://127.0.0.1:2379');
    await agent.ready(); // replaces the dead socket file
    agent.child.kill('SIGTERM');
    assert.equal(await agent.exited, 0, agent.log);
    assert.match(agent.log, /"event":"stopped"/);
    assert.ok(!existsSync(socket), 'socket file removed');
  });

  it('the agent path loads none of the datastore stack at run time (the fallback does: control)', async () => {
    agent = new Agent(socket, 'http://127.0.0.1:2379');
    await agent.ready();
    const logFile = join(tmp, 'loaded.txt');
    const rec = new CniRuntime({
      binDirs: [writeRecordingShim(join(tmp, 'bin-rec'), logFile)],
      cacheDir: join(tmp, 'cache-rec'),
      callerNetns: NODE,
    });
    const loaded = () =>
      readFileSync(logFile, 'utf8')
        .split('\n')
        .filter((u) => HEAVY.test(u));
    const e = pod('e');
    await rec.add(conf(), e);
    await rec.del(conf(), e);
    assert.ok(readFileSync(logFile, 'utf8').includes('cni/agent-client.ts'), 'the hook saw the plugin load');
    assert.deepEqual(loaded(), [], 'nothing heavy on the agent path');
    const all = readFileSync(logFile, 'utf8');
    for (const m of ['/cni/plugin.ts', '/cni/dataplane.ts', '/kernel/', 'koffi'])
      assert.ok(!all.includes(m), `the agent path loads no ${m} (the agent does the kernel work)`);
    assert.equal(await held(e), 0);
    const f = pod('f');
    const off = conf({ agentSocket: '' });
    await rec.add(off, f);
    await rec.del(off, f);
    assert.ok(
      loaded().some((u) => u.includes('/datastore/')),
      'the in-process path loads the datastore',
    );
    agent.child.kill('SIGTERM');
    assert.equal(await agent.exited, 0);
  });

  it('caracalctl ipam check finds no leak, duplicate or inconsistency afterwards', () => {
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'ctl/main.ts'), 'ipam', 'check', '--grace', '0'],
      {
        cwd: ROOT,
        encoding: 'utf8',
        env: {
          ...process.env,
          CARACAL_DATASTORE: 'etcdv3',
          CARACAL_ETCD_ENDPOINTS: etcd?.endpoints.join(',') ?? '',
          CARACAL_LOG_LEVEL: 'silent',
        },
      },
    );
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  });
});
