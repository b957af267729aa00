/**
 * RFC 7606 as a table: one row per malformation, the action we must take and, for session resets, the
 * NOTIFICATION code/subcode. Each row is a raw UPDATE, so the generic loops in update.ts are covered too.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ATTR_TABLE, mergeAs4Path } from './attrs.js';
import { BgpError, UpdateSubcode } from './errors.js';
import { decodeMessage } from './message.js';
import { AttrCode, AttrFlag, type UpdateMessage } from './types.js';
import { type UpdateContext, updateContext } from './update.js';

const hex = (s: string) => Buffer.from(s.replaceAll(' ', ''), 'hex');

const ORIGIN = '40 01 01 00';
const AS_PATH = '40 02 06 02 01 0000fde9';
const NEXT_HOP = '40 03 04 c0000201';
const MANDATORY = `${ORIGIN} ${AS_PATH} ${NEXT_HOP}`;
const NLRI = '18 0a0000';
/** MP_REACH_NLRI for fd00::/64 with next hop fd00::1. */
const MP_REACH_V6 = '80 0e 1e 0002 01 10 fd000000000000000000000000000001 00 40 fd00000000000000';

function message(attrs: string, nlri = NLRI, withdrawn = ''): Buffer {
  const a = hex(attrs);
  const w = hex(withdrawn);
  const body = Buffer.concat([
    Buffer.from([w.length >> 8, w.length & 255]),
    w,
    Buffer.from([a.length >> 8, a.length & 255]),
    a,
    hex(nlri),
  ]);
  const hdr = Buffer.alloc(19, 0xff);
  hdr.writeUInt16BE(19 + body.length, 16);
  hdr[18] = 2;
  return Buffer.concat([hdr, body]);
}

const IBGP = updateContext({ fourOctetAs: true, ibgp: true });
const EBGP = updateContext({ fourOctetAs: true, ibgp: false });
const TWO = updateContext({ fourOctetAs: false, ibgp: false });

type Expect =
  | { ok: true; discarded?: number[] }
  | { withdraw: true; discarded?: number[] }
  | { reset: [number, number] };

interface Row {
  readonly name: string;
  readonly wire: Buffer;
  readonly ctx?: UpdateContext;
  readonly expect: Expect;
}

const W: Expect = { withdraw: true };
const ROWS: Row[] = [
  { name: 'a well-formed UPDATE', wire: message(MANDATORY), expect: { ok: true } },
  // §7.1 ORIGIN
  { name: 'ORIGIN value 3 (§7.1)', wire: message(`40 01 01 03 ${AS_PATH} ${NEXT_HOP}`), expect: W },
  { name: 'ORIGIN of length 2 (§7.1)', wire: message(`40 01 02 0000 ${AS_PATH} ${NEXT_HOP}`), expect: W },
  { name: 'ORIGIN flagged optional (§3 c)', wire: message(`c0 01 01 00 ${AS_PATH} ${NEXT_HOP}`), expect: W },
  // §7.2 AS_PATH
  {
    name: 'an AS_PATH segment that overruns (§7.2)',
    wire: message(`${ORIGIN} 40 02 06 02 02 0000fde9 ${NEXT_HOP}`),
    expect: W,
  },
  { name: 'an empty AS_PATH segment (§7.2)', wire: message(`${ORIGIN} 40 02 02 02 00 ${NEXT_HOP}`), expect: W },
  { name: 'AS_PATH segment type 5 (§7.2)', wire: message(`${ORIGIN} 40 02 06 05 01 0000fde9 ${NEXT_HOP}`), expect: W },
  {
    name: 'a 2-octet AS_PATH cut mid-AS (§7.2)',
    wire: message(`${ORIGIN} 40 02 03 02 01 fd ${NEXT_HOP}`),
    ctx: TWO,
    expect: W,
  },
  // §7.3 NEXT_HOP
  { name: 'NEXT_HOP of length 5 (§7.3)', wire: message(`${ORIGIN} ${AS_PATH} 40 03 05 c000020100`), expect: W },
  // §7.4 MED
  { name: 'MED of length 3 (§7.4)', wire: message(`${MANDATORY} 80 04 03 000001`), expect: W },
  { name: 'MED flagged transitive (§3 c)', wire: message(`${MANDATORY} c0 04 04 00000001`), expect: W },
  // §7.5 LOCAL_PREF
  { name: 'LOCAL_PREF of length 3 from iBGP (§7.5)', wire: message(`${MANDATORY} 40 05 03 000064`), expect: W },
  {
    name: 'LOCAL_PREF from eBGP, even malformed (§7.5)',
    wire: message(`${MANDATORY} 40 05 03 000064`),
    ctx: EBGP,
    expect: { ok: true, discarded: [5] },
  },
  // §7.6, §7.7
  {
    name: 'ATOMIC_AGGREGATE of length 1 (§7.6)',
    wire: message(`${MANDATORY} 40 06 01 00`),
    expect: { ok: true, discarded: [6] },
  },
  {
    name: 'AGGREGATOR of length 7 (§7.7)',
    wire: message(`${MANDATORY} c0 07 07 0000fde9c00002`),
    expect: { ok: true, discarded: [7] },
  },
  {
    name: 'a 2-octet peer sending an 8-byte AGGREGATOR (§7.7)',
    wire: message(`${ORIGIN} 40 02 04 02 01 fde9 ${NEXT_HOP} c0 07 08 0000fde9c0000201`),
    ctx: TWO,
    expect: { ok: true, discarded: [7] },
  },
  // §7.8 COMMUNITIES
  { name: 'COMMUNITIES of length 3 (§7.8)', wire: message(`${MANDATORY} c0 08 03 000001`), expect: W },
  { name: 'COMMUNITIES of length 0 (§7.8)', wire: message(`${MANDATORY} c0 08 00`), expect: W },
  // §7.9, §7.10
  { name: 'ORIGINATOR_ID of length 3 from iBGP (§7.9)', wire: message(`${MANDATORY} 80 09 03 010203`), expect: W },
  {
    name: 'ORIGINATOR_ID from eBGP (RFC 4456 §8)',
    wire: message(`${MANDATORY} 80 09 04 01020304`),
    ctx: EBGP,
    expect: { ok: true, discarded: [9] },
  },
  { name: 'CLUSTER_LIST of length 5 (§7.10)', wire: message(`${MANDATORY} 80 0a 05 0102030405`), expect: W },
  // §7.14, RFC 8092 §6, RFC 9234 §5
  {
    name: 'EXTENDED_COMMUNITIES of length 9 (§7.14)',
    wire: message(`${MANDATORY} c0 10 09 000000000000000000`),
    expect: W,
  },
  {
    name: 'LARGE_COMMUNITY of length 13 (RFC 8092 §6)',
    wire: message(`${MANDATORY} c0 20 0d 00000001000000020000000300`),
    expect: W,
  },
  { name: 'ONLY_TO_CUSTOMER of length 3 (RFC 9234 §5)', wire: message(`${MANDATORY} c0 23 03 000001`), expect: W },
  // RFC 6793 §6
  {
    name: 'a malformed AS4_PATH from a 2-octet peer (RFC 6793 §6)',
    wire: message(`${ORIGIN} 40 02 04 02 01 5ba0 ${NEXT_HOP} c0 11 03 020100`),
    ctx: TWO,
    expect: { ok: true, discarded: [17] },
  },
  {
    name: 'AS4_PATH with a confederation segment (RFC 6793 §6)',
    wire: message(`${ORIGIN} 40 02 04 02 01 5ba0 ${NEXT_HOP} c0 11 06 030100000001`),
    ctx: TWO,
    expect: { ok: true, discarded: [17] },
  },
  {
    name: 'AS4_AGGREGATOR of length 7 (RFC 6793 §6)',
    wire: message(`${ORIGIN} 40 02 04 02 01 5ba0 ${NEXT_HOP} c0 12 07 00000001020304`),
    ctx: TWO,
    expect: { ok: true, discarded: [18] },
  },
  // §3
  {
    name: 'a repeated MED: the first is kept (§3 g)',
    wire: message(`${MANDATORY} 80 04 04 00000001 80 04 04 00000002`),
    expect: { ok: true, discarded: [4] },
  },
  {
    name: 'a repeated MP_REACH_NLRI (§3 g)',
    wire: message(`${MP_REACH_V6} ${ORIGIN} ${AS_PATH} ${MP_REACH_V6}`, ''),
    expect: { reset: [3, UpdateSubcode.MalformedAttributeList] },
  },
  { name: 'missing ORIGIN (§3 d)', wire: message(`${AS_PATH} ${NEXT_HOP}`), expect: W },
  { name: 'missing AS_PATH (§3 d)', wire: message(`${ORIGIN} ${NEXT_HOP}`), expect: W },
  { name: 'missing NEXT_HOP with classic NLRI (§3 d)', wire: message(`${ORIGIN} ${AS_PATH}`), expect: W },
  {
    name: 'no NEXT_HOP with MP_REACH_NLRI only (RFC 4760 §3)',
    wire: message(`${MP_REACH_V6} ${ORIGIN} ${AS_PATH}`, ''),
    expect: { ok: true },
  },
  {
    name: 'malformed attributes in a withdraw-only UPDATE (nothing to withdraw but the routes)',
    wire: message('c0 08 03 000001', '', NLRI),
    expect: { ok: true },
  },
  {
    name: 'an unknown well-known attribute (RFC 4271 §6.3)',
    wire: message(`${MANDATORY} 40 63 01 00`),
    expect: { reset: [3, UpdateSubcode.UnrecognizedWellKnownAttribute] },
  },
  // §4 overruns
  {
    name: 'an attribute that overruns the section, classic NLRI present (§4)',
    wire: message(`${MANDATORY} c0 08 08 00000001`),
    expect: W,
  },
  { name: 'a partial attribute header at the end of the section (§4)', wire: message(`${MANDATORY} c0 08`), expect: W },
  {
    name: 'an overrun with no NLRI anywhere (§4, §5.1)',
    wire: message(`${MANDATORY} c0 08 08 00000001`, ''),
    expect: { reset: [3, UpdateSubcode.MalformedAttributeList] },
  },
  {
    name: 'a Total Attribute Length past the message',
    wire: (() => {
      const m = message(MANDATORY);
      m.writeUInt16BE(200, 21);
      return m;
    })(),
    expect: { reset: [3, UpdateSubcode.MalformedAttributeList] },
  },
  {
    name: 'a Withdrawn Routes Length past the message',
    wire: (() => {
      const m = message(MANDATORY);
      m.writeUInt16BE(200, 19);
      return m;
    })(),
    expect: { reset: [3, UpdateSubcode.MalformedAttributeList] },
  },
  {
    name: 'ORIGIN with the Partial bit set (RFC 4271 §4.3: MUST be 0 on a well-known attribute)',
    wire: message(`60 01 01 00 ${AS_PATH} ${NEXT_HOP}`, '18 0a0000'),
    expect: { withdraw: true },
  },
  // §5.3, §7.11
  {
    name: 'a classic NLRI prefix of length 33 (§5.3)',
    wire: message(MANDATORY, '21 0a000000 00'),
    expect: { reset: [3, UpdateSubcode.InvalidNetworkField] },
  },
  {
    name: 'a withdrawn prefix that overruns (§5.3)',
    wire: message('', '', '18 0a00'),
    expect: { reset: [3, UpdateSubcode.InvalidNetworkField] },
  },
  {
    name: 'an IPv6 next hop of 5 bytes (§7.11)',
    wire: message(`80 0e 0a 0002 01 05 fd00000001 00 08 fd ${ORIGIN} ${AS_PATH}`, ''),
    expect: { reset: [3, UpdateSubcode.OptionalAttributeError] },
  },
  {
    name: 'MP_REACH_NLRI flagged transitive (§7.11)',
    wire: message(`c0 ${MP_REACH_V6.slice(3)} ${ORIGIN} ${AS_PATH}`, ''),
    expect: { reset: [3, UpdateSubcode.AttributeFlagsError] },
  },
  {
    name: 'an IPv6 next hop for IPv4 NLRI without RFC 8950 negotiated',
    wire: message(`80 0e 19 0001 01 10 fd000000000000000000000000000001 00 18 0a0000 ${ORIGIN} ${AS_PATH}`, ''),
    expect: { reset: [3, UpdateSubcode.OptionalAttributeError] },
  },
  {
    name: 'an IPv6 next hop for IPv4 NLRI with RFC 8950 negotiated',
    wire: message(`80 0e 19 0001 01 10 fd000000000000000000000000000001 00 18 0a0000 ${ORIGIN} ${AS_PATH}`, ''),
    ctx: updateContext({ fourOctetAs: true, ibgp: true, extendedNextHop: [{ afi: 1, safi: 1 }] }),
    expect: { ok: true },
  },
  {
    name: 'MP_UNREACH_NLRI shorter than 3 bytes (§7.11)',
    wire: message('80 0f 02 0002', ''),
    expect: { reset: [3, UpdateSubcode.OptionalAttributeError] },
  },
  // several at once: the strongest wins, discards are still listed (§3 h)
  {
    name: 'a malformed MED and a malformed ATOMIC_AGGREGATE (§3 h)',
    wire: message(`${MANDATORY} 80 04 03 000001 40 06 01 00`),
    expect: { withdraw: true, discarded: [6] },
  },
];

describe('RFC 7606 actions', () => {
  for (const row of ROWS) {
    it(`\`decodeUpdate()\` handles ${row.name}`, () => {
      const ctx = row.ctx ?? IBGP;
      const e = row.expect;
      if ('reset' in e) {
        assert.throws(
          () => decodeMessage(row.wire, ctx),
          (err: unknown) =>
            err instanceof BgpError &&
            err.action === 'session-reset' &&
            err.code === e.reset[0] &&
            err.subcode === e.reset[1],
        );
        return;
      }
      const u = decodeMessage(row.wire, ctx) as UpdateMessage;
      assert.equal(u.treatAsWithdraw, 'withdraw' in e, 'treatAsWithdraw');
      assert.deepEqual([...u.discarded], e.discarded ?? [], 'discarded');
    });
  }

  it('`decodeUpdate()` keeps an unknown optional transitive attribute with Partial set, and drops a non-transitive one', () => {
    const u = decodeMessage(message(`${MANDATORY} c0 63 02 abcd 80 64 01 ff`), IBGP) as UpdateMessage;
    assert.deepEqual(u.attributes?.unknown, [
      {
        flags: AttrFlag.Optional | AttrFlag.Transitive | AttrFlag.Partial,
        code: 0x63,
        value: Uint8Array.of(0xab, 0xcd),
      },
    ]);
  });

  it('`decodeUpdate()` keeps the first of repeated attributes', () => {
    const u = decodeMessage(message(`${MANDATORY} 80 04 04 00000001 80 04 04 00000002`), IBGP) as UpdateMessage;
    assert.equal(u.attributes?.med, 1);
  });

  it('`decodeUpdate()` still reports the prefixes of a treat-as-withdraw UPDATE', () => {
    const u = decodeMessage(message(`40 01 01 07 ${AS_PATH} ${NEXT_HOP}`, '18 0a0000 10 0b00'), IBGP) as UpdateMessage;
    assert.equal(u.treatAsWithdraw, true);
    assert.equal(u.reachable[0]?.prefixes.length, 2);
  });

  it('every table row names its RFC 7606 action and expected flags', () => {
    for (const row of ATTR_TABLE) {
      assert.ok(['treat-as-withdraw', 'attribute-discard', 'session-reset'].includes(row.onMalformed), row.name);
      assert.equal(row.flags & ~(AttrFlag.Optional | AttrFlag.Transitive), 0, row.name);
    }
    assert.equal(new Set(ATTR_TABLE.map((r) => r.code)).size, ATTR_TABLE.length);
    assert.ok(!ATTR_TABLE.some((r) => r.code === AttrCode.MpReachNlri || r.code === AttrCode.MpUnreachNlri));
  });
});

describe('`mergeAs4Path()`', () => {
  it('keeps leading confederation segments and the ASes AS4_PATH lacks', () => {
    assert.deepEqual(
      mergeAs4Path(
        [
          { type: 3, asns: [65010] },
          { type: 2, asns: [65002, 23456, 23456] },
        ],
        [{ type: 2, asns: [4_200_000_000, 4_200_000_001] }],
      ),
      [
        { type: 3, asns: [65010] },
        { type: 2, asns: [65002, 4_200_000_000, 4_200_000_001] },
      ],
    );
  });
  it('counts an AS_SET as one', () => {
    assert.deepEqual(
      mergeAs4Path(
        [
          { type: 2, asns: [1] },
          { type: 1, asns: [23456, 23456] },
        ],
        [{ type: 1, asns: [70000, 70001] }],
      ),
      [
        { type: 2, asns: [1] },
        { type: 1, asns: [70000, 70001] },
      ],
    );
  });
});
