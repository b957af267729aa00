/**
 * Robustness: any byte string either decodes or throws a BgpError, never another exception and never
 * hangs (STYLE §2.8). Inputs are random bytes behind a valid header, and valid messages with random
 * mutations (byte flips, truncation, insertion), decoded under every context combination.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isBgpError } from './errors.js';
import { MessageFramer } from './framing.js';
import { decodeMessage, type MessageContext } from './message.js';
import { encodeKeepalive, encodeNotification, encodeRouteRefresh } from './messages.js';
import { encodeOpen, NO_CAPABILITIES } from './open.js';
import { parsePrefixKey } from './prefix.js';
import type { PathAttributes } from './types.js';
import { encodeEndOfRib, encodeUpdates, encodeWithdrawals, updateContext } from './update.js';

const ATTRS: PathAttributes = {
  origin: 1,
  asPath: [
    { type: 3, asns: [65010] },
    { type: 2, asns: [65001, 4_200_000_000] },
    { type: 1, asns: [1, 2] },
  ],
  nextHop: '192.0.2.1',
  nextHopLinkLocal: undefined,
  med: 5,
  localPref: 100,
  atomicAggregate: true,
  aggregator: { asn: 4_200_000_001, address: '192.0.2.2' },
  communities: [1, 2],
  extendedCommunities: [0x0002fde900000001n],
  largeCommunities: [[1, 2, 3]],
  originatorId: 7,
  clusterList: [1],
  onlyToCustomer: 65001,
  unknown: [{ flags: 0xe0, code: 99, value: Uint8Array.of(1, 2, 3) }],
  asPathLength: 3,
  neighborAs: 65001,
};

const v4 = ['10.0.0.0/8', '192.168.1.0/24', '0.0.0.0/0', '1.2.3.4/32'].map(parsePrefixKey);
const v6 = ['fd00::/64', '::/0', '2001:db8::1/128'].map(parsePrefixKey);

const SEEDS: Buffer[] = [
  encodeOpen({
    type: 1,
    version: 4,
    myAs: 23456,
    holdTimeSec: 90,
    bgpId: 1,
    capabilities: {
      ...NO_CAPABILITIES,
      multiprotocol: [{ afi: 1, safi: 1 }],
      fourOctetAs: 4_200_000_000,
      addPath: [{ afi: 1, safi: 1, mode: 'both' }],
      gracefulRestart: {
        restarting: false,
        notification: true,
        restartTimeSec: 120,
        afiSafis: [{ afi: 1, safi: 1, forwardingPreserved: true }],
      },
      extendedNextHop: [{ afi: 1, safi: 1, nextHopAfi: 2 }],
      unknown: [{ code: 128, value: new Uint8Array(0) }],
    },
  }),
  encodeKeepalive(),
  encodeNotification({ code: 6, subcode: 2, data: Uint8Array.of(3, 0x61, 0x62, 0x63) }),
  encodeRouteRefresh({ afi: 1, safi: 1, subtype: 0 }),
  encodeEndOfRib({ afi: 2, safi: 1 }),
  ...encodeUpdates(ATTRS, { afi: 1, safi: 1, prefixes: v4 }, { fourOctetAs: true }),
  ...encodeUpdates(
    ATTRS,
    { afi: 1, safi: 1, prefixes: v4, pathIds: [1, 2, 3, 4] },
    { fourOctetAs: false, addPathSend: true },
  ),
  ...encodeUpdates(
    { ...ATTRS, nextHop: 'fd00::1', nextHopLinkLocal: 'fe80::1' },
    { afi: 2, safi: 1, prefixes: v6 },
    { fourOctetAs: true },
  ),
  ...encodeUpdates({ ...ATTRS, nextHop: 'fd00::1' }, { afi: 1, safi: 1, prefixes: v4 }, { fourOctetAs: true }),
  ...encodeWithdrawals({ afi: 1, safi: 1, prefixes: v4 }),
  ...encodeWithdrawals({ afi: 2, safi: 1, prefixes: v6, pathIds: [1, 2, 3] }, { addPathSend: true }),
];

const intern = (() => {
  const t = new Map<string, PathAttributes>();
  return (k: string, b: () => PathAttributes) => t.get(k) ?? (t.set(k, b()).get(k) as PathAttributes);
})();
const ctxArb: fc.Arbitrary<MessageContext> = fc
  .record({
    four: fc.boolean(),
    ibgp: fc.boolean(),
    addPath: fc.boolean(),
    ext: fc.boolean(),
    interned: fc.boolean(),
    big: fc.boolean(),
  })
  .map((o) => ({
    ...updateContext({
      fourOctetAs: o.four,
      ibgp: o.ibgp,
      addPathReceive: o.addPath
        ? [
            { afi: 1, safi: 1 },
            { afi: 2, safi: 1 },
          ]
        : [],
      extendedNextHop: o.ext ? [{ afi: 1, safi: 1 }] : [],
      ...(o.interned ? { intern } : {}),
    }),
    maxLen: o.big ? 65_535 : 4096,
  }));

/** Fix the header length so the body is what gets exercised. */
function withLength(b: Buffer): Buffer {
  if (b.length >= 19) {
    b.fill(0xff, 0, 16);
    b.writeUInt16BE(Math.min(b.length, 0xffff), 16);
  }
  return b;
}

function decodesOrBgpError(b: Buffer, ctx: MessageContext): void {
  try {
    decodeMessage(b, ctx);
  } catch (e) {
    if (!isBgpError(e)) {
      assert.fail(`non-BGP error ${String(e)} for ${b.toString('hex')}`);
    }
  }
}

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat(), value: fc.constant(0) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
);

describe('`decodeMessage()` on hostile input', () => {
  it('random bytes behind a valid header decode or throw BgpError', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.uint8Array({ maxLength: 300 }), ctxArb, (type, body, ctx) => {
        const b = Buffer.alloc(19 + body.length);
        b[18] = type;
        b.set(body, 19);
        decodesOrBgpError(withLength(b), ctx);
      }),
      { numRuns: 5000 },
    );
  });

  it('mutated valid messages decode or throw BgpError', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...SEEDS),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        ctxArb,
        (seed, muts, ctx) => {
          let b = Buffer.from(seed);
          for (const m of muts) {
            const at = 19 + (m.at % Math.max(1, b.length - 19));
            if (m.kind === 'flip') b[at] = m.value;
            else if (m.kind === 'cut') b = b.subarray(0, at);
            else b = Buffer.concat([b.subarray(0, at), Buffer.of(m.value), b.subarray(at)]);
          }
          decodesOrBgpError(withLength(b), ctx);
        },
      ),
      { numRuns: 20_000 },
    );
  });

  it('every valid seed decodes under every context', () => {
    fc.assert(
      fc.property(fc.constantFrom(...SEEDS), ctxArb, (seed, ctx) => decodesOrBgpError(seed, ctx)),
      { numRuns: 200 },
    );
  });

  it('a framer fed random bytes yields messages or a BgpError', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }), (chunks) => {
        const f = new MessageFramer();
        try {
          for (const c of chunks) {
            f.push(Buffer.from(c));
            while (f.pull());
          }
        } catch (e) {
          assert.ok(isBgpError(e), String(e));
        }
      }),
      { numRuns: 2000 },
    );
  });
});
