/**
 * Interop with BIRD 2 on loopback addresses (no namespace needed, nothing changed outside the test): both
 * sides dial each other, so the session also exercises §6.8 collision handling against a real implementation.
 * BIRD exports one static route, which must arrive as an UPDATE. Skips when `bird` is not installed.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { formatPrefixKey } from '../wire/prefix.js';
import type { UpdateMessage } from '../wire/types.js';
import type { DownReason } from './fsm.js';
import type { NegotiatedSession } from './negotiate.js';
import { Listener, Peer } from './peer.js';
import { testConfig } from './testing.js';
import { wireUpdateDecoder } from './update-decoder.js';

const hasBird = spawnSync('bird', ['--version']).status === 0;
const dir = mkdtempSync(join(tmpdir(), 'caracal-bird-'));
let bird: ChildProcess | undefined;
after(() => {
  bird?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function birdc(cmd: string): string {
  return spawnSync('birdc', ['-s', join(dir, 'bird.ctl'), cmd], { encoding: 'utf8' }).stdout;
}

it('`Peer` reaches Established with BIRD 2 when both dial, decodes its UPDATE, and BIRD sees the session up', {
  skip: hasBird ? false : 'bird is not installed',
  timeout: 30_000,
}, async () => {
  const ours = '127.0.0.31';
  const theirs = '127.0.0.32';
  const listener = new Listener({ port: 0, host: ours });
  const birdPort = 20_000 + (process.pid % 20_000);
  const peer = new Peer({
    config: testConfig({ localAs: 65000, peerAs: 65001, bgpId: 0x7f00001f, holdTimeSec: 6 }),
    peerAddress: theirs,
    peerPort: birdPort,
    localAddress: ours,
    backoff: { baseMs: 50, maxMs: 200 },
    decodeUpdate: wireUpdateDecoder(),
  });
  listener.addPeer(peer);
  const ourPort = await listener.listen();
  writeFileSync(
    join(dir, 'bird.conf'),
    [
      'log stderr all;',
      'router id 127.0.0.32;',
      'protocol device {}',
      'protocol static s4 { ipv4; route 198.51.100.0/24 blackhole; }',
      'protocol bgp caracal {',
      `  local ${theirs} port ${birdPort} as 65001;`,
      `  neighbor ${ours} port ${ourPort} as 65000;`,
      '  multihop 2;',
      '  hold time 6; keepalive time 2;',
      '  connect delay time 1; connect retry time 2; error wait time 1, 5;',
      '  ipv4 { import all; export all; };',
      '}',
    ].join('\n'),
  );
  bird = spawn('bird', ['-f', '-c', join(dir, 'bird.conf'), '-s', join(dir, 'bird.ctl'), '-P', join(dir, 'bird.pid')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let birdLog = '';
  bird.stderr!.on('data', (d: Buffer) => {
    birdLog += d.toString();
  });
  const downs: DownReason[] = [];
  peer.on('down', (r) => downs.push(r));
  const up = once(peer, 'established') as Promise<[NegotiatedSession]>;
  const update = once(peer, 'update') as Promise<[UpdateMessage]>;
  peer.start();
  try {
    const [session] = await Promise.race([
      up,
      new Promise<never>((_, rej) =>
        setTimeout(
          () => rej(new Error(`no session with BIRD; downs ${JSON.stringify(downs)}; log:\n${birdLog}`)),
          15_000,
        ).unref(),
      ),
    ]);
    assert.equal(session.holdTimeSec, 6);
    assert.equal(session.peerAs, 65001);
    assert.ok(session.fourOctetAs);
    const [u] = await Promise.race([
      update,
      new Promise<never>((_, rej) => setTimeout(() => rej(new Error('no UPDATE from BIRD')), 10_000).unref()),
    ]);
    assert.deepEqual(
      u.reachable.flatMap((b) => b.prefixes.map(formatPrefixKey)),
      ['198.51.100.0/24'],
    );
    assert.equal(u.attributes?.nextHop, '127.0.0.32');
    assert.deepEqual(
      u.attributes?.asPath.flatMap((seg) => seg.asns),
      [65001],
    );
    // Let a few keepalive intervals pass: the session must stay up in both directions.
    await new Promise((r) => setTimeout(r, 4500));
    assert.equal(peer.state, 'Established');
    assert.equal(peer.connectionCount, 1);
    assert.ok(peer.counters.keepalivesIn >= 2);
    assert.match(birdc('show protocols caracal'), /Established/);
  } finally {
    peer.stop();
    await listener.close();
  }
});
