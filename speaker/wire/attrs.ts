/**
 * Path attributes (RFC 4271 §4.3, §5): one table row per attribute, the shape of BIRD's bgp_attr_table
 * (proto/bgp/attrs.c): name, expected flags, the RFC 7606 action when it is malformed, decode, size,
 * encode. The generic loops own the attribute header, flag checks, duplicates and unknown attributes.
 *
 * MP_REACH_NLRI / MP_UNREACH_NLRI are structural (they carry NLRI, not path properties) and live in
 * update.ts; so do the whole-UPDATE checks (missing well-known mandatory attributes, overruns).
 *
 * Rows decode into a mutable `AttrState` (one per attribute set, not per attribute) rather than returning
 * a value, so nothing is boxed per attribute; the state becomes the frozen `PathAttributes` in `finish`.
 */
import { ACTION_SEVERITY, BgpError, type ErrorAction, ErrorCode, isBgpError, UpdateSubcode } from './errors.js';
import { formatIpv4, parseIpv4 } from './prefix.js';
import {
  AS_TRANS,
  type AsPathSegment,
  AsPathSegmentType,
  AttrCode,
  AttrFlag,
  type Origin,
  type PathAttributes,
  type UnknownAttr,
} from './types.js';

/** What decoding depends on besides the bytes; part of the interning key. */
export interface AttrContext {
  /** RFC 6793: AS numbers in AS_PATH and AGGREGATOR are 4 octets. */
  readonly fourOctetAs: boolean;
  /** The peer is internal: LOCAL_PREF, ORIGINATOR_ID and CLUSTER_LIST are accepted (RFC 7606 §7.5, RFC 4456). */
  readonly ibgp: boolean;
}

/** What encoding depends on. */
export interface AttrEncodeOptions {
  /** false: 2-octet AS_PATH/AGGREGATOR with AS_TRANS, plus AS4_PATH/AS4_AGGREGATOR (RFC 6793 §4.2.2). */
  readonly fourOctetAs: boolean;
  /** Write the classic NEXT_HOP attribute (IPv4 NLRI outside MP_REACH). */
  readonly classicNextHop: boolean;
}

const O = AttrFlag.Optional;
const T = AttrFlag.Transitive;

/** Parse state of one attribute section; every field set in the constructor (one hidden class). */
export class AttrState {
  origin: number = Origin_Unset;
  asPath: AsPathSegment[] | undefined = undefined;
  nextHop = '';
  nextHopLinkLocal: string | undefined = undefined;
  med: number | undefined = undefined;
  localPref: number | undefined = undefined;
  atomicAggregate = false;
  aggregator: { asn: number; address: string } | undefined = undefined;
  communities: number[] = [];
  extendedCommunities: bigint[] = [];
  largeCommunities: [number, number, number][] = [];
  originatorId: number | undefined = undefined;
  clusterList: number[] = [];
  onlyToCustomer: number | undefined = undefined;
  unknown: UnknownAttr[] = [];
  as4Path: AsPathSegment[] | undefined = undefined;
  as4Aggregator: { asn: number; address: string } | undefined = undefined;
  /** RFC 7606 outcome so far. */
  treatAsWithdraw = false;
  discarded: number[] = [];
  /** The first error that forced treat-as-withdraw, for logs. */
  firstError: BgpError | undefined = undefined;
}
const Origin_Unset = -1;

/** One row of the attribute table (STYLE §3.1). */
export interface AttrCodec {
  readonly code: number;
  readonly name: string;
  /** Expected Optional|Transitive bits (RFC 4271 §4.3); a mismatch is malformed (RFC 7606 §3 c). */
  readonly flags: number;
  /** RFC 7606 §7 action when malformed. */
  readonly onMalformed: ErrorAction;
  /** `value` is a view into the received UPDATE. Validates fully before storing anything. */
  decode(value: Buffer, st: AttrState, ctx: AttrContext): void;
  /** Value length in bytes, or -1 when the attribute is not sent. */
  size(a: PathAttributes, o: AttrEncodeOptions): number;
  /** Write the value at `off`; returns the next offset. */
  encode(a: PathAttributes, o: AttrEncodeOptions, out: Buffer, off: number): number;
}

function malformed(row: AttrCodec, subcode: number, detail: string, value: Uint8Array): BgpError {
  return new BgpError(ErrorCode.Update, subcode, `Cannot decode ${row.name}: ${detail}`, {
    data: value,
    action: row.onMalformed,
  });
}
function lengthError(row: AttrCodec, value: Uint8Array, expected: string): BgpError {
  return malformed(row, UpdateSubcode.AttributeLengthError, `length is ${value.length}, expected ${expected}`, value);
}

// ---------------------------------------------------------------------------------------------------------
// AS_PATH helpers (RFC 4271 §4.3 b, RFC 6793)

/** Decode AS path segments with `w`-byte ASNs; returns a reason string when malformed (RFC 7606 §7.2). */
function decodeSegments(v: Buffer, w: 2 | 4): AsPathSegment[] | string {
  const segs: AsPathSegment[] = [];
  let p = 0;
  while (p < v.length) {
    if (p + 2 > v.length) return 'a segment header is cut short';
    const type = v[p] as number;
    const n = v[p + 1] as number;
    if (type < 1 || type > 4) return `segment type ${type} is unknown`;
    if (n === 0) return 'a segment is empty';
    const end = p + 2 + n * w;
    if (end > v.length) return 'a segment overruns the attribute';
    const asns: number[] = new Array(n);
    for (let i = 0, q = p + 2; i < n; i++, q += w) asns[i] = w === 4 ? v.readUInt32BE(q) : v.readUInt16BE(q);
    segs.push({ type: type as AsPathSegment['type'], asns });
    p = end;
  }
  return segs;
}

const isConfed = (s: AsPathSegment) =>
  s.type === AsPathSegmentType.ConfedSequence || s.type === AsPathSegmentType.ConfedSet;

/** RFC 6793 §4.2.3 path length: an AS_SET counts one, confederation segments count nothing. */
export function asPathLength(segs: readonly AsPathSegment[]): number {
  let n = 0;
  for (const s of segs) {
    if (s.type === AsPathSegmentType.AsSequence) n += s.asns.length;
    else if (s.type === AsPathSegmentType.AsSet) n += 1;
  }
  return n;
}

/** RFC 6793 §4.2.3: keep the leading ASes of AS_PATH that AS4_PATH lacks, then append AS4_PATH. */
export function mergeAs4Path(asPath: readonly AsPathSegment[], as4Path: readonly AsPathSegment[]): AsPathSegment[] {
  let keep = asPathLength(asPath) - asPathLength(as4Path);
  if (keep < 0) return [...asPath]; // the AS4_PATH is ignored
  const out: AsPathSegment[] = [];
  for (const s of asPath) {
    if (isConfed(s)) {
      // Confederation segments lead the path and never appear in AS4_PATH: keep them.
      if (keep > 0 || out.every(isConfed)) out.push(s);
      continue;
    }
    if (keep === 0) break;
    if (s.type === AsPathSegmentType.AsSet) {
      out.push(s);
      keep -= 1;
    } else {
      const take = Math.min(keep, s.asns.length);
      out.push({ type: s.type, asns: s.asns.slice(0, take) });
      keep -= take;
    }
  }
  // Join the kept head and AS4_PATH into one sequence where they meet (only when keep was > 0).
  let first = true;
  for (const s of as4Path) {
    const last = out[out.length - 1];
    if (
      first &&
      last !== undefined &&
      !isConfed(last) &&
      last.type === AsPathSegmentType.AsSequence &&
      s.type === AsPathSegmentType.AsSequence &&
      last.asns.length + s.asns.length <= 255
    ) {
      out[out.length - 1] = { type: last.type, asns: [...last.asns, ...s.asns] };
    } else out.push(s);
    first = false;
  }
  return out;
}

function needsAs4(segs: readonly AsPathSegment[]): boolean {
  for (const s of segs) if (!isConfed(s)) for (const a of s.asns) if (a > 0xffff) return true;
  return false;
}

function sizeSegments(segs: readonly AsPathSegment[], w: number): number {
  let n = 0;
  for (const s of segs) n += Math.ceil(s.asns.length / 255) * 2 + s.asns.length * w;
  return n;
}

/** Segments longer than 255 ASNs are split (RFC 4271 §9.2.2.1 lets a sequence continue in the next one). */
function writeSegments(segs: readonly AsPathSegment[], w: number, out: Buffer, off: number): number {
  for (const s of segs) {
    for (let i = 0; i < s.asns.length; i += 255) {
      const n = Math.min(255, s.asns.length - i);
      out[off++] = s.type;
      out[off++] = n;
      for (let j = i; j < i + n; j++) {
        const asn = s.asns[j] as number;
        off = w === 4 ? out.writeUInt32BE(asn >>> 0, off) : out.writeUInt16BE(asn > 0xffff ? AS_TRANS : asn, off);
      }
    }
  }
  return off;
}

// ---------------------------------------------------------------------------------------------------------
// The table

const origin: AttrCodec = {
  code: AttrCode.Origin,
  name: 'ORIGIN',
  flags: T, // well-known mandatory
  onMalformed: 'treat-as-withdraw', // RFC 7606 §7.1
  decode(v, st) {
    if (v.length !== 1) throw lengthError(this, v, '1');
    const o = v[0] as number;
    if (o > 2) throw malformed(this, UpdateSubcode.InvalidOriginAttribute, `value is ${o}, expected 0..2`, v);
    st.origin = o;
  },
  size: () => 1,
  encode: (a, _o, out, off) => {
    out[off] = a.origin;
    return off + 1;
  },
};

const asPath: AttrCodec = {
  code: AttrCode.AsPath,
  name: 'AS_PATH',
  flags: T,
  onMalformed: 'treat-as-withdraw', // RFC 7606 §7.2
  decode(v, st, ctx) {
    const segs = decodeSegments(v, ctx.fourOctetAs ? 4 : 2);
    if (typeof segs === 'string') throw malformed(this, UpdateSubcode.MalformedAsPath, segs, v);
    st.asPath = segs;
  },
  size: (a, o) => sizeSegments(a.asPath, o.fourOctetAs ? 4 : 2),
  encode: (a, o, out, off) => writeSegments(a.asPath, o.fourOctetAs ? 4 : 2, out, off),
};

const nextHop: AttrCodec = {
  code: AttrCode.NextHop,
  name: 'NEXT_HOP',
  flags: T,
  onMalformed: 'treat-as-withdraw', // RFC 7606 §7.3
  decode(v, st) {
    if (v.length !== 4) throw lengthError(this, v, '4');
    st.nextHop = formatIpv4(v.readUInt32BE(0));
  },
  size: (a, o) => (o.classicNextHop && a.nextHop !== '' ? 4 : -1),
  encode: (a, _o, out, off) => out.writeUInt32BE(parseIpv4(a.nextHop), off),
};

/** A 4-octet unsigned attribute stored in field `key`. */
function u32Attr(
  code: number,
  name: string,
  flags: number,
  onMalformed: ErrorAction,
  key: 'med' | 'localPref' | 'originatorId' | 'onlyToCustomer',
): AttrCodec {
  return {
    code,
    name,
    flags,
    onMalformed,
    decode(v, st) {
      if (v.length !== 4) throw lengthError(this, v, '4');
      st[key] = v.readUInt32BE(0);
    },
    size: (a) => (a[key] === undefined ? -1 : 4),
    encode: (a, _o, out, off) => out.writeUInt32BE((a[key] as number) >>> 0, off),
  };
}

const med = u32Attr(AttrCode.Med, 'MULTI_EXIT_DISC', O, 'treat-as-withdraw', 'med'); // RFC 7606 §7.4
const localPref = u32Attr(AttrCode.LocalPref, 'LOCAL_PREF', T, 'treat-as-withdraw', 'localPref'); // §7.5
const originatorId = u32Attr(AttrCode.OriginatorId, 'ORIGINATOR_ID', O, 'treat-as-withdraw', 'originatorId'); // §7.9
const onlyToCustomer = u32Attr(
  AttrCode.OnlyToCustomer,
  'ONLY_TO_CUSTOMER',
  O | T,
  'treat-as-withdraw',
  'onlyToCustomer',
); // RFC 9234 §5

const atomicAggregate: AttrCodec = {
  code: AttrCode.AtomicAggregate,
  name: 'ATOMIC_AGGREGATE',
  flags: T,
  onMalformed: 'attribute-discard', // RFC 7606 §7.6
  decode(v, st) {
    if (v.length !== 0) throw lengthError(this, v, '0');
    st.atomicAggregate = true;
  },
  size: (a) => (a.atomicAggregate ? 0 : -1),
  encode: (_a, _o, _out, off) => off,
};

const aggregator: AttrCodec = {
  code: AttrCode.Aggregator,
  name: 'AGGREGATOR',
  flags: O | T,
  onMalformed: 'attribute-discard', // RFC 7606 §7.7
  decode(v, st, ctx) {
    const w = ctx.fourOctetAs ? 4 : 2;
    if (v.length !== w + 4) throw lengthError(this, v, String(w + 4));
    st.aggregator = { asn: w === 4 ? v.readUInt32BE(0) : v.readUInt16BE(0), address: formatIpv4(v.readUInt32BE(w)) };
  },
  size: (a, o) => (a.aggregator === undefined ? -1 : o.fourOctetAs ? 8 : 6),
  encode(a, o, out, off) {
    const g = a.aggregator as { asn: number; address: string };
    off = o.fourOctetAs
      ? out.writeUInt32BE(g.asn >>> 0, off)
      : out.writeUInt16BE(g.asn > 0xffff ? AS_TRANS : g.asn, off);
    return out.writeUInt32BE(parseIpv4(g.address), off);
  },
};

/** An attribute that is a list of fixed-size items (RFC 7606: malformed unless a non-zero multiple). */
function listAttr<K extends 'communities' | 'clusterList' | 'extendedCommunities' | 'largeCommunities'>(
  code: number,
  name: string,
  flags: number,
  item: number,
  key: K,
  read: (v: Buffer, p: number) => AttrState[K][number],
  write: (x: PathAttributes[K][number], out: Buffer, off: number) => number,
): AttrCodec {
  return {
    code,
    name,
    flags,
    onMalformed: 'treat-as-withdraw', // RFC 7606 §7.8, §7.10, §7.14; RFC 8092 §6
    decode(v, st) {
      if (v.length === 0 || v.length % item !== 0) throw lengthError(this, v, `a non-zero multiple of ${item}`);
      const list = new Array(v.length / item);
      for (let p = 0, i = 0; p < v.length; p += item, i++) list[i] = read(v, p);
      st[key] = list as AttrState[K];
    },
    size: (a) => (a[key].length === 0 ? -1 : a[key].length * item),
    encode(a, _o, out, off) {
      for (const x of a[key] as readonly PathAttributes[K][number][]) off = write(x, out, off);
      return off;
    },
  };
}

const communities = listAttr(
  AttrCode.Communities,
  'COMMUNITIES',
  O | T,
  4,
  'communities',
  (v, p) => v.readUInt32BE(p),
  (x, out, off) => out.writeUInt32BE(x >>> 0, off),
);
const clusterList = listAttr(
  AttrCode.ClusterList,
  'CLUSTER_LIST',
  O,
  4,
  'clusterList',
  (v, p) => v.readUInt32BE(p),
  (x, out, off) => out.writeUInt32BE(x >>> 0, off),
);
const extendedCommunities = listAttr(
  AttrCode.ExtendedCommunities,
  'EXTENDED_COMMUNITIES',
  O | T,
  8,
  'extendedCommunities',
  (v, p) => v.readBigUInt64BE(p),
  (x, out, off) => out.writeBigUInt64BE(x, off),
);
const largeCommunities = listAttr(
  AttrCode.LargeCommunities,
  'LARGE_COMMUNITY',
  O | T,
  12,
  'largeCommunities',
  (v, p) => [v.readUInt32BE(p), v.readUInt32BE(p + 4), v.readUInt32BE(p + 8)] as [number, number, number],
  (x, out, off) => out.writeUInt32BE(x[2] >>> 0, out.writeUInt32BE(x[1] >>> 0, out.writeUInt32BE(x[0] >>> 0, off))),
);

const as4Path: AttrCodec = {
  code: AttrCode.As4Path,
  name: 'AS4_PATH',
  flags: O | T,
  onMalformed: 'attribute-discard', // RFC 6793 §6, RFC 7606 §7.2 note
  decode(v, st, ctx) {
    if (ctx.fourOctetAs) return; // RFC 6793 §4.2.3: a NEW speaker ignores it from a NEW speaker
    const segs = decodeSegments(v, 4);
    if (typeof segs === 'string') throw malformed(this, UpdateSubcode.OptionalAttributeError, segs, v);
    // RFC 6793 §6: confederation segments in AS4_PATH make it malformed.
    if (segs.some(isConfed))
      throw malformed(this, UpdateSubcode.OptionalAttributeError, 'it has a confederation segment', v);
    st.as4Path = segs;
  },
  size: (a, o) =>
    o.fourOctetAs || !needsAs4(a.asPath)
      ? -1
      : sizeSegments(
          a.asPath.filter((s) => !isConfed(s)),
          4,
        ),
  encode: (a, _o, out, off) =>
    writeSegments(
      a.asPath.filter((s) => !isConfed(s)),
      4,
      out,
      off,
    ),
};

const as4Aggregator: AttrCodec = {
  code: AttrCode.As4Aggregator,
  name: 'AS4_AGGREGATOR',
  flags: O | T,
  onMalformed: 'attribute-discard', // RFC 6793 §6
  decode(v, st, ctx) {
    if (ctx.fourOctetAs) return;
    if (v.length !== 8) throw lengthError(this, v, '8');
    st.as4Aggregator = { asn: v.readUInt32BE(0), address: formatIpv4(v.readUInt32BE(4)) };
  },
  size: (a, o) => (o.fourOctetAs || a.aggregator === undefined || a.aggregator.asn <= 0xffff ? -1 : 8),
  encode(a, _o, out, off) {
    const g = a.aggregator as { asn: number; address: string };
    return out.writeUInt32BE(parseIpv4(g.address), out.writeUInt32BE(g.asn >>> 0, off));
  },
};

/** Every attribute we decode, in the order we encode them (ascending type code). */
export const ATTR_TABLE: readonly AttrCodec[] = [
  origin,
  asPath,
  nextHop,
  med,
  localPref,
  atomicAggregate,
  aggregator,
  communities,
  originatorId,
  clusterList,
  extendedCommunities,
  as4Path,
  as4Aggregator,
  largeCommunities,
  onlyToCustomer,
];
/** Indexed by type code. */
export const ATTR_CODECS: readonly (AttrCodec | undefined)[] = (() => {
  const t: (AttrCodec | undefined)[] = new Array(256).fill(undefined);
  for (const row of ATTR_TABLE) t[row.code] = row;
  return t;
})();

/** Attributes RFC 7606 / RFC 4456 say to drop, without looking, when they come from an external peer. */
const IBGP_ONLY: readonly number[] = [AttrCode.LocalPref, AttrCode.OriginatorId, AttrCode.ClusterList];

/** Record a non-fatal RFC 7606 outcome; rethrow a session reset. */
function recordError(st: AttrState, e: BgpError, code: number): void {
  if (ACTION_SEVERITY[e.action] >= ACTION_SEVERITY['afisafi-disable']) throw e;
  if (e.action === 'treat-as-withdraw') {
    st.treatAsWithdraw = true;
    st.firstError ??= e;
  } else st.discarded.push(code);
}

/**
 * Decode one attribute (header already read) into `st`. MP_REACH/MP_UNREACH must not be passed here.
 * `seen` has one byte per type code, for RFC 7606 §3 (g) duplicates.
 */
export function decodeAttr(
  flags: number,
  code: number,
  value: Buffer,
  st: AttrState,
  ctx: AttrContext,
  seen: Uint8Array,
): void {
  if (seen[code] === 1) {
    st.discarded.push(code); // RFC 7606 §3 (g): keep the first, discard the rest
    return;
  }
  seen[code] = 1;
  const row = ATTR_CODECS[code];
  if (row === undefined) {
    // RFC 4271 §5: unknown optional transitive attributes are passed on with Partial set; unknown
    // optional non-transitive ones are quietly ignored. Unknown well-known ones are caught in update.ts.
    if ((flags & (O | T)) === (O | T)) {
      st.unknown.push({
        flags: (flags & (O | T | AttrFlag.Partial)) | AttrFlag.Partial,
        code,
        // A copy: interned sets live as long as the route, and a view would pin the whole received chunk.
        value: new Uint8Array(value),
      });
    }
    return;
  }
  if (!ctx.ibgp && IBGP_ONLY.includes(code)) {
    st.discarded.push(code); // RFC 7606 §7.5 (LOCAL_PREF); RFC 4456 §8 attributes are iBGP-only
    return;
  }
  try {
    // RFC 4271 §4.3: Partial MUST be 0 on well-known attributes; FRR and BIRD treat it as a flags error too.
    if ((flags & (O | T)) !== row.flags || ((row.flags & O) === 0 && (flags & AttrFlag.Partial) !== 0)) {
      throw malformed(
        row,
        UpdateSubcode.AttributeFlagsError,
        `flags are 0x${flags.toString(16)}, expected 0x${row.flags.toString(16)}`,
        value,
      );
    }
    row.decode(value, st, ctx);
  } catch (e) {
    if (!isBgpError(e)) throw e;
    recordError(st, e, code);
  }
}

/** Turn the parse state into the frozen attribute set (merging AS4_PATH / AS4_AGGREGATOR, RFC 6793 §4.2.3). */
export function finishAttrs(st: AttrState, ctx: AttrContext): PathAttributes {
  let path = st.asPath ?? [];
  let aggregatorV = st.aggregator;
  if (!ctx.fourOctetAs) {
    // §4.2.3: if AGGREGATOR carries a real 2-octet AS, AS4_AGGREGATOR and AS4_PATH are both ignored.
    if (aggregatorV !== undefined && aggregatorV.asn !== AS_TRANS) {
      // ignore both
    } else {
      if (aggregatorV !== undefined && st.as4Aggregator !== undefined) aggregatorV = st.as4Aggregator;
      if (st.as4Path !== undefined && st.asPath !== undefined) path = mergeAs4Path(st.asPath, st.as4Path);
    }
  }
  let neighborAs = 0;
  for (const s of path) {
    if (isConfed(s)) continue;
    if (s.type === AsPathSegmentType.AsSequence) neighborAs = s.asns[0] ?? 0;
    break;
  }
  for (const s of path) {
    Object.freeze(s.asns);
    Object.freeze(s);
  }
  return Object.freeze({
    origin: (st.origin === Origin_Unset ? 0 : st.origin) as Origin,
    asPath: Object.freeze(path),
    nextHop: st.nextHop,
    nextHopLinkLocal: st.nextHopLinkLocal,
    med: st.med,
    localPref: st.localPref,
    atomicAggregate: st.atomicAggregate,
    aggregator: aggregatorV === undefined ? undefined : Object.freeze(aggregatorV),
    communities: Object.freeze(st.communities),
    extendedCommunities: Object.freeze(st.extendedCommunities),
    largeCommunities: Object.freeze(st.largeCommunities),
    originatorId: st.originatorId,
    clusterList: Object.freeze(st.clusterList),
    onlyToCustomer: st.onlyToCustomer,
    unknown: Object.freeze(st.unknown),
    asPathLength: asPathLength(path),
    neighborAs,
  });
}

/** Bytes of the attribute section (headers included) for `a`. */
export function sizeAttrs(a: PathAttributes, o: AttrEncodeOptions): number {
  let n = 0;
  for (const row of ATTR_TABLE) {
    const s = row.size(a, o);
    if (s >= 0) n += (s > 255 ? 4 : 3) + s;
  }
  for (const u of a.unknown) n += (u.value.length > 255 ? 4 : 3) + u.value.length;
  return n;
}

/** Write the attribute section at `off`; returns the next offset. */
export function writeAttrs(a: PathAttributes, o: AttrEncodeOptions, out: Buffer, off: number): number {
  for (const row of ATTR_TABLE) {
    const s = row.size(a, o);
    if (s < 0) continue;
    off = writeAttrHeader(row.flags, row.code, s, out, off);
    const end = row.encode(a, o, out, off);
    if (end !== off + s) throw new Error(`Cannot encode ${row.name}: wrote ${end - off} bytes, sized ${s}`);
    off = end;
  }
  for (const u of a.unknown) {
    off = writeAttrHeader(u.flags & ~AttrFlag.ExtendedLength, u.code, u.value.length, out, off);
    out.set(u.value, off);
    off += u.value.length;
  }
  return off;
}

export function writeAttrHeader(flags: number, code: number, len: number, out: Buffer, off: number): number {
  if (len > 255) {
    out[off] = flags | AttrFlag.ExtendedLength;
    out[off + 1] = code;
    out.writeUInt16BE(len, off + 2);
    return off + 4;
  }
  out[off] = flags & ~AttrFlag.ExtendedLength;
  out[off + 1] = code;
  out[off + 2] = len;
  return off + 3;
}

/** Encode the attribute section into a fresh buffer. */
export function encodeAttrs(a: PathAttributes, o: AttrEncodeOptions): Buffer {
  const out = Buffer.allocUnsafe(sizeAttrs(a, o));
  const end = writeAttrs(a, o, out, 0);
  return end === out.length ? out : out.subarray(0, end);
}
