/**
 * The BGP wire codec on the path that matters most: a peer sending a full table. 1,000,000 IPv4 /24s with
 * one attribute set, packed by `encodeUpdates()` into 4096-byte UPDATEs (993 messages, ~4 MB), arriving
 * in 64 KiB chunks.
 *
 * - ours: `MessageFramer` + `decodeMessage()` with an interner, the way session/ and rib/ will call it:
 *   prefix keys pushed into a number[], attributes decoded once and then found by key.
 * - reference: a straightforward decoder of the same bytes, written the way GoBGP's and most textbook
 *   codecs are (STYLE §1 "avoid"): one object per prefix with a "a.b.c.d/len" string, and a fresh
 *   attribute object per UPDATE. It checks bounds as ours does, so the difference is allocation.
 * - a plain suite times `encodeUpdates()` for the same million prefixes.
 *
 * What it doesn't say: socket reads, RIB inserts and best path are not included; the end-to-end target
 * (within 2x of BIRD's ~0.28 s for 1M prefixes over one session) needs those measured by their owners.
 */
import { MessageFramer } from '../speaker/wire/framing.js';
import { decodeMessage } from '../speaker/wire/message.js';
import { prefixKeyV4 } from '../speaker/wire/prefix.js';
import type { PathAttributes, UpdateMessage } from '../speaker/wire/types.js';
import { encodeUpdates, updateContext } from '../speaker/wire/update.js';
import { bench, sideBySide, suite } from './api.js';

const N = 1_000_000;
const ATTRS: PathAttributes = {
  origin: 0,
  asPath: [{ type: 2, asns: [65001, 65002, 4_200_000_000] }],
  nextHop: '192.0.2.1',
  nextHopLinkLocal: undefined,
  med: 10,
  localPref: undefined,
  atomicAggregate: false,
  aggregator: undefined,
  communities: [0xfde90064],
  extendedCommunities: [],
  largeCommunities: [[65001, 1, 2]],
  originatorId: undefined,
  clusterList: [],
  onlyToCustomer: undefined,
  unknown: [],
  asPathLength: 3,
  neighborAs: 65001,
};

const PREFIXES: number[] = new Array(N);
for (let i = 0; i < N; i++) PREFIXES[i] = prefixKeyV4((((1 + (i >>> 16)) << 24) | ((i & 0xffff) << 8)) >>> 0, 24);
const MESSAGES = encodeUpdates(ATTRS, { afi: 1, safi: 1, prefixes: PREFIXES }, { fourOctetAs: true });
const STREAM = Buffer.concat(MESSAGES);
const CHUNKS: Buffer[] = [];
for (let o = 0; o < STREAM.length; o += 65_536) CHUNKS.push(STREAM.subarray(o, o + 65_536));

function ours(): number {
  const table = new Map<string, PathAttributes>();
  const ctx = updateContext({
    fourOctetAs: true,
    ibgp: false,
    intern: (k, build) => {
      let a = table.get(k);
      if (a === undefined) {
        a = build();
        table.set(k, a);
      }
      return a;
    },
  });
  const framer = new MessageFramer();
  let n = 0;
  for (const c of CHUNKS) {
    framer.push(c);
    for (let m = framer.pull(); m; m = framer.pull()) {
      const u = decodeMessage(m, ctx) as UpdateMessage;
      for (const b of u.reachable) n += b.prefixes.length;
    }
  }
  return n;
}

/** The naive decoder: an object per prefix and per UPDATE. */
interface NaiveRoute {
  prefix: string;
  attrs: Record<string, unknown>;
}
function naiveDecode(msg: Buffer, out: NaiveRoute[]): void {
  if (msg.length < 23) throw new Error('short');
  const wdLen = msg.readUInt16BE(19);
  const aLenOff = 21 + wdLen;
  const aLen = msg.readUInt16BE(aLenOff);
  const attrs: Record<string, unknown> = {};
  let p = aLenOff + 2;
  const aEnd = p + aLen;
  while (p < aEnd) {
    const flags = msg[p] as number;
    const code = msg[p + 1] as number;
    const ext = (flags & 0x10) !== 0;
    const len = ext ? msg.readUInt16BE(p + 2) : (msg[p + 2] as number);
    const v = Buffer.from(msg.subarray(p + (ext ? 4 : 3), p + (ext ? 4 : 3) + len));
    attrs[`attr${code}`] = { flags, value: v };
    p += (ext ? 4 : 3) + len;
  }
  while (p < msg.length) {
    const len = msg[p] as number;
    const bytes = [0, 0, 0, 0];
    for (let i = 0; i < (len + 7) >> 3; i++) bytes[i] = msg[p + 1 + i] as number;
    out.push({ prefix: `${bytes.join('.')}/${len}`, attrs });
    p += 1 + ((len + 7) >> 3);
  }
}
function reference(): number {
  const framer = new MessageFramer();
  const out: NaiveRoute[] = [];
  for (const c of CHUNKS) {
    framer.push(c);
    for (let m = framer.pull(); m; m = framer.pull()) naiveDecode(m, out);
  }
  return out.length;
}

export default [
  sideBySide('BGP decode: 1M IPv4 prefixes in 4096-byte UPDATEs', {
    labels: { ours: 'framer + decodeMessage + intern', reference: 'object per prefix' },
    ours,
    reference,
    units: 'routes',
    unitsPerRun: N,
    iterations: 1,
    runs: 10,
    setup: () => {
      const a = ours();
      const b = reference();
      if (a !== N || b !== N) throw new Error(`Cannot compare decoders: ours saw ${a}, reference ${b}, expected ${N}`);
    },
  }),
  suite('BGP encode', {
    cases: [
      bench(
        'encodeUpdates: 1M IPv4 prefixes, one attribute set',
        () => encodeUpdates(ATTRS, { afi: 1, safi: 1, prefixes: PREFIXES }, { fourOctetAs: true }),
        {
          units: 'routes',
          unitsPerRun: N,
          iterations: 1,
          runs: 10,
        },
      ),
    ],
  }),
];
