/**
 * OPEN (RFC 4271 §4.2) with Capabilities optional parameters (RFC 5492) and RFC 9072 extended optional
 * parameters length. Decodes every capability in types.ts `Capabilities`; unknown ones are kept as bytes.
 *
 * Checks here are the syntactic ones of §6.2 (version, hold time 1 or 2, zero BGP Identifier, unknown
 * optional parameter, malformed known capability). Peer AS, collision and capability negotiation belong to
 * session/: `negotiate*` helpers below give it the shared answers.
 */
import { BgpError, ErrorCode, OpenSubcode } from './errors.js';
import {
  type AddPathMode,
  type AfiSafi,
  type BgpRole,
  type Capabilities,
  CapabilityCode,
  HEADER_LEN,
  MessageType,
  type OpenMessage,
} from './types.js';

/** RFC 5492 §4 */
const PARAM_CAPABILITIES = 2;
/** RFC 9072 §2: Non-Ext OP Type that flags the extended encoding. */
const PARAM_EXTENDED = 255;

const ADD_PATH_MODE: readonly (AddPathMode | undefined)[] = [undefined, 'receive', 'send', 'both'];
const ADD_PATH_CODE: Readonly<Record<AddPathMode, number>> = { receive: 1, send: 2, both: 3 };

/** Capabilities with nothing advertised. */
export const NO_CAPABILITIES: Capabilities = Object.freeze({
  multiprotocol: [],
  routeRefresh: false,
  enhancedRouteRefresh: false,
  fourOctetAs: undefined,
  gracefulRestart: undefined,
  addPath: [],
  extendedMessage: false,
  extendedNextHop: [],
  role: undefined,
  unknown: [],
});

function openError(subcode: number, detail: string, data?: Uint8Array): BgpError {
  return new BgpError(ErrorCode.Open, subcode, `Cannot decode OPEN: ${detail}`, data ? { data } : {});
}

function malformedCap(code: number, len: number, expected: string): BgpError {
  // RFC 5492 leaves malformed known capabilities to the OPEN error code; subcode 0 is "unspecific".
  return openError(0, `capability ${code} has length ${len}, expected ${expected}`);
}

/**
 * Decode an OPEN body (the bytes after the 19-byte header).
 * @example
 * peerAs(decodeOpen(msg.subarray(HEADER_LEN))) // the real AS, from the 4-octet AS capability if present
 */
export function decodeOpen(body: Buffer): OpenMessage {
  if (body.length < 10) throw openError(0, `body is ${body.length} bytes, expected at least 10`);
  const version = body[0] as number;
  if (version !== 4)
    throw openError(OpenSubcode.UnsupportedVersionNumber, `version is ${version}, expected 4`, Uint8Array.of(0, 4));
  const myAs = body.readUInt16BE(1);
  const holdTimeSec = body.readUInt16BE(3);
  // RFC 4271 §6.2: a Hold Time of one or two seconds MUST be rejected.
  if (holdTimeSec === 1 || holdTimeSec === 2)
    throw openError(OpenSubcode.UnacceptableHoldTime, `hold time is ${holdTimeSec}`);
  const bgpId = body.readUInt32BE(5);
  // RFC 6286 §2.2: the identifier is a non-zero 4-octet unsigned integer.
  if (bgpId === 0) throw openError(OpenSubcode.BadBgpIdentifier, 'BGP Identifier is 0');
  let optLen = body[9] as number;
  let off = 10;
  let extended = false;
  // RFC 9072 §2: Non-Ext OP Len 255 and Non-Ext OP Type 255 mean a 2-octet length follows.
  if (optLen === 255 && body.length >= 13 && body[10] === PARAM_EXTENDED) {
    extended = true;
    optLen = body.readUInt16BE(11);
    off = 13;
  }
  if (off + optLen !== body.length) {
    throw openError(0, `optional parameters length is ${optLen}, but ${body.length - off} bytes follow`);
  }
  const caps = new CapsBuilder();
  const end = off + optLen;
  while (off < end) {
    const hdr = extended ? 3 : 2;
    if (off + hdr > end) throw openError(0, 'optional parameter header overruns the parameters');
    const type = body[off] as number;
    const len = extended ? body.readUInt16BE(off + 1) : (body[off + 1] as number);
    off += hdr;
    if (off + len > end) throw openError(0, `optional parameter ${type} overruns the parameters`);
    if (type !== PARAM_CAPABILITIES) {
      throw openError(OpenSubcode.UnsupportedOptionalParameter, `optional parameter type ${type} is not supported`);
    }
    decodeCapabilities(body, off, off + len, caps);
    off += len;
  }
  return { type: MessageType.Open, version, myAs, holdTimeSec, bgpId, capabilities: caps.build() };
}

class CapsBuilder {
  multiprotocol: AfiSafi[] = [];
  routeRefresh = false;
  enhancedRouteRefresh = false;
  fourOctetAs: number | undefined = undefined;
  gracefulRestart: Capabilities['gracefulRestart'] = undefined;
  addPath: (AfiSafi & { mode: AddPathMode })[] = [];
  extendedMessage = false;
  extendedNextHop: (AfiSafi & { nextHopAfi: number })[] = [];
  role: BgpRole | undefined = undefined;
  unknown: { code: number; value: Uint8Array }[] = [];
  build(): Capabilities {
    return {
      multiprotocol: this.multiprotocol,
      routeRefresh: this.routeRefresh,
      enhancedRouteRefresh: this.enhancedRouteRefresh,
      fourOctetAs: this.fourOctetAs,
      gracefulRestart: this.gracefulRestart,
      addPath: this.addPath,
      extendedMessage: this.extendedMessage,
      extendedNextHop: this.extendedNextHop,
      role: this.role,
      unknown: this.unknown,
    };
  }
}

function decodeCapabilities(b: Buffer, off: number, end: number, caps: CapsBuilder): void {
  while (off < end) {
    if (off + 2 > end) throw openError(0, 'capability header overruns the parameter');
    const code = b[off] as number;
    const len = b[off + 1] as number;
    const v = off + 2;
    off = v + len;
    if (off > end) throw openError(0, `capability ${code} overruns the parameter`);
    switch (code) {
      case CapabilityCode.Multiprotocol: // RFC 4760 §8
        if (len !== 4) throw malformedCap(code, len, '4');
        caps.multiprotocol.push({ afi: b.readUInt16BE(v), safi: b[v + 3] as number });
        break;
      case CapabilityCode.RouteRefresh: // RFC 2918 §2
        if (len !== 0) throw malformedCap(code, len, '0');
        caps.routeRefresh = true;
        break;
      case CapabilityCode.EnhancedRouteRefresh: // RFC 7313 §3
        if (len !== 0) throw malformedCap(code, len, '0');
        caps.enhancedRouteRefresh = true;
        break;
      case CapabilityCode.ExtendedMessage: // RFC 8654 §3
        if (len !== 0) throw malformedCap(code, len, '0');
        caps.extendedMessage = true;
        break;
      case CapabilityCode.FourOctetAs: // RFC 6793 §3
        if (len !== 4) throw malformedCap(code, len, '4');
        caps.fourOctetAs = b.readUInt32BE(v);
        break;
      case CapabilityCode.Role: // RFC 9234 §4.1
        if (len !== 1) throw malformedCap(code, len, '1');
        // §4.2: several Role capabilities must agree.
        if (caps.role !== undefined && caps.role !== b[v])
          throw openError(OpenSubcode.RoleMismatch, 'two Role capabilities disagree');
        caps.role = b[v] as BgpRole;
        break;
      case CapabilityCode.ExtendedNextHop: // RFC 8950 §3
        if (len % 6 !== 0) throw malformedCap(code, len, 'a multiple of 6');
        for (let p = v; p < off; p += 6) {
          caps.extendedNextHop.push({
            afi: b.readUInt16BE(p),
            safi: b.readUInt16BE(p + 2),
            nextHopAfi: b.readUInt16BE(p + 4),
          });
        }
        break;
      case CapabilityCode.AddPath: // RFC 7911 §4
        if (len % 4 !== 0) throw malformedCap(code, len, 'a multiple of 4');
        for (let p = v; p < off; p += 4) {
          const mode = ADD_PATH_MODE[b[p + 3] as number];
          // §4: other Send/Receive values are ignored.
          if (mode) caps.addPath.push({ afi: b.readUInt16BE(p), safi: b[p + 2] as number, mode });
        }
        break;
      case CapabilityCode.GracefulRestart: {
        // RFC 4724 §3; N bit from RFC 8538 §2.
        if (len < 2 || (len - 2) % 4 !== 0) throw malformedCap(code, len, '2 + a multiple of 4');
        const flags = b.readUInt16BE(v);
        const afiSafis: (AfiSafi & { forwardingPreserved: boolean })[] = [];
        for (let p = v + 2; p < off; p += 4) {
          afiSafis.push({
            afi: b.readUInt16BE(p),
            safi: b[p + 2] as number,
            forwardingPreserved: ((b[p + 3] as number) & 0x80) !== 0,
          });
        }
        caps.gracefulRestart = {
          restarting: (flags & 0x8000) !== 0,
          notification: (flags & 0x4000) !== 0,
          restartTimeSec: flags & 0x0fff,
          afiSafis,
        };
        break;
      }
      default:
        caps.unknown.push({ code, value: new Uint8Array(b.subarray(v, off)) }); // a copy, not a view of the chunk
    }
  }
}

/** Capability TLVs (code, len, value) in the order we send them. */
function capabilityList(c: Capabilities): [number, Uint8Array][] {
  const out: [number, Uint8Array][] = [];
  for (const m of c.multiprotocol) {
    const v = Buffer.alloc(4);
    v.writeUInt16BE(m.afi, 0);
    v[3] = m.safi;
    out.push([CapabilityCode.Multiprotocol, v]);
  }
  if (c.routeRefresh) out.push([CapabilityCode.RouteRefresh, new Uint8Array(0)]);
  if (c.enhancedRouteRefresh) out.push([CapabilityCode.EnhancedRouteRefresh, new Uint8Array(0)]);
  if (c.extendedMessage) out.push([CapabilityCode.ExtendedMessage, new Uint8Array(0)]);
  if (c.extendedNextHop.length > 0) {
    const v = Buffer.alloc(6 * c.extendedNextHop.length);
    c.extendedNextHop.forEach((e, i) => {
      v.writeUInt16BE(e.afi, 6 * i);
      v.writeUInt16BE(e.safi, 6 * i + 2);
      v.writeUInt16BE(e.nextHopAfi, 6 * i + 4);
    });
    out.push([CapabilityCode.ExtendedNextHop, v]);
  }
  if (c.gracefulRestart) {
    const gr = c.gracefulRestart;
    const v = Buffer.alloc(2 + 4 * gr.afiSafis.length);
    v.writeUInt16BE((gr.restarting ? 0x8000 : 0) | (gr.notification ? 0x4000 : 0) | (gr.restartTimeSec & 0x0fff), 0);
    gr.afiSafis.forEach((a, i) => {
      v.writeUInt16BE(a.afi, 2 + 4 * i);
      v[4 + 4 * i] = a.safi;
      v[5 + 4 * i] = a.forwardingPreserved ? 0x80 : 0;
    });
    out.push([CapabilityCode.GracefulRestart, v]);
  }
  if (c.fourOctetAs !== undefined) {
    const v = Buffer.alloc(4);
    v.writeUInt32BE(c.fourOctetAs >>> 0, 0);
    out.push([CapabilityCode.FourOctetAs, v]);
  }
  if (c.addPath.length > 0) {
    const v = Buffer.alloc(4 * c.addPath.length);
    c.addPath.forEach((a, i) => {
      v.writeUInt16BE(a.afi, 4 * i);
      v[4 * i + 2] = a.safi;
      v[4 * i + 3] = ADD_PATH_CODE[a.mode];
    });
    out.push([CapabilityCode.AddPath, v]);
  }
  if (c.role !== undefined) out.push([CapabilityCode.Role, Uint8Array.of(c.role)]);
  for (const u of c.unknown) out.push([u.code, u.value]);
  for (const [code, v] of out) {
    if (v.length > 255)
      throw new RangeError(`Cannot encode capability ${code}: value is ${v.length} bytes, at most 255 fit`);
  }
  return out;
}

/**
 * One Capabilities parameter per capability (what BIRD, FRR and GoBGP send). When the parameters exceed
 * 255 bytes, the RFC 9072 extended form is used.
 */
function paramsSize(caps: [number, Uint8Array][]): { extended: boolean; size: number } {
  let plain = 0;
  for (const [, v] of caps) plain += 4 + v.length;
  if (plain <= 255) return { extended: false, size: plain };
  return { extended: true, size: plain + caps.length };
}

/** Total bytes of the encoded OPEN, header included. */
export function sizeOpen(msg: OpenMessage): number {
  const { extended, size } = paramsSize(capabilityList(msg.capabilities));
  return HEADER_LEN + 10 + (extended ? 3 : 0) + size;
}

/**
 * Encode a whole OPEN message (header included).
 * @example
 * encodeOpen({ type: 1, version: 4, myAs: AS_TRANS, holdTimeSec: 90, bgpId: 0x0a000001,
 *   capabilities: { ...NO_CAPABILITIES, fourOctetAs: 4_200_000_001, routeRefresh: true } });
 */
export function encodeOpen(msg: OpenMessage): Buffer {
  const caps = capabilityList(msg.capabilities);
  const { extended, size } = paramsSize(caps);
  const total = HEADER_LEN + 10 + (extended ? 3 : 0) + size;
  if (total > 4096) throw new RangeError(`Cannot encode OPEN: ${total} bytes exceed 4096`);
  const out = Buffer.alloc(total, 0xff);
  out.writeUInt16BE(total, 16);
  out[18] = MessageType.Open;
  let off = HEADER_LEN;
  out[off++] = msg.version;
  off = out.writeUInt16BE(msg.myAs, off);
  off = out.writeUInt16BE(msg.holdTimeSec, off);
  off = out.writeUInt32BE(msg.bgpId >>> 0, off);
  if (extended) {
    out[off++] = 255;
    out[off++] = PARAM_EXTENDED;
    off = out.writeUInt16BE(size, off);
  } else out[off++] = size;
  for (const [code, v] of caps) {
    out[off++] = PARAM_CAPABILITIES;
    if (extended) off = out.writeUInt16BE(v.length + 2, off);
    else out[off++] = v.length + 2;
    out[off++] = code;
    out[off++] = v.length;
    out.set(v, off);
    off += v.length;
  }
  return out;
}

/** The peer's real AS: the 4-octet AS capability if present (RFC 6793 §4.1), else My Autonomous System. */
export function peerAs(msg: OpenMessage): number {
  return msg.capabilities.fourOctetAs ?? msg.myAs;
}
