/**
 * rtnetlink LINK, ADDRESS and NEIGHBOUR codec, pure (no koffi, no I/O): what the CNI plugin needs to build a
 * pod's veth pair in one request (RTM_NEWLINK with IFLA_LINKINFO "veth" and VETH_INFO_PEER, the peer placed
 * straight into the pod's network namespace by IFLA_NET_NS_FD), bring links up, set MTU and alias, add
 * addresses (RTM_NEWADDR) and permanent neighbour entries (RTM_NEWNEIGH), and read links and addresses back.
 * Routes stay in `codec.ts`; `decodeMessages` there hands every non-route message over as a body view that
 * `decodeLink` / `decodeAddr` here parse.
 *
 * Layouts: linux/rtnetlink.h (ifinfomsg, ifaddrmsg, ndmsg), linux/if_link.h (IFLA_*, IFLA_INFO_*),
 * linux/veth.h (VETH_INFO_PEER), linux/if_addr.h (IFA_*), linux/neighbour.h (NDA_*, NUD_*). Host byte order.
 *
 * Leaves out: link kinds other than veth, link statistics, address lifetimes, neighbour dumps.
 */
import { formatIp, parseIp } from '../../model/ip.js';
import { NLMSG_HDRLEN, NlmFlag } from './codec.js';

/** linux/rtnetlink.h */
export const LinkMsgType = {
  NewLink: 16,
  DelLink: 17,
  GetLink: 18,
  SetLink: 19,
  NewAddr: 20,
  DelAddr: 21,
  GetAddr: 22,
  NewNeigh: 28,
  DelNeigh: 29,
} as const;
/** linux/if_link.h: enum IFLA_* (the ones we read or write) */
export const IflaType = {
  Address: 1,
  IfName: 3,
  Mtu: 4,
  Link: 5,
  OperState: 16,
  LinkInfo: 18,
  IfAlias: 20,
  NetNsFd: 28,
} as const;
/** linux/if_link.h: IFLA_INFO_* inside IFLA_LINKINFO */
export const IflaInfo = { Kind: 1, Data: 2 } as const;
/** linux/veth.h */
export const VETH_INFO_PEER = 1;
/** linux/if.h: net_device_flags */
export const IfFlag = { Up: 0x1, LowerUp: 0x10000 } as const;
/** linux/if_addr.h */
export const IfaType = { Address: 1, Local: 2, Label: 3, Flags: 8 } as const;
export const IfaFlag = { NoDad: 0x02, Permanent: 0x80 } as const;
/** linux/neighbour.h */
export const NdaType = { Dst: 1, LlAddr: 2 } as const;
export const NudState = { Permanent: 0x80 } as const;

const AF_UNSPEC = 0;
const AF_INET = 2;
const AF_INET6 = 10;
const ARPHRD_ETHER = 1;
const IFINFOMSG_LEN = 16;
const IFADDRMSG_LEN = 8;
const NDMSG_LEN = 12;
const NLA_TYPE_MASK = 0x3fff;

export type AddrFamily = 4 | 6;

/** A link as a dump or a get reads it back. */
export interface Link {
  index: number;
  name: string;
  /** `aa:bb:cc:dd:ee:ff`, lower case; absent for links without one (lo has all zeros). */
  mac?: string | undefined;
  mtu?: number | undefined;
  /** ifi_flags, see IfFlag. */
  flags: number;
  /** IFLA_INFO_KIND, e.g. "veth". */
  kind?: string | undefined;
  alias?: string | undefined;
  /** IFLA_LINK: for a veth, the peer's index (in the peer's namespace). */
  link?: number | undefined;
}

/** One interface address as RTM_GETADDR reads it back. */
export interface Addr {
  family: AddrFamily;
  index: number;
  address: string;
  prefixLen: number;
  flags: number;
}

/** Identifies a link by index (preferred) or name. */
export type LinkRef = { index: number; name?: undefined } | { name: string; index?: undefined };

// --- attribute building -----------------------------------------------------------------------------------

const align4 = (n: number) => (n + 3) & ~3;

function attr(type: number, payload: Buffer): Buffer {
  const len = 4 + payload.length;
  const out = Buffer.alloc(align4(len));
  out.writeUInt16LE(len, 0);
  out.writeUInt16LE(type, 2);
  payload.copy(out, 4);
  return out;
}
const attrU32 = (type: number, v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0, 0);
  return attr(type, b);
};
/** NUL-terminated, as the kernel's nla_strscpy expects for names. */
const attrStr = (type: number, s: string): Buffer => attr(type, Buffer.from(`${s}\0`, 'utf8'));
const attrNest = (type: number, children: Buffer[]): Buffer => attr(type, Buffer.concat(children));

/** `aa:bb:cc:dd:ee:ff` → 6 bytes. Throws a TypeError for anything else. */
export function macBytes(mac: string): Buffer {
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p)))
    throw new TypeError(`not a MAC address: "${mac}"`);
  return Buffer.from(parts.map((p) => Number.parseInt(p, 16)));
}
export function formatMac(b: Buffer): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

function addrBytes(family: AddrFamily, text: string): Buffer {
  const ip = parseIp(text);
  if (ip.family !== family) throw new TypeError(`not an IPv${family} address: "${text}"`);
  const n = family === 4 ? 4 : 16;
  const out = Buffer.alloc(n);
  let v = ip.value;
  for (let i = n - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}
function readAddr(b: Buffer): string {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return formatIp({ family: b.length === 4 ? 4 : 6, value: v });
}

function message(type: number, flags: number, seq: number, header: Buffer, attrs: Buffer[]): Buffer {
  const body = Buffer.concat([header, ...attrs]);
  const out = Buffer.alloc(NLMSG_HDRLEN + body.length);
  out.writeUInt32LE(out.length, 0);
  out.writeUInt16LE(type, 4);
  out.writeUInt16LE(flags, 6);
  out.writeUInt32LE(seq >>> 0, 8);
  body.copy(out, NLMSG_HDRLEN);
  return out;
}

function ifinfomsg(index: number, flags: number, change: number): Buffer {
  const h = Buffer.alloc(IFINFOMSG_LEN);
  h[0] = AF_UNSPEC;
  h.writeUInt16LE(ARPHRD_ETHER, 2);
  h.writeInt32LE(index, 4);
  h.writeUInt32LE(flags >>> 0, 8);
  h.writeUInt32LE(change >>> 0, 12);
  return h;
}

const REQ_ACK = NlmFlag.Request | NlmFlag.Ack;

// --- links ------------------------------------------------------------------------------------------------

export interface VethEnd {
  name: string;
  mac?: string | undefined;
  mtu?: number | undefined;
  /**
   * Create the end administratively up. Only for the first end: the kernel brings the peer up before the pair
   * is linked, and veth_open then fails with ENOTCONN; set the peer up with encodeSetLink afterwards.
   */
  up?: boolean | undefined;
  /** Not honoured by the kernel on creation (only RTM_SETLINK sets IFLA_IFALIAS); kept for symmetry. */
  alias?: string | undefined;
  /** Place this end into the network namespace behind this open fd (IFLA_NET_NS_FD). */
  netnsFd?: number | undefined;
}

function endAttrs(e: VethEnd): Buffer[] {
  const a = [attrStr(IflaType.IfName, e.name)];
  if (e.mac !== undefined) a.push(attr(IflaType.Address, macBytes(e.mac)));
  if (e.mtu !== undefined) a.push(attrU32(IflaType.Mtu, e.mtu));
  if (e.alias !== undefined) a.push(attr(IflaType.IfAlias, Buffer.from(e.alias, 'utf8')));
  if (e.netnsFd !== undefined) a.push(attrU32(IflaType.NetNsFd, e.netnsFd));
  return a;
}

/**
 * RTM_NEWLINK (CREATE|EXCL) of a veth pair: `host` in the caller's namespace (or `host.netnsFd`), `peer` where
 * `peer.netnsFd` says. EEXIST when either name is taken in its namespace.
 * @example encodeNewVeth({ name: 'cali0123456789a' }, { name: 'eth0', netnsFd: fd }, 7)
 */
export function encodeNewVeth(host: VethEnd, peer: VethEnd, seq: number): Buffer {
  const up = (e: VethEnd) => (e.up ? IfFlag.Up : 0);
  // VETH_INFO_PEER's payload is a whole struct ifinfomsg followed by the peer's attributes (linux/veth.h).
  const peerPayload = Buffer.concat([ifinfomsg(0, up(peer), up(peer)), ...endAttrs(peer)]);
  const linkInfo = attrNest(IflaType.LinkInfo, [
    attrStr(IflaInfo.Kind, 'veth'),
    attrNest(IflaInfo.Data, [attr(VETH_INFO_PEER, peerPayload)]),
  ]);
  return message(LinkMsgType.NewLink, REQ_ACK | NlmFlag.Create | NlmFlag.Excl, seq, ifinfomsg(0, up(host), up(host)), [
    ...endAttrs(host),
    linkInfo,
  ]);
}

function refAttrs(ref: LinkRef): { index: number; attrs: Buffer[] } {
  return ref.index !== undefined
    ? { index: ref.index, attrs: [] }
    : { index: 0, attrs: [attrStr(IflaType.IfName, ref.name)] };
}

/** RTM_SETLINK: change admin state, MTU or alias of an existing link. */
export function encodeSetLink(
  ref: LinkRef,
  change: { up?: boolean; mtu?: number; alias?: string },
  seq: number,
): Buffer {
  const { index, attrs } = refAttrs(ref);
  if (change.mtu !== undefined) attrs.push(attrU32(IflaType.Mtu, change.mtu));
  if (change.alias !== undefined) attrs.push(attr(IflaType.IfAlias, Buffer.from(change.alias, 'utf8')));
  const flags = change.up === undefined ? 0 : change.up ? IfFlag.Up : 0;
  const mask = change.up === undefined ? 0 : IfFlag.Up;
  return message(LinkMsgType.SetLink, REQ_ACK, seq, ifinfomsg(index, flags, mask), attrs);
}

/** RTM_DELLINK by index or name (deleting one end of a veth deletes both). ENODEV when absent. */
export function encodeDelLink(ref: LinkRef, seq: number): Buffer {
  const { index, attrs } = refAttrs(ref);
  return message(LinkMsgType.DelLink, REQ_ACK, seq, ifinfomsg(index, 0, 0), attrs);
}

/** RTM_GETLINK of one link: the reply is one RTM_NEWLINK, then the ACK; ENODEV when absent. */
export function encodeGetLink(ref: LinkRef, seq: number): Buffer {
  const { index, attrs } = refAttrs(ref);
  return message(LinkMsgType.GetLink, REQ_ACK, seq, ifinfomsg(index, 0, 0), attrs);
}

/** Parse an ifinfomsg + attributes body (an RTM_NEWLINK reply). Throws a TypeError when malformed. */
export function decodeLink(body: Buffer): Link {
  if (body.length < IFINFOMSG_LEN) throw new TypeError(`short ifinfomsg: ${body.length} bytes`);
  const link: Link = { index: body.readInt32LE(4), name: '', flags: body.readUInt32LE(8) };
  forEachAttr(body, IFINFOMSG_LEN, (type, v) => {
    switch (type) {
      case IflaType.IfName:
        link.name = cString(v);
        break;
      case IflaType.Address:
        if (v.length === 6) link.mac = formatMac(v);
        break;
      case IflaType.Mtu:
        if (v.length >= 4) link.mtu = v.readUInt32LE(0);
        break;
      case IflaType.Link:
        if (v.length >= 4) link.link = v.readUInt32LE(0);
        break;
      case IflaType.IfAlias:
        link.alias = cString(v);
        break;
      case IflaType.LinkInfo:
        forEachAttr(v, 0, (t, iv) => {
          if (t === IflaInfo.Kind) link.kind = cString(iv);
        });
        break;
    }
  });
  return link;
}

// --- addresses --------------------------------------------------------------------------------------------

/**
 * RTM_NEWADDR (CREATE|REPLACE): `address/prefixLen` on link `index`. IPv6 addresses get IFA_F_NODAD so they
 * are usable at once (a pod's /128 is unique by IPAM; duplicate detection would only delay it).
 */
export function encodeNewAddr(
  a: { family: AddrFamily; index: number; address: string; prefixLen: number; noDad?: boolean },
  seq: number,
): Buffer {
  const h = Buffer.alloc(IFADDRMSG_LEN);
  h[0] = a.family === 4 ? AF_INET : AF_INET6;
  h[1] = a.prefixLen;
  const flags = (a.noDad ?? a.family === 6) ? IfaFlag.NoDad | IfaFlag.Permanent : IfaFlag.Permanent;
  h[2] = flags & 0xff;
  h[3] = 0; // RT_SCOPE_UNIVERSE
  h.writeUInt32LE(a.index >>> 0, 4);
  const bytes = addrBytes(a.family, a.address);
  const attrs = [attr(IfaType.Local, bytes), attr(IfaType.Address, bytes), attrU32(IfaType.Flags, flags)];
  return message(LinkMsgType.NewAddr, REQ_ACK | NlmFlag.Create | NlmFlag.Replace, seq, h, attrs);
}

/** RTM_GETADDR dump of one family (or both: `undefined`). */
export function encodeAddrDump(family: AddrFamily | undefined, seq: number): Buffer {
  const h = Buffer.alloc(IFADDRMSG_LEN);
  h[0] = family === undefined ? AF_UNSPEC : family === 4 ? AF_INET : AF_INET6;
  return message(LinkMsgType.GetAddr, NlmFlag.Request | NlmFlag.Dump, seq, h, []);
}

/** Parse an ifaddrmsg + attributes body. Undefined for families other than IPv4/IPv6. */
export function decodeAddr(body: Buffer): Addr | undefined {
  if (body.length < IFADDRMSG_LEN) throw new TypeError(`short ifaddrmsg: ${body.length} bytes`);
  const family: AddrFamily | undefined = body[0] === AF_INET ? 4 : body[0] === AF_INET6 ? 6 : undefined;
  if (family === undefined) return undefined;
  const out: Addr = { family, prefixLen: body[1] ?? 0, flags: body[2] ?? 0, index: body.readUInt32LE(4), address: '' };
  const alen = family === 4 ? 4 : 16;
  let local: string | undefined;
  forEachAttr(body, IFADDRMSG_LEN, (type, v) => {
    if (type === IfaType.Address && v.length === alen) out.address = readAddr(v);
    else if (type === IfaType.Local && v.length === alen) local = readAddr(v);
    else if (type === IfaType.Flags && v.length >= 4) out.flags = v.readUInt32LE(0);
  });
  // On point-to-point links IFA_ADDRESS is the peer; IFA_LOCAL is always our own address.
  if (local !== undefined) out.address = local;
  return out;
}

// --- neighbours -------------------------------------------------------------------------------------------

/** RTM_NEWNEIGH (CREATE|REPLACE) of a permanent entry `dst` → `lladdr` on link `index`. */
export function encodeNewNeigh(
  n: { family: AddrFamily; index: number; dst: string; lladdr: string },
  seq: number,
): Buffer {
  const h = Buffer.alloc(NDMSG_LEN);
  h[0] = n.family === 4 ? AF_INET : AF_INET6;
  h.writeInt32LE(n.index, 4);
  h.writeUInt16LE(NudState.Permanent, 8);
  return message(LinkMsgType.NewNeigh, REQ_ACK | NlmFlag.Create | NlmFlag.Replace, seq, h, [
    attr(NdaType.Dst, addrBytes(n.family, n.dst)),
    attr(NdaType.LlAddr, macBytes(n.lladdr)),
  ]);
}

// --- helpers ----------------------------------------------------------------------------------------------

function cString(v: Buffer): string {
  const end = v.indexOf(0);
  return v.toString('utf8', 0, end < 0 ? v.length : end);
}

function forEachAttr(buf: Buffer, start: number, fn: (type: number, value: Buffer) => void): void {
  let p = start;
  while (p + 4 <= buf.length) {
    const len = buf.readUInt16LE(p);
    if (len < 4 || p + len > buf.length) throw new TypeError(`bad attribute length ${len} at ${p}`);
    fn(buf.readUInt16LE(p + 2) & NLA_TYPE_MASK, buf.subarray(p + 4, p + len));
    p += align4(len);
  }
}
