/**
 * The malformed-message table: one row per RFC 4271 §6 / RFC 7606 case, each with the bytes a raw peer sends
 * and the reaction the speaker owes. Rows are data; malformed.test.ts runs them against a live Speaker.
 */
import { encodeKeepalive, encodeNotification } from '../../../speaker/wire/messages.js';
import { encodeOpen } from '../../../speaker/wire/open.js';
import type { PathAttributes } from '../../../speaker/wire/types.js';
import {
  asSeq,
  attr,
  ipv4,
  message,
  OPT,
  OPT_T,
  u16,
  u32,
  update,
  updateBody,
  v4prefix,
  v6prefix,
  WK,
} from './craft.js';
import { PEERS, type PeerName } from './harness.js';
import { openMessage, type RawPeerOptions } from './raw-peer.js';

/** The prefix each UPDATE case first announces with a good UPDATE, then re-announces malformed. */
export const PROBE = '10.99.0.0/24';
export const PROBE6 = 'fd00:99::/48';
/** Announced after the malformed message: its arrival proves the speaker read past it and is still up. */
export const SENTINEL = '10.98.0.0/24';

export type Expect =
  /** Session reset with this NOTIFICATION (subcode undefined: any subcode of the code). */
  | {
      readonly kind: 'notification';
      readonly code: number;
      readonly subcode?: number | undefined;
      /** The Data field RFC 4271 §6 prescribes, as hex, where it prescribes one. */
      readonly data?: string | undefined;
    }
  /** Session stays Established and the probe route is untouched (messages other than UPDATE). */
  | { readonly kind: 'up' }
  /** Session stays Established; the probe prefix is gone from the Loc-RIB. */
  | { readonly kind: 'treat-as-withdraw'; readonly prefix?: string }
  /** Session stays Established; the probe route is there (with MED 77 from the malformed UPDATE), `check` passes. */
  | {
      readonly kind: 'attribute-discard' | 'accepted';
      readonly check: (a: PathAttributes) => string | undefined;
      readonly what: string;
    }
  /** OPEN-phase rows: the session comes up. */
  | { readonly kind: 'established' }
  /** The speaker closes without a NOTIFICATION (it received one). */
  | { readonly kind: 'closed' };

export type Phase = 'open' | 'openconfirm' | 'established';

/** What a row's bytes are built from: the session's flavour and the standard attributes for it. */
export interface Kit {
  readonly peer: PeerName;
  readonly opts: RawPeerOptions;
  readonly four: boolean;
  readonly asPath: readonly number[];
  readonly nextHop: string;
  readonly origin: Buffer;
  readonly asPathAttr: Buffer;
  readonly nextHopAttr: Buffer;
  /** ORIGIN + AS_PATH + NEXT_HOP */
  readonly base: Buffer;
  /** MED 77: added to UPDATEs whose route must survive, to prove the malformed UPDATE was the one applied. */
  readonly mark: Buffer;
  readonly nlri: Buffer;
}

export interface Case {
  readonly ref: string;
  readonly name: string;
  readonly peer?: PeerName;
  readonly phase?: Phase;
  /** Raw peer options for this row (e.g. extended messages). */
  readonly opts?: Partial<RawPeerOptions>;
  readonly bytes: (k: Kit) => Buffer;
  readonly expect: Expect;
  /** Set when the speaker is known to get this row wrong: the test stays, marked todo, with the bug. */
  readonly bug?: string;
}

export function kit(peer: PeerName, opts: RawPeerOptions): Kit {
  const p = PEERS[peer];
  const four = p.fourOctetAs;
  const asPath = p.asn === 65001 ? [] : [p.asn];
  const origin = attr(WK, 1, [0]);
  const asPathAttr = attr(WK, 2, asPath.length ? asSeq(asPath, four) : []);
  const nextHopAttr = attr(WK, 3, ipv4(p.address));
  return {
    peer,
    opts,
    four,
    asPath,
    nextHop: p.address,
    origin,
    asPathAttr,
    nextHopAttr,
    base: Buffer.concat([origin, asPathAttr, nextHopAttr]),
    mark: attr(OPT, 4, u32(77)),
    nlri: v4prefix(PROBE),
  };
}

/** A good UPDATE announcing `prefix` (IPv4 classic NLRI, or IPv6 in MP_REACH_NLRI). */
export function goodUpdate(k: Kit, prefix: string): Buffer {
  const path = attr(WK, 2, k.asPath.length ? asSeq(k.asPath, k.four) : []);
  if (prefix.includes(':')) return update({ attrs: Buffer.concat([mpReachV6([v6prefix(prefix)]), k.origin, path]) });
  return update({ attrs: Buffer.concat([k.origin, path, k.nextHopAttr]), nlri: v4prefix(prefix) });
}

const NH6 = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

/** MP_REACH_NLRI for IPv6 unicast with next hop fd00::2. */
export function mpReachV6(prefixes: readonly Buffer[], o: { flags?: number; nh?: readonly number[] } = {}): Buffer {
  const nh = o.nh ?? NH6;
  return attr(o.flags ?? OPT, 14, [0, 2, 1, nh.length, ...nh, 0, ...prefixes.flatMap((p) => [...p])]);
}

export function mpUnreachV6(prefixes: readonly Buffer[]): Buffer {
  return attr(OPT, 15, [0, 2, 1, ...prefixes.flatMap((p) => [...p])]);
}

const cat = (...b: Uint8Array[]): Buffer => Buffer.concat(b);
/** An UPDATE re-announcing the probe prefix with the given attribute bytes. */
const probe = (k: Kit, ...attrs: Uint8Array[]): Buffer => update({ attrs: cat(...attrs), nlri: k.nlri });
/** The probe with the base attributes, the MED mark, and `extra` appended. */
const marked = (k: Kit, ...extra: Uint8Array[]): Buffer => probe(k, k.base, k.mark, ...extra);

const note = (what: keyof PathAttributes, ok: (v: unknown) => boolean) => (a: PathAttributes) =>
  a.med !== 77
    ? `MED is ${a.med}, not 77: the malformed UPDATE was not applied`
    : ok(a[what])
      ? undefined
      : `${String(what)} is ${JSON.stringify(a[what], (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`;

const notif = (code: number, subcode?: number, data?: string): Expect => ({
  kind: 'notification',
  code,
  subcode,
  data,
});
const TAW: Expect = { kind: 'treat-as-withdraw' };
const discard = (what: string, field: keyof PathAttributes, ok: (v: unknown) => boolean): Expect => ({
  kind: 'attribute-discard',
  what,
  check: note(field, ok),
});
const accepted = (what: string, field: keyof PathAttributes, ok: (v: unknown) => boolean): Expect => ({
  kind: 'accepted',
  what,
  check: note(field, ok),
});

/** OPEN bytes for the row's peer with byte patches: [offset in the whole message, bytes]. */
const openPatched = (k: Kit, ...patches: [number, number[]][]): Buffer => {
  const b = encodeOpen(openMessage(k.opts));
  for (const [off, v] of patches) Buffer.from(v).copy(b, off);
  return b;
};
/** An OPEN body from raw parts (version 4, the row's AS, hold 0) with the given optional parameters. */
const openRaw = (k: Kit, params: number[], o: { optLen?: number } = {}): Buffer =>
  message(1, Buffer.from([4, ...u16(k.opts.asn), 0, 0, ...u32(k.opts.bgpId), o.optLen ?? params.length, ...params]));

const P4 = v4prefix(PROBE);

export const CASES: readonly Case[] = [
  // ---------------------------------------------------------------------------------------------------------
  // RFC 4271 §6.1 message header errors (Established)
  {
    ref: '4271 §6.1',
    name: 'marker not all ones',
    bytes: () => message(4, new Uint8Array(0), { marker: Buffer.alloc(16, 0xfe) }),
    expect: notif(1, 1),
  },
  {
    ref: '4271 §6.1',
    name: 'length 18 (< 19)',
    bytes: () => message(4, new Uint8Array(0), { len: 18 }),
    expect: notif(1, 2, '0012'),
  },
  {
    ref: '4271 §6.1',
    name: 'UPDATE length 4097 without extended messages',
    bytes: (k) =>
      update({
        attrs: cat(k.base, attr(OPT_T, 99, Buffer.alloc(4097 - 19 - 4 - k.base.length - 4 - P4.length))),
        nlri: P4,
      }),
    expect: notif(1, 2, '1001'),
  },
  { ref: '4271 §6.1', name: 'KEEPALIVE length 20', bytes: () => message(4, Buffer.of(0)), expect: notif(1, 2, '0014') },
  {
    ref: '4271 §6.1',
    name: 'UPDATE length 22 (< 23)',
    bytes: () => message(2, Buffer.of(0, 0, 0)),
    expect: notif(1, 2),
  },
  { ref: '4271 §6.1', name: 'OPEN length 28 (< 29)', bytes: () => message(1, Buffer.alloc(9)), expect: notif(1, 2) },
  {
    ref: '4271 §6.1',
    name: 'NOTIFICATION length 20 (< 21)',
    bytes: () => message(3, Buffer.of(6)),
    expect: notif(1, 2),
  },
  { ref: '4271 §6.1', name: 'type 0', bytes: () => message(0, new Uint8Array(0)), expect: notif(1, 3, '00') },
  { ref: '4271 §6.1', name: 'type 6', bytes: () => message(6, Buffer.of(1, 2, 3, 4)), expect: notif(1, 3, '06') },
  {
    ref: '4271 §6.1',
    name: 'marker not all ones, as the first message (OpenSent)',
    phase: 'open',
    bytes: (k) => {
      const b = encodeOpen(openMessage(k.opts));
      b[3] = 0;
      return b;
    },
    expect: notif(1, 1),
  },
  {
    ref: '4271 §6.1',
    name: 'OPEN length 4097, as the first message',
    phase: 'open',
    bytes: (k) => {
      const open = encodeOpen(openMessage(k.opts)).subarray(19);
      return message(1, Buffer.concat([open, Buffer.alloc(4097 - 19 - open.length)]));
    },
    expect: notif(1, 2, '1001'),
  },
  {
    ref: '2918 §4',
    name: 'ROUTE-REFRESH for an AFI/SAFI not negotiated: ignored',
    bytes: () => message(5, Buffer.of(0, 25, 0, 70)),
    expect: { kind: 'up' },
  },
  {
    ref: '4271 §8.2.2',
    name: 'NOTIFICATION in OpenSent: closed, no NOTIFICATION back',
    phase: 'open',
    bytes: () => encodeNotification({ code: 6, subcode: 2, data: new Uint8Array(0) }),
    expect: { kind: 'closed' },
  },
  {
    ref: '7313 §5',
    name: 'ROUTE-REFRESH with a 6-byte body',
    bytes: () => message(5, Buffer.of(0, 1, 0, 1, 0, 0)),
    expect: notif(7, 1),
  },
  {
    ref: '8654 §4',
    name: 'UPDATE of 5000 bytes with extended messages negotiated: accepted',
    opts: { extendedMessage: true },
    bytes: (k) => marked(k, attr(OPT, 99, Buffer.alloc(5000 - 19 - 4 - k.base.length - k.mark.length - 4 - P4.length))),
    expect: accepted('probe route kept', 'origin', (v) => v === 0),
  },
  {
    ref: '8654 §4',
    name: 'KEEPALIVE of 20 bytes with extended messages negotiated',
    opts: { extendedMessage: true },
    bytes: () => message(4, Buffer.of(0)),
    expect: notif(1, 2, '0014'),
  },
  // ---------------------------------------------------------------------------------------------------------
  // RFC 4271 §6.2 OPEN errors (the raw peer's first message)
  {
    ref: '4271 §6.2',
    name: 'OPEN version 3',
    phase: 'open',
    bytes: (k) => openPatched(k, [19, [3]]),
    expect: notif(2, 1, '0004'),
  },
  {
    ref: '4271 §6.2',
    name: 'OPEN from the wrong AS',
    phase: 'open',
    bytes: (k) => encodeOpen(openMessage({ ...k.opts, asn: 65099 })),
    expect: notif(2, 2),
  },
  {
    ref: '6793 §4.1',
    name: 'OPEN: 2-octet My AS disagrees with the 4-octet AS capability',
    peer: 'ebgp',
    phase: 'open',
    bytes: (k) => encodeOpen(openMessage(k.opts, { myAs: 65010 })),
    expect: notif(2, 2),
  },
  {
    ref: '4271 §6.2',
    name: 'OPEN with BGP Identifier 0',
    phase: 'open',
    bytes: (k) => encodeOpen(openMessage({ ...k.opts, bgpId: 0 })),
    expect: notif(2, 3),
  },
  {
    ref: '6286 §2.2',
    name: 'iBGP OPEN with our own BGP Identifier',
    peer: 'ibgp',
    phase: 'open',
    bytes: (k) => encodeOpen(openMessage({ ...k.opts, bgpId: 0x0a000001 })),
    expect: notif(2, 3),
  },
  {
    ref: '4271 §6.2',
    name: 'OPEN hold time 1',
    phase: 'open',
    bytes: (k) => openPatched(k, [22, [0, 1]]),
    expect: notif(2, 6),
  },
  {
    ref: '4271 §6.2',
    name: 'OPEN hold time 2',
    phase: 'open',
    bytes: (k) => openPatched(k, [22, [0, 2]]),
    expect: notif(2, 6),
  },
  {
    ref: '4271 §6.2',
    name: 'OPEN with optional parameter type 1 (authentication)',
    phase: 'open',
    bytes: (k) => openRaw(k, [1, 2, 0, 0]),
    expect: notif(2, 4),
  },
  {
    ref: '4271 §6.2',
    name: 'OPEN optional parameters length past the message',
    phase: 'open',
    bytes: (k) => openRaw(k, [2, 6, 65, 4, ...u32(k.opts.asn)], { optLen: 20 }),
    expect: notif(2),
  },
  {
    ref: '5492 §3',
    name: 'OPEN: malformed 4-octet AS capability (length 2)',
    phase: 'open',
    bytes: (k) => openRaw(k, [2, 4, 65, 2, 0xfd, 0xea]),
    expect: notif(2),
  },
  {
    ref: '5492 §5',
    name: 'OPEN with an unknown capability (code 200): ignored, session comes up',
    phase: 'open',
    bytes: (k) =>
      encodeOpen(
        openMessage(k.opts, {
          capabilities: {
            ...openMessage(k.opts).capabilities,
            unknown: [{ code: 200, value: Uint8Array.of(1, 2, 3) }],
          },
        }),
      ),
    expect: { kind: 'established' },
  },
  // ---------------------------------------------------------------------------------------------------------
  // RFC 4271 §6.6 / §8.2.2, RFC 6608: FSM errors
  {
    ref: '6608 §4',
    name: 'UPDATE in OpenSent',
    phase: 'open',
    bytes: (k) => update({ attrs: k.base, nlri: P4 }),
    expect: notif(5, 1),
  },
  { ref: '6608 §4', name: 'KEEPALIVE in OpenSent', phase: 'open', bytes: () => encodeKeepalive(), expect: notif(5, 1) },
  {
    ref: '6608 §4',
    name: 'UPDATE in OpenConfirm',
    phase: 'openconfirm',
    bytes: (k) => update({ attrs: k.base, nlri: P4 }),
    expect: notif(5, 2),
  },
  {
    ref: '6608 §4',
    name: 'ROUTE-REFRESH in OpenConfirm',
    phase: 'openconfirm',
    bytes: () => message(5, Buffer.of(0, 1, 0, 1)),
    expect: notif(5, 2),
  },
  {
    ref: '6608 §4',
    name: 'second OPEN in OpenConfirm',
    phase: 'openconfirm',
    bytes: (k) => encodeOpen(openMessage(k.opts)),
    expect: notif(5, 2),
  },
  {
    ref: '6608 §4',
    name: 'OPEN in Established',
    bytes: (k) => encodeOpen(openMessage(k.opts)),
    expect: notif(5, 3),
  },
  {
    ref: '4271 §8.2.2',
    name: 'NOTIFICATION in Established: closed, no NOTIFICATION back',
    bytes: () => encodeNotification({ code: 6, subcode: 2, data: new Uint8Array(0) }),
    expect: { kind: 'closed' },
  },
  // ---------------------------------------------------------------------------------------------------------
  // UPDATE: lengths (RFC 4271 §6.3, RFC 7606 §4, §5.1)
  {
    ref: '7606 §4',
    name: 'Withdrawn Routes Length past the message',
    bytes: (k) => message(2, updateBody({ withdrawn: P4, withdrawnLen: 200, attrs: k.base, nlri: P4 })),
    expect: notif(3, 1),
  },
  {
    ref: '7606 §4',
    name: 'Total Path Attribute Length past the message',
    bytes: (k) => message(2, updateBody({ attrs: k.base, attrsLen: 300, nlri: P4 })),
    expect: notif(3, 1),
  },
  {
    ref: '7606 §4',
    name: 'last attribute overruns the attribute section (NLRI present)',
    bytes: (k) => probe(k, k.base, attr(OPT_T, 8, u32(0xfde80001), 10)),
    expect: TAW,
  },
  {
    ref: '7606 §4',
    name: 'fewer than 3 bytes left for an attribute header (NLRI present)',
    bytes: (k) => probe(k, k.base, Buffer.of(0x40, 1)),
    expect: TAW,
  },
  {
    ref: '7606 §5.1',
    name: 'attribute overrun and no NLRI visible',
    bytes: (k) => update({ attrs: cat(k.origin, attr(WK, 2, [], 40)) }),
    expect: notif(3, 1),
  },
  {
    ref: '7606 §3 (a)',
    name: 'NLRI with Total Path Attribute Length 0',
    bytes: () => update({ nlri: P4 }),
    expect: TAW,
  },
  // ---------------------------------------------------------------------------------------------------------
  // UPDATE: duplicates, unknown attributes, flags (RFC 7606 §3 (b), (c), (g))
  {
    ref: '7606 §3 (g)',
    name: 'MP_REACH_NLRI twice',
    bytes: (k) =>
      update({
        attrs: cat(mpReachV6([v6prefix(PROBE6)]), mpReachV6([v6prefix('fd00:98::/48')]), k.origin, k.asPathAttr),
      }),
    expect: notif(3, 1),
  },
  {
    ref: '7606 §3 (g)',
    name: 'MP_UNREACH_NLRI twice',
    bytes: () => update({ attrs: cat(mpUnreachV6([v6prefix(PROBE6)]), mpUnreachV6([v6prefix('fd00:98::/48')])) }),
    expect: notif(3, 1),
  },
  {
    ref: '7606 §3 (g)',
    name: 'ORIGIN twice: the first is kept',
    bytes: (k) => marked(k, attr(WK, 1, [2])),
    expect: accepted('origin IGP (first)', 'origin', (v) => v === 0),
  },
  {
    ref: '7606 §3 (g)',
    name: 'COMMUNITIES twice: the first is kept',
    bytes: (k) => marked(k, attr(OPT_T, 8, u32(0xfde80001)), attr(OPT_T, 8, u32(0xfde80002))),
    expect: accepted('communities [65000:1]', 'communities', (v) => JSON.stringify(v) === JSON.stringify([0xfde80001])),
  },
  {
    ref: '4271 §6.3',
    name: 'unrecognized well-known attribute (flags 0x40, type 99)',
    bytes: (k) => marked(k, attr(WK, 99, [1, 2])),
    expect: notif(3, 2, '4063020102'),
  },
  {
    ref: '4271 §5',
    name: 'unknown optional transitive attribute: kept with Partial set',
    bytes: (k) => marked(k, attr(OPT_T, 99, [1, 2])),
    expect: accepted('unknown 99 kept, Partial', 'unknown', (v) => {
      const u = v as PathAttributes['unknown'];
      return u.length === 1 && u[0]?.code === 99 && ((u[0]?.flags ?? 0) & 0x20) !== 0;
    }),
  },
  {
    ref: '4271 §5',
    name: 'unknown optional non-transitive attribute: dropped',
    bytes: (k) => marked(k, attr(OPT, 99, [1, 2])),
    expect: accepted('no unknown attributes', 'unknown', (v) => (v as unknown[]).length === 0),
  },
  {
    ref: '7606 §3 (c)',
    name: 'ORIGIN with the Optional bit',
    bytes: (k) => probe(k, attr(OPT_T, 1, [0]), k.asPathAttr, k.nextHopAttr),
    expect: TAW,
  },
  {
    ref: '7606 §3 (c)',
    name: 'AS_PATH flagged optional non-transitive',
    bytes: (k) => probe(k, k.origin, attr(OPT, 2, asSeq(k.asPath, k.four)), k.nextHopAttr),
    expect: TAW,
  },
  {
    ref: '7606 §3 (c)',
    name: 'NEXT_HOP flagged optional',
    bytes: (k) => probe(k, k.origin, k.asPathAttr, attr(OPT_T, 3, ipv4(k.nextHop))),
    expect: TAW,
  },
  {
    ref: '7606 §3 (c)',
    name: 'ORIGIN with the Partial bit (well-known: Partial must be 0)',
    bytes: (k) => probe(k, attr(0x60, 1, [0]), k.asPathAttr, k.nextHopAttr),
    expect: TAW,
  },
  {
    ref: '7606 §3 (c)',
    name: 'MED flagged well-known',
    bytes: (k) => probe(k, k.base, attr(WK, 4, u32(5))),
    expect: TAW,
  },
  {
    ref: '7606 §3 (c)',
    name: 'COMMUNITIES flagged non-transitive',
    bytes: (k) => probe(k, k.base, attr(OPT, 8, u32(0xfde80001))),
    expect: TAW,
  },
  {
    ref: '7606 §3 (c), §7.6',
    name: 'ATOMIC_AGGREGATE flagged optional',
    bytes: (k) => marked(k, attr(OPT_T, 6, [])),
    expect: discard('atomicAggregate false', 'atomicAggregate', (v) => v === false),
  },
  {
    ref: '7606 §3 (c), §7.7',
    name: 'AGGREGATOR flagged well-known',
    bytes: (k) => marked(k, attr(WK, 7, [...u32(65002), ...ipv4('10.0.0.9')])),
    expect: discard('no aggregator', 'aggregator', (v) => v === undefined),
  },
  {
    ref: '7606 §3 (a)',
    name: 'attribute with Extended Length set and a short value: accepted',
    bytes: (k) => probe(k, attr(WK | 0x10, 1, [0]), k.asPathAttr, k.nextHopAttr, k.mark),
    expect: accepted('origin IGP', 'origin', (v) => v === 0),
  },
  // ---------------------------------------------------------------------------------------------------------
  // UPDATE: missing well-known mandatory attributes (RFC 7606 §3 (d))
  {
    ref: '7606 §3 (d)',
    name: 'ORIGIN missing',
    bytes: (k) => probe(k, k.asPathAttr, k.nextHopAttr),
    expect: TAW,
  },
  {
    ref: '7606 §3 (d)',
    name: 'AS_PATH missing',
    bytes: (k) => probe(k, k.origin, k.nextHopAttr),
    expect: TAW,
  },
  {
    ref: '7606 §3 (d)',
    name: 'NEXT_HOP missing with classic NLRI',
    bytes: (k) => probe(k, k.origin, k.asPathAttr),
    expect: TAW,
  },
  {
    ref: '7606 §3 (d), §5.1',
    name: 'ORIGIN missing, prefix in MP_REACH_NLRI (IPv6)',
    bytes: (k) => update({ attrs: cat(mpReachV6([v6prefix(PROBE6)]), k.asPathAttr) }),
    expect: { kind: 'treat-as-withdraw', prefix: PROBE6 },
  },
  // ---------------------------------------------------------------------------------------------------------
  // UPDATE: per-attribute rules (RFC 7606 §7)
  {
    ref: '7606 §7.1',
    name: 'ORIGIN length 2',
    bytes: (k) => probe(k, attr(WK, 1, [0, 0]), k.asPathAttr, k.nextHopAttr),
    expect: TAW,
  },
  {
    ref: '7606 §7.1',
    name: 'ORIGIN value 3',
    bytes: (k) => probe(k, attr(WK, 1, [3]), k.asPathAttr, k.nextHopAttr),
    expect: TAW,
  },
  {
    ref: '7606 §7.2',
    name: 'AS_PATH segment overruns the attribute',
    bytes: (k) => probe(k, k.origin, attr(WK, 2, [2, 3, ...u32(65002)]), k.nextHopAttr),
    expect: TAW,
  },
  {
    ref: '7606 §7.2',
    name: 'AS_PATH zero-length segment',
    bytes: (k) =>
      probe(k, k.origin, attr(WK, 2, [...asSeq(k.asPath.length ? k.asPath : [65002]), 2, 0]), k.nextHopAttr),
    expect: TAW,
  },
  {
    ref: '7606 §7.2',
    name: 'AS_PATH segment type 5',
    bytes: (k) => probe(k, k.origin, attr(WK, 2, [5, 1, ...u32(65002)]), k.nextHopAttr),
    expect: TAW,
  },
  {
    ref: '7606 §7.2',
    name: 'AS_PATH with a 1-byte partial segment header',
    bytes: (k) => probe(k, k.origin, attr(WK, 2, [...asSeq(k.asPath.length ? k.asPath : [65002]), 2]), k.nextHopAttr),
    expect: TAW,
  },
  {
    ref: '4271 §6.3, 7606 §7.2',
    name: 'eBGP AS_PATH whose first AS is not the peer AS',
    peer: 'ebgp',
    bytes: (k) => probe(k, k.origin, attr(WK, 2, asSeq([65077])), k.nextHopAttr),
    expect: TAW,
  },
  {
    ref: '7606 §7.3',
    name: 'NEXT_HOP length 5',
    bytes: (k) => probe(k, k.origin, k.asPathAttr, attr(WK, 3, [...ipv4(k.nextHop), 0])),
    expect: TAW,
  },
  {
    ref: '4271 §6.3',
    name: "NEXT_HOP is the speaker's own address (semantically wrong: route ignored)",
    bytes: (k) => probe(k, k.origin, k.asPathAttr, attr(WK, 3, ipv4('127.0.0.1'))),
    expect: TAW,
  },
  { ref: '7606 §7.4', name: 'MED length 3', bytes: (k) => probe(k, k.base, attr(OPT, 4, [0, 0, 5])), expect: TAW },
  {
    ref: '7606 §7.5',
    name: 'LOCAL_PREF from an eBGP peer: discarded',
    peer: 'ebgp',
    bytes: (k) => marked(k, attr(WK, 5, u32(500))),
    expect: discard('no LOCAL_PREF', 'localPref', (v) => v === undefined),
  },
  {
    ref: '7606 §7.5',
    name: 'LOCAL_PREF length 3 from iBGP',
    peer: 'ibgp',
    bytes: (k) => probe(k, k.base, attr(WK, 5, [0, 0, 5])),
    expect: TAW,
  },
  {
    ref: '7606 §7.6',
    name: 'ATOMIC_AGGREGATE length 1',
    bytes: (k) => marked(k, attr(WK, 6, [0])),
    expect: discard('atomicAggregate false', 'atomicAggregate', (v) => v === false),
  },
  {
    ref: '7606 §7.7',
    name: 'AGGREGATOR length 7 (4-octet session)',
    peer: 'ebgp',
    bytes: (k) => marked(k, attr(OPT_T, 7, [...u32(65002).slice(1), ...ipv4('10.0.0.9')])),
    expect: discard('no aggregator', 'aggregator', (v) => v === undefined),
  },
  {
    ref: '7606 §7.7',
    name: 'AGGREGATOR length 8 (2-octet session)',
    peer: 'ebgp2',
    bytes: (k) => marked(k, attr(OPT_T, 7, [...u32(65002), ...ipv4('10.0.0.9')])),
    expect: discard('no aggregator', 'aggregator', (v) => v === undefined),
  },
  { ref: '7606 §7.8', name: 'COMMUNITIES length 0', bytes: (k) => probe(k, k.base, attr(OPT_T, 8, [])), expect: TAW },
  {
    ref: '7606 §7.8',
    name: 'COMMUNITIES length 5',
    bytes: (k) => probe(k, k.base, attr(OPT_T, 8, [0, 0, 0, 1, 2])),
    expect: TAW,
  },
  {
    ref: '7606 §7.9',
    name: 'ORIGINATOR_ID length 3 (iBGP)',
    peer: 'ibgp',
    bytes: (k) => probe(k, k.base, attr(OPT, 9, [10, 0, 0])),
    expect: TAW,
  },
  {
    ref: '7606 §7.10',
    name: 'CLUSTER_LIST length 5 (iBGP)',
    peer: 'ibgp',
    bytes: (k) => probe(k, k.base, attr(OPT, 10, [10, 0, 0, 9, 1])),
    expect: TAW,
  },
  {
    ref: '4456 §8, 7606 §7.9',
    name: 'ORIGINATOR_ID from eBGP: discarded',
    peer: 'ebgp',
    bytes: (k) => marked(k, attr(OPT, 9, ipv4('10.0.0.9'))),
    expect: discard('no originatorId', 'originatorId', (v) => v === undefined),
  },
  {
    ref: '4456 §8, 7606 §7.10',
    name: 'CLUSTER_LIST from eBGP: discarded',
    peer: 'ebgp',
    bytes: (k) => marked(k, attr(OPT, 10, ipv4('10.0.0.9'))),
    expect: discard('empty clusterList', 'clusterList', (v) => (v as unknown[]).length === 0),
  },
  {
    ref: '7606 §7.11',
    name: 'MP_REACH_NLRI of 3 bytes',
    bytes: (k) => probe(k, k.base, attr(OPT, 14, [0, 2, 1])),
    expect: notif(3, 9),
  },
  {
    ref: '7606 §7.11',
    name: 'MP_REACH_NLRI IPv6 next hop length 5',
    bytes: (k) =>
      update({ attrs: cat(mpReachV6([v6prefix(PROBE6)], { nh: [0xfd, 0, 0, 0, 2] }), k.origin, k.asPathAttr) }),
    expect: notif(3, 9),
  },
  {
    ref: '7606 §7.11, 8950',
    name: 'MP_REACH_NLRI IPv4 NLRI with an IPv6 next hop, RFC 8950 not negotiated',
    bytes: (k) => update({ attrs: cat(attr(OPT, 14, [0, 1, 1, 16, ...NH6, 0, ...P4]), k.origin, k.asPathAttr) }),
    expect: notif(3, 9),
  },
  {
    ref: '7606 §7.11, §3 (c)',
    name: 'MP_REACH_NLRI flagged well-known',
    bytes: (k) => update({ attrs: cat(mpReachV6([v6prefix(PROBE6)], { flags: WK }), k.origin, k.asPathAttr) }),
    expect: notif(3, 4, mpReachV6([v6prefix(PROBE6)], { flags: WK }).toString('hex')),
  },
  {
    ref: '7606 §7.11',
    name: 'MP_UNREACH_NLRI of 2 bytes',
    bytes: () => update({ attrs: attr(OPT, 15, [0, 2]) }),
    expect: notif(3, 9),
  },
  {
    ref: '4760 §7',
    name: 'MP_REACH_NLRI for an AFI/SAFI not negotiated (AFI 25): ignored',
    bytes: (k) => marked(k, attr(OPT, 14, [0, 25, 70, 4, ...ipv4('10.0.0.9'), 0, 1, 2, 3])),
    expect: accepted('probe route kept', 'origin', (v) => v === 0),
  },
  // ---------------------------------------------------------------------------------------------------------
  // NLRI (RFC 7606 §5.3, RFC 4271 §6.3 Invalid Network Field)
  {
    ref: '7606 §5.3',
    name: 'NLRI prefix length 33',
    bytes: (k) => update({ attrs: k.base, nlri: Buffer.of(33, 10, 99, 0, 0, 0) }),
    expect: notif(3, 10),
  },
  {
    ref: '7606 §5.3',
    name: 'NLRI prefix overruns the message',
    bytes: (k) => update({ attrs: k.base, nlri: Buffer.of(24, 10) }),
    expect: notif(3, 10),
  },
  {
    ref: '7606 §5.3',
    name: 'withdrawn prefix length 33',
    bytes: () => update({ withdrawn: Buffer.of(33, 10, 99, 0, 0, 0) }),
    expect: notif(3, 10),
  },
  {
    ref: '7606 §5.3',
    name: 'MP_REACH_NLRI prefix length 129',
    bytes: (k) => update({ attrs: cat(mpReachV6([Buffer.of(129, ...Buffer.alloc(17))]), k.origin, k.asPathAttr) }),
    expect: notif(3, 9),
  },
  {
    ref: '7606 §5.3',
    name: 'MP_UNREACH_NLRI prefix overruns the attribute',
    bytes: () => update({ attrs: attr(OPT, 15, [0, 2, 1, 64, 0xfd, 0]) }),
    expect: notif(3, 9),
  },
  {
    ref: '7606 §5.2',
    name: 'withdrawal-only UPDATE with a malformed COMMUNITIES: prefix withdrawn',
    bytes: () => update({ withdrawn: P4, attrs: attr(OPT_T, 8, [1, 2, 3]) }),
    expect: TAW,
  },
  // ---------------------------------------------------------------------------------------------------------
  // RFC 7606 §7.14 and later attributes
  {
    ref: '7606 §7.14',
    name: 'EXTENDED_COMMUNITIES length 7',
    bytes: (k) => probe(k, k.base, attr(OPT_T, 16, Buffer.alloc(7))),
    expect: TAW,
  },
  {
    ref: '8092 §6',
    name: 'LARGE_COMMUNITY length 11',
    bytes: (k) => probe(k, k.base, attr(OPT_T, 32, Buffer.alloc(11))),
    expect: TAW,
  },
  {
    ref: '8092 §6',
    name: 'LARGE_COMMUNITY length 0',
    bytes: (k) => probe(k, k.base, attr(OPT_T, 32, [])),
    expect: TAW,
  },
  {
    ref: '9234 §5',
    name: 'ONLY_TO_CUSTOMER length 3',
    bytes: (k) => probe(k, k.base, attr(OPT_T, 35, [0, 0, 1])),
    expect: TAW,
  },
  // ---------------------------------------------------------------------------------------------------------
  // RFC 6793 §6: AS4_PATH / AS4_AGGREGATOR
  {
    ref: '6793 §6',
    name: 'AS4_PATH segment overrun (2-octet session)',
    peer: 'ebgp2',
    bytes: (k) => marked(k, attr(OPT_T, 17, [2, 3, ...u32(65002)])),
    expect: discard('AS path from AS_PATH only', 'asPath', (v) => JSON.stringify(v).includes('65002')),
  },
  {
    ref: '6793 §6',
    name: 'AS4_PATH with a confederation segment (2-octet session)',
    peer: 'ebgp2',
    bytes: (k) => marked(k, attr(OPT_T, 17, [3, 1, ...u32(70000)])),
    expect: discard('no 70000 in the path', 'asPath', (v) => !JSON.stringify(v).includes('70000')),
  },
  {
    ref: '6793 §6',
    name: 'AS4_AGGREGATOR length 7 (2-octet session)',
    peer: 'ebgp2',
    bytes: (k) => marked(k, attr(OPT_T, 7, [...u16(23456), ...ipv4('10.0.0.9')]), attr(OPT_T, 18, Buffer.alloc(7, 1))),
    expect: discard(
      'aggregator stays AS_TRANS',
      'aggregator',
      (v) => (v as { asn?: number } | undefined)?.asn === 23456,
    ),
  },
  {
    ref: '6793 §4.1',
    name: 'AS4_PATH from a 4-octet peer: ignored',
    peer: 'ebgp',
    bytes: (k) => marked(k, attr(OPT_T, 17, asSeq([70000]))),
    expect: accepted('no 70000 in the path', 'asPath', (v) => !JSON.stringify(v).includes('70000')),
  },
  {
    ref: '6793 §4.2.3',
    name: 'well-formed AS4_PATH merged (2-octet session, positive control)',
    peer: 'ebgp2',
    bytes: (k) =>
      probe(
        k,
        k.origin,
        attr(WK, 2, asSeq([65002, 23456], false)),
        k.nextHopAttr,
        k.mark,
        attr(OPT_T, 17, asSeq([70000])),
      ),
    expect: accepted('path 65002 70000', 'asPath', (v) => JSON.stringify(v).includes('70000')),
  },
];
