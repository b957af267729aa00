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

// ---------------------------------------------------------------------------------------------------------
// UPDATE: path attributes and NLRI

/** IANA path attribute type codes. */
export const AttrCode = {
  Origin: 1,
  AsPath: 2,
  NextHop: 3,
  Med: 4, // MULTI_EXIT_DISC
  LocalPref: 5,
  AtomicAggregate: 6,
  Aggregator: 7,
  Communities: 8, // RFC 1997
  OriginatorId: 9, // RFC 4456
  ClusterList: 10, // RFC 4456
  MpReachNlri: 14, // RFC 4760
  MpUnreachNlri: 15, // RFC 4760
  ExtendedCommunities: 16, // RFC 4360
  As4Path: 17, // RFC 6793
  As4Aggregator: 18, // RFC 6793
  OnlyToCustomer: 35, // RFC 9234
  LargeCommunities: 32, // RFC 8092
} as const;

/** RFC 4271 §4.3 attribute flag bits. */
export const AttrFlag = { Optional: 0x80, Transitive: 0x40, Partial: 0x20, ExtendedLength: 0x10 } as const;

export const Origin = { Igp: 0, Egp: 1, Incomplete: 2 } as const;
export type Origin = (typeof Origin)[keyof typeof Origin];

export const AsPathSegmentType = { AsSet: 1, AsSequence: 2, ConfedSequence: 3, ConfedSet: 4 } as const;
export interface AsPathSegment {
  readonly type: (typeof AsPathSegmentType)[keyof typeof AsPathSegmentType];
  /** 4-octet AS numbers (AS4_PATH already merged in for 2-octet peers, RFC 6793 §4.2.3). */
  readonly asns: readonly number[];
}

/**
 * Prefix keys (STYLE §2.9): never an {addr, len} object in a RIB.
 *  IPv4: a number, addr * 64 + len (addr as unsigned 32-bit), exact in a double.
 *  IPv6: a 17-character latin1 string: the 16 address bytes, then the length as one char.
 * speaker/wire/prefix.ts converts to and from text and wire bytes.
 */
export type PrefixKeyV4 = number;
export type PrefixKeyV6 = string;
export type PrefixKey = PrefixKeyV4 | PrefixKeyV6;

/** The prefixes of one AFI/SAFI in one UPDATE (reachable or withdrawn), as keys, plus ADD-PATH ids. */
export interface NlriBatch {
  readonly afi: Afi;
  readonly safi: Safi;
  /** number[] for IPv4, string[] for IPv6 */
  readonly prefixes: readonly PrefixKey[];
  /** RFC 7911 path identifiers, parallel to `prefixes`, when ADD-PATH receive is negotiated for this AFI/SAFI. */
  readonly pathIds?: readonly number[] | undefined;
}

/** An optional attribute we do not understand, passed on if transitive (with the Partial bit set). */
export interface UnknownAttr {
  readonly flags: number;
  readonly code: number;
  readonly value: Uint8Array;
}

/**
 * One path attribute set, normalised and interned (speaker/rib/attr-intern.ts): identical sets received in
 * any UPDATE from any peer are the same frozen object, so a million prefixes share a handful of these and
 * equality is `===`. Next hop is part of the set (for MP_REACH it comes from the MP_REACH attribute).
 */
export interface PathAttributes {
  readonly origin: Origin;
  readonly asPath: readonly AsPathSegment[];
  /** Next hop in text form ("10.0.0.1", "fd00::1"); "" when the UPDATE carried only withdrawals. */
  readonly nextHop: string;
  /** RFC 2545: the IPv6 link-local next hop when the MP_REACH next hop had 32 bytes. */
  readonly nextHopLinkLocal?: string | undefined;
  readonly med?: number | undefined;
  readonly localPref?: number | undefined;
  readonly atomicAggregate: boolean;
  readonly aggregator?: { readonly asn: number; readonly address: string } | undefined;
  /** RFC 1997 communities as unsigned 32-bit numbers (asn << 16 | value). */
  readonly communities: readonly number[];
  readonly extendedCommunities: readonly bigint[];
  readonly largeCommunities: readonly (readonly [number, number, number])[];
  /** RFC 4456, as unsigned 32-bit numbers. */
  readonly originatorId?: number | undefined;
  readonly clusterList: readonly number[];
  /** RFC 9234 OTC */
  readonly onlyToCustomer?: number | undefined;
  readonly unknown: readonly UnknownAttr[];
  /** Derived once at interning, for best path (RFC 4271 §9.1.2.2 a: an AS_SET counts as one; confed segments don't count). */
  readonly asPathLength: number;
  /** The first AS of the path (the neighbour AS for MED comparison), 0 for an empty path. */
  readonly neighborAs: number;
}

/** A decoded UPDATE. Errors that RFC 7606 lets us survive are recorded, not thrown. */
export interface UpdateMessage {
  readonly type: typeof MessageType.Update;
  /** Withdrawn routes: the classic IPv4 field and MP_UNREACH_NLRI, one batch per AFI/SAFI. */
  readonly withdrawn: readonly NlriBatch[];
  /** Reachable routes: the classic IPv4 NLRI field and MP_REACH_NLRI, one batch per AFI/SAFI. */
  readonly reachable: readonly NlriBatch[];
  /** The interned attribute set for `reachable`; undefined when the UPDATE carries only withdrawals. */
  readonly attributes?: PathAttributes | undefined;
  /** RFC 7606 §2 treat-as-withdraw: every prefix in `reachable` must be handled as withdrawn. */
  readonly treatAsWithdraw: boolean;
  /** Attribute codes discarded under RFC 7606 (attribute-discard), for logging and counters. */
  readonly discarded: readonly number[];
  /** End-of-RIB marker (RFC 4724 §2) for this AFI/SAFI, when the UPDATE is one. */
  readonly endOfRib?: AfiSafi | undefined;
}

export type BgpMessage = OpenMessage | UpdateMessage | NotificationMessage | KeepaliveMessage | RouteRefreshMessage;
