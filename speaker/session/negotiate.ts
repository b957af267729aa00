/**
 * Capability negotiation (RFC 5492 and the capability RFCs): from our OPEN and the peer's, the parameters the
 * session runs with. Pure. The RIB layer reads `NegotiatedSession` (families, ADD-PATH directions, graceful
 * restart, the RFC 8212 flag) from the `established` event.
 */

import { peerAs as asOf } from '../wire/open.js';
import type { AddPathMode, AfiSafi, BgpRole, OpenMessage } from '../wire/types.js';
import { familiesOf } from './open-check.js';

export interface NegotiatedSession {
  /** min(ours, theirs) (RFC 4271 §4.2); 0 means no hold timer and no keepalives. */
  readonly holdTimeSec: number;
  /** 0 when holdTimeSec is 0; otherwise at most holdTimeSec / 3 and at least 1. */
  readonly keepaliveSec: number;
  readonly localAs: number;
  readonly peerAs: number;
  readonly localBgpId: number;
  readonly peerBgpId: number;
  /** Both sides advertised the 4-octet AS capability (RFC 6793): AS_PATH carries 4-octet numbers. */
  readonly fourOctetAs: boolean;
  /** Multiprotocol families both speak (RFC 4760); IPv4 unicast stands in for a side that sent none. */
  readonly families: readonly AfiSafi[];
  /** RFC 7911 §4, per negotiated family where either direction is on. */
  readonly addPath: readonly (AfiSafi & { readonly send: boolean; readonly receive: boolean })[];
  /** RFC 8654: both advertised; messages other than OPEN and KEEPALIVE may be up to 65,535 bytes. */
  readonly extendedMessage: boolean;
  /** RFC 8950: entries both sides advertised, for negotiated families. */
  readonly extendedNextHop: readonly (AfiSafi & { readonly nextHopAfi: number })[];
  readonly routeRefresh: boolean;
  readonly enhancedRouteRefresh: boolean;
  /** RFC 4724: present when both sides advertised Graceful Restart. */
  readonly gracefulRestart?:
    | {
        /** How long we keep the peer's routes as stale after its connection drops. */
        readonly peerRestartTimeSec: number;
        /** R bit: the peer has just restarted (the RIB keeps its stale routes until End-of-RIB). */
        readonly peerRestarted: boolean;
        /** Negotiated families the peer preserves forwarding for (F bit), the ones stale routes are kept for. */
        readonly forwardingPreserved: readonly AfiSafi[];
        /** Families the peer listed in its capability at all. */
        readonly families: readonly AfiSafi[];
      }
    | undefined;
  readonly ibgp: boolean;
  /** RFC 9234 roles, when we configured one and the peer sent one. */
  readonly role?: { readonly local: BgpRole; readonly peer: BgpRole } | undefined;
  /**
   * RFC 8212: true for an eBGP session unless the config turned it off. The RIB must then accept and send no
   * routes for this peer without an explicit import/export policy.
   */
  readonly requireExplicitPolicy: boolean;
}

const same = (a: AfiSafi, b: AfiSafi): boolean => a.afi === b.afi && a.safi === b.safi;
const sends = (m: AddPathMode | undefined): boolean => m === 'send' || m === 'both';
const receives = (m: AddPathMode | undefined): boolean => m === 'receive' || m === 'both';

export interface NegotiateOptions {
  /** Keepalive interval wanted; capped to hold / 3. */
  readonly keepaliveSec?: number | undefined;
  /** RFC 8212 default applies (true unless configured otherwise). */
  readonly ebgpRequiresPolicy?: boolean | undefined;
}

/**
 * Negotiates the session from both OPENs. Call only on an OPEN that `checkOpen` accepted.
 *
 * @example
 * const session = negotiate(buildOpen(config), peerOpen, { keepaliveSec: config.keepaliveSec });
 */
export function negotiate(ours: OpenMessage, theirs: OpenMessage, opts: NegotiateOptions = {}): NegotiatedSession {
  const holdTimeSec = Math.min(ours.holdTimeSec, theirs.holdTimeSec);
  const maxKeepalive = Math.max(1, Math.floor(holdTimeSec / 3));
  const keepaliveSec = holdTimeSec === 0 ? 0 : Math.max(1, Math.min(maxKeepalive, opts.keepaliveSec ?? maxKeepalive));
  const oc = ours.capabilities;
  const tc = theirs.capabilities;
  const theirFamilies = familiesOf(tc.multiprotocol);
  const families = familiesOf(oc.multiprotocol).filter((f) => theirFamilies.some((t) => same(f, t)));
  const negotiated = (f: AfiSafi): boolean => families.some((n) => same(n, f));

  const addPath: (AfiSafi & { send: boolean; receive: boolean })[] = [];
  for (const f of families) {
    const o = oc.addPath.find((a) => same(a, f))?.mode;
    const t = tc.addPath.find((a) => same(a, f))?.mode;
    const send = sends(o) && receives(t);
    const receive = receives(o) && sends(t);
    if (send || receive) addPath.push({ afi: f.afi, safi: f.safi, send, receive });
  }
  const extendedNextHop = oc.extendedNextHop.filter(
    (e) => negotiated(e) && tc.extendedNextHop.some((t) => same(t, e) && t.nextHopAfi === e.nextHopAfi),
  );
  const ogr = oc.gracefulRestart;
  const tgr = tc.gracefulRestart;
  const gracefulRestart =
    ogr !== undefined && tgr !== undefined
      ? {
          peerRestartTimeSec: tgr.restartTimeSec,
          peerRestarted: tgr.restarting,
          forwardingPreserved: tgr.afiSafis
            .filter((f) => f.forwardingPreserved && negotiated(f))
            .map((f) => ({ afi: f.afi, safi: f.safi })),
          families: tgr.afiSafis.map((f) => ({ afi: f.afi, safi: f.safi })),
        }
      : undefined;
  const localAs = asOf(ours);
  const peerAs = asOf(theirs);
  const ibgp = localAs === peerAs;
  return {
    holdTimeSec,
    keepaliveSec,
    localAs,
    peerAs,
    localBgpId: ours.bgpId,
    peerBgpId: theirs.bgpId,
    fourOctetAs: oc.fourOctetAs !== undefined && tc.fourOctetAs !== undefined,
    families,
    addPath,
    extendedMessage: oc.extendedMessage && tc.extendedMessage,
    extendedNextHop,
    routeRefresh: oc.routeRefresh && tc.routeRefresh,
    enhancedRouteRefresh: oc.enhancedRouteRefresh && tc.enhancedRouteRefresh,
    gracefulRestart,
    ibgp,
    role: !ibgp && oc.role !== undefined && tc.role !== undefined ? { local: oc.role, peer: tc.role } : undefined,
    requireExplicitPolicy: !ibgp && (opts.ebgpRequiresPolicy ?? true),
  };
}
