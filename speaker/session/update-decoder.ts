/**
 * The `decodeUpdate` port of `Peer`, built on speaker/wire's UPDATE codec: the decoding context (4-octet AS,
 * iBGP, ADD-PATH receive and extended-next-hop families) comes from the negotiated session and is built once
 * per session, not per message.
 */
import type { PathAttributes, UpdateMessage } from '../wire/types.js';
import { decodeUpdate, type UpdateContext, updateContext } from '../wire/update.js';
import type { NegotiatedSession } from './negotiate.js';

/** The wire context a session's UPDATEs are decoded with. Pure. */
export function updateContextFor(
  s: NegotiatedSession,
  intern?: (key: string, build: () => PathAttributes) => PathAttributes,
): UpdateContext {
  return updateContext({
    fourOctetAs: s.fourOctetAs,
    ibgp: s.ibgp,
    addPathReceive: s.addPath.filter((a) => a.receive).map((a) => ({ afi: a.afi, safi: a.safi })),
    extendedNextHop: s.extendedNextHop.map((e) => ({ afi: e.afi, safi: e.safi })),
    ...(intern ? { intern } : {}),
  });
}

/**
 * A `PeerOptions.decodeUpdate` for the wire codec, optionally interning attribute sets (speaker/rib).
 *
 * @example
 * new Peer({ config, peerAddress, decodeUpdate: wireUpdateDecoder((key, build) => interner.get(key, build)) });
 */
export function wireUpdateDecoder(
  intern?: (key: string, build: () => PathAttributes) => PathAttributes,
): (body: Buffer, session: NegotiatedSession) => UpdateMessage {
  const contexts = new WeakMap<NegotiatedSession, UpdateContext>();
  return (body, session) => {
    let ctx = contexts.get(session);
    if (!ctx) {
      ctx = updateContextFor(session, intern);
      contexts.set(session, ctx);
    }
    return decodeUpdate(body, ctx);
  };
}
