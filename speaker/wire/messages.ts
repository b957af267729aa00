/**
 * The small messages: KEEPALIVE (RFC 4271 §4.4), NOTIFICATION (§4.5, with the RFC 9003 shutdown
 * communication), ROUTE-REFRESH (RFC 2918, RFC 7313 subtypes). Bodies are the bytes after the header.
 */
import { BgpError, CeaseSubcode, ErrorCode, RouteRefreshSubcode } from './errors.js';
import {
  HEADER_LEN,
  type KeepaliveMessage,
  MAX_MESSAGE_LEN,
  MessageType,
  type NotificationMessage,
  type RouteRefreshMessage,
} from './types.js';

function header(total: number, type: number): Buffer {
  const out = Buffer.allocUnsafe(total);
  out.fill(0xff, 0, 16);
  out.writeUInt16BE(total, 16);
  out[18] = type;
  return out;
}

const KEEPALIVE_MSG: KeepaliveMessage = Object.freeze({ type: MessageType.Keepalive });

/** A fresh 19-byte KEEPALIVE (fresh, because a buffer handed to socket.write must not be shared). */
export function encodeKeepalive(): Buffer {
  return header(HEADER_LEN, MessageType.Keepalive);
}
export function decodeKeepalive(_body: Buffer): KeepaliveMessage {
  return KEEPALIVE_MSG;
}

export function decodeNotification(body: Buffer): NotificationMessage {
  if (body.length < 2)
    throw new BgpError(ErrorCode.Header, 2, `Cannot decode NOTIFICATION: body is ${body.length} bytes`);
  return {
    type: MessageType.Notification,
    code: body[0] as number,
    subcode: body[1] as number,
    data: new Uint8Array(body.buffer, body.byteOffset + 2, body.length - 2),
  };
}

/** `maxLen` 65,535 when RFC 8654 extended messages are negotiated; Data is cut to fit. */
export function encodeNotification(msg: Omit<NotificationMessage, 'type'>, maxLen = MAX_MESSAGE_LEN): Buffer {
  const data = msg.data.subarray(0, maxLen - HEADER_LEN - 2);
  const out = header(HEADER_LEN + 2 + data.length, MessageType.Notification);
  out[19] = msg.code;
  out[20] = msg.subcode;
  out.set(data, 21);
  return out;
}

/**
 * RFC 9003 §2: the UTF-8 shutdown communication carried by Cease / Administrative Shutdown or Reset, or
 * undefined when there is none or it is malformed (the RFC says to ignore a malformed one).
 */
export function shutdownCommunication(msg: NotificationMessage): string | undefined {
  if (msg.code !== ErrorCode.Cease) return undefined;
  if (msg.subcode !== CeaseSubcode.AdministrativeShutdown && msg.subcode !== CeaseSubcode.AdministrativeReset)
    return undefined;
  const n = msg.data[0];
  if (n === undefined || n === 0 || n + 1 > msg.data.length) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(msg.data.subarray(1, 1 + n));
  } catch {
    return undefined;
  }
}

/** The Data field of an RFC 9003 shutdown communication (at most 255 bytes of UTF-8, cut on a character). */
export function shutdownData(text: string): Uint8Array {
  let bytes = Buffer.from(text, 'utf8');
  if (bytes.length > 255) {
    let cut = 255;
    while (cut > 0 && ((bytes[cut] as number) & 0xc0) === 0x80) cut--;
    bytes = bytes.subarray(0, cut);
  }
  const out = new Uint8Array(1 + bytes.length);
  out[0] = bytes.length;
  out.set(bytes, 1);
  return out;
}

/** RFC 7313 §3.2 subtypes. */
export const RouteRefreshSubtype = { Normal: 0, BeginningOfRouteRefresh: 1, EndOfRouteRefresh: 2 } as const;

export function decodeRouteRefresh(body: Buffer): RouteRefreshMessage {
  // RFC 7313 §5: a ROUTE-REFRESH whose length isn't 23 is a ROUTE-REFRESH Message Error.
  if (body.length !== 4) {
    throw new BgpError(
      ErrorCode.RouteRefresh,
      RouteRefreshSubcode.InvalidMessageLength,
      `Cannot decode ROUTE-REFRESH: body is ${body.length} bytes, expected 4`,
      {
        data: body.subarray(0, MAX_MESSAGE_LEN - HEADER_LEN - 2),
      },
    );
  }
  return {
    type: MessageType.RouteRefresh,
    afi: body.readUInt16BE(0),
    subtype: body[2] as number,
    safi: body[3] as number,
  };
}

export function encodeRouteRefresh(msg: Omit<RouteRefreshMessage, 'type'>): Buffer {
  const out = header(HEADER_LEN + 4, MessageType.RouteRefresh);
  out.writeUInt16BE(msg.afi, 19);
  out[21] = msg.subtype;
  out[22] = msg.safi;
  return out;
}
