/**
 * rtnetlink ROUTE codec, pure (no koffi, no I/O): encodes RTM_NEWROUTE / RTM_DELROUTE requests for a batch of
 * route ops into one Buffer, and decodes a stream of netlink messages (ACKs and errors with extended-ack text,
 * NLMSG_DONE, RTM_NEWROUTE from a dump). `socket.ts` moves the bytes; `routes.ts` is the RoutePort on top.
 *
 * Byte order is host order (little-endian on every machine we run on), as netlink requires.
 * Layouts: linux/netlink.h (nlmsghdr, nlmsgerr), linux/rtnetlink.h (rtmsg, rtattr, RTA_*).
 *
 * Leaves out: multipath routes (RTA_MULTIPATH, decoded as a route without gateway/oif), RTA_VIA, metrics
 * (RTA_METRICS), source routing (rtm_src_len, RTA_PREFSRC), MPLS and nexthop objects.
 */
import { formatIp, parseIp } from '../../model/ip.js';

/** linux/netlink.h */
export const NlmsgType = { Noop: 1, Error: 2, Done: 3, Overrun: 4 } as const;
/** linux/rtnetlink.h */
export const RtmType = { NewRoute: 24, DelRoute: 25, GetRoute: 26 } as const;
/** linux/netlink.h: nlmsg_flags. Replace/Excl/Create/Append apply to NEW requests; Root/Match to GET. */
export const NlmFlag = {
  Request: 0x1,
  Multi: 0x2,
  Ack: 0x4,
  Echo: 0x8,
  DumpIntr: 0x10,
  Replace: 0x100,
  Excl: 0x200,
  Create: 0x400,
  Append: 0x800,
  Dump: 0x300,
  /** On NLMSG_ERROR: the echoed request was cut to its header (NETLINK_CAP_ACK). */
  Capped: 0x100,
  /** On NLMSG_ERROR: extended-ack TLVs follow. */
  AckTlvs: 0x200,
} as const;
/** linux/netlink.h: enum nlmsgerr_attrs */
export const NlmsgerrAttr = { Msg: 1, Offs: 2, Cookie: 3 } as const;
/** linux/rtnetlink.h: enum rtattr_type_t (the ones we read or write) */
export const RtaType = { Dst: 1, Src: 2, Iif: 3, Oif: 4, Gateway: 5, Priority: 6, PrefSrc: 7, Table: 15 } as const;
/** linux/rtnetlink.h: rtm_type */
export const RouteType = {
  Unicast: 1,
  Local: 2,
  Broadcast: 3,
  Anycast: 4,
  Multicast: 5,
  Blackhole: 6,
  Unreachable: 7,
  Prohibit: 8,
  Throw: 9,
} as const;
/** linux/rtnetlink.h: rtm_scope */
export const RouteScope = { Universe: 0, Site: 200, Link: 253, Host: 254, Nowhere: 255 } as const;
/** linux/rtnetlink.h: rt_class_t */
export const RouteTable = { Unspec: 0, Compat: 252, Default: 253, Main: 254, Local: 255 } as const;
/** linux/rtnetlink.h: rtm_flags. Onlink: the gateway is reachable on `oif` without a covering route (IPIP/VXLAN). */
export const RtmFlag = { Onlink: 0x4 } as const;

const AF_INET = 2;
const AF_INET6 = 10;
export const NLMSG_HDRLEN = 16;
export const RTMSG_LEN = 12;

export type RouteFamily = 4 | 6;

/** One kernel route, as we write it and as a dump reads it back. Addresses are canonical text. */
export interface Route {
  family: RouteFamily;
  /** Network address (host bits clear; the kernel refuses IPv4 routes with host bits set). */
  dst: string;
  prefixLen: number;
  /** Routing table id, 254 = main. Ids above 255 travel in RTA_TABLE. */
  table: number;
  /** rtm_protocol: ours marks ownership (felix.md); 2 = kernel, 3 = boot, 4 = static. */
  protocol: number;
  /** rtm_scope, see RouteScope. */
  scope: number;
  /** rtm_type, see RouteType. */
  type: number;
  /** Output interface index (RTA_OIF). */
  oif?: number | undefined;
  /** Next hop (RTA_GATEWAY), same family as dst. */
  gateway?: string | undefined;
  /** Metric (RTA_PRIORITY); absent = 0. */
  priority?: number | undefined;
  /** rtm_flags, e.g. RtmFlag.Onlink. Decoded flags also carry kernel bits (RTM_F_*); compare with care. */
  flags: number;
}

export type RouteOp = { kind: 'replace'; route: Route } | { kind: 'delete'; route: Route };

/**
 * The map key of a route: `family|dst/prefixLen|table`, e.g. `4|10.244.1.0/26|254`. Two routes with the same
 * key are the same kernel route for our purposes (one owner protocol, no multipath, metric not part of it).
 */
export type RouteKey = string;
export function routeKey(r: Pick<Route, 'family' | 'dst' | 'prefixLen' | 'table'>): RouteKey {
  return `${r.family}|${r.dst}/${r.prefixLen}|${r.table}`;
}

// --- address bytes ----------------------------------------------------------------------------------------

function writeAddr(family: RouteFamily, text: string, out: Buffer, off: number): void {
  if (family === 4) {
    // Fast path: a canonical dotted quad, digit by digit (a full table encodes a million of them).
    let octet = 0;
    let digits = 0;
    let i = 0;
    let ok = text.length >= 7 && text.length <= 15;
    for (let c = 0; ok && c < text.length; c++) {
      const ch = text.charCodeAt(c);
      if (ch === 46) {
        if (digits === 0 || i === 3 || octet > 255) ok = false;
        else {
          out[off + i++] = octet;
          octet = 0;
          digits = 0;
        }
      } else if (ch >= 48 && ch <= 57 && digits < 3) {
        octet = octet * 10 + (ch - 48);
        digits++;
      } else ok = false;
    }
    if (ok && i === 3 && digits > 0 && octet <= 255) {
      out[off + 3] = octet;
      return;
    }
    const parts = text.split('.');
    if (parts.length !== 4) throw new TypeError(`not an IPv4 address: "${text}"`);
    for (let i = 0; i < 4; i++) {
      const n = Number(parts[i]);
      if (!Number.isInteger(n) || n < 0 || n > 255 || parts[i] === '')
        throw new TypeError(`not an IPv4 address: "${text}"`);
      out[off + i] = n;
    }
    return;
  }
  const ip = parseIp(text);
  if (ip.family !== 6) throw new TypeError(`not an IPv6 address: "${text}"`);
  let v = ip.value;
  for (let i = 15; i >= 0; i--) {
    out[off + i] = Number(v & 0xffn);
    v >>= 8n;
  }
}

function readAddr(family: RouteFamily, buf: Buffer, off: number): string {
  if (family === 4) return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
  let v = 0n;
  for (let i = 0; i < 16; i++) v = (v << 8n) | BigInt(buf[off + i] ?? 0);
  return formatIp({ family: 6, value: v });
}

// --- encode -----------------------------------------------------------------------------------------------

const align4 = (n: number) => (n + 3) & ~3;

/** Bytes of one route message (header, rtmsg and attributes). */
export function sizeRouteMessage(kind: RouteOp['kind'], r: Route): number {
  const alen = r.family === 4 ? 4 : 16;
  let n = NLMSG_HDRLEN + RTMSG_LEN;
  if (r.prefixLen > 0 || kind === 'delete') n += 4 + alen;
  if (r.table > 255) n += 8;
  if (r.oif !== undefined) n += 8;
  if (r.gateway !== undefined) n += 4 + alen;
  if (r.priority !== undefined) n += 8;
  return n;
}

/**
 * Write one RTM_NEWROUTE (replace: REQUEST|ACK|CREATE|REPLACE, or with `excl` CREATE|EXCL) or RTM_DELROUTE
 * (REQUEST|ACK) at `off`; returns the offset after it.
 * @example encodeRouteMessage('replace', route, 7, buf, 0) // → 52 for an IPv4 route with dst and oif
 */
export function encodeRouteMessage(
  kind: RouteOp['kind'],
  r: Route,
  seq: number,
  out: Buffer,
  off: number,
  opts: { excl?: boolean; ack?: boolean } = {},
): number {
  const len = sizeRouteMessage(kind, r);
  const alen = r.family === 4 ? 4 : 16;
  let flags = opts.ack === false ? NlmFlag.Request : NlmFlag.Request | NlmFlag.Ack;
  if (kind === 'replace') flags |= NlmFlag.Create | (opts.excl ? NlmFlag.Excl : NlmFlag.Replace);
  out.writeUInt32LE(len, off);
  out.writeUInt16LE(kind === 'replace' ? RtmType.NewRoute : RtmType.DelRoute, off + 4);
  out.writeUInt16LE(flags, off + 6);
  out.writeUInt32LE(seq >>> 0, off + 8);
  out.writeUInt32LE(0, off + 12); // nlmsg_pid: to the kernel
  // struct rtmsg
  let p = off + NLMSG_HDRLEN;
  out[p] = r.family === 4 ? AF_INET : AF_INET6;
  out[p + 1] = r.prefixLen;
  out[p + 2] = 0; // rtm_src_len
  out[p + 3] = 0; // rtm_tos
  out[p + 4] = r.table > 255 ? RouteTable.Unspec : r.table;
  out[p + 5] = r.protocol;
  out[p + 6] = r.scope;
  out[p + 7] = r.type;
  out.writeUInt32LE(r.flags >>> 0, p + 8);
  p += RTMSG_LEN;
  if (r.prefixLen > 0 || kind === 'delete') {
    out.writeUInt16LE(4 + alen, p);
    out.writeUInt16LE(RtaType.Dst, p + 2);
    writeAddr(r.family, r.dst, out, p + 4);
    p += 4 + alen;
  }
  if (r.table > 255) p = putU32(out, p, RtaType.Table, r.table);
  if (r.oif !== undefined) p = putU32(out, p, RtaType.Oif, r.oif);
  if (r.gateway !== undefined) {
    out.writeUInt16LE(4 + alen, p);
    out.writeUInt16LE(RtaType.Gateway, p + 2);
    writeAddr(r.family, r.gateway, out, p + 4);
    p += 4 + alen;
  }
  if (r.priority !== undefined) p = putU32(out, p, RtaType.Priority, r.priority);
  return p;
}

function putU32(out: Buffer, p: number, type: number, v: number): number {
  out.writeUInt16LE(8, p);
  out.writeUInt16LE(type, p + 2);
  out.writeUInt32LE(v >>> 0, p + 4);
  return p + 8;
}

/**
 * Encode every op into one Buffer, sequence numbers `seqStart, seqStart+1, ...` in op order. With `excl`, a
 * replace becomes create-only (NLM_F_CREATE|NLM_F_EXCL: EEXIST if the route is there). With `ackLastOnly`,
 * only the last message asks for an ACK: the kernel still answers every failed one with its error (netlink
 * acks an error whether asked or not) and handles a batch in order, so the last ACK marks the end, and the
 * kernel builds (and we read) one ACK per batch instead of one per route.
 * @example encodeRouteBatch([{ kind: 'replace', route }], 1) // one RTM_NEWROUTE with seq 1
 */
export function encodeRouteBatch(
  ops: readonly RouteOp[],
  seqStart: number,
  opts: { excl?: boolean; ackLastOnly?: boolean } = {},
): Buffer {
  let size = 0;
  for (const op of ops) size += sizeRouteMessage(op.kind, op.route);
  const out = Buffer.allocUnsafe(size);
  let off = 0;
  let seq = seqStart;
  const last = ops.length - 1;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    const ack = !opts.ackLastOnly || i === last;
    off = encodeRouteMessage(op.kind, op.route, seq++, out, off, { excl: opts.excl === true, ack });
  }
  return out;
}

/**
 * RTM_GETROUTE dump request for one family (NLM_F_REQUEST|NLM_F_DUMP). The kernel filters nothing for a plain
 * dump; `decodeMessages` + a protocol/table check does the filtering.
 */
export function encodeRouteDump(family: RouteFamily, seq: number): Buffer {
  const out = Buffer.alloc(NLMSG_HDRLEN + RTMSG_LEN);
  out.writeUInt32LE(out.length, 0);
  out.writeUInt16LE(RtmType.GetRoute, 4);
  out.writeUInt16LE(NlmFlag.Request | NlmFlag.Dump, 6);
  out.writeUInt32LE(seq >>> 0, 8);
  out[NLMSG_HDRLEN] = family === 4 ? AF_INET : AF_INET6;
  return out;
}

// --- decode -----------------------------------------------------------------------------------------------

/** A decoded netlink message. `error` is 0 for an ACK, else a positive errno. */
export type NetlinkMessage =
  | { kind: 'ack'; seq: number; error: number; message?: string | undefined; offset?: number | undefined }
  | { kind: 'done'; seq: number; flags: number }
  | { kind: 'route'; seq: number; flags: number; route: Route }
  /** Any other message; `body` (a view, after the nlmsghdr) is for the link/address codec (link-codec.ts). */
  | { kind: 'other'; seq: number; type: number; flags: number; body: Buffer };

/**
 * Decode every whole netlink message in `buf` (one recv() result). Throws a TypeError on a truncated or
 * malformed header; attributes it does not know are skipped.
 */
export function decodeMessages(buf: Buffer): NetlinkMessage[] {
  const out: NetlinkMessage[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > buf.length)
      throw new TypeError(`bad netlink message length ${len} at ${off}`);
    const type = buf.readUInt16LE(off + 4);
    const flags = buf.readUInt16LE(off + 6);
    const seq = buf.readUInt32LE(off + 8);
    const body = buf.subarray(off + NLMSG_HDRLEN, off + len);
    if (type === NlmsgType.Error) out.push(decodeError(body, flags, seq));
    else if (type === NlmsgType.Done) out.push({ kind: 'done', seq, flags });
    else if (type === RtmType.NewRoute && body.length >= RTMSG_LEN) {
      const route = decodeRoute(body);
      if (route) out.push({ kind: 'route', seq, flags, route });
      else out.push({ kind: 'other', seq, type, flags, body });
    } else out.push({ kind: 'other', seq, type, flags, body });
    off += align4(len);
  }
  if (off < buf.length && buf.length - off >= NLMSG_HDRLEN)
    throw new TypeError('trailing bytes after netlink messages');
  return out;
}

/** struct nlmsgerr: int error; struct nlmsghdr msg; [payload unless capped]; [TLVs if NLM_F_ACK_TLVS]. */
function decodeError(body: Buffer, flags: number, seq: number): NetlinkMessage {
  if (body.length < 4 + NLMSG_HDRLEN) throw new TypeError('short NLMSG_ERROR');
  const raw = body.readInt32LE(0);
  const error = raw === 0 ? 0 : -raw;
  const origLen = body.readUInt32LE(4);
  let message: string | undefined;
  let offset: number | undefined;
  if (flags & NlmFlag.AckTlvs) {
    let p = 4 + (flags & NlmFlag.Capped ? NLMSG_HDRLEN : align4(origLen));
    while (p + 4 <= body.length) {
      const alen = body.readUInt16LE(p);
      const atype = body.readUInt16LE(p + 2) & 0x3fff;
      if (alen < 4 || p + alen > body.length) break;
      if (atype === NlmsgerrAttr.Msg) {
        const end = body.indexOf(0, p + 4);
        message = body.toString('utf8', p + 4, end < 0 || end > p + alen ? p + alen : end);
      } else if (atype === NlmsgerrAttr.Offs && alen >= 8) offset = body.readUInt32LE(p + 4);
      p += align4(alen);
    }
  }
  return { kind: 'ack', seq, error, message, offset };
}

/** Parse an rtmsg + attributes body. Returns undefined for families other than IPv4/IPv6. */
export function decodeRoute(body: Buffer): Route | undefined {
  const af = body[0];
  const family: RouteFamily | undefined = af === AF_INET ? 4 : af === AF_INET6 ? 6 : undefined;
  if (family === undefined) return undefined;
  const alen = family === 4 ? 4 : 16;
  const route: Route = {
    family,
    dst: family === 4 ? '0.0.0.0' : '::',
    prefixLen: body[1] ?? 0,
    table: body[4] ?? 0,
    protocol: body[5] ?? 0,
    scope: body[6] ?? 0,
    type: body[7] ?? 0,
    oif: undefined,
    gateway: undefined,
    priority: undefined,
    flags: body.readUInt32LE(8),
  };
  let p = RTMSG_LEN;
  while (p + 4 <= body.length) {
    const len = body.readUInt16LE(p);
    const type = body.readUInt16LE(p + 2);
    if (len < 4 || p + len > body.length) throw new TypeError(`bad rtattr length ${len}`);
    const v = p + 4;
    switch (type) {
      case RtaType.Dst:
        if (len >= 4 + alen) route.dst = readAddr(family, body, v);
        break;
      case RtaType.Gateway:
        if (len >= 4 + alen) route.gateway = readAddr(family, body, v);
        break;
      case RtaType.Oif:
        if (len >= 8) route.oif = body.readUInt32LE(v);
        break;
      case RtaType.Priority:
        if (len >= 8) route.priority = body.readUInt32LE(v);
        break;
      case RtaType.Table:
        if (len >= 8) route.table = body.readUInt32LE(v);
        break;
    }
    p += align4(len);
  }
  return route;
}
