/**
 * UPDATE (RFC 4271 §4.3) with MP_REACH_NLRI / MP_UNREACH_NLRI (RFC 4760), ADD-PATH (RFC 7911), extended
 * next hop (RFC 8950), End-of-RIB (RFC 4724 §2) and RFC 7606 error handling.
 *
 * Decoding is two passes over the attribute section. The first walks the headers only: it finds the MP
 * attributes, catches the errors that reset the session, and builds the interning key. The second (the
 * row decoders of attrs.ts) runs only when the caller's interner has never seen that key, so a million
 * prefixes in a thousand UPDATEs with the same attributes cost a thousand header walks and one decode.
 *
 * Encoding packs as many prefixes per message as fit in `maxLen`: sizes first, then one
 * Buffer.allocUnsafe per message, attributes encoded once per batch and copied.
 */
import { type AttrContext, AttrState, decodeAttr, encodeAttrs, finishAttrs } from './attrs.js';
import { BgpError, ErrorCode, UpdateSubcode } from './errors.js';
import {
  decodeNlriV4,
  decodeNlriV6,
  formatIpv4,
  formatIpv6,
  parseIpv4,
  sizePrefix,
  writeIpv6,
  writePrefix,
} from './prefix.js';
import {
  Afi,
  type AfiSafi,
  AttrCode,
  AttrFlag,
  HEADER_LEN,
  MAX_MESSAGE_LEN,
  MessageType,
  type NlriBatch,
  type PathAttributes,
  type PrefixKey,
  Safi,
  type UpdateMessage,
} from './types.js';

/** What decoding an UPDATE depends on, fixed for the life of a session. */
export interface UpdateContext extends AttrContext {
  /** RFC 7911: AFI/SAFIs for which we negotiated receiving path identifiers. */
  readonly addPathReceive: readonly AfiSafi[];
  /** RFC 8950: NLRI AFI/SAFIs for which the peer may send an IPv6 next hop (in practice IPv4 unicast). */
  readonly extendedNextHop: readonly AfiSafi[];
  /**
   * Return the shared attribute set for `key`, calling `build` only for a key not seen before
   * (speaker/rib's interner). Without it every UPDATE builds its own object.
   */
  readonly intern?: ((key: string, build: () => PathAttributes) => PathAttributes) | undefined;
}

/** RFC 7606 outcome of building each attribute set, so an interned set answers without re-parsing. */
interface Outcome {
  readonly treatAsWithdraw: boolean;
  readonly discarded: readonly number[];
}
const CLEAN: Outcome = Object.freeze({ treatAsWithdraw: false, discarded: Object.freeze([]) as readonly number[] });
const OUTCOMES = new WeakMap<PathAttributes, Outcome>();

const EMPTY_BATCHES: readonly NlriBatch[] = Object.freeze([]);
const NO_CODES: readonly number[] = Object.freeze([]);

const has = (list: readonly AfiSafi[], afi: number, safi: number) => {
  for (const x of list) if (x.afi === afi && x.safi === safi) return true;
  return false;
};

function malformedList(detail: string, data?: Uint8Array): BgpError {
  return new BgpError(
    ErrorCode.Update,
    UpdateSubcode.MalformedAttributeList,
    `Cannot decode UPDATE: ${detail}`,
    data ? { data } : {},
  );
}

/** Codes we know, so an unknown attribute without the Optional bit can be told apart (RFC 4271 §6.3). */
const KNOWN = new Uint8Array(256);
for (const c of Object.values(AttrCode)) KNOWN[c] = 1;

/** Decoded MP_REACH_NLRI pieces. */
interface MpReach {
  afi: number;
  safi: number;
  nextHop: string;
  nextHopLinkLocal: string | undefined;
  /** Raw next hop bytes, for the interning key. */
  nhStart: number;
  nhEnd: number;
  batch: NlriBatch | undefined;
}

function mpError(name: string, detail: string, data: Uint8Array): BgpError {
  // RFC 7606 §7.11: session reset or AFI/SAFI disable; we reset (see docs/design/bgp-wire.md).
  return new BgpError(ErrorCode.Update, UpdateSubcode.OptionalAttributeError, `Cannot decode ${name}: ${detail}`, {
    data,
  });
}

function decodeNlriBatch(
  b: Buffer,
  off: number,
  end: number,
  afi: number,
  safi: number,
  ctx: UpdateContext,
  what: string,
): NlriBatch {
  const ids = has(ctx.addPathReceive, afi, safi) ? ([] as number[]) : undefined;
  if (afi === Afi.IPv4) {
    const keys: number[] = [];
    decodeNlriV4(b, off, end, keys, ids, what);
    return { afi: Afi.IPv4, safi: Safi.Unicast, prefixes: keys, pathIds: ids };
  }
  const keys: string[] = [];
  decodeNlriV6(b, off, end, keys, ids, what);
  return { afi: Afi.IPv6, safi: Safi.Unicast, prefixes: keys, pathIds: ids };
}

const supported = (afi: number, safi: number) => (afi === Afi.IPv4 || afi === Afi.IPv6) && safi === Safi.Unicast;

/** RFC 4760 §3 */
function decodeMpReach(b: Buffer, start: number, end: number, ctx: UpdateContext): MpReach {
  const v = b.subarray(start, end);
  if (end - start < 5) throw mpError('MP_REACH_NLRI', `length is ${end - start}, expected at least 5`, v);
  const afi = b.readUInt16BE(start);
  const safi = b[start + 2] as number;
  const nhLen = b[start + 3] as number;
  const nhStart = start + 4;
  const nhEnd = nhStart + nhLen;
  if (nhEnd + 1 > end) throw mpError('MP_REACH_NLRI', `next hop length ${nhLen} overruns the attribute`, v);
  const r: MpReach = { afi, safi, nextHop: '', nextHopLinkLocal: undefined, nhStart, nhEnd, batch: undefined };
  if (!supported(afi, safi)) return r; // not negotiated by us: ignored
  if (afi === Afi.IPv6 || (afi === Afi.IPv4 && nhLen !== 4)) {
    // RFC 2545 §3 (16 or 32 bytes); RFC 8950 §3 for IPv4 NLRI when negotiated.
    if (afi === Afi.IPv4 && !has(ctx.extendedNextHop, afi, safi)) {
      throw mpError('MP_REACH_NLRI', `IPv4 next hop length is ${nhLen} and extended next hop is not negotiated`, v);
    }
    if (nhLen !== 16 && nhLen !== 32)
      throw mpError('MP_REACH_NLRI', `IPv6 next hop length is ${nhLen}, expected 16 or 32`, v);
    r.nextHop = formatIpv6(b, nhStart);
    if (nhLen === 32) r.nextHopLinkLocal = formatIpv6(b, nhStart + 16);
  } else r.nextHop = formatIpv4(b.readUInt32BE(nhStart));
  // One reserved octet (RFC 4760 §3, formerly the SNPA count) precedes the NLRI.
  r.batch = decodeNlriBatch(b, nhEnd + 1, end, afi, safi, ctx, 'MP_REACH_NLRI');
  return r;
}

/**
 * Decode an UPDATE body (the bytes after the 19-byte header). Throws a session-reset `BgpError`; every
 * milder RFC 7606 outcome is recorded in the result (`treatAsWithdraw`, `discarded`).
 * @example
 * const u = decodeUpdate(msg.subarray(HEADER_LEN), updateContext({ fourOctetAs: true, ibgp: true, intern }));
 * for (const b of u.reachable) for (const key of b.prefixes) adjRibIn.set(key, u.attributes);
 */
export function decodeUpdate(body: Buffer, ctx: UpdateContext): UpdateMessage {
  const bodyLen = body.length;
  if (bodyLen < 4) throw malformedList(`body is ${bodyLen} bytes, expected at least 4`);
  const wdLen = body.readUInt16BE(0);
  if (4 + wdLen > bodyLen) throw malformedList(`withdrawn routes length ${wdLen} overruns the message`);
  const attrLen = body.readUInt16BE(2 + wdLen);
  const aStart = 4 + wdLen;
  const aEnd = aStart + attrLen;
  // RFC 7606 §4 still resets here: without a trustworthy Total Attribute Length no NLRI can be located.
  if (aEnd > bodyLen) throw malformedList(`total attribute length ${attrLen} overruns the message`);

  const withdrawn: NlriBatch[] = [];
  const reachable: NlriBatch[] = [];
  if (wdLen > 0) withdrawn.push(decodeNlriBatch(body, 2, 2 + wdLen, Afi.IPv4, Safi.Unicast, ctx, 'withdrawn routes'));

  // Pass 1: attribute headers.
  let mpReach: MpReach | undefined;
  let mpReachStart = -1;
  let mpReachEnd = -1;
  let mpUnreachStart = -1;
  let mpUnreachEnd = -1;
  let unreachAfiSafi: AfiSafi | undefined;
  let unreachNlriLen = -1;
  let overrun = false;
  let mask = 0; // ORIGIN=1, AS_PATH=2, NEXT_HOP=4
  let attrCount = 0;
  for (let p = aStart; p < aEnd; ) {
    // RFC 7606 §4: fewer than 3 (or 4) octets left, or a length past the section: overrun.
    if (p + 3 > aEnd) {
      overrun = true;
      break;
    }
    const flags = body[p] as number;
    const code = body[p + 1] as number;
    const hdr = flags & AttrFlag.ExtendedLength ? 4 : 3;
    if (p + hdr > aEnd) {
      overrun = true;
      break;
    }
    const len = hdr === 4 ? body.readUInt16BE(p + 2) : (body[p + 2] as number);
    const vStart = p + hdr;
    const vEnd = vStart + len;
    if (vEnd > aEnd) {
      overrun = true;
      break;
    }
    attrCount++;
    if (code === AttrCode.MpReachNlri || code === AttrCode.MpUnreachNlri) {
      const name = code === AttrCode.MpReachNlri ? 'MP_REACH_NLRI' : 'MP_UNREACH_NLRI';
      // RFC 7606 §3 (g): a repeated MP attribute resets the session.
      if (code === AttrCode.MpReachNlri ? mpReachStart >= 0 : mpUnreachStart >= 0) {
        throw malformedList(`${name} appears twice`, body.subarray(p, vEnd));
      }
      if ((flags & (AttrFlag.Optional | AttrFlag.Transitive)) !== AttrFlag.Optional) {
        throw new BgpError(
          ErrorCode.Update,
          UpdateSubcode.AttributeFlagsError,
          `Cannot decode ${name}: flags are 0x${flags.toString(16)}`,
          {
            data: body.subarray(p, vEnd),
          },
        );
      }
      if (code === AttrCode.MpReachNlri) {
        mpReachStart = p;
        mpReachEnd = vEnd;
        mpReach = decodeMpReach(body, vStart, vEnd, ctx);
        if (mpReach.batch) reachable.push(mpReach.batch);
      } else {
        mpUnreachStart = p;
        mpUnreachEnd = vEnd;
        if (len < 3) throw mpError(name, `length is ${len}, expected at least 3`, body.subarray(vStart, vEnd));
        const afi = body.readUInt16BE(vStart);
        const safi = body[vStart + 2] as number;
        unreachAfiSafi = { afi, safi };
        unreachNlriLen = len - 3;
        if (supported(afi, safi)) withdrawn.push(decodeNlriBatch(body, vStart + 3, vEnd, afi, safi, ctx, name));
      }
    } else if (KNOWN[code] === 0 && (flags & AttrFlag.Optional) === 0) {
      throw new BgpError(
        ErrorCode.Update,
        UpdateSubcode.UnrecognizedWellKnownAttribute,
        `Cannot decode UPDATE: attribute ${code} is well-known but unknown`,
        {
          data: body.subarray(p, vEnd),
        },
      );
    } else if (code <= AttrCode.NextHop) mask |= 1 << (code - 1);
    p = vEnd;
  }

  // Classic NLRI (IPv4 unicast).
  if (aEnd < bodyLen) reachable.splice(0, 0, decodeNlriBatch(body, aEnd, bodyLen, Afi.IPv4, Safi.Unicast, ctx, 'NLRI'));
  const classicNlri = aEnd < bodyLen;

  // End-of-RIB (RFC 4724 §2).
  if (bodyLen === 4) return eor({ afi: Afi.IPv4, safi: Safi.Unicast }, withdrawn);
  if (
    unreachAfiSafi !== undefined &&
    attrCount === 1 &&
    wdLen === 0 &&
    !classicNlri &&
    !overrun &&
    unreachNlriLen === 0
  ) {
    return eor(unreachAfiSafi, EMPTY_BATCHES);
  }

  const hasReach = reachable.some((r) => r.prefixes.length > 0);
  if (overrun) {
    // RFC 7606 §4: treat-as-withdraw, relying on Total Attribute Length to find the classic NLRI; §5.1:
    // if no MP attribute came first, NLRI may be hidden in the unparsed part, so reset instead.
    if (mpReachStart < 0 && mpUnreachStart < 0 && !classicNlri && wdLen === 0) {
      throw malformedList(
        'an attribute overruns the attribute section and no NLRI can be located',
        body.subarray(aStart, aEnd),
      );
    }
    return update(withdrawn, reachable, undefined, hasReach, NO_CODES);
  }
  if (!hasReach) return update(withdrawn, reachable, undefined, false, NO_CODES);

  // Pass 2, through the interner. The key: context, the attribute bytes minus MP_REACH/MP_UNREACH, the
  // MP next hop (RFC 4760 puts it inside MP_REACH, but it belongs to the set).
  const build = () => buildAttrs(body, aStart, aEnd, ctx, mpReach);
  let attrs: PathAttributes;
  if (ctx.intern) {
    let key = ctx.fourOctetAs ? (ctx.ibgp ? 'I' : 'E') : ctx.ibgp ? 'i' : 'e';
    let cur = aStart;
    const cuts =
      mpReachStart < mpUnreachStart
        ? [mpReachStart, mpReachEnd, mpUnreachStart, mpUnreachEnd]
        : [mpUnreachStart, mpUnreachEnd, mpReachStart, mpReachEnd];
    for (let i = 0; i < 4; i += 2) {
      const s = cuts[i] as number;
      if (s < 0) continue;
      key += body.toString('latin1', cur, s);
      cur = cuts[i + 1] as number;
    }
    key += body.toString('latin1', cur, aEnd);
    if (mpReach) key += `\u0100${mpReach.afi}${body.toString('latin1', mpReach.nhStart, mpReach.nhEnd)}`;
    attrs = ctx.intern(key, build);
  } else attrs = build();
  const outcome = OUTCOMES.get(attrs) ?? CLEAN;
  // RFC 7606 §3 (d): a missing well-known mandatory attribute is treat-as-withdraw. NEXT_HOP is only
  // mandatory for classic NLRI (RFC 4760 §3).
  const need = classicNlri ? 7 : 3;
  const missing = (mask & need) !== need;
  return update(withdrawn, reachable, attrs, outcome.treatAsWithdraw || missing, outcome.discarded);
}

function buildAttrs(
  body: Buffer,
  aStart: number,
  aEnd: number,
  ctx: UpdateContext,
  mp: MpReach | undefined,
): PathAttributes {
  const st = new AttrState();
  const seen = new Uint8Array(256);
  for (let p = aStart; p < aEnd; ) {
    const flags = body[p] as number;
    const code = body[p + 1] as number;
    const hdr = flags & AttrFlag.ExtendedLength ? 4 : 3;
    const len = hdr === 4 ? body.readUInt16BE(p + 2) : (body[p + 2] as number);
    const vEnd = p + hdr + len;
    if (code !== AttrCode.MpReachNlri && code !== AttrCode.MpUnreachNlri)
      decodeAttr(flags, code, body.subarray(p + hdr, vEnd), st, ctx, seen);
    p = vEnd;
  }
  if (mp) {
    st.nextHop = mp.nextHop;
    st.nextHopLinkLocal = mp.nextHopLinkLocal;
  }
  const attrs = finishAttrs(st, ctx);
  if (st.treatAsWithdraw || st.discarded.length > 0) {
    OUTCOMES.set(attrs, { treatAsWithdraw: st.treatAsWithdraw, discarded: Object.freeze(st.discarded) });
  }
  return attrs;
}

function update(
  withdrawn: readonly NlriBatch[],
  reachable: readonly NlriBatch[],
  attributes: PathAttributes | undefined,
  treatAsWithdraw: boolean,
  discarded: readonly number[],
): UpdateMessage {
  return {
    type: MessageType.Update,
    withdrawn,
    reachable,
    attributes,
    treatAsWithdraw,
    discarded,
    endOfRib: undefined,
  };
}

function eor(afiSafi: AfiSafi, withdrawn: readonly NlriBatch[]): UpdateMessage {
  return {
    type: MessageType.Update,
    withdrawn,
    reachable: EMPTY_BATCHES,
    attributes: undefined,
    treatAsWithdraw: false,
    discarded: NO_CODES,
    endOfRib: afiSafi,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Encoding

export interface UpdateEncodeOptions {
  /** RFC 6793: false toward a 2-octet peer (AS_TRANS + AS4_PATH / AS4_AGGREGATOR). */
  readonly fourOctetAs: boolean;
  /** RFC 7911: send path ids for this batch's AFI/SAFI; `batch.pathIds` (or 0) are written. */
  readonly addPathSend?: boolean | undefined;
  /** 4096, or 65,535 with RFC 8654 extended messages. */
  readonly maxLen?: number | undefined;
}

function header(out: Buffer, total: number): void {
  out.fill(0xff, 0, 16);
  out.writeUInt16BE(total, 16);
  out[18] = MessageType.Update;
}

/**
 * Pack `batch` into as few UPDATEs as fit in `maxLen`, all carrying `attrs`: classic NLRI for IPv4 with an
 * IPv4 next hop, MP_REACH_NLRI (first attribute, RFC 7606 §5.1) for IPv6, and for IPv4 with an IPv6 next
 * hop (RFC 8950).
 * @example
 * for (const m of encodeUpdates(attrs, { afi: 1, safi: 1, prefixes: keys }, { fourOctetAs: true })) socket.write(m);
 */
export function encodeUpdates(attrs: PathAttributes, batch: NlriBatch, opts: UpdateEncodeOptions): Buffer[] {
  const n = batch.prefixes.length;
  if (n === 0) return [];
  const maxLen = opts.maxLen ?? MAX_MESSAGE_LEN;
  const addPath = opts.addPathSend === true;
  const ids = addPath ? (batch.pathIds ?? []) : undefined;
  const v6NextHop = attrs.nextHop.includes(':');
  if (attrs.nextHop === '') throw new TypeError('Cannot encode UPDATE: the attribute set has no next hop');
  if (batch.afi === Afi.IPv6 && !v6NextHop) {
    throw new TypeError(`Cannot encode UPDATE: IPv6 prefixes need an IPv6 next hop: next hop is "${attrs.nextHop}"`);
  }
  const classic = batch.afi === Afi.IPv4 && !v6NextHop;
  const rest = encodeAttrs(attrs, { fourOctetAs: opts.fourOctetAs, classicNextHop: classic });
  // MP_REACH_NLRI: 4-byte header (always extended length), AFI, SAFI, NH length, NH, reserved.
  const nhLen = classic ? 0 : v6NextHop ? (attrs.nextHopLinkLocal ? 32 : 16) : 4;
  const fixed = HEADER_LEN + 4 + rest.length + (classic ? 0 : 4 + 5 + nhLen);
  const budget = maxLen - fixed;
  if (budget < (addPath ? 5 : 1) + (batch.afi === Afi.IPv4 ? 4 : 16)) {
    throw new RangeError(`Cannot encode UPDATE: attributes take ${fixed} of ${maxLen} bytes`);
  }
  const out: Buffer[] = [];
  let i = 0;
  while (i < n) {
    let j = i;
    let nlri = 0;
    while (j < n) {
      const s = sizePrefix(batch.prefixes[j] as PrefixKey, addPath);
      if (nlri + s > budget) break;
      nlri += s;
      j++;
    }
    const total = fixed + nlri;
    const m = Buffer.allocUnsafe(total);
    header(m, total);
    let off = m.writeUInt16BE(0, HEADER_LEN); // no withdrawn routes
    off = m.writeUInt16BE(total - HEADER_LEN - 4 - (classic ? nlri : 0), off);
    if (!classic) {
      const mpLen = 5 + nhLen + nlri;
      m[off++] = AttrFlag.Optional | AttrFlag.ExtendedLength;
      m[off++] = AttrCode.MpReachNlri;
      off = m.writeUInt16BE(mpLen, off);
      off = m.writeUInt16BE(batch.afi, off);
      m[off++] = batch.safi;
      m[off++] = nhLen;
      if (v6NextHop) {
        off = writeIpv6(attrs.nextHop, m, off);
        if (attrs.nextHopLinkLocal) off = writeIpv6(attrs.nextHopLinkLocal, m, off);
      } else off = m.writeUInt32BE(parseIpv4(attrs.nextHop), off);
      m[off++] = 0;
      for (let k = i; k < j; k++)
        off = writePrefix(batch.prefixes[k] as PrefixKey, ids ? (ids[k] ?? 0) : undefined, m, off);
      off += rest.copy(m, off);
    } else {
      off += rest.copy(m, off);
      for (let k = i; k < j; k++)
        off = writePrefix(batch.prefixes[k] as PrefixKey, ids ? (ids[k] ?? 0) : undefined, m, off);
    }
    out.push(m);
    i = j;
  }
  return out;
}

export interface WithdrawEncodeOptions {
  readonly addPathSend?: boolean | undefined;
  readonly maxLen?: number | undefined;
}

/**
 * Pack withdrawals: the classic Withdrawn Routes field for IPv4, MP_UNREACH_NLRI otherwise.
 * @example
 * encodeWithdrawals({ afi: 2, safi: 1, prefixes: [parsePrefixKey('fd00:1::/64')] });
 */
export function encodeWithdrawals(batch: NlriBatch, opts: WithdrawEncodeOptions = {}): Buffer[] {
  const n = batch.prefixes.length;
  if (n === 0) return [];
  const maxLen = opts.maxLen ?? MAX_MESSAGE_LEN;
  const addPath = opts.addPathSend === true;
  const ids = addPath ? (batch.pathIds ?? []) : undefined;
  const classic = batch.afi === Afi.IPv4 && batch.safi === Safi.Unicast;
  const fixed = HEADER_LEN + 4 + (classic ? 0 : 4 + 3);
  const budget = maxLen - fixed;
  const out: Buffer[] = [];
  let i = 0;
  while (i < n) {
    let j = i;
    let nlri = 0;
    while (j < n) {
      const s = sizePrefix(batch.prefixes[j] as PrefixKey, addPath);
      if (nlri + s > budget) break;
      nlri += s;
      j++;
    }
    const total = fixed + nlri;
    const m = Buffer.allocUnsafe(total);
    header(m, total);
    let off: number;
    if (classic) {
      off = m.writeUInt16BE(nlri, HEADER_LEN);
      for (let k = i; k < j; k++)
        off = writePrefix(batch.prefixes[k] as PrefixKey, ids ? (ids[k] ?? 0) : undefined, m, off);
      m.writeUInt16BE(0, off);
    } else {
      off = m.writeUInt16BE(0, HEADER_LEN);
      off = m.writeUInt16BE(total - HEADER_LEN - 4, off);
      m[off++] = AttrFlag.Optional | AttrFlag.ExtendedLength;
      m[off++] = AttrCode.MpUnreachNlri;
      off = m.writeUInt16BE(3 + nlri, off);
      off = m.writeUInt16BE(batch.afi, off);
      m[off++] = batch.safi;
      for (let k = i; k < j; k++)
        off = writePrefix(batch.prefixes[k] as PrefixKey, ids ? (ids[k] ?? 0) : undefined, m, off);
    }
    out.push(m);
    i = j;
  }
  return out;
}

/**
 * RFC 4724 §2: an empty UPDATE for IPv4 unicast, else an MP_UNREACH_NLRI with no NLRI.
 * @example
 * socket.write(encodeEndOfRib({ afi: Afi.IPv6, safi: Safi.Unicast }));
 */
export function encodeEndOfRib(afiSafi: AfiSafi): Buffer {
  if (afiSafi.afi === Afi.IPv4 && afiSafi.safi === Safi.Unicast) {
    const m = Buffer.alloc(HEADER_LEN + 4);
    header(m, m.length);
    return m;
  }
  const m = Buffer.alloc(HEADER_LEN + 4 + 3 + 3);
  header(m, m.length);
  m.writeUInt16BE(6, HEADER_LEN + 2);
  m[HEADER_LEN + 4] = AttrFlag.Optional;
  m[HEADER_LEN + 5] = AttrCode.MpUnreachNlri;
  m[HEADER_LEN + 6] = 3;
  m.writeUInt16BE(afiSafi.afi, HEADER_LEN + 7);
  m[HEADER_LEN + 9] = afiSafi.safi;
  return m;
}

/** UpdateContext from what both OPENs advertised. */
export function updateContext(opts: {
  fourOctetAs: boolean;
  ibgp: boolean;
  addPathReceive?: readonly AfiSafi[];
  extendedNextHop?: readonly AfiSafi[];
  intern?: (key: string, build: () => PathAttributes) => PathAttributes;
}): UpdateContext {
  return {
    fourOctetAs: opts.fourOctetAs,
    ibgp: opts.ibgp,
    addPathReceive: opts.addPathReceive ?? [],
    extendedNextHop: opts.extendedNextHop ?? [],
    intern: opts.intern,
  };
}
