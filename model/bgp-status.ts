/**
 * The JSON of the speaker's status API (docs/speaker.md), shared by the server (speaker/status-api.ts) and
 * its clients (`caracalctl bgp`). Field names are a published interface: extend, never rename.
 */

/** `GET /bgp/peers` returns an array of these. */
export interface BgpPeerStatus {
  address: string;
  asn: number;
  /** RFC 4271 §8.2.2 state name: Idle, Connect, Active, OpenSent, OpenConfirm, Established. */
  state: string;
  /** Seconds in the current state (for Established: the session's uptime). */
  uptime: number;
  /** What was negotiated; empty until the session is Established. */
  capabilities: Record<string, unknown>;
  /** Prefixes in the peer's Adj-RIB-In, before import policy. */
  prefixesReceived: number;
  /** Of those, accepted by the import policy. */
  prefixesAccepted: number;
  /** Prefixes currently advertised to the peer. */
  prefixesAdvertised: number;
  /** The last NOTIFICATION or connection error, when there is one. */
  lastError?: string | undefined;
  /** Extensions. */
  type?: 'ibgp' | 'ebgp';
  routeReflectorClient?: boolean;
  passive?: boolean;
}

/** One Loc-RIB best route. */
export interface BgpRouteStatus {
  prefix: string;
  nextHop: string;
  /** AS numbers separated by spaces, AS_SETs in braces (BIRD's notation). */
  asPath: string;
  origin: 'igp' | 'egp' | 'incomplete';
  localPref: number;
  med?: number | undefined;
  communities: readonly string[];
  /** The peer the route came from; "<local>" for routes this speaker originates. */
  peer: string;
  /** The decision step that made it best (RFC 4271 §9.1), or "only-path". */
  reason: string;
  /** Kept from a restarting peer under graceful restart (RFC 4724), not yet refreshed. */
  stale?: boolean;
  /** How many paths the prefix has. */
  candidates?: number;
  /** RFC 4456 ORIGINATOR_ID (dotted quad), on a reflected iBGP route that carries one. */
  originatorId?: string;
  /** RFC 4456 CLUSTER_LIST, nearest reflector first, on a reflected iBGP route. */
  clusterList?: readonly string[];
}

/** `GET /bgp/routes[?prefix=CIDR][&limit=N][&after=CURSOR]` */
export interface BgpRoutesResponse {
  /** All best routes in the Loc-RIB (or all that match `prefix`), not just this page. */
  count: number;
  routes: BgpRouteStatus[];
  /** Pass as `after` to get the next page; absent on the last page. */
  next?: string | undefined;
}
