/**
 * Session flaps without memory growth: an in-process Speaker and a raw BGP peer (malformed-support/raw-peer.ts)
 * over loopback. Each flap: the session comes up, the peer announces 100 prefixes (with a community that
 * changes every flap, so each flap interns a new attribute set), the Loc-RIB holds them, then the connection
 * drops, in turn by TCP reset, NOTIFICATION Cease, and a plain close (hold time 0: no timer involved).
 *
 * After 100 warm-up flaps the heap is measured after a forced GC; after the remaining 900 it is measured again.
 * A leak check, not a timing assert: growth must stay under a generous bound, and the speaker must be back at
 * rest: Loc-RIB empty (size, paths), attribute interner back to its baseline, no TCP sockets left over.
 *
 * CARACAL_FLAPS changes the number of flaps (default 1000).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { asSeq, attr, ipv4, OPT_T, u32, update, WK } from './malformed-support/craft.js';
import { type Harness, PEERS, startHarness } from './malformed-support/harness.js';
import { until } from './support/wait.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const FLAPS = Number(process.env.CARACAL_FLAPS ?? 1000);
const WARMUP = Math.min(100, Math.floor(FLAPS / 10));
const PREFIXES = 100;
const GROWTH_LIMIT = 5 * 1024 * 1024;

let h: Harness;
const uncaught: unknown[] = [];
const onUncaught = (e: unknown) => uncaught.push(e);
before(async () => {
  process.on('uncaughtException', onUncaught);
  h = await startHarness({ originate: false });
});
after(async () => {
  await h.stop();
  process.off('uncaughtException', onUncaught);
});

/** 100 /24s under 10.50.0.0/16, one UPDATE, COMMUNITIES 65002:flap. */
function announcement(flap: number): Buffer {
  const p = PEERS.ebgp;
  const nlri: number[] = [];
  for (let i = 0; i < PREFIXES; i++) nlri.push(24, 10, 50, i);
  return update({
    attrs: Buffer.concat([
      attr(WK, 1, [0]),
      attr(WK, 2, asSeq([p.asn])),
      attr(WK, 3, ipv4(p.address)),
      attr(OPT_T, 8, u32(((p.asn << 16) | (flap & 0xffff)) >>> 0)),
    ]),
    nlri: Buffer.from(nlri),
  });
}

const tcpHandles = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;

function heapAfterGc(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

/** Two sweeps free every set unreferenced across both (attr-intern.ts). */
function internerAtRest(): number {
  h.speaker.rib.interner.sweep();
  h.speaker.rib.interner.sweep();
  return h.speaker.rib.interner.size;
}

const CLOSES = ['reset', 'cease', 'fin'] as const;

/** The speaker's lastError after each kind of close, counted: proves each flap ended the way it was meant to. */
const downReasons = new Map<string, number>();

async function flap(n: number): Promise<void> {
  const raw = await h.establish('ebgp');
  raw.send(announcement(n));
  await until(`flap ${n}: ${PREFIXES} prefixes in the Loc-RIB`, () => h.speaker.rib.size === PREFIXES);
  await raw.close(CLOSES[n % CLOSES.length]);
  await h.settle('ebgp');
  await until(`flap ${n}: the Loc-RIB empty again`, () => h.speaker.rib.size === 0);
  const why = `${CLOSES[n % CLOSES.length]} → ${h.speaker.peerStatus().find((p) => p.address === PEERS.ebgp.address)?.lastError}`;
  downReasons.set(why, (downReasons.get(why) ?? 0) + 1);
}

describe('session flaps', () => {
  it(`${FLAPS} flaps with ${PREFIXES} prefixes each: no heap growth, RIB and interner back at rest, no sockets left`, async () => {
    const baseHandles = tcpHandles();
    const baseInterner = internerAtRest();
    const t0 = Date.now();
    for (let n = 0; n < WARMUP; n++) await flap(n);
    await until('no TCP sockets left after warm-up', () => tcpHandles() <= baseHandles, 5000);
    const warm = heapAfterGc();
    for (let n = WARMUP; n < FLAPS; n++) await flap(n);
    await until('no TCP sockets left', () => tcpHandles() <= baseHandles, 5000);
    const end = heapAfterGc();
    const growth = end - warm;
    const rib = h.speaker.rib;
    const status = h.speaker.peerStatus().find((p) => p.address === PEERS.ebgp.address);
    const summary = {
      flaps: FLAPS,
      seconds: (Date.now() - t0) / 1000,
      heapAfterWarmupMB: +(warm / 2 ** 20).toFixed(2),
      heapAtEndMB: +(end / 2 ** 20).toFixed(2),
      growthKB: Math.round(growth / 1024),
      ribSize: rib.size,
      pathCount: rib.pathCount,
      internerBaseline: baseInterner,
      interner: internerAtRest(),
      tcpHandles: tcpHandles(),
      tcpHandlesBaseline: baseHandles,
      peerState: status?.state,
      downReasons: Object.fromEntries(downReasons),
    };
    console.log(`flap summary: ${JSON.stringify(summary)}`);
    assert.deepEqual(uncaught.map(String), [], 'uncaught exceptions');
    assert.deepEqual(h.errors, [], 'errors logged by the speaker');
    assert.equal(rib.size, 0, 'Loc-RIB prefixes left');
    assert.deepEqual([...downReasons.keys()].sort(), [
      'cease → notification-received (NOTIFICATION 6/2: Administrative shutdown)',
      'fin → tcp-failed',
      'reset → tcp-failed',
    ]);
    assert.equal(rib.pathCount, 0, 'Loc-RIB paths left');
    assert.equal(summary.interner, baseInterner, 'attribute sets left in the interner');
    assert.ok(status?.state === 'Idle' || status?.state === 'Active', `peer state ${status?.state}`);
    assert.equal(status?.prefixesReceived, 0);
    assert.ok(
      growth < GROWTH_LIMIT,
      `heap grew by ${(growth / 2 ** 20).toFixed(2)} MB over ${FLAPS - WARMUP} flaps (limit ${GROWTH_LIMIT / 2 ** 20} MB)`,
    );
  });
});
