/**
 * Interop: OPEN and UPDATE bytes captured from BIRD 2.0.12, FRR bgpd 8.4.4 and GoBGP 3.10.0 by
 * test/fixtures/bgp/capture.sh (each daemon as AS 65001 toward us as AS 4200000002, our OPEN offering
 * everything we decode). They must decode to what the daemons were configured to send.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MessageFramer } from './framing.js';
import { decodeMessage } from './message.js';
import { decodeOpen } from './open.js';
import { formatPrefixKey } from './prefix.js';
import { BgpRole, type OpenMessage, type UpdateMessage } from './types.js';
import { updateContext } from './update.js';

const DIR = join(dirname(fileURLToPath(import.meta.url)), '../../test/fixtures/bgp');
const OUR_ADD_PATH = [
  { afi: 1, safi: 1, mode: 'both' as const },
  { afi: 2, safi: 1, mode: 'both' as const },
];

function load(daemon: string): { open: OpenMessage; updates: UpdateMessage[] } {
  const raw = readFileSync(join(DIR, `${daemon}-open.bin`));
  const open = decodeMessage(raw, updateContext({ fourOctetAs: true, ibgp: false })) as OpenMessage;
  assert.deepEqual(decodeOpen(raw.subarray(19)), open);
  // We offered ADD-PATH "both" for every family, so we receive path ids wherever the daemon sends them (RFC 7911 §5).
  const addPathReceive = open.capabilities.addPath
    .filter((a) => a.mode !== 'receive' && OUR_ADD_PATH.some((o) => o.afi === a.afi && o.safi === a.safi))
    .map(({ afi, safi }) => ({ afi, safi }));
  const ctx = updateContext({ fourOctetAs: true, ibgp: false, addPathReceive, extendedNextHop: [{ afi: 1, safi: 1 }] });
  const framer = new MessageFramer({ extendedMessage: open.capabilities.extendedMessage });
  framer.push(readFileSync(join(DIR, `${daemon}-updates.bin`)));
  const updates: UpdateMessage[] = [];
  for (let m = framer.pull(); m; m = framer.pull()) updates.push(decodeMessage(m, ctx) as UpdateMessage);
  assert.equal(framer.buffered, 0);
  return { open, updates };
}

/** "afi prefix" → attributes, over every reachable batch. */
function routes(updates: UpdateMessage[]) {
  const out = new Map<string, UpdateMessage>();
  for (const u of updates) {
    assert.equal(u.treatAsWithdraw, false);
    assert.deepEqual(u.discarded, []);
    for (const b of u.reachable) for (const p of b.prefixes) out.set(formatPrefixKey(p), u);
  }
  return out;
}

const eors = (updates: UpdateMessage[]) =>
  updates.flatMap((u) => (u.endOfRib ? [`${u.endOfRib.afi}/${u.endOfRib.safi}`] : []));
const COMMUNITY_65001_100 = 65001 * 65536 + 100;
const unsigned = (n: number) => n >>> 0;

describe('captured from BIRD 2', () => {
  const { open, updates } = load('bird');
  it('`decodeOpen()` reads its capabilities', () => {
    const c = open.capabilities;
    assert.equal(open.myAs, 65001);
    assert.equal(c.fourOctetAs, 65001);
    assert.deepEqual(c.multiprotocol, [
      { afi: 1, safi: 1 },
      { afi: 2, safi: 1 },
    ]);
    assert.ok(c.routeRefresh && c.enhancedRouteRefresh && c.extendedMessage);
    assert.equal(c.gracefulRestart?.restartTimeSec, 120);
    assert.deepEqual(
      c.addPath.map((a) => a.mode),
      ['send', 'send'],
    );
    assert.equal(c.role, BgpRole.Customer);
    assert.deepEqual(
      c.unknown.map((u) => u.code),
      [71],
    ); // long-lived graceful restart, kept as bytes
  });
  it('`decodeUpdate()` reads its routes, ADD-PATH ids and End-of-RIB markers', () => {
    const r = routes(updates);
    assert.deepEqual([...r.keys()].sort(), ['10.1.0.0/24', '10.1.1.0/24', '10.2.0.0/16', 'fd00:1::/64', 'fd00:2::/48']);
    const v4 = r.get('10.1.0.0/24')?.attributes;
    assert.equal(v4?.nextHop, '10.0.0.1');
    assert.equal(v4?.med, 50);
    assert.deepEqual(v4?.communities, [unsigned(COMMUNITY_65001_100)]);
    assert.deepEqual(v4?.largeCommunities, [[65001, 1, 2]]);
    assert.deepEqual(v4?.asPath, [{ type: 2, asns: [65001] }]);
    assert.ok(r.get('10.1.0.0/24')?.reachable[0]?.pathIds, 'path ids present');
    const v6 = r.get('fd00:1::/64')?.attributes;
    assert.equal(v6?.nextHop, 'fd00::1');
    assert.match(v6?.nextHopLinkLocal ?? '', /^fe80::/); // RFC 2545: 32-byte next hop
    assert.deepEqual(eors(updates), ['1/1', '2/1']);
  });
});

describe('captured from FRR bgpd', () => {
  const { open, updates } = load('frr');
  it('`decodeOpen()` reads its capabilities, keeping the ones we do not know', () => {
    const c = open.capabilities;
    assert.equal(c.fourOctetAs, 65001);
    assert.ok(c.routeRefresh && c.enhancedRouteRefresh && c.extendedMessage);
    assert.equal(c.gracefulRestart?.notification, true); // RFC 8538 N bit
    assert.deepEqual(
      c.addPath.map((a) => a.mode),
      ['both', 'both'],
    );
    assert.equal(c.role, BgpRole.Customer);
    // 128: pre-standard route refresh; 73: FQDN (hostname "wirecap"); 71: long-lived graceful restart
    assert.deepEqual(
      c.unknown.map((u) => u.code),
      [128, 73, 71],
    );
    assert.equal(Buffer.from(c.unknown[1]?.value ?? []).toString('latin1', 1, 8), 'wirecap');
  });
  it('`decodeUpdate()` reads its routes, including IPv6 with an IPv4-mapped next hop over an IPv4 session', () => {
    const r = routes(updates);
    assert.deepEqual([...r.keys()].sort(), ['10.1.0.0/24', '10.1.1.0/24', '10.2.0.0/16', 'fd00:1::/64', 'fd00:2::/48']);
    const v4 = r.get('10.2.0.0/16')?.attributes;
    assert.equal(v4?.med, 50);
    assert.deepEqual(v4?.communities, [unsigned(COMMUNITY_65001_100)]);
    assert.deepEqual(v4?.largeCommunities, [[65001, 1, 2]]);
    assert.equal(r.get('fd00:1::/64')?.attributes?.nextHop, '::ffff:10.0.0.1');
    assert.deepEqual(eors(updates).sort(), ['1/1', '2/1']);
  });
});

describe('captured from GoBGP', () => {
  const { open, updates } = load('gobgp');
  it('`decodeOpen()` reads its capabilities', () => {
    const c = open.capabilities;
    assert.equal(c.fourOctetAs, 65001);
    assert.equal(c.routeRefresh, true);
    assert.deepEqual(c.addPath, [{ afi: 1, safi: 1, mode: 'send' }]);
    assert.deepEqual(c.extendedNextHop, [{ afi: 1, safi: 1, nextHopAfi: 2 }]);
    assert.equal(c.gracefulRestart?.restartTimeSec, 120);
    assert.deepEqual(
      c.unknown.map((u) => u.code),
      [73],
    );
  });
  it('`decodeUpdate()` reads its routes (one UPDATE per route, ORIGIN incomplete)', () => {
    const r = routes(updates);
    assert.deepEqual([...r.keys()].sort(), ['10.1.0.0/24', '10.1.1.0/24', 'fd00:1::/64']);
    const a = r.get('10.1.0.0/24')?.attributes;
    assert.equal(a?.origin, 2);
    assert.equal(a?.med, 50);
    assert.deepEqual(a?.largeCommunities, [[65001, 1, 2]]);
    assert.equal(r.get('fd00:1::/64')?.attributes?.nextHop, 'fd00::1');
    assert.equal(r.get('fd00:1::/64')?.reachable[0]?.pathIds, undefined); // no ADD-PATH for IPv6
    assert.deepEqual(eors(updates), ['1/1', '2/1']);
  });
});
