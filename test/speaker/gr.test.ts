/**
 * Graceful restart (RFC 4724) against BIRD 2, on lab/:
 *  (a) helper: BIRD (`graceful restart on`) is killed and restarted with `-R`: while it is down Caracal keeps
 *      its routes, `stale: true`; once BIRD is back and has sent End-of-RIB they are fresh, and a prefix BIRD
 *      no longer originates is swept;
 *  (b) helper, restart timer: BIRD never comes back: its routes go when its advertised restart time runs out;
 *  (c) restarting speaker: `caracal speaker --graceful-restart` gets SIGTERM: no Cease, so BIRD keeps
 *      Caracal's routes (its protocol in graceful restart) while Caracal is down; Caracal starts again
 *      (R bit, from the marker file) with one prefix fewer: BIRD refreshes the rest and drops that one.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Lab } from '../../lab/lab.js';
import { SpeakerConfig, type SpeakerConfigInput } from '../../model/speaker-config.js';
import { consumeRestartMarker, restartMarkerPath } from '../../node/speaker-cmd.js';
import { buildOpen } from '../../speaker/session/config.js';
import { Speaker } from '../../speaker/speaker.js';
import { encodeKeepalive } from '../../speaker/wire/messages.js';
import { decodeOpen, encodeOpen } from '../../speaker/wire/open.js';
import { birdc, birdRoute, labSkipReason, runtime } from './support/daemons.js';
import { SpeakerProcess } from './support/speaker-process.js';
import { freePort, waitFor } from './support/wait.js';

const skip = labSkipReason();
const AS = 64512;
const tag = (process.pid % 100_000).toString(36);
const SETPRIV = '/usr/bin/setpriv';

async function withLab(
  t: { after(fn: () => Promise<void>): void },
  topology: object,
): Promise<{ lab: Lab; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'caracal-gr-'));
  const lab = await Lab.up(topology, { stateRoot: join(dir, 'labs') });
  t.after(async () => {
    await lab.down();
    rmSync(dir, { recursive: true, force: true });
  });
  return { lab, dir };
}

/** A BIRD iBGP protocol towards Caracal, with graceful restart on and the given restart time. */
const birdGrPeer = (restartTimeSec: number) =>
  [
    'protocol bgp caracal {',
    `  local as ${AS};`,
    `  neighbor 10.9.0.1 as ${AS};`,
    '  direct;',
    '  hold time 9; keepalive time 3;',
    '  connect delay time 1; connect retry time 1; error wait time 1, 10;',
    '  graceful restart on;',
    `  graceful restart time ${restartTimeSec};`,
    '  ipv4 { import all; export where source = RTS_STATIC; next hop self; };',
    '}',
  ].join('\n');

function topology(name: string, bird: object) {
  return {
    name,
    nodes: [{ name: 'caracal' }],
    routers: [{ name: 'bird', daemon: 'bird', asNumber: AS, routerId: '10.0.0.2', ...bird }],
    links: [{ lan: 'fabric', members: { caracal: ['10.9.0.1/24'], bird: ['10.9.0.2/24'] } }],
  };
}

const caracalConfig = (extra: Partial<SpeakerConfigInput> = {}): SpeakerConfigInput => ({
  asn: AS,
  routerId: '10.0.0.1',
  listen: { address: '10.9.0.1', port: 179 },
  peers: [{ address: '10.9.0.2', asn: AS, holdTimeSec: 9, connectRetrySec: 1 }],
  ...extra,
});

async function established(s: SpeakerProcess, what: string): Promise<void> {
  await waitFor(`${what}: Caracal's session with BIRD Established`, async () => {
    const [p] = await s.peers();
    return p?.state === 'Established';
  }).catch((e) => {
    throw new Error(`${(e as Error).message}\nCaracal log:\n${s.logTail()}`);
  });
}

/** SIGKILLs the lab's BIRD (as a crash would: no NOTIFICATION) and waits until it is gone. */
async function killBird(lab: Lab): Promise<void> {
  const pid = runtime(lab, 'bird').pid;
  process.kill(pid, 'SIGKILL');
  await waitFor('the old BIRD to exit', async () => !existsSync(`/proc/${pid}`) || isZombie(pid));
}

function isZombie(pid: number): boolean {
  try {
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

/** Starts BIRD again on `configPath` with `-R` (graceful restart recovery), on the lab's control socket. */
function restartBird(lab: Lab, configPath: string, logPath: string): ChildProcess {
  const rt = runtime(lab, 'bird');
  const pdeath = existsSync(SETPRIV) ? [SETPRIV, '--pdeathsig', 'KILL', '--'] : [];
  const argv = lab.execArgv('bird', [...pdeath, 'bird', '-f', '-R', '-c', configPath, '-s', rt.ctlSocket!]);
  const fd = openSync(logPath, 'a');
  try {
    return spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
}

describe('graceful restart (RFC 4724)', { skip }, () => {
  it('helper: a restarting BIRD’s routes stay, stale, and are refreshed or swept at its End-of-RIB', async (t) => {
    const { lab, dir } = await withLab(
      t,
      topology(`gra-${tag}`, {
        networks: ['10.231.0.0/24', '10.232.0.0/24'],
        extraConfig: birdGrPeer(30),
      }),
    );
    const caracal = new SpeakerProcess(lab, 'caracal', dir, caracalConfig());
    t.after(() => caracal.kill());
    await established(caracal, 'start');
    await waitFor('Caracal to learn both of BIRD’s prefixes', async () => (await caracal.routes()).length === 2);
    const [peer] = await caracal.peers();
    const caps = (peer?.capabilities ?? {}) as { gracefulRestart?: { restartTimeSec?: number } };
    assert.equal(caps.gracefulRestart?.restartTimeSec, 30, 'BIRD’s advertised restart time');

    await killBird(lab);
    const stale = await waitFor('BIRD’s routes kept and marked stale on Caracal', async () => {
      const rs = await caracal.routes();
      return rs.length === 2 && rs.every((r) => r.stale === true) && rs;
    });
    assert.deepEqual(stale.map((r) => r.prefix).sort(), ['10.231.0.0/24', '10.232.0.0/24']);

    // BIRD comes back without 10.232.0.0/24.
    const conf = readFileSync(runtime(lab, 'bird').configPath, 'utf8');
    const next = conf.replace(/^\s*route 10\.232\.0\.0\/24 blackhole;\n/m, '');
    assert.notEqual(next, conf, 'the restart config drops 10.232.0.0/24');
    const nextPath = join(dir, 'bird-restarted.conf');
    writeFileSync(nextPath, next);
    const bird = restartBird(lab, nextPath, join(dir, 'bird-restarted.log'));
    t.after(() => void bird.kill('SIGKILL'));
    await established(caracal, 'after BIRD’s restart');
    const fresh = await waitFor('End-of-RIB: 10.231.0.0/24 fresh and 10.232.0.0/24 swept', async () => {
      const rs = await caracal.routes();
      return rs.length === 1 && rs[0]?.prefix === '10.231.0.0/24' && rs[0].stale !== true && rs;
    });
    assert.equal(fresh[0]?.peer, '10.9.0.2');
  });

  it('helper: when the peer does not come back, its routes go when its restart time runs out', async (t) => {
    const { lab, dir } = await withLab(
      t,
      topology(`grb-${tag}`, { networks: ['10.233.0.0/24'], extraConfig: birdGrPeer(3) }),
    );
    const caracal = new SpeakerProcess(lab, 'caracal', dir, caracalConfig());
    t.after(() => caracal.kill());
    await established(caracal, 'start');
    await waitFor('Caracal to learn BIRD’s prefix', async () => (await caracal.route('10.233.0.0/24')) !== undefined);
    await killBird(lab);
    const down = Date.now();
    await waitFor('the route kept, stale', async () => (await caracal.route('10.233.0.0/24'))?.stale === true);
    await waitFor('the route removed after the 3 s restart time', async () => (await caracal.routes()).length === 0, {
      timeoutMs: 10_000,
    });
    const took = Date.now() - down;
    assert.ok(took >= 2500, `the stale route went after ${took} ms, before the peer's 3 s restart time`);
  });

  it('restarting speaker: BIRD keeps Caracal’s routes while it restarts, then refreshes them', async (t) => {
    const { lab, dir } = await withLab(t, topology(`grc-${tag}`, { peers: [{ address: '10.9.0.1', asNumber: AS }] }));
    const stateDir = join(dir, 'speaker-state');
    const passive = { peers: [{ address: '10.9.0.2', asn: AS, holdTimeSec: 9, passive: true }] };
    const args = ['--graceful-restart', '--state-dir', stateDir];
    const caracal = new SpeakerProcess(
      lab,
      'caracal',
      dir,
      // passive: the session is always one BIRD opened, accepted by our listener (which must not wait for it)
      caracalConfig({ gracefulRestartTimeSec: 60, originate: ['10.241.0.0/24', '10.242.0.0/24'], ...passive }),
      args,
    );
    t.after(() => caracal.kill());
    await established(caracal, 'start');
    const onBird = async () =>
      (await lab.routes('bird'))
        .filter((r) => r.peer === '10.9.0.1')
        .map((r) => r.prefix)
        .sort();
    await waitFor('BIRD to learn both of Caracal’s prefixes', async () => (await onBird()).length === 2);

    const before = await birdc(lab, 'bird', 'show', 'protocols', 'all', 'peer0');
    assert.doesNotMatch(before, /Restart recovery/, 'no R bit in an OPEN that follows no restart');
    assert.match(before, /Restart time: 60/, 'BIRD sees our graceful restart capability');
    const exit = await caracal.signal('SIGTERM');
    assert.equal(exit, 'exited with code 0');
    const marker = join(stateDir, '10.0.0.1.gr');
    assert.ok(existsSync(marker), 'the restart marker is written');
    assert.ok(caracal.logTail().includes('gracefulRestartStop'), 'the speaker stopped for a restart');
    const proto = await waitFor('BIRD’s protocol to show the neighbour’s graceful restart', async () => {
      const text = await birdc(lab, 'bird', 'show', 'protocols', 'all', 'peer0');
      return /graceful restart/i.test(text) && !/Established/.test(text.split('\n')[2] ?? '') && text;
    });
    assert.match(proto, /Neighbor graceful restart active/i);
    assert.match(proto, /Restart timer:\s+[\d.]+\//, 'BIRD runs our restart timer');
    assert.match(proto, /Routes:\s+2 imported/, 'and keeps both our routes');
    assert.deepEqual(await onBird(), ['10.241.0.0/24', '10.242.0.0/24'], 'BIRD keeps our routes while we are down');
    await new Promise((r) => setTimeout(r, 1000)); // well within the 60 s restart time: still there
    assert.deepEqual(await onBird(), ['10.241.0.0/24', '10.242.0.0/24']);

    caracal.writeConfig(caracalConfig({ gracefulRestartTimeSec: 60, originate: ['10.241.0.0/24'], ...passive }));
    caracal.start();
    await established(caracal, 'after the restart');
    assert.ok(!existsSync(marker), 'the marker is consumed by the start');
    assert.ok(caracal.logTail().includes('the R bit goes in the first OPENs'), 'the start is a graceful restart');
    await waitFor('BIRD to drop 10.242.0.0/24 at our End-of-RIB and keep 10.241.0.0/24', async () => {
      const got = await onBird();
      return got.length === 1 && got[0] === '10.241.0.0/24';
    });
    const after = await birdc(lab, 'bird', 'show', 'protocols', 'all', 'peer0');
    assert.doesNotMatch(after, /Neighbor graceful restart active/i, 'BIRD’s helper state has ended');
    assert.match(after, /Graceful restart\s+Restart time: 60\s+Restart recovery/, 'our OPEN carried the R bit');
    assert.match(after, /AF preserved: ipv4/, 'and the F bit for IPv4');
    const r = await birdRoute(lab, 'bird', '10.241.0.0/24');
    assert.equal(r?.nextHop, '10.9.0.1');
  });
});

/** A hand-made iBGP peer: accepts Caracal's connections, answers OPEN + KEEPALIVE, records every message. */
class FakePeer {
  readonly opens: { restarting: boolean; preserved: boolean }[] = [];
  readonly types: number[] = [];
  readonly sockets: Socket[] = [];
  readonly server = createServer((sock) => this.#accept(sock));

  #accept(sock: Socket): void {
    this.sockets.push(sock);
    sock.on('error', () => {});
    let buf = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 19) {
        const len = buf.readUInt16BE(16);
        if (buf.length < len) break;
        const type = buf[18]!;
        this.types.push(type);
        if (type === 1) {
          const gr = decodeOpen(buf.subarray(19, len)).capabilities.gracefulRestart;
          this.opens.push({
            restarting: gr?.restarting ?? false,
            preserved: gr?.afiSafis.some((f) => f.forwardingPreserved) ?? false,
          });
          const open = buildOpen({
            localAs: 64512,
            peerAs: 64512,
            bgpId: 0x0a000009,
            holdTimeSec: 9,
            connectRetrySec: 1,
            passive: true,
            families: [{ afi: 1, safi: 1 }],
            gracefulRestart: { restartTimeSec: 30, restarting: false, forwardingPreserved: [] },
          });
          sock.write(Buffer.concat([encodeOpen(open), encodeKeepalive()]));
        }
        buf = buf.subarray(len);
      }
    });
  }
}

describe('graceful restart, restarting speaker (in-process)', () => {
  it('sets the R bit (and F) in the first OPEN after a restart only; stopForRestart sends Cease only to non-GR peers', async (t) => {
    const fake = new FakePeer(); // graceful restart on (the default)
    const plain = new FakePeer(); // gracefulRestart: false in our config
    await new Promise<void>((r) => fake.server.listen(0, '127.0.0.4', r));
    await new Promise<void>((r) => plain.server.listen(0, '127.0.0.5', r));
    const port = (fake.server.address() as AddressInfo).port;
    const plainPort = (plain.server.address() as AddressInfo).port;
    const listenPort = await freePort('127.0.0.1');
    const speaker = new Speaker(
      SpeakerConfig.parse({
        asn: 64512,
        routerId: '10.0.0.1',
        listen: { address: '127.0.0.1', port: listenPort },
        peers: [
          { address: '127.0.0.4', asn: 64512, port, connectRetrySec: 1, holdTimeSec: 9 },
          { address: '127.0.0.5', asn: 64512, port: plainPort, connectRetrySec: 1, gracefulRestart: false },
        ],
      }),
      { restarting: true, backoff: { baseMs: 50, maxMs: 200 } },
    );
    t.after(async () => {
      await speaker.stop();
      for (const s of [...fake.sockets, ...plain.sockets]) s.destroy();
      await new Promise((r) => fake.server.close(r));
      await new Promise((r) => plain.server.close(r));
    });
    await speaker.start();
    const up = () =>
      waitFor('both sessions', async () => speaker.peerStatus().every((p) => p.state === 'Established'), {
        timeoutMs: 5000,
      });
    await up();
    assert.deepEqual(fake.opens, [{ restarting: true, preserved: true }], 'first OPEN: R and F set');
    assert.deepEqual(plain.opens, [{ restarting: false, preserved: false }], 'no GR capability: no R bit');
    fake.sockets[0]!.destroy(); // the session drops; Caracal reconnects
    await waitFor('a second OPEN', async () => fake.opens.length === 2, { timeoutMs: 5000 });
    await up();
    assert.deepEqual(fake.opens[1], { restarting: false, preserved: true }, 'a later OPEN: R clear');

    const before = fake.types.length;
    assert.deepEqual(await speaker.stopForRestart(), ['127.0.0.4'], 'the GR session is left to the process exit');
    await waitFor('Cease to the peer without graceful restart', async () => plain.types.includes(3), {
      timeoutMs: 5000,
    });
    await new Promise((r) => setTimeout(r, 300)); // proving an absence: the Cease above went out at once
    assert.ok(!fake.types.slice(before).includes(3), 'no NOTIFICATION to the GR peer on a restart-style stop');
  });

  it('the restart marker counts only while younger than the restart time, and is consumed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'caracal-gr-marker-'));
    try {
      const m = restartMarkerPath(dir, '10.0.0.1');
      assert.equal(m, join(dir, '10.0.0.1.gr'));
      assert.equal(consumeRestartMarker(m, 120), false, 'no marker: a cold start');
      const now = Date.parse('2026-01-01T00:02:00Z');
      writeFileSync(m, JSON.stringify({ stoppedAt: '2026-01-01T00:01:00Z' }));
      assert.equal(consumeRestartMarker(m, 120, now), true, '60 s old, restart time 120 s');
      assert.ok(!existsSync(m), 'consumed');
      writeFileSync(m, JSON.stringify({ stoppedAt: '2026-01-01T00:01:00Z' }));
      assert.equal(consumeRestartMarker(m, 30, now), false, 'older than the restart time');
      writeFileSync(m, 'garbage');
      assert.equal(consumeRestartMarker(m, 120, now), false, 'unreadable: a cold start');
      assert.ok(!existsSync(m));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
