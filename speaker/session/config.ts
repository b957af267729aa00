/**
 * What one BGP session is configured with, and the OPEN we send from it. Pure data: the node wiring builds a
 * `SessionConfig` from the BGPPeer resource (model/), the FSM (fsm.ts) reads it, the shell (peer.ts) never
 * interprets it beyond addresses and ports.
 *
 * Leaves out: addresses, ports and passwords (peer.ts `PeerOptions`), policy (speaker/policy/).
 */
import {
  type AddPathMode,
  Afi,
  type AfiSafi,
  AS_TRANS,
  type BgpRole,
  type Capabilities,
  MessageType,
  type OpenMessage,
  Safi,
} from '../wire/types.js';

/** RFC 4271 §10 suggested values, in seconds. */
export const DEFAULT_HOLD_TIME_SEC = 90;
export const DEFAULT_CONNECT_RETRY_SEC = 120;
/** RFC 4271 §8.2.2: the hold timer while waiting for the peer's OPEN ("a large value", 4 minutes suggested). */
export const OPEN_SENT_HOLD_TIME_SEC = 240;

export const IPV4_UNICAST: AfiSafi = Object.freeze({ afi: Afi.IPv4, safi: Safi.Unicast });
export const IPV6_UNICAST: AfiSafi = Object.freeze({ afi: Afi.IPv6, safi: Safi.Unicast });

export interface SessionConfig {
  /** Our real AS (4-octet; AS_TRANS goes in the 2-octet OPEN field when it does not fit, RFC 6793). */
  readonly localAs: number;
  /** The AS the peer must present (RFC 4271 §6.2 Bad Peer AS otherwise). */
  readonly peerAs: number;
  /** Our BGP Identifier as an unsigned 32-bit integer, nonzero (RFC 6286). */
  readonly bgpId: number;
  /** Hold time we propose: 0, or at least 3 (RFC 4271 §4.2). */
  readonly holdTimeSec: number;
  /** Keepalive interval wanted; never used above negotiated hold / 3. Default hold / 3. */
  readonly keepaliveSec?: number | undefined;
  /** Initial ConnectRetryTimer (RFC 4271 §10: 120 s); peer.ts adds backoff and jitter on top. */
  readonly connectRetrySec: number;
  /** Never initiate a TCP connection; wait for the peer (RFC 4271 §8.1.1 PassiveTcpEstablishment). */
  readonly passive: boolean;
  /** Families we advertise in the Multiprotocol capability (RFC 4760). */
  readonly families: readonly AfiSafi[];
  /** Families the peer must support, else OPEN error 2/7 Unsupported Capability (RFC 5492 §3). */
  readonly requiredFamilies?: readonly AfiSafi[] | undefined;
  /** RFC 7911 ADD-PATH per family we advertise. */
  readonly addPath?: readonly (AfiSafi & { readonly mode: AddPathMode })[] | undefined;
  readonly routeRefresh?: boolean | undefined;
  readonly enhancedRouteRefresh?: boolean | undefined;
  readonly extendedMessage?: boolean | undefined;
  /** RFC 8950: IPv4 NLRI with IPv6 next hop. */
  readonly extendedNextHop?: readonly (AfiSafi & { readonly nextHopAfi: number })[] | undefined;
  /** RFC 4724: advertise Graceful Restart with this restart time; undefined disables it. */
  readonly gracefulRestart?:
    | {
        readonly restartTimeSec: number;
        /** Set the R bit: we are restarting (only in the first OPEN after a restart). */
        readonly restarting: boolean;
        /** Families whose forwarding state we keep across a restart (F bit). */
        readonly forwardingPreserved: readonly AfiSafi[];
      }
    | undefined;
  /** RFC 9234 role; eBGP only. */
  readonly role?: BgpRole | undefined;
  /** RFC 9234 §4.2 strict mode: a peer that sends no Role capability is refused with 2/11. */
  readonly strictRole?: boolean | undefined;
  /**
   * RFC 8212: eBGP routes are neither accepted nor sent without an explicit import/export policy. True by
   * default; set false to turn the safe default off for this session (the RIB reads the negotiated flag).
   */
  readonly ebgpRequiresPolicy?: boolean | undefined;
  /** RFC 4271 §8.1.1 CollisionDetectEstablishedState: also resolve collisions against Established. */
  readonly collisionDetectEstablished?: boolean | undefined;
}

/** Our OPEN, built from the config (RFC 4271 §4.2, RFC 5492 capabilities). Pure. */
export function buildOpen(c: SessionConfig): OpenMessage {
  const gr = c.gracefulRestart;
  const capabilities: Capabilities = {
    multiprotocol: c.families,
    routeRefresh: c.routeRefresh ?? true,
    enhancedRouteRefresh: c.enhancedRouteRefresh ?? false,
    fourOctetAs: c.localAs, // RFC 6793 §3: always advertised
    gracefulRestart:
      gr === undefined
        ? undefined
        : {
            restarting: gr.restarting,
            notification: false,
            restartTimeSec: gr.restartTimeSec,
            afiSafis: c.families.map((f) => ({
              afi: f.afi,
              safi: f.safi,
              forwardingPreserved: gr.forwardingPreserved.some((p) => p.afi === f.afi && p.safi === f.safi),
            })),
          },
    addPath: c.addPath ?? [],
    extendedMessage: c.extendedMessage ?? false,
    extendedNextHop: c.extendedNextHop ?? [],
    role: c.localAs === c.peerAs ? undefined : c.role,
    unknown: [],
  };
  return {
    type: MessageType.Open,
    version: 4,
    myAs: c.localAs > 0xffff ? AS_TRANS : c.localAs,
    holdTimeSec: c.holdTimeSec,
    bgpId: c.bgpId,
    capabilities,
  };
}
