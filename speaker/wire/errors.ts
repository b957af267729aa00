/**
 * BGP errors that already know their NOTIFICATION (RFC 4271 §4.5, §6) and their RFC 7606 handling, after
 * GoBGP's MessageError. The codec throws `BgpError`; the UPDATE decoder turns every action but
 * 'session-reset' into bookkeeping on the decoded message, so only session resets reach session/peer.ts.
 *
 * Leaves out: logging and rate limiting (the session layer's job); this module is pure.
 */
import { HEADER_LEN, MAX_MESSAGE_LEN, MessageType } from './types.js';

/** RFC 4271 §4.5 error codes; 5 and 6 refined by RFC 6608 and RFC 4486. */
export const ErrorCode = {
  Header: 1,
  Open: 2,
  Update: 3,
  HoldTimerExpired: 4,
  Fsm: 5,
  Cease: 6,
  RouteRefresh: 7,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** RFC 4271 §6.1 */
export const HeaderSubcode = { ConnectionNotSynchronized: 1, BadMessageLength: 2, BadMessageType: 3 } as const;
/** RFC 4271 §6.2; 7 is RFC 5492 Unsupported Capability, 11 is RFC 9234 Role Mismatch. */
export const OpenSubcode = {
  UnsupportedVersionNumber: 1,
  BadPeerAs: 2,
  BadBgpIdentifier: 3,
  UnsupportedOptionalParameter: 4,
  UnacceptableHoldTime: 6,
  UnsupportedCapability: 7,
  RoleMismatch: 11,
} as const;
/** RFC 4271 §6.3 */
export const UpdateSubcode = {
  MalformedAttributeList: 1,
  UnrecognizedWellKnownAttribute: 2,
  MissingWellKnownAttribute: 3,
  AttributeFlagsError: 4,
  AttributeLengthError: 5,
  InvalidOriginAttribute: 6,
  InvalidNextHopAttribute: 8,
  OptionalAttributeError: 9,
  InvalidNetworkField: 10,
  MalformedAsPath: 11,
} as const;
/** RFC 6608 */
export const FsmSubcode = {
  Unspecified: 0,
  UnexpectedInOpenSent: 1,
  UnexpectedInOpenConfirm: 2,
  UnexpectedInEstablished: 3,
} as const;
/** RFC 4486 (8 Out of Resources, 9 Hard Reset: RFC 8538) */
export const CeaseSubcode = {
  MaximumPrefixesReached: 1,
  AdministrativeShutdown: 2,
  PeerDeconfigured: 3,
  AdministrativeReset: 4,
  ConnectionRejected: 5,
  OtherConfigurationChange: 6,
  ConnectionCollisionResolution: 7,
  OutOfResources: 8,
  HardReset: 9,
} as const;
/** RFC 7313 §5 */
export const RouteRefreshSubcode = { InvalidMessageLength: 1 } as const;

/** RFC 7606 §2: how the receiver reacts. Only 'session-reset' sends a NOTIFICATION. */
export type ErrorAction = 'session-reset' | 'afisafi-disable' | 'treat-as-withdraw' | 'attribute-discard';

/** How bad each action is, to pick the strongest when several attributes are malformed (RFC 7606 §3 (h)). */
export const ACTION_SEVERITY: Readonly<Record<ErrorAction, number>> = {
  'attribute-discard': 0,
  'treat-as-withdraw': 1,
  'afisafi-disable': 2,
  'session-reset': 3,
};

const EMPTY = new Uint8Array(0);
const BRAND = Symbol.for('caracal.bgp-error');

/**
 * @example
 * throw new BgpError(ErrorCode.Update, UpdateSubcode.MalformedAsPath, 'Cannot decode AS_PATH: a segment is empty',
 *   { data: value, action: 'treat-as-withdraw' });
 */
export class BgpError extends Error {
  override readonly name = 'BgpError';
  readonly code: ErrorCode;
  readonly subcode: number;
  /** The offending bytes, for the NOTIFICATION's Data field. */
  readonly data: Uint8Array;
  readonly action: ErrorAction;
  readonly [BRAND] = true;
  constructor(
    code: ErrorCode,
    subcode: number,
    detail: string,
    { data = EMPTY, action = 'session-reset' }: { data?: Uint8Array; action?: ErrorAction } = {},
  ) {
    super(`BGP error ${code}/${subcode} (${errorText(code, subcode)}): ${detail}`);
    this.code = code;
    this.subcode = subcode;
    this.data = data;
    this.action = action;
  }

  /** RFC 4271 §4.5; Data is cut to fit the 4096-byte limit of §4.1. */
  toNotification(): Buffer {
    const data = this.data.subarray(0, MAX_MESSAGE_LEN - HEADER_LEN - 2);
    const msg = Buffer.alloc(HEADER_LEN + 2 + data.length, 0xff);
    msg.writeUInt16BE(msg.length, 16);
    msg[18] = MessageType.Notification;
    msg[19] = this.code;
    msg[20] = this.subcode;
    msg.set(data, HEADER_LEN + 2);
    return msg;
  }
}

/** Brand check that survives two copies of this module (undici's trick). */
export function isBgpError(e: unknown): e is BgpError {
  return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
}

/** (code, subcode) → text, for logs (BIRD's bgp_msg_table). Subcode 0 is the code's own name. */
const ERROR_TEXT: ReadonlyMap<number, string> = new Map([
  [0x0100, 'Message header error'],
  [0x0101, 'Connection not synchronized'],
  [0x0102, 'Bad message length'],
  [0x0103, 'Bad message type'],
  [0x0200, 'OPEN message error'],
  [0x0201, 'Unsupported version number'],
  [0x0202, 'Bad peer AS'],
  [0x0203, 'Bad BGP identifier'],
  [0x0204, 'Unsupported optional parameter'],
  [0x0206, 'Unacceptable hold time'],
  [0x0207, 'Unsupported capability'],
  [0x020b, 'Role mismatch'],
  [0x0300, 'UPDATE message error'],
  [0x0301, 'Malformed attribute list'],
  [0x0302, 'Unrecognized well-known attribute'],
  [0x0303, 'Missing well-known attribute'],
  [0x0304, 'Attribute flags error'],
  [0x0305, 'Attribute length error'],
  [0x0306, 'Invalid ORIGIN attribute'],
  [0x0308, 'Invalid NEXT_HOP attribute'],
  [0x0309, 'Optional attribute error'],
  [0x030a, 'Invalid network field'],
  [0x030b, 'Malformed AS_PATH'],
  [0x0400, 'Hold timer expired'],
  [0x0500, 'Finite state machine error'],
  [0x0501, 'Unexpected message in OpenSent state'],
  [0x0502, 'Unexpected message in OpenConfirm state'],
  [0x0503, 'Unexpected message in Established state'],
  [0x0600, 'Cease'],
  [0x0601, 'Maximum number of prefixes reached'],
  [0x0602, 'Administrative shutdown'],
  [0x0603, 'Peer de-configured'],
  [0x0604, 'Administrative reset'],
  [0x0605, 'Connection rejected'],
  [0x0606, 'Other configuration change'],
  [0x0607, 'Connection collision resolution'],
  [0x0608, 'Out of resources'],
  [0x0609, 'Hard reset'],
  [0x0700, 'ROUTE-REFRESH message error'],
  [0x0701, 'Invalid message length'],
]);

/** "Bad peer AS" for (2, 2); falls back to the code's name, then to numbers. */
export function errorText(code: number, subcode: number): string {
  return (
    ERROR_TEXT.get((code << 8) | subcode) ??
    (ERROR_TEXT.has(code << 8)
      ? `${ERROR_TEXT.get(code << 8)}, subcode ${subcode}`
      : `code ${code}, subcode ${subcode}`)
  );
}
