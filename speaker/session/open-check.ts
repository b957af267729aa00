/**
 * OPEN validation (RFC 4271 §6.2, RFC 5492 §3, RFC 6286, RFC 6793, RFC 9234 §4.2): pure, returns the error
 * to send as a NOTIFICATION, or undefined when the OPEN is acceptable. The codec has already checked the
 * syntax; this is the semantic check against our configuration.
 */
import { ErrorCode, OpenSubcode } from '../wire/errors.js';
import { peerAs } from '../wire/open.js';
import { type AfiSafi, AS_TRANS, BgpRole, CapabilityCode, type OpenMessage } from '../wire/types.js';
import { IPV4_UNICAST, type SessionConfig } from './config.js';

/** A NOTIFICATION to send: the shape of wire/errors.ts BgpError, so one can be passed where this is wanted. */
export interface NotificationSpec {
  readonly code: number;
  readonly subcode: number;
  readonly data: Uint8Array;
}

/** The families a side speaks: its Multiprotocol capabilities, or IPv4 unicast when it sent none (RFC 4760 §8). */
export function familiesOf(mp: readonly AfiSafi[]): readonly AfiSafi[] {
  return mp.length > 0 ? mp : [IPV4_UNICAST];
}

/** RFC 9234 §4.2 Table 2: the role pairs that may peer. */
const ROLE_PAIRS: ReadonlyMap<BgpRole, BgpRole> = new Map<BgpRole, BgpRole>([
  [BgpRole.Provider, BgpRole.Customer],
  [BgpRole.Customer, BgpRole.Provider],
  [BgpRole.RouteServer, BgpRole.RouteServerClient],
  [BgpRole.RouteServerClient, BgpRole.RouteServer],
  [BgpRole.Peer, BgpRole.Peer],
]);

const notif = (subcode: number, data: Uint8Array = new Uint8Array(0)): NotificationSpec => ({
  code: ErrorCode.Open,
  subcode,
  data,
});

/** RFC 5492 §3: the Data of 2/7 lists the capabilities we wanted, as code/length/value. */
function mpCapability(f: AfiSafi): Uint8Array {
  return Uint8Array.of(CapabilityCode.Multiprotocol, 4, f.afi >> 8, f.afi & 0xff, 0, f.safi);
}

/**
 * Checks a received OPEN against our config. Returns the NOTIFICATION to send, or undefined.
 *
 * @example
 * const err = checkOpen(config, open);
 * if (err) sendNotification(err.code, err.subcode, err.data);
 */
export function checkOpen(c: SessionConfig, open: OpenMessage): NotificationSpec | undefined {
  // RFC 4271 §6.2: Data is the largest version we support, as a 2-octet number.
  if (open.version !== 4) return notif(OpenSubcode.UnsupportedVersionNumber, Uint8Array.of(0, 4));
  const theirAs = peerAs(open); // the 4-octet AS capability wins over the 2-octet field (RFC 6793 §4.1)
  // RFC 6793 §4.1: a 2-octet field other than AS_TRANS must agree with the capability when both fit.
  const four = open.capabilities.fourOctetAs;
  const twoOctetConflict = four !== undefined && open.myAs !== AS_TRANS && open.myAs !== four;
  if (theirAs !== c.peerAs || twoOctetConflict) return notif(OpenSubcode.BadPeerAs);
  // RFC 6286 §2.2: nonzero; identical to ours only forbidden within one AS.
  if (open.bgpId === 0 || (c.localAs === c.peerAs && open.bgpId === c.bgpId))
    return notif(OpenSubcode.BadBgpIdentifier);
  // RFC 4271 §6.2: 1 and 2 are unacceptable (0 means no keepalives).
  if (open.holdTimeSec === 1 || open.holdTimeSec === 2) return notif(OpenSubcode.UnacceptableHoldTime);
  const theirs = familiesOf(open.capabilities.multiprotocol);
  const missing = (c.requiredFamilies ?? []).filter((r) => !theirs.some((f) => f.afi === r.afi && f.safi === r.safi));
  if (missing.length > 0) {
    const data = new Uint8Array(missing.length * 6);
    missing.forEach((f, i) => {
      data.set(mpCapability(f), i * 6);
    });
    return notif(OpenSubcode.UnsupportedCapability, data);
  }
  // RFC 9234 §4.2: eBGP only.
  if (c.role !== undefined && c.localAs !== c.peerAs) {
    const peerRole = open.capabilities.role;
    if (peerRole === undefined) {
      if (c.strictRole) return notif(OpenSubcode.RoleMismatch);
    } else if (ROLE_PAIRS.get(c.role) !== peerRole) {
      return notif(OpenSubcode.RoleMismatch);
    }
  }
  return undefined;
}
