/**
 * Interop with FRR bgpd and GoBGP on loopback addresses (no namespace, nothing changed outside the test):
 * both sides dial, so §6.8 collision handling meets real implementations too. Each daemon originates one
 * IPv4 route, which must arrive as a decoded UPDATE. Each case skips when its daemon is not installed.
 * (BIRD has its own file, bird.test.ts.)
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { formatPrefixKey } from '../wire/prefix.js';
import type { UpdateMessage } from '../wire/types.js';
import type { DownReason } from './fsm.js';
import type { NegotiatedSession } from './negotiate.js';
import { Listener, Peer } from './peer.js';
import { testConfig } from './testing.js';
import { wireUpdateDecoder } from './update-decoder.js';

const PREFIX = '198.51.100.0/24';
const procs: ChildProcess[] = [];
const dirs: string[] = [];
after(() => {
  for (const p of procs) p.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Daemon {
  readonly name: string;
  readonly available: boolean;
  /** Writes config, starts the daemon; returns the argv's process. */
  start(dir: string, ctx: { ours: string; theirs: string; ourPort: number; theirPort: number }): ChildProcess;
  /** Optional step once the daemon runs (GoBGP originates routes through its API). */
  after?(dir: string): Promise<void>;
}

const DAEMONS: Daemon[] = [
  {
    name: 'FRR bgpd',
    available: existsSync('/usr/lib/frr/bgpd'),
    start(dir, { ours, theirs, ourPort, theirPort }) {
      const conf = join(dir, 'bgpd.conf');
      writeFileSync(
        conf,
        [
          'frr defaults traditional',
          'log stdout',
          'router bgp 65001',
          ` bgp router-id ${theirs}`,
          ' no bgp ebgp-requires-policy',
          ' no bgp network import-check',
          ' no bgp default ipv4-unicast',
          ' coalesce-time 100',
          ` neighbor ${ours} remote-as 65000`,
          ` neighbor ${ours} port ${ourPort}`,
          ` neighbor ${ours} update-source ${theirs}`,
          ` neighbor ${ours} disable-connected-check`,
          ` neighbor ${ours} timers 2 6`,
          ` neighbor ${ours} timers connect 1`,
          ` neighbor ${ours} advertisement-interval 0`,
          ' address-family ipv4 unicast',
          `  network ${PREFIX}`,
          `  neighbor ${ours} activate`,
          ' exit-address-family',
          '',
        ].join('\n'),
      );
      return spawn(
        '/usr/lib/frr/bgpd',
        [
          '-f',
          conf,
          '-i',
          join(dir, 'bgpd.pid'),
          '--vty_socket',
          dir,
          '-Z',
          '-n',
          '-S',
          '-P',
          '0',
          '-l',
          theirs,
          '-p',
          String(theirPort),
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
    },
  },
  {
    name: 'GoBGP',
    available: spawnSync('gobgpd', ['--version']).status === 0,
    start(dir, { ours, theirs, ourPort, theirPort }) {
      const conf = join(dir, 'gobgpd.toml');
      writeFileSync(
        conf,
        [
          '[global.config]',
          '  as = 65001',
          `  router-id = "${theirs}"`,
          `  port = ${theirPort}`,
          `  local-address-list = ["${theirs}"]`,
          '[[neighbors]]',
          '  [neighbors.config]',
          `    neighbor-address = "${ours}"`,
          '    peer-as = 65000',
          '  [neighbors.transport.config]',
          `    local-address = "${theirs}"`,
          `    remote-port = ${ourPort}`,
          '  [neighbors.timers.config]',
          '    connect-retry = 1',
          '    hold-time = 6',
          '    keepalive-interval = 2',
          '  [[neighbors.afi-safis]]',
          '    [neighbors.afi-safis.config]',
          '      afi-safi-name = "ipv4-unicast"',
          '',
        ].join('\n'),
      );
      return spawn(
        'gobgpd',
        ['-f', conf, '-t', 'toml', '-p', '--api-hosts', `unix://${join(dir, 'gobgp.sock')}`, '--pprof-disable'],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
    },
    async after(dir) {
      const argv = [
        '--target',
        `unix://${join(dir, 'gobgp.sock')}`,
        'global',
        'rib',
        'add',
        '-a',
        'ipv4',
        PREFIX,
        'origin',
        'igp',
      ];
      for (let i = 0; i < 50; i++) {
        if (spawnSync('gobgp', argv).status === 0) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error('Cannot add a route to GoBGP: its API never answered');
    },
  },
];

describe('interop on loopback', () => {
  DAEMONS.forEach((d, i) => {
    it(`\`Peer\` reaches Established with ${d.name} when both dial, decodes its UPDATE, and keeps the session up`, {
      skip: d.available ? false : `${d.name} is not installed`,
      timeout: 40_000,
    }, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'caracal-interop-'));
      dirs.push(dir);
      const ours = `127.0.0.${51 + 2 * i}`;
      const theirs = `127.0.0.${52 + 2 * i}`;
      const theirPort = 30_000 + ((process.pid * 7 + i) % 20_000);
      const listener = new Listener({ port: 0, host: ours });
      const peer = new Peer({
        config: testConfig({
          localAs: 65000,
          peerAs: 65001,
          bgpId: 0x7f000033,
          holdTimeSec: 6,
          families: [{ afi: 1, safi: 1 }],
        }),
        peerAddress: theirs,
        peerPort: theirPort,
        localAddress: ours,
        backoff: { baseMs: 50, maxMs: 300 },
        decodeUpdate: wireUpdateDecoder(),
      });
      listener.addPeer(peer);
      const ourPort = await listener.listen();
      const proc = d.start(dir, { ours, theirs, ourPort, theirPort });
      procs.push(proc);
      let log = '';
      proc.stdout?.on('data', (b: Buffer) => {
        log += b.toString();
      });
      proc.stderr?.on('data', (b: Buffer) => {
        log += b.toString();
      });
      const downs: DownReason[] = [];
      peer.on('down', (r) => downs.push(r));
      const updates: UpdateMessage[] = [];
      peer.on('update', (u) => {
        if (!(u instanceof Uint8Array)) updates.push(u);
      });
      const up = once(peer, 'established') as Promise<[NegotiatedSession]>;
      peer.start();
      try {
        await d.after?.(dir);
        const fail = (what: string) => () =>
          new Error(`${what} with ${d.name}; downs ${JSON.stringify(downs)}; log:\n${log.slice(-3000)}`);
        const [session] = await Promise.race([
          up,
          new Promise<never>((_, rej) => setTimeout(() => rej(fail('no session')()), 20_000).unref()),
        ]);
        assert.equal(session.holdTimeSec, 6);
        assert.equal(session.peerAs, 65001);
        const seen = () => updates.flatMap((u) => u.reachable.flatMap((b) => b.prefixes.map(formatPrefixKey)));
        for (let t = 0; t < 100 && !seen().includes(PREFIX); t++) await new Promise((r) => setTimeout(r, 100));
        assert.deepEqual(seen(), [PREFIX], fail('no route')().message);
        await new Promise((r) => setTimeout(r, 4500));
        assert.equal(peer.state, 'Established');
        assert.equal(peer.connectionCount, 1);
        assert.ok(peer.counters.keepalivesIn >= 2);
      } finally {
        peer.stop();
        await listener.close();
        proc.kill('SIGTERM');
      }
    });
  });
});
