/**
 * 1,000 session flaps against a scripted remote speaker must not grow the heap: every connection, framer,
 * timer and closure of a dead session has to become garbage. Runs ~5 s; heap measured after forced GC.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, createServer } from 'node:net';
import { it } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { encodeKeepalive } from '../wire/messages.js';
import { encodeOpen } from '../wire/open.js';
import { Peer } from './peer.js';
import { peerOpen, testConfig } from './testing.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

async function heapAfterGc(): Promise<number> {
  await new Promise((r) => setTimeout(r, 1200)); // let the 1 s socket-destroy safety timers run out
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  return process.memoryUsage().heapUsed;
}

it('`Peer` goes through 1,000 session flaps without heap growth', { timeout: 60_000 }, async () => {
  const config = testConfig();
  const server = createServer((s) => {
    s.on('error', () => {});
    s.write(Buffer.concat([encodeOpen(peerOpen(config)), encodeKeepalive()]));
    let seen = 0;
    s.on('data', (d) => {
      seen += d.length;
      // OPEN (≥ 29 bytes) + KEEPALIVE (19): the peer is Established on its side; drop the connection.
      if (seen >= 48) s.destroy();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const peer = new Peer({
    config,
    peerAddress: '127.0.0.1',
    peerPort: port,
    backoff: { baseMs: 1, maxMs: 2, minMs: 1 },
  });
  let ups = 0;
  let downs = 0;
  let target = 200;
  let reached: (() => void) | undefined;
  peer.on('established', () => {
    ups++;
    if (ups === target) reached?.();
  });
  peer.on('down', () => {
    downs++;
  });
  const run = (n: number) =>
    new Promise<void>((resolve) => {
      target = ups + n;
      reached = resolve;
    });
  peer.start();
  await run(200); // warm-up: JIT, pools, lazily created structures
  const before = await heapAfterGc();
  await run(1000);
  peer.stop();
  const afterHeap = await heapAfterGc();
  server.close();
  assert.ok(downs >= 1199, `downs ${downs}`);
  assert.equal(peer.connectionCount, 0);
  assert.equal(peer.listenerCount('established'), 1);
  const growth = afterHeap - before;
  assert.ok(growth < 1_500_000, `heap grew by ${growth} bytes over 1,000 flaps`);
});
