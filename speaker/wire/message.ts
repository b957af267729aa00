/**
 * `decodeMessage`: one whole message (header included, as `MessageFramer.pull()` returns it) to a
 * `BgpMessage`. Any byte string either decodes or throws a `BgpError` (the property in message.test.ts).
 */
import { BgpError, ErrorCode, HeaderSubcode } from './errors.js';
import { checkHeader } from './framing.js';
import { decodeKeepalive, decodeNotification, decodeRouteRefresh } from './messages.js';
import { decodeOpen } from './open.js';
import { type BgpMessage, HEADER_LEN, MAX_MESSAGE_LEN, MessageType } from './types.js';
import { decodeUpdate, type UpdateContext } from './update.js';

/** The UPDATE context plus the negotiated maximum message length (4096, or 65,535 with RFC 8654). */
export interface MessageContext extends UpdateContext {
  readonly maxLen?: number | undefined;
}

/**
 * Decode one whole message; throws a `BgpError` whose `toNotification()` is what to send before closing.
 * @example
 * const msg = decodeMessage(framer.pull()!, updateContext({ fourOctetAs: true, ibgp: false }));
 * if (msg.type === MessageType.Update && !msg.treatAsWithdraw) rib.add(msg.reachable, msg.attributes);
 */
export function decodeMessage(buf: Buffer, ctx: MessageContext): BgpMessage {
  if (buf.length < HEADER_LEN) {
    throw new BgpError(
      ErrorCode.Header,
      HeaderSubcode.BadMessageLength,
      `Cannot decode message: ${buf.length} bytes is shorter than a header`,
    );
  }
  const len = checkHeader(buf, 0, ctx.maxLen ?? MAX_MESSAGE_LEN);
  if (len !== buf.length) {
    throw new BgpError(
      ErrorCode.Header,
      HeaderSubcode.BadMessageLength,
      `Cannot decode message: header says ${len} bytes, got ${buf.length}`,
      {
        data: buf.subarray(16, 18),
      },
    );
  }
  const body = buf.subarray(HEADER_LEN);
  switch (buf[18]) {
    case MessageType.Open:
      return decodeOpen(body);
    case MessageType.Update:
      return decodeUpdate(body, ctx);
    case MessageType.Notification:
      return decodeNotification(body);
    case MessageType.Keepalive:
      return decodeKeepalive(body);
    default:
      return decodeRouteRefresh(body);
  }
}
