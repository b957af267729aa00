/**
 * The harness's own pieces that can be checked without a lab: the benchmark configs are accepted by the
 * daemons' own config checkers (and Caracal's by its schema), the control-socket clients frame replies right,
 * and the comparison table computes ratios of medians. No timing is asserted.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SpeakerConfig } from '../../model/speaker-config.js';
import { parseWithSchema } from '../../model/validate.js';
import { commandExists } from '../api.js';
import { summarize } from '../stats.js';
import { caracalSenderConfig, frrSenderConfig } from './advertise.js';
import { BirdControl, FrrVty } from './control.js';
import { birdKernelProtocol, fibPrefixes, mainTriePrefixes } from './fib.js';
import {
  birdBenchConfig,
  caracalBenchConfig,
  frrBenchConfig,
  gobgpBenchConfig,
  type ReceiverEnv,
} from './receivers.js';
import { renderComparison } from './table.js';

const ENV: ReceiverEnv = {
  netns: 'unused',
  dir: '/nonexistent',
  address: '10.77.0.2',
  peerAddress: '10.77.0.1',
  localAs: 65000,
  peerAs: 65001,
  routerId: '10.77.0.2',
  holdTimeSec: 90,
};

function withFile(name: string, text: string, fn: (path: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'bgp-bench-'));
  try {
    const p = join(dir, name);
    writeFileSync(p, text);
    fn(p);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('caracal speaker configs (receiver and sender) pass the speaker config schema', () => {
  const r = parseWithSchema(SpeakerConfig, JSON.parse(caracalBenchConfig(ENV)), 'receiver config');
  assert.equal(r.peers[0]?.passive, true);
  assert.equal(r.peers[0]?.import, 'accept-all');
  const s = parseWithSchema(SpeakerConfig, JSON.parse(caracalSenderConfig(['11.0.0.0/24'])), 'sender config');
  assert.deepEqual(s.originate, ['11.0.0.0/24']);
});

test('the BIRD configs (RIB only, and with the FIB benchmark kernel protocol) pass `bird -p`', (t) => {
  if (!commandExists('bird')) return t.skip('bird not installed');
  for (const text of [birdBenchConfig(ENV), birdBenchConfig(ENV, birdKernelProtocol())])
    withFile('bird.conf', text, (p) => {
      const r = spawnSync('bird', ['-p', '-c', p], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    });
});

test('mainTriePrefixes reads the Main trie of fib_triestat; fibPrefixes reads a live one', () => {
  const text = [
    'Basic info: size of leaf: 48 bytes, size of tnode: 40 bytes.',
    'Local:',
    '\tPrefixes:       9',
    'Main:',
    '\tAver depth:     2.42',
    '\tLeaves:         7',
    '\tPrefixes:       1000007',
    '',
  ].join('\n');
  assert.equal(mainTriePrefixes(text), 1_000_007);
  assert.equal(mainTriePrefixes('Basic info\nLocal:\n\tPrefixes: 3\n'), undefined);
  const n = fibPrefixes(process.pid);
  assert.ok(Number.isInteger(n) && n >= 1, `this namespace's main FIB has its connected routes: ${n}`);
});

test('the FRR configs pass `bgpd --dryrun`', (t) => {
  if (!commandExists('/usr/lib/frr/bgpd')) return t.skip('/usr/lib/frr/bgpd not installed');
  if (process.getuid?.() !== 0) return t.skip('bgpd needs root even for --dryrun');
  for (const text of [frrBenchConfig(ENV), frrSenderConfig(['11.0.0.0/24', '11.0.1.0/24'])]) {
    withFile('bgpd.conf', text, (p) => {
      const r = spawnSync('/usr/lib/frr/bgpd', ['-C', '-S', '-Z', '-n', '-f', p], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    });
  }
});

test('the GoBGP config passes `gobgpd --dry-run`', (t) => {
  if (!commandExists('gobgpd')) return t.skip('gobgpd not installed');
  withFile('gobgpd.toml', gobgpBenchConfig(ENV), (p) => {
    const r = spawnSync('gobgpd', ['-d', '-f', p, '-t', 'toml'], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  });
});

/** A unix-socket server that answers each request with `reply(request)`, in chunks, to test framing. */
async function fakeSocket(
  greeting: string,
  split: string,
  reply: (req: string) => string,
): Promise<{ path: string; close: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'bgp-ctl-'));
  const path = join(dir, 'ctl');
  const server = createServer((sock) => {
    sock.setEncoding('latin1');
    if (greeting) sock.write(greeting);
    let buf = '';
    sock.on('data', (d: string) => {
      buf += d;
      for (let i = buf.indexOf(split); i >= 0; i = buf.indexOf(split)) {
        const req = buf.slice(0, i);
        buf = buf.slice(i + split.length);
        const out = reply(req);
        const mid = Math.floor(out.length / 2); // two writes: a reply may arrive in pieces
        sock.write(out.slice(0, mid));
        setTimeout(() => sock.write(out.slice(mid)), 5);
      }
    });
  });
  await new Promise<void>((res) => server.listen(path, res));
  return {
    path,
    close: () => {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test('BirdControl reads "Routes: N imported" across multi-line, split replies', async (t) => {
  const fake = await fakeSocket('0001 BIRD 2.0.12 ready.\n', '\n', (req) =>
    req === 'show protocols all feeder'
      ? '2002-Name       Proto      Table      State  Since         Info\n1002-feeder     BGP        ---        up     ' +
        '2026-11-22 21:00:00.000  Established\n1006-  BGP state:          Established\n' +
        '     Routes:         123456 imported, 0 exported, 123456 preferred\n \n0000 \n'
      : '0013 Daemon is up and running\n',
  );
  t.after(fake.close);
  const c = await BirdControl.connect(fake.path);
  t.after(() => c.close());
  assert.equal(await c.imported('feeder'), 123_456);
  assert.match(await c.ask('show status'), /Daemon is up/);
  assert.equal(await c.imported('feeder'), 123_456, 'a second question on the same connection');
});

test('FrrVty strips the \\0\\0\\0<status> trailer and answers in order', async (t) => {
  const fake = await fakeSocket('', '\0', (req) => `{"cmd":${JSON.stringify(req)}}\n\0\0\0\0`);
  t.after(fake.close);
  const v = await FrrVty.connect(fake.path);
  t.after(() => v.close());
  const [a, b] = await Promise.all([v.command('show a'), v.command('show b')]);
  assert.deepEqual(JSON.parse(a), { cmd: 'show a' });
  assert.deepEqual(JSON.parse(b), { cmd: 'show b' });
});

test('renderComparison gives ratios of medians against the reference of the same group', () => {
  const text = renderComparison(
    {
      title: 't',
      groupLabel: 'N',
      reference: 'bird',
      metrics: [{ key: 'x', label: 'x', format: String, ratio: true }],
    },
    [
      { subject: 'bird', group: '1M', runs: 3, metrics: { x: summarize([1, 2, 3]) } },
      { subject: 'frr', group: '1M', runs: 3, metrics: { x: summarize([10, 20, 30]) } },
      { subject: 'frr', group: '100k', runs: 0, metrics: {}, note: 'failed' },
    ],
  );
  const lines = text.split('\n');
  assert.match(lines.find((l) => l.startsWith('frr') && l.includes('1M')) ?? '', /10\.0×/);
  assert.match(lines.find((l) => l.includes('100k')) ?? '', /–.*failed/);
});
