/**
 * End to end with a real runtime: podman 4 with its CNI backend starts a container from a local busybox rootfs
 * (no image pull) in a "node" namespace this test makes, and the container's network comes from Caracal
 * (host-local IPAM). The container must get its /32, its default route via 169.254.1.1 and reach another pod
 * on the node; `--rm` makes podman call DEL, which must remove the host veth. Settings per environment.md §1a
 * (runc, cgroupfs, lowered ulimits, private config and storage, `nsenter --net`, never `ip netns exec`).
 * Needs root, podman, runc and busybox-static; skips otherwise.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CniRuntime, type ConfList, writePluginShim } from './runtime.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BUSYBOX = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const skip =
  process.getuid?.() !== 0
    ? 'needs root'
    : !has('podman') || !has('runc')
      ? 'needs podman and runc'
      : !BUSYBOX
        ? 'needs busybox-static'
        : false;

const P = `cpod${process.pid % 100000}`;
const NODE = `${P}-node`;
const PEER = `${P}-peer`;

describe('podman with the CNI backend gets its network from caracal', { skip }, () => {
  let work = '';
  let env: NodeJS.ProcessEnv = {};

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'caracal-podman-'));
    const bin = writePluginShim(join(work, 'cni-bin'), ROOT);
    const rootfs = join(work, 'rootfs');
    mkdirSync(join(rootfs, 'bin'), { recursive: true });
    for (const d of ['proc', 'sys', 'dev', 'etc', 'tmp']) mkdirSync(join(rootfs, d), { recursive: true });
    copyFileSync(BUSYBOX as string, join(rootfs, 'bin/busybox'));
    for (const a of ['sh', 'ip', 'ping', 'cat']) symlinkSync('busybox', join(rootfs, 'bin', a));
    mkdirSync(join(work, 'cni-conf'));
    writeFileSync(
      join(work, 'cni-conf', 'caracalnet.conflist'),
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'caracalnet',
        plugins: [
          {
            type: 'caracal',
            nodename: 'n1',
            agentSocket: '', // the in-process path: never a node agent another test may be running
            mtu: 1400,
            datastore: { type: 'none' },
            ipam: { type: 'host-local', ranges: [[{ subnet: '10.250.0.0/24' }]], dataDir: join(work, 'ipam') },
          },
        ],
      }),
    );
    writeFileSync(
      join(work, 'containers.conf'),
      `[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
[network]
network_backend = "cni"
cni_plugin_dirs = ["${bin}", "/usr/lib/cni"]
network_config_dir = "${join(work, 'cni-conf')}"
default_network = "caracalnet"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
`,
    );
    writeFileSync(
      join(work, 'storage.conf'),
      `[storage]\ndriver = "vfs"\ngraphroot = "${join(work, 'storage')}"\nrunroot = "${join(work, 'runroot')}"\n`,
    );
    env = {
      ...process.env,
      CONTAINERS_CONF: join(work, 'containers.conf'),
      CONTAINERS_STORAGE_CONF: join(work, 'storage.conf'),
    };
    for (const ns of [NODE, PEER]) {
      execFileSync('ip', ['netns', 'add', ns]);
      execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    execFileSync('nsenter', [`--net=/run/netns/${NODE}`, '--', 'sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward']);
  });

  after(() => {
    for (const ns of [PEER, NODE]) spawnSync('ip', ['netns', 'del', ns]);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('the container gets a /32 and a default route via 169.254.1.1, pings a pod, and DEL removes its veth', async () => {
    // A second pod on the node, made through the same plugin the way a runtime would.
    const rt = new CniRuntime({
      binDirs: [join(work, 'cni-bin'), '/usr/lib/cni'],
      cacheDir: join(work, 'cache'),
      callerNetns: NODE,
    });
    const list = JSON.parse(readFileSync(join(work, 'cni-conf', 'caracalnet.conflist'), 'utf8')) as ConfList;
    const peer = { containerId: `peer-${P}`, netns: `/run/netns/${PEER}`, args: { K8S_POD_NAME: 'peer' } };
    const r = await rt.add(list, peer);
    const peerIp = ((r.ips as { address: string }[])[0]?.address ?? '').split('/')[0] as string;

    const run = spawnSync(
      'nsenter',
      [
        `--net=/run/netns/${NODE}`,
        '--',
        'podman',
        'run',
        '--rm',
        '--network',
        'caracalnet',
        '--rootfs',
        join(work, 'rootfs'),
        'sh',
        '-c',
        `ip -4 addr show eth0; ip route; ping -c 1 -W 2 ${peerIp}`,
      ],
      { env, encoding: 'utf8', timeout: 60_000 },
    );
    assert.equal(run.status, 0, `podman run failed: ${run.stderr}\n${run.stdout}`);
    assert.match(run.stdout, /inet 10\.250\.0\.\d+\/32/);
    assert.match(run.stdout, /default via 169\.254\.1\.1 dev eth0/);
    assert.match(run.stdout, /1 packets received/);
    // `--rm` ran DEL: only the peer's veth is left on the node.
    const left = execFileSync('ip', ['-n', NODE, '-br', 'link'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.startsWith('cali'));
    assert.equal(left.length, 1, `one veth left (the peer's): ${left.join(', ')}`);
    await rt.del(list, peer);
  });
});
