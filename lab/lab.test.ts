/**
 * Labs for real: namespaces, veths, BIRD/FRR/GoBGP and etcd on this machine. Needs root and the daemons; skips
 * with a message otherwise. Every lab gets a unique name and a private state root, so this file can run beside
 * other test files (and other people's labs); every test tears down in `finally` and then checks that nothing
 * is left: no namespace with the lab's prefix, no recorded process alive, no process mentioning the state
 * directory, no state directory, no veth in the host namespace.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isCaracalError } from '../common/errors.js';
import { Lab, type LabState, loadTopologyFile, netnsPrefix, planLab, pollUntil } from './lab.js';
import { IFNAME_MAX, isAlive, listNetns, type ProcessRef } from './netns.js';
import { parseTopology, type Topology } from './topology.js';

const have = (bin: string) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
const isRoot = process.getuid?.() === 0;
const missing = [
  'ip',
  'nsenter',
  'bird',
  'birdc',
  '/usr/lib/frr/bgpd',
  'vtysh',
  'gobgpd',
  'gobgp',
  'etcd',
  'etcdctl',
].filter((b) => !(b.startsWith('/') ? existsSync(b) : have(b)));
const skip = !isRoot ? 'needs root (network namespaces)' : missing.length ? `missing ${missing.join(', ')}` : false;
const PING = have('ping') ? ['ping'] : ['busybox', 'ping'];

const example = (f: string) => fileURLToPath(new URL(`./examples/${f}`, import.meta.url));
const REPO = fileURLToPath(new URL('..', import.meta.url));

const stateRoot = mkdtempSync(join(tmpdir(), 'caracal-lab-test-'));
after(() => rmSync(stateRoot, { recursive: true, force: true }));

/** A lab name no other test run uses: `base-<pid><random>`. */
const uniqueName = (base: string) => `${base}-${process.pid.toString(36)}${randomBytes(2).toString('hex')}`;

async function ping(lab: Lab, from: string, to: string, family: 4 | 6 = 4): Promise<void> {
  const argv = [...PING, ...(family === 6 ? ['-6'] : []), '-c', '1', '-W', '2', to];
  let last = '';
  for (let i = 0; i < 3; i++) {
    const r = await lab.exec(from, argv);
    if (r.code === 0) return;
    last = r.stdout + r.stderr;
  }
  assert.fail(`${from} cannot ping ${to}: ${last}`);
}

/** Pids of live processes whose command line mentions `s`. */
function processesMentioning(s: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'latin1').includes(s) && isAlive({ pid: Number(d) })) out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

function hostLinks(): string[] {
  return spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
    .stdout.split('\n')
    .map((l) => l.split(': ')[1]?.split('@')[0] ?? '')
    .filter(Boolean);
}

function assertNothingLeft(name: string, state: Pick<LabState, 'stateDir' | 'processes' | 'veths'>): void {
  assert.deepEqual(
    listNetns().filter((n) => n.startsWith(netnsPrefix(name))),
    [],
    'no namespace with the lab prefix',
  );
  const alive = state.processes.filter((p: ProcessRef) => isAlive(p));
  assert.deepEqual(alive, [], 'no recorded process alive');
  assert.deepEqual(processesMentioning(`${state.stateDir}/`), [], 'no process mentions the state directory');
  assert.equal(existsSync(state.stateDir), false, 'state directory removed');
  const host = new Set(hostLinks());
  assert.deepEqual(
    state.veths.filter((v) => host.has(v.name) && v.name.startsWith('cali')),
    [],
    'no pod veth in the host namespace',
  );
}

/** One node with two dual-stack pods and a BIRD router: small, quick, and exercises every kind of object. */
function smallTopology(extra: Partial<Record<string, unknown>> = {}): Topology {
  return parseTopology({
    name: 'small',
    nodes: [{ name: 'node1' }],
    pods: [
      { name: 'pa', node: 'node1', ip: ['10.244.0.2', 'fd00:244::2'] },
      { name: 'pb', node: 'node1', ip: ['10.244.0.3', 'fd00:244::3'] },
    ],
    routers: [{ name: 'r1', daemon: 'bird', asNumber: 65000, routerId: '10.0.0.1' }],
    links: [{ a: 'node1', b: 'r1', addresses: { a: '10.0.0.2/30', b: '10.0.0.1/30' } }],
    routes: [{ on: 'r1', dst: '10.244.0.0/24', via: '10.0.0.2' }],
    ...extra,
  });
}

describe('planLab()', () => {
  const t = loadTopologyFile(example('three-nodes-tor.yaml'));
  const plan = planLab(t, 'demo');

  it('gives every entity a namespace named caracal.<lab>.<entity>', () => {
    assert.deepEqual(
      plan.namespaces.map((n) => n.ns),
      [
        ...['node1', 'node2', 'node3', 'tor', 'upstream'],
        ...['pod1a', 'pod1b', 'pod2a', 'pod2b', 'pod3a', 'pod3b'],
      ].map((e) => `caracal.demo.${e}`),
    );
  });

  it('derives interface names that fit IFNAMSIZ and are unique in each namespace', () => {
    const perNs = new Map<string, string[]>();
    for (const v of plan.veths) {
      perNs.set(v.netns, [...(perNs.get(v.netns) ?? []), v.name]);
      perNs.set(v.peerNetns, [...(perNs.get(v.peerNetns) ?? []), v.peerName]);
    }
    for (const [ns, names] of perNs) {
      assert.equal(new Set(names).size, names.length, `duplicate interface names in ${ns}: ${names}`);
      for (const n of names) assert.ok(n.length <= IFNAME_MAX, `${n} is longer than ${IFNAME_MAX}`);
    }
    assert.deepEqual(
      plan.veths.filter((v) => v.purpose === 'links[3]').map((v) => [v.name, v.peerName]),
      [['l3-tor', 'l3-upstream']],
    );
  });

  it('wires pods the way Calico does', () => {
    const node1 = plan.namespaces.find((n) => n.entity === 'node1')!;
    const pod = plan.namespaces.find((n) => n.entity === 'pod1a')!;
    const cali = plan.veths.find((v) => v.purpose === 'pod pod1a')!.name;
    assert.match(cali, /^cali[0-9a-f]{11}$/);
    assert.ok(
      node1.createIp.includes(
        `link add ${cali} address ee:ee:ee:ee:ee:ee type veth peer name eth0 netns caracal.demo.pod1a`,
      ),
    );
    assert.ok(node1.configureIp.includes(`route add 10.244.1.2/32 dev ${cali}`));
    assert.deepEqual(
      node1.configureSysctls.filter(([k]) => k.includes(cali)),
      [
        [`net/ipv4/conf/${cali}/proxy_arp`, '1'],
        [`net/ipv4/neigh/${cali}/proxy_delay`, '0'],
      ],
    );
    assert.deepEqual(pod.configureIp, [
      'addr add 10.244.1.2/32 dev eth0',
      'link set eth0 up',
      'neigh add 169.254.1.1 lladdr ee:ee:ee:ee:ee:ee dev eth0 nud permanent',
      'route add default via 169.254.1.1 dev eth0 onlink',
    ]);
    assert.ok(node1.setupSysctls.some(([k, v]) => k === 'net/ipv4/ip_forward' && v === '1'));
    assert.ok(!pod.setupSysctls.some(([k]) => k === 'net/ipv4/ip_forward'));
  });
});

describe('Lab', { skip }, () => {
  it('three-nodes-tor: pods reach pods on their node, across nodes and past the ToR; down() leaves nothing', async () => {
    const name = uniqueName('demo');
    const lab = await Lab.up(loadTopologyFile(example('three-nodes-tor.yaml')), { name, stateRoot });
    const state = lab.state;
    try {
      assert.equal(state.phase, 'up');
      assert.equal(state.netns.length, 11);
      assert.equal(state.processes.length, 2);
      assert.ok(existsSync(join(state.stateDir, 'state.json')));
      for (const k of ['netns', 'setup', 'veths', 'addresses', 'routers', 'total'])
        assert.equal(typeof state.timingsMs[k], 'number', `timing ${k}`);

      await ping(lab, 'pod1a', '10.244.1.3'); // same node
      await ping(lab, 'pod1a', '10.244.2.2'); // across nodes, through the ToR
      await ping(lab, 'pod3b', '10.244.1.2');
      await ping(lab, 'pod2b', '10.244.3.3');

      await lab.waitForSessions({ timeoutMs: 15_000 });
      const upstream = await lab.sessions('upstream');
      assert.deepEqual(upstream, [{ peer: '10.0.9.1', state: 'Established' }]);
      const tor = await lab.sessions('tor');
      assert.equal(tor.find((s) => s.peer === '10.0.9.2')?.state, 'Established');
      for (const node of ['10.0.1.2', '10.0.2.2', '10.0.3.2'])
        assert.notEqual(tor.find((s) => s.peer === node)?.state, 'Established', `no speaker on ${node} yet`);

      // Routes both ways: BIRD learns the upstream prefix and installs it; FRR learns the pod supernet.
      await pollUntil(
        async () => (await lab.routes('tor')).some((r) => r.prefix === '198.51.100.0/24' && r.peer === '10.0.9.2'),
        {
          timeoutMs: 10_000,
          what: 'the ToR to learn 198.51.100.0/24',
        },
      );
      const learned = (await lab.routes('upstream')).find((r) => r.prefix === '10.244.0.0/16');
      assert.deepEqual(learned, { prefix: '10.244.0.0/16', best: true, peer: '10.0.9.1', nextHop: '10.0.9.1' });
      const kernel = await lab.exec('tor', ['ip', 'route', 'show', 'proto', 'bird']);
      assert.match(kernel.stdout, /^198\.51\.100\.0\/24 via 10\.0\.9\.2 /m);
      await ping(lab, 'pod1a', '198.51.100.1'); // over the BGP-learned route

      const st = await lab.status();
      assert.equal(st.pods.length, 6);
      assert.deepEqual(st.missingNetns, []);
      assert.equal(st.routers.find((r) => r.name === 'tor')?.alive, true);
    } finally {
      await lab.down();
    }
    assertNothingLeft(name, state);
    await lab.down(); // idempotent
  });

  it('routers-interop: BIRD, FRR and GoBGP all reach Established (one session with MD5) and learn each other', async () => {
    const name = uniqueName('interop');
    const lab = await Lab.up(loadTopologyFile(example('routers-interop.yaml')), { name, stateRoot });
    const state = lab.state;
    try {
      assert.equal(lab.expectedSessions().length, 6);
      await lab.waitForSessions({ timeoutMs: 20_000 });
      const own: Record<string, string> = { bird1: '10.1.0.0/24', frr1: '10.2.0.0/24', gobgp1: '10.3.0.0/24' };
      for (const r of Object.keys(own)) {
        const sessions = await lab.sessions(r);
        assert.deepEqual(
          sessions.map((s) => s.state),
          ['Established', 'Established'],
          `${r}: ${JSON.stringify(sessions)}`,
        );
        await pollUntil(
          async () => {
            const routes = await lab.routes(r);
            const best = new Set(routes.filter((x) => x.best).map((x) => x.prefix));
            return Object.values(own).every((p) => best.has(p)) && routes;
          },
          { timeoutMs: 10_000, what: `${r} to have a best route for all three prefixes` },
        );
        const learned = (await lab.routes(r)).filter((x) => x.best && x.prefix !== own[r]);
        for (const x of learned) assert.ok(x.peer, `${r} learned ${x.prefix} from a peer`);
      }
      // The BIRD <-> FRR session carries TCP MD5 (RFC 2385): the kernel shows the key on the socket.
      const ss = await lab.exec('bird1', ['ss', '-tni', 'dport', '= :179', 'or', 'sport', '= :179']);
      assert.match(ss.stdout, /md5keys:10\.9\.0\.2\/32/, ss.stdout);
    } finally {
      await lab.down();
    }
    assertNothingLeft(name, state);
  });

  it('two labs of one topology coexist, even when one name is a prefix of the other; LAB_EXISTS for a taken name', async () => {
    const name = uniqueName('co');
    const a = await Lab.up(smallTopology(), { name, stateRoot });
    let b: Lab | undefined;
    const stateA = a.state;
    try {
      await assert.rejects(Lab.up(smallTopology(), { name, stateRoot }), (e) => isCaracalError(e, 'LAB_EXISTS'));
      b = await Lab.up(smallTopology(), { name: `${name}-b`, stateRoot });
      for (const lab of [a, b]) {
        await ping(lab, 'pa', '10.244.0.3');
        await ping(lab, 'pa', 'fd00:244::3', 6);
        await ping(lab, 'pb', '10.0.0.1'); // through the node to the router, and back by a static route
      }
      await a.down();
      assertNothingLeft(name, stateA);
      assert.equal(listNetns().filter((n) => n.startsWith(netnsPrefix(`${name}-b`))).length, 4);
      await ping(b, 'pa', '10.244.0.3');
      assert.equal((await b.status()).routers[0]?.alive, true);
    } finally {
      await a.down();
      const stateB = b?.state;
      await b?.down();
      if (stateB) assertNothingLeft(`${name}-b`, stateB);
    }
  });

  it('a daemon that exits during up(): up() throws LAB_COMMAND_FAILED naming it and leaves nothing', async () => {
    const name = uniqueName('fail');
    const t = parseTopology({
      name: 'fail',
      nodes: [{ name: 'n1' }],
      pods: [{ name: 'p1', node: 'n1', ip: '10.244.0.2' }],
      routers: [
        { name: 'good', daemon: 'frr', asNumber: 65001, peers: [{ address: '10.0.0.2', asNumber: 65002 }] },
        { name: 'bad', daemon: 'bird', asNumber: 65002, extraConfig: 'this is not bird syntax;' },
        { name: 'gob', daemon: 'gobgp', asNumber: 65003, routerId: '10.0.0.3' },
      ],
      links: [
        { lan: 'l', members: { n1: '10.0.0.9/24', good: '10.0.0.1/24', bad: '10.0.0.2/24', gob: '10.0.0.3/24' } },
      ],
    });
    const stateDir = join(stateRoot, name);
    await assert.rejects(Lab.up(t, { name, stateRoot }), (e) => {
      assert.ok(isCaracalError(e, 'LAB_COMMAND_FAILED'), String(e));
      assert.match(e.message, /Cannot start bird for router "bad"/);
      assert.match(e.message, /bird -f -c/);
      assert.match(e.message, /syntax error/);
      return true;
    });
    assertNothingLeft(name, { stateDir, processes: [], veths: [] });
    // The FRR and GoBGP daemons that did start were recorded and stopped: nothing runs from that directory.
    assert.deepEqual(processesMentioning(stateDir), []);
  });

  it('labs brought up in-process are torn down when the process dies (exception, SIGTERM; SIGKILL: daemons)', async () => {
    for (const mode of ['throw', 'sigterm', 'sigkill'] as const) {
      const name = uniqueName(mode);
      const code = `
        const { Lab } = await import(${JSON.stringify(join(REPO, 'lab/lab.ts'))});
        const lab = await Lab.up(${JSON.stringify(smallTopology())}, { name: ${JSON.stringify(name)}, stateRoot: ${JSON.stringify(stateRoot)} });
        process.stdout.write('READY ' + JSON.stringify(lab.state) + '\\n');
        if (${JSON.stringify(mode)} === 'throw') setTimeout(() => { throw new Error('boom'); }, 20);
        else setInterval(() => {}, 1000);
      `;
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
        cwd: REPO,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
      });
      child.stderr.on('data', (b: Buffer) => {
        err += b.toString();
      });
      const exited = new Promise<{ code: number | null; signal: string | null }>((r) =>
        child.on('exit', (code, signal) => r({ code, signal })),
      );
      const line = await pollUntil(() => out.split('\n').find((l) => l.startsWith('READY ')), {
        timeoutMs: 20_000,
        intervalMs: 20,
        what: `the child to bring lab "${name}" up`,
        last: () => err.slice(-2000),
      });
      const state = JSON.parse(line.slice(6)) as LabState;
      assert.equal(listNetns().filter((n) => n.startsWith(netnsPrefix(name))).length, 4);
      assert.ok(state.processes.every((p) => isAlive(p)));
      if (mode !== 'throw') child.kill(mode === 'sigterm' ? 'SIGTERM' : 'SIGKILL');
      const how = await exited;
      if (mode === 'throw') assert.equal(how.code, 1, err);
      else assert.equal(how.signal, mode.toUpperCase());
      if (mode === 'sigkill') {
        // No hook runs on SIGKILL. The kernel still kills the daemons (pdeathsig); the namespaces and the
        // state file stay, and `down` by name (what `caracal lab down NAME` does) removes them.
        await pollUntil(() => !state.processes.some(isAlive), {
          timeoutMs: 3000,
          intervalMs: 20,
          what: 'the daemons to die',
        });
        assert.equal(listNetns().filter((n) => n.startsWith(netnsPrefix(name))).length, 4);
        await Lab.downByName(name, { stateRoot });
      }
      assertNothingLeft(name, state);
    }
  });

  it('downByName() works from the state file alone, and sweeps namespaces that have no state', async () => {
    const name = uniqueName('byname');
    const lab = await Lab.up(smallTopology(), { name, stateRoot, detach: true });
    const state = lab.state;
    await Lab.downByName(name, { stateRoot });
    assertNothingLeft(name, state);

    // Orphans: a namespace with the prefix and a process in it, but no state file (a crash during up).
    const orphan = uniqueName('orphan');
    const ns = `${netnsPrefix(orphan)}x`;
    assert.equal(spawnSync('ip', ['netns', 'add', ns]).status, 0);
    const sleeper = spawn('ip', ['netns', 'exec', ns, 'sleep', '60'], { stdio: 'ignore', detached: true });
    sleeper.unref();
    await pollUntil(() => spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.trim() !== '', {
      timeoutMs: 5000,
      intervalMs: 20,
      what: 'the sleeper to start',
    });
    await Lab.downByName(orphan, { stateRoot });
    assert.deepEqual(
      listNetns().filter((n) => n.startsWith(netnsPrefix(orphan))),
      [],
    );
    await pollUntil(() => !isAlive({ pid: sleeper.pid! }), {
      timeoutMs: 3000,
      intervalMs: 20,
      what: 'the sleeper to die',
    });
    await assert.rejects(Lab.downByName(orphan, { stateRoot }), (e) => isCaracalError(e, 'LAB_NOT_FOUND'));
  });

  it('etcd: true starts an etcd that answers on its endpoints, and down() stops it', async () => {
    const name = uniqueName('etcd');
    const lab = await Lab.up(smallTopology({ etcd: true }), { name, stateRoot });
    const state = lab.state;
    try {
      const endpoints = lab.etcdEndpoints ?? [];
      assert.ok(endpoints[0]?.startsWith('http://127.0.0.1:'), String(endpoints));
      assert.ok(state.processes.some((p) => p.kind === 'etcd'));
      const put = spawnSync('etcdctl', [`--endpoints=${endpoints.join(',')}`, 'put', 'caracal/lab', 'ok'], {
        encoding: 'utf8',
      });
      assert.equal(put.status, 0, put.stderr);
      const get = spawnSync(
        'etcdctl',
        [`--endpoints=${endpoints.join(',')}`, 'get', '--print-value-only', 'caracal/lab'],
        {
          encoding: 'utf8',
        },
      );
      assert.equal(get.stdout.trim(), 'ok');
    } finally {
      await lab.down();
    }
    assertNothingLeft(name, state);
  });

  it('a detached lab (caracal lab up) keeps its etcd after the process that built it exits; down stops it', async () => {
    const name = uniqueName('detached');
    const mod = new URL('./lab.ts', import.meta.url).href;
    const script =
      `const { Lab } = await import(${JSON.stringify(mod)});` +
      `await Lab.up(${JSON.stringify(smallTopology({ etcd: true }))}, { name: ${JSON.stringify(name)}, stateRoot: ${JSON.stringify(stateRoot)}, detach: true });` +
      'process.exit(0);';
    const up = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    const lab = Lab.open(name, { stateRoot });
    const state = lab.state;
    try {
      assert.equal(up.status, 0, up.stderr);
      assert.equal(state.detached, true);
      const etcd = state.processes.find((p) => p.kind === 'etcd');
      assert.ok(etcd && isAlive(etcd), 'etcd outlives the process that started it');
      assert.equal(readFileSync(`/proc/${etcd.pid}/cmdline`, 'latin1').includes('--pdeathsig'), false);
      const endpoints = lab.etcdEndpoints ?? [];
      assert.ok(endpoints[0]?.startsWith('http://127.0.0.1:'), String(endpoints));
      const health = spawnSync('etcdctl', [`--endpoints=${endpoints.join(',')}`, 'endpoint', 'health'], {
        encoding: 'utf8',
      });
      assert.equal(health.status, 0, health.stderr);
      assert.ok(existsSync(join(state.stateDir, 'etcd.log')), 'etcd logs to the state directory');
    } finally {
      await Lab.downByName(name, { stateRoot });
    }
    assertNothingLeft(name, state);
  });
});
