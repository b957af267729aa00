/**
 * Connection collision detection (RFC 4271 §6.8, RFC 6286 §2.3): when a peer holds two connections (one we
 * dialled, one it dialled), which one to close. Pure; peer.ts asks when an OPEN arrives on either connection
 * (and when a connection is accepted while another is Established), then feeds OpenCollisionDump to the loser.
 *
 * The rule, read out of §6.8 steps 2 and 3: the connection initiated by the speaker with the higher BGP
 * Identifier survives. Equal identifiers (allowed between ASes by RFC 6286) are broken by AS number: the
 * connection initiated by the speaker with the larger AS survives. Against a connection in Established the new
 * one is closed, unless CollisionDetectEstablishedState is configured (§6.8 last paragraph, §8.1.1).
 */
import type { FsmStateName } from './fsm.js';

/** Who initiated a connection: we dialled ('outgoing') or the peer did ('incoming'). */
export type Direction = 'outgoing' | 'incoming';

export interface CollisionConnection {
  readonly direction: Direction;
  readonly state: FsmStateName;
}

export interface CollisionInput {
  /** The connection that already existed. */
  readonly existing: CollisionConnection;
  /** The connection that just received an OPEN, or was just accepted/connected. */
  readonly newer: CollisionConnection;
  readonly localBgpId: number;
  /** From the OPEN just received. */
  readonly remoteBgpId: number;
  readonly localAs: number;
  readonly remoteAs: number;
  readonly collisionDetectEstablished?: boolean | undefined;
}

export type CollisionVerdict = 'none' | 'close-existing' | 'close-newer';

/** The direction of the connection that survives a resolved collision. */
export function survivingDirection(
  localBgpId: number,
  remoteBgpId: number,
  localAs: number,
  remoteAs: number,
): Direction {
  // §6.8 step 1: compare as unsigned 32-bit integers (our ids already are).
  if (localBgpId !== remoteBgpId) return localBgpId > remoteBgpId ? 'outgoing' : 'incoming';
  // RFC 6286 §2.3: equal ids → the larger AS wins.
  return localAs >= remoteAs ? 'outgoing' : 'incoming';
}

/**
 * Decides a collision. 'none' when the existing connection is not far enough along to collide (§6.8 examines
 * OpenConfirm; we also examine OpenSent, since both connections go to the one configured peer address and the
 * OPEN just received names its identifier).
 *
 * @example
 * resolveCollision({ existing: { direction: 'outgoing', state: 'OpenConfirm' },
 *   newer: { direction: 'incoming', state: 'OpenSent' }, localBgpId: 1, remoteBgpId: 2, localAs: 65000, remoteAs: 65000 });
 * // → 'close-existing': the peer has the higher id, so the connection it initiated survives
 */
export function resolveCollision(i: CollisionInput): CollisionVerdict {
  const ex = i.existing.state;
  if (ex === 'Established') return i.collisionDetectEstablished ? byRule(i) : 'close-newer';
  if (ex !== 'OpenConfirm' && ex !== 'OpenSent') return 'none';
  return byRule(i);
}

function byRule(i: CollisionInput): CollisionVerdict {
  // Two connections in one direction cannot both be right; keep the one we have.
  if (i.existing.direction === i.newer.direction) return 'close-newer';
  const keep = survivingDirection(i.localBgpId, i.remoteBgpId, i.localAs, i.remoteAs);
  return i.existing.direction === keep ? 'close-newer' : 'close-existing';
}
