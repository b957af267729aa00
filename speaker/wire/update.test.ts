import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { asPathLength } from './attrs.js';
import { decodeMessage } from './message.js';
import { formatIpv4, formatIpv6, parsePrefixKey, prefixKeyV4, prefixKeyV6 } from './prefix.js';
import {
  AS_TRANS,
  type AsPathSegment,
  AttrCode,
  AttrFlag,
  MAX_MESSAGE_LEN,
  type NlriBatch,
  type PathAttributes,
  type PrefixKey,
  type UpdateMessage,
} from './types.js';
import { encodeEndOfRib, encodeUpdates, encodeWithdrawals, type UpdateContext, updateContext } from './update.js';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const ipv4 = u32.map(formatIpv4);
const ipv6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => formatIpv6(b));
const KNOWN = new Set<number>([...Object.values(AttrCode), 14, 15]);

function segmentArb(twoOctet: boolean, types: [number, number]): fc.Arbitrary<AsPathSegment> {
  return fc.integer({ min: types[0], max: types[1] }).chain((type) =>
    fc.record({
      type: fc.constant(type as AsPathSegment['type']),
      // RFC 6793: confederation segments never travel in AS4_PATH, so toward a 2-octet peer they stay 2-octet.
      asns: fc.array(twoOctet && type >= 3 ? fc.integer({ min: 0, max: 0xffff }) : u32, {
        minLength: 1,
        maxLength: 12,
      }),
    }),
  );
}

function neighborAs(path: readonly AsPathSegment[]): number {
  const first = path.find((s) => s.type !== 3 && s.type !== 4);
  return first?.type === 2 ? (first.asns[0] ?? 0) : 0;
}

export function attrsArb(opts: { twoOctet: boolean; v6NextHop: boolean }): fc.Arbitrary<PathAttributes> {
  return fc
    .record({
      origin: fc.constantFrom(0 as const, 1 as const, 2 as const),
      // Confederation segments lead the path (RFC 5065 §3).
      asPath: fc
        .tuple(
          fc.array(segmentArb(opts.twoOctet, [3, 4]), { maxLength: 2 }),
          fc.array(segmentArb(opts.twoOctet, [1, 2]), { maxLength: 4 }),
        )
        .map(([c, s]) => [...c, ...s]),
      nextHop: opts.v6NextHop ? ipv6 : ipv4,
      nextHopLinkLocal: opts.v6NextHop ? fc.option(ipv6, { nil: undefined }) : fc.constant(undefined),
      med: fc.option(u32, { nil: undefined }),
      localPref: fc.option(u32, { nil: undefined }),
      atomicAggregate: fc.boolean(),
      aggregator: fc.option(fc.record({ asn: u32, address: ipv4 }), { nil: undefined }),
      communities: fc.array(u32, { maxLength: 20 }),
      extendedCommunities: fc.array(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), { maxLength: 8 }),
      largeCommunities: fc.array(fc.tuple(u32, u32, u32), { maxLength: 8 }),
      originatorId: fc.option(u32, { nil: undefined }),
      clusterList: fc.array(u32, { maxLength: 8 }),
      onlyToCustomer: fc.option(u32, { nil: undefined }),
      unknown: fc.uniqueArray(
        fc.record({
          flags: fc.constant(AttrFlag.Optional | AttrFlag.Transitive | AttrFlag.Partial),
          code: fc.integer({ min: 0, max: 255 }).filter((c) => !KNOWN.has(c)),
          value: fc.uint8Array({ maxLength: 300 }),
        }),
        { maxLength: 3, selector: (u) => u.code },
      ),
    })
    .filter(
      // RFC 6793 §4.2.3: a real 2-octet AGGREGATOR AS makes the receiver ignore AS4_PATH, by design.
      (a) =>
        !opts.twoOctet ||
        a.aggregator === undefined ||
        a.aggregator.asn > 0xffff ||
        a.aggregator.asn === AS_TRANS ||
        a.asPath.every((s) => s.asns.every((x) => x <= 0xffff)),
    )
    .map((a) => structuredClone({ ...a, asPathLength: asPathLength(a.asPath), neighborAs: neighborAs(a.asPath) }));
}

const v4Keys = fc.uniqueArray(
  fc.tuple(u32, fc.integer({ min: 0, max: 32 })).map(([a, l]) => prefixKeyV4(a, l)),
  { maxLength: 1500 },
);
const v6Keys = fc.uniqueArray(
  fc
    .tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 128 }))
    .map(([b, l]) => prefixKeyV6(b, l)),
  { maxLength: 400 },
);

function decodeAll(msgs: Buffer[], ctx: UpdateContext & { maxLen?: number }): UpdateMessage[] {
  return msgs.map((m) => decodeMessage(m, ctx) as UpdateMessage);
}

function collect(ups: UpdateMessage[], field: 'reachable' | 'withdrawn'): { prefixes: PrefixKey[]; ids: number[] } {
  const prefixes: PrefixKey[] = [];
  const ids: number[] = [];
  for (const u of ups)
    for (const b of u[field]) {
      prefixes.push(...b.prefixes);
      if (b.pathIds) ids.push(...b.pathIds);
    }
  return { prefixes, ids };
}

describe('UPDATE round trip', () => {
  const cases = [
    { name: 'IPv4 classic NLRI, 4-octet AS', afi: 1 as const, twoOctet: false, v6NextHop: false, keys: v4Keys },
    {
      name: 'IPv4 classic NLRI toward a 2-octet peer (AS4_PATH)',
      afi: 1 as const,
      twoOctet: true,
      v6NextHop: false,
      keys: v4Keys,
    },
    { name: 'IPv6 in MP_REACH_NLRI', afi: 2 as const, twoOctet: false, v6NextHop: true, keys: v6Keys },
    {
      name: 'IPv4 in MP_REACH_NLRI with an IPv6 next hop (RFC 8950)',
      afi: 1 as const,
      twoOctet: false,
      v6NextHop: true,
      keys: v4Keys,
    },
  ];
  for (const c of cases) {
    it(`decode∘encode is the identity for random attribute sets and prefixes: ${c.name}, ADD-PATH or not`, () => {
      fc.assert(
        fc.property(
          attrsArb(c),
          c.keys as fc.Arbitrary<PrefixKey[]>,
          fc.boolean(),
          fc.constantFrom(MAX_MESSAGE_LEN, 65_535),
          (attrs, keys, addPath, maxLen) => {
            fc.pre(keys.length > 0);
            const pathIds = addPath ? keys.map((_, i) => (i * 2654435761) >>> 0) : undefined;
            const batch = { afi: c.afi, safi: 1, prefixes: keys, pathIds } as NlriBatch;
            const msgs = encodeUpdates(attrs, batch, { fourOctetAs: !c.twoOctet, addPathSend: addPath, maxLen });
            for (const m of msgs) assert.ok(m.length <= maxLen);
            const as = { afi: c.afi, safi: 1 };
            const ctx = updateContext({
              fourOctetAs: !c.twoOctet,
              ibgp: true,
              addPathReceive: addPath ? [as] : [],
              extendedNextHop: c.v6NextHop && c.afi === 1 ? [as] : [],
            });
            const ups = decodeAll(msgs, { ...ctx, maxLen });
            for (const u of ups) {
              assert.equal(u.treatAsWithdraw, false);
              assert.deepEqual(u.discarded, []);
              assert.deepEqual(u.attributes, attrs);
            }
            const got = collect(ups, 'reachable');
            assert.deepEqual(got.prefixes, keys);
            assert.deepEqual(got.ids, pathIds ?? []);
          },
        ),
        { numRuns: 60 },
      );
    });
  }

  it('decode∘encode is the identity for withdrawals (IPv4 classic, IPv6 MP_UNREACH_NLRI, ADD-PATH)', () => {
    fc.assert(
      fc.property(fc.oneof(v4Keys, v6Keys) as fc.Arbitrary<PrefixKey[]>, fc.boolean(), (keys, addPath) => {
        fc.pre(keys.length > 0);
        const afi = typeof keys[0] === 'number' ? 1 : 2;
        const pathIds = addPath ? keys.map((_, i) => i) : undefined;
        const msgs = encodeWithdrawals({ afi, safi: 1, prefixes: keys, pathIds } as NlriBatch, {
          addPathSend: addPath,
        });
        const ctx = updateContext({
          fourOctetAs: true,
          ibgp: false,
          addPathReceive: addPath ? [{ afi, safi: 1 }] : [],
        });
        const got = collect(decodeAll(msgs, ctx), 'withdrawn');
        assert.deepEqual(got.prefixes, keys);
        assert.deepEqual(got.ids, pathIds ?? []);
      }),
      { numRuns: 50 },
    );
  });
});

const BASE: PathAttributes = {
  origin: 0,
  asPath: [{ type: 2, asns: [65001, 4_200_000_000] }],
  nextHop: '192.0.2.1',
  nextHopLinkLocal: undefined,
  med: undefined,
  localPref: 100,
  atomicAggregate: false,
  aggregator: undefined,
  communities: [0xfde90001],
  extendedCommunities: [],
  largeCommunities: [],
  originatorId: undefined,
  clusterList: [],
  onlyToCustomer: undefined,
  unknown: [],
  asPathLength: 2,
  neighborAs: 65001,
};
const IBGP4 = updateContext({ fourOctetAs: true, ibgp: true });

describe('UPDATE packing', () => {
  it('`encodeUpdates()` packs 3000 /24s into as few 4096-byte messages as fit', () => {
    const prefixes = Array.from({ length: 3000 }, (_, i) => prefixKeyV4((0x0a000000 + i * 256) >>> 0, 24));
    const msgs = encodeUpdates(BASE, { afi: 1, safi: 1, prefixes }, { fourOctetAs: true });
    const attrBytes = msgs[0]!.readUInt16BE(21);
    const perMsg = Math.floor((4096 - 23 - attrBytes) / 4);
    assert.equal(msgs.length, Math.ceil(3000 / perMsg));
    assert.equal(msgs[0]!.length, 23 + attrBytes + perMsg * 4);
    const big = encodeUpdates(BASE, { afi: 1, safi: 1, prefixes }, { fourOctetAs: true, maxLen: 65_535 });
    assert.equal(big.length, 1);
  });

  it('`encodeUpdates()` puts MP_REACH_NLRI first (RFC 7606 §5.1)', () => {
    const [m] = encodeUpdates(
      { ...BASE, nextHop: 'fd00::1' },
      { afi: 2, safi: 1, prefixes: [parsePrefixKey('fd00:1::/64')] },
      { fourOctetAs: true },
    );
    assert.equal(m![24], AttrCode.MpReachNlri);
  });

  it('`encodeUpdates()` refuses attributes that leave no room for a prefix', () => {
    const huge = { ...BASE, communities: Array.from({ length: 1100 }, (_, i) => i) };
    assert.throws(() => encodeUpdates(huge, { afi: 1, safi: 1, prefixes: [0] }, { fourOctetAs: true }), RangeError);
  });

  it('`encodeUpdates()` refuses an empty next hop, and an IPv4 next hop for IPv6 prefixes', () => {
    assert.throws(
      () => encodeUpdates({ ...BASE, nextHop: '' }, { afi: 1, safi: 1, prefixes: [0] }, { fourOctetAs: true }),
      TypeError,
    );
    assert.throws(
      () => encodeUpdates(BASE, { afi: 2, safi: 1, prefixes: [parsePrefixKey('fd00::/8')] }, { fourOctetAs: true }),
      TypeError,
    );
  });

  it('`encodeUpdates()` and `encodeWithdrawals()` return nothing for an empty batch', () => {
    assert.deepEqual(encodeUpdates(BASE, { afi: 1, safi: 1, prefixes: [] }, { fourOctetAs: true }), []);
    assert.deepEqual(encodeWithdrawals({ afi: 2, safi: 1, prefixes: [] }), []);
  });
});

describe('End-of-RIB', () => {
  it('`encodeEndOfRib()` makes the empty UPDATE for IPv4 and an empty MP_UNREACH_NLRI for IPv6 (RFC 4724 §2)', () => {
    assert.equal(encodeEndOfRib({ afi: 1, safi: 1 }).length, 23);
    for (const as of [
      { afi: 1, safi: 1 },
      { afi: 2, safi: 1 },
    ]) {
      const u = decodeMessage(encodeEndOfRib(as), IBGP4) as UpdateMessage;
      assert.deepEqual(u.endOfRib, as);
      assert.deepEqual(u.reachable, []);
    }
  });

  it('`decodeUpdate()` does not take an MP_UNREACH_NLRI with prefixes for End-of-RIB', () => {
    const [m] = encodeWithdrawals({ afi: 2, safi: 1, prefixes: [parsePrefixKey('fd00::/8')] });
    assert.equal((decodeMessage(m!, IBGP4) as UpdateMessage).endOfRib, undefined);
  });
});

describe('interning', () => {
  it('`decodeUpdate()` builds an attribute set once per distinct key and shares it', () => {
    const table = new Map<string, PathAttributes>();
    let builds = 0;
    const ctx = updateContext({
      fourOctetAs: true,
      ibgp: true,
      intern: (key, build) => {
        let a = table.get(key);
        if (!a) {
          builds++;
          a = build();
          table.set(key, a);
        }
        return a;
      },
    });
    const p = (t: string) => [parsePrefixKey(t)];
    const a1 = decodeMessage(
      encodeUpdates(BASE, { afi: 1, safi: 1, prefixes: p('10.0.0.0/8') }, { fourOctetAs: true })[0]!,
      ctx,
    ) as UpdateMessage;
    const a2 = decodeMessage(
      encodeUpdates(BASE, { afi: 1, safi: 1, prefixes: p('11.0.0.0/8') }, { fourOctetAs: true })[0]!,
      ctx,
    ) as UpdateMessage;
    assert.equal(a1.attributes, a2.attributes);
    assert.ok(Object.isFrozen(a1.attributes));
    // Same attributes over MP_REACH with different next hops: different sets.
    const v6 = { ...BASE, nextHop: 'fd00::1' };
    const b1 = decodeMessage(
      encodeUpdates(v6, { afi: 2, safi: 1, prefixes: p('fd01::/64') }, { fourOctetAs: true })[0]!,
      ctx,
    ) as UpdateMessage;
    const b2 = decodeMessage(
      encodeUpdates(v6, { afi: 2, safi: 1, prefixes: p('fd02::/64') }, { fourOctetAs: true })[0]!,
      ctx,
    ) as UpdateMessage;
    const b3 = decodeMessage(
      encodeUpdates(
        { ...v6, nextHop: 'fd00::2' },
        { afi: 2, safi: 1, prefixes: p('fd02::/64') },
        { fourOctetAs: true },
      )[0]!,
      ctx,
    ) as UpdateMessage;
    assert.equal(b1.attributes, b2.attributes);
    assert.notEqual(b1.attributes, b3.attributes);
    assert.equal(b3.attributes?.nextHop, 'fd00::2');
    assert.equal(builds, 3);
  });

  it('`decodeUpdate()` keeps the RFC 7606 outcome of an interned set', () => {
    const table = new Map<string, PathAttributes>();
    const ctx = updateContext({
      fourOctetAs: true,
      ibgp: false,
      intern: (key, build) => table.get(key) ?? (table.set(key, build()).get(key) as PathAttributes),
    });
    const [m] = encodeUpdates(BASE, { afi: 1, safi: 1, prefixes: [0] }, { fourOctetAs: true });
    for (let i = 0; i < 2; i++) {
      const u = decodeMessage(m!, ctx) as UpdateMessage;
      assert.deepEqual(u.discarded, [AttrCode.LocalPref]); // RFC 7606 §7.5: LOCAL_PREF from eBGP
      assert.equal(u.attributes?.localPref, undefined);
    }
  });
});

describe('RFC 6793 toward and from 2-octet peers', () => {
  it('`encodeUpdates()` writes AS_TRANS plus AS4_PATH and AS4_AGGREGATOR when an AS needs 4 octets', () => {
    const a = { ...BASE, aggregator: { asn: 4_200_000_001, address: '192.0.2.9' } };
    const [m] = encodeUpdates(a, { afi: 1, safi: 1, prefixes: [0] }, { fourOctetAs: false });
    const hex = m!.toString('hex');
    assert.ok(hex.includes('4002060202fde95ba0'), 'AS_PATH with AS_TRANS');
    assert.ok(hex.includes('c0110a02020000fde9fa56ea00'), 'AS4_PATH');
    assert.ok(hex.includes('c007065ba0c0000209'), 'AGGREGATOR with AS_TRANS');
    assert.ok(hex.includes('c01208fa56ea01c0000209'), 'AS4_AGGREGATOR');
  });

  it('`encodeUpdates()` sends no AS4_PATH when every AS fits in 2 octets', () => {
    const [m] = encodeUpdates(
      { ...BASE, asPath: [{ type: 2, asns: [65001] }] },
      { afi: 1, safi: 1, prefixes: [0] },
      { fourOctetAs: false },
    );
    assert.ok(!m!.toString('hex').includes('c011'));
  });

  const TWO = updateContext({ fourOctetAs: false, ibgp: false });
  function raw(attrHex: string): Buffer {
    const attrs = Buffer.from(`40010100 40030400000001 ${attrHex}`.replaceAll(' ', ''), 'hex');
    const body = Buffer.concat([
      Buffer.from([0, 0, attrs.length >> 8, attrs.length & 255]),
      attrs,
      Buffer.from('080a', 'hex'),
    ]);
    const hdr = Buffer.alloc(19, 0xff);
    hdr.writeUInt16BE(19 + body.length, 16);
    hdr[18] = 2;
    return Buffer.concat([hdr, body]);
  }

  it('`decodeUpdate()` merges AS4_PATH behind the ASes an old speaker prepended (RFC 6793 §4.2.3)', () => {
    const u = decodeMessage(raw('40020602 02 fdea 5ba0 c0110602 01 fa56ea00'), TWO) as UpdateMessage;
    assert.deepEqual(u.attributes?.asPath, [{ type: 2, asns: [65002, 4_200_000_000] }]);
    assert.equal(u.attributes?.asPathLength, 2);
  });

  it('`decodeUpdate()` ignores an AS4_PATH longer than AS_PATH', () => {
    const u = decodeMessage(raw('40020402 01 fdea c0110a02 02 fa56ea00 fa56ea01'), TWO) as UpdateMessage;
    assert.deepEqual(u.attributes?.asPath, [{ type: 2, asns: [65002] }]);
  });

  it('`decodeUpdate()` takes AS4_AGGREGATOR when AGGREGATOR says AS_TRANS, and ignores AS4_PATH when it does not', () => {
    const withTrans = decodeMessage(
      raw('40020402 01 5ba0 c007065ba0c0000201 c0110602 01 fa56ea00 c01208fa56ea01c0000202'),
      TWO,
    ) as UpdateMessage;
    assert.deepEqual(withTrans.attributes?.aggregator, { asn: 4_200_000_001, address: '192.0.2.2' });
    assert.deepEqual(withTrans.attributes?.asPath, [{ type: 2, asns: [4_200_000_000] }]);
    const real = decodeMessage(raw('40020402 01 5ba0 c00706fde9c0000201 c0110602 01 fa56ea00'), TWO) as UpdateMessage;
    assert.deepEqual(real.attributes?.aggregator, { asn: 65001, address: '192.0.2.1' });
    assert.deepEqual(real.attributes?.asPath, [{ type: 2, asns: [AS_TRANS] }]);
  });

  it('`decodeUpdate()` from a 4-octet peer ignores AS4_PATH silently', () => {
    const attrs = '40020602 01 0000fde9 c0110602 01 fa56ea00'.replaceAll(' ', '');
    const buf = raw(attrs);
    const u = decodeMessage(buf, updateContext({ fourOctetAs: true, ibgp: false })) as UpdateMessage;
    assert.deepEqual(u.attributes?.asPath, [{ type: 2, asns: [65001] }]);
    assert.deepEqual(u.discarded, []);
  });
});
