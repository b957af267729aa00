/**
 * Shared BGP-4 wire types: message and capability shapes that the codec (speaker/wire/), the FSM
 * (speaker/session/) and the RIBs (speaker/rib/) agree on. Pure data: no I/O, no classes with behaviour.
 * The codec owns this file and extends it (UPDATE, path attributes); the shapes below are the contract.
 */

/** RFC 4271 §4.1 */
export const MessageType = { Open: 1, Update: 2, Notification: 3, Keepalive: 4, RouteRefresh: 5 } as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export const HEADER_LEN = 19;
/** RFC 4271 §4.1; RFC 8654 raises it to 65,535 for every message but OPEN and KEEPALIVE once negotiated. */
export const MAX_MESSAGE_LEN = 4096;
export const MAX_EXTENDED_MESSAGE_LEN = 65_535;
/** RFC 6793: the 2-octet stand-in for a 4-octet AS. */
export const AS_TRANS = 23_456;

/** IANA address family and subsequent address family numbers we speak. */
export const Afi = { IPv4: 1, IPv6: 2 } as const;
export type Afi = (typeof Afi)[keyof typeof Afi];
export const Safi = { Unicast: 1 } as const;
export type Safi = (typeof Safi)[keyof typeof Safi];

export interface AfiSafi {
  readonly afi: number;
  readonly safi: number;
}

/** RFC 7911 §4 Send/Receive field. */
export type AddPathMode = 'receive' | 'send' | 'both';

/** RFC 9234 §4.1 role values. */
export const BgpRole = { Provider: 0, RouteServer: 1, RouteServerClient: 2, Customer: 3, Peer: 4 } as const;
export type BgpRole = (typeof BgpRole)[keyof typeof BgpRole];

/** IANA capability codes. */
export const CapabilityCode = {
  Multiprotocol: 1, // RFC 4760
  RouteRefresh: 2, // RFC 2918
  ExtendedNextHop: 5, // RFC 8950
  ExtendedMessage: 6, // RFC 8654
  Role: 9, // RFC 9234
  GracefulRestart: 64, // RFC 4724
  FourOctetAs: 65, // RFC 6793
  AddPath: 69, // RFC 7911
  EnhancedRouteRefresh: 70, // RFC 7313
} as const;

/** Every capability an OPEN carried, decoded; absent ones are empty/false/undefined. */
export interface Capabilities {
  readonly multiprotocol: readonly AfiSafi[];
  readonly routeRefresh: boolean;
  readonly enhancedRouteRefresh: boolean;
  /** RFC 6793: the speaker's real AS, when it supports 4-octet AS numbers. */
  readonly fourOctetAs?: number | undefined;
  readonly gracefulRestart?:
    | {
        /** R bit: the sender has restarted. */
        readonly restarting: boolean;
        /** N bit (RFC 8538): graceful NOTIFICATION supported. */
        readonly notification: boolean;
        readonly restartTimeSec: number;
        readonly afiSafis: readonly (AfiSafi & { readonly forwardingPreserved: boolean })[];
      }
    | undefined;
  readonly addPath: readonly (AfiSafi & { readonly mode: AddPathMode })[];
  readonly extendedMessage: boolean;
  readonly extendedNextHop: readonly (AfiSafi & { readonly nextHopAfi: number })[];
  readonly role?: BgpRole | undefined;
  /** Capabilities we do not understand, kept for display (RFC 5492 says ignore them). */
  readonly unknown: readonly { readonly code: number; readonly value: Uint8Array }[];
}

/** RFC 4271 §4.2 */
export interface OpenMessage {
  readonly type: typeof MessageType.Open;
  readonly version: number;
  /** The 2-octet My Autonomous System field (AS_TRANS when the real AS needs 4 octets). */
  readonly myAs: number;
  readonly holdTimeSec: number;
  /** BGP Identifier as an unsigned 32-bit integer. */
  readonly bgpId: number;
  readonly capabilities: Capabilities;
}

/** RFC 4271 §4.5 */
export interface NotificationMessage {
  readonly type: typeof MessageType.Notification;
  readonly code: number;
  readonly subcode: number;
  readonly data: Uint8Array;
}

export interface KeepaliveMessage {
  readonly type: typeof MessageType.Keepalive;
}

/** RFC 2918 / RFC 7313 (subtype: 0 normal request, 1 BoRR, 2 EoRR). */
export interface RouteRefreshMessage {
  readonly type: typeof MessageType.RouteRefresh;
  readonly afi: number;
  readonly safi: number;
  readonly subtype: number;
}
