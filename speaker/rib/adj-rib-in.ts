/**
 * Adj-RIB-In (RFC 4271 §3.2), per peer. The routes themselves live in the Loc-RIB's prefix table as
 * candidates tagged with their peer, the way BIRD keeps every route of a net in one list (`rte->sender`):
 * one hash-table operation per received prefix instead of two, and no per-peer Map (a JS Map of 1M prefix
 * keys alone costs more time than our whole budget; see prefix-table.ts). This module holds the per-peer
 * part: the session facts, counters, and the `Path` objects the table points at.
 *
 * A `Path` is one (peer, pre-policy set, post-policy set, path id), shared by every prefix with that
 * combination, so a full table from one peer allocates a handful of Paths, not one per prefix. It keeps
 * the pre-policy set (soft reconfiguration inbound: `LocRib.setImportPolicy` re-runs policy without a
 * route refresh) and carries the normalised best-path fields (`Candidate`), computed once. A route the
 * import policy rejected stays in the table as a `rejected` Path: it never takes part in the decision,
 * but the pre-policy count and soft reconfiguration still see it.
 *
 * Graceful restart (RFC 4724 §4.2), helper side: `markStale` flags every current Path stale and starts a
 * new generation, so routes the restarted peer sends again get fresh Paths; `LocRib.sweepStale` drops
 * whatever is still stale.
 */
import { tryParseIp } from '../../model/ip.js';
import type { CompiledPolicy } from '../policy/policy.js';
import { Afi, type PathAttributes } from '../wire/types.js';
import type { AttrInterner } from './attr-intern.js';
import type { Candidate } from './best-path.js';

/** The session facts the RIBs need about one peer. */
export interface PeerConfig {
  /** Unique name (the BGPPeer resource name, or the address). */
  readonly id: string;
  /** The peer's address, text. */
  readonly address: string;
  /** The peer's AS (4-octet). */
  readonly asn: number;
  /** The peer's BGP identifier from its OPEN, unsigned 32-bit. */
  readonly routerId: number;
  /** We are a route reflector and this iBGP peer is our client (RFC 4456 §3). */
  readonly rrClient?: boolean | undefined;
  /** Our address on this session, for next-hop-self. */
  readonly localAddress?: string | undefined;
  /** Our IPv6 address on a dual-stack session, for next-hop-self on IPv6 prefixes (else `localAddress`). */
  readonly localAddressV6?: string | undefined;
  /**
   * eBGP: drop routes whose leftmost AS is not the peer's (RFC 4271 §6.3; default true). Turn off for a
   * route server, which does not prepend its AS (RFC 7947 §2.2.2).
   */
  readonly enforceFirstAs?: boolean | undefined;
  /** Accept routes whose AS path contains our AS up to this many times (default 0). */
  readonly allowOwnAs?: number | undefined;
}

/** A Loc-RIB candidate: one peer's route attributes (with a path id), shared across prefixes. */
export class Path implements Candidate {
  readonly peer: AdjRibIn;
  /** As received (after nothing: the Adj-RIB-In view). */
  readonly pre: PathAttributes;
  /** After import policy; null when the policy (or a loop check) rejected the route. */
  readonly post: PathAttributes | null;
  readonly rejected: boolean;
  readonly pathId: number;
  readonly local: boolean;
  readonly localPref: number;
  readonly asPathLen: number;
  readonly origin: number;
  readonly med: number;
  readonly neighborAs: number;
  readonly ibgp: boolean;
  readonly igpCost: number;
  readonly routerId: number;
  readonly clusterListLen: number;
  readonly peerAddr: bigint;
  /** Set by `markStale` (RFC 4724): learned before the peer restarted, not yet refreshed. */
  stale: boolean;
  /** Prefix-table entries holding this Path. */
  refs: number;
  /** Index in the PathRegistry. */
  id: number;

  constructor(peer: AdjRibIn, pre: PathAttributes, post: PathAttributes | null, pathId: number, igpCost: number) {
    const a = post ?? pre;
    this.peer = peer;
    this.pre = pre;
    this.post = post;
    this.rejected = post === null;
    this.pathId = pathId;
    this.local = peer.local;
    this.localPref = a.localPref ?? 100;
    this.asPathLen = a.asPathLength;
    this.origin = a.origin;
    this.med = a.med ?? 0; // RFC 4271 §9.1.2.2 (c): a missing MED is the lowest value
    this.neighborAs = a.neighborAs;
    this.ibgp = peer.ibgp;
    this.igpCost = igpCost;
    this.routerId = a.originatorId ?? peer.config.routerId; // RFC 4456 §9 (a)
    this.clusterListLen = a.clusterList.length;
    this.peerAddr = peer.peerAddr;
    this.stale = false;
    this.refs = 0;
    this.id = -1;
  }

  /** The attributes the decision process and export see (post-policy). */
  get attrs(): PathAttributes {
    return this.post ?? this.pre;
  }
}

export class AdjRibIn {
  /** Replaced when a restarting peer comes back (its OPEN may differ); existing Paths keep the old one. */
  config: PeerConfig;
  readonly ibgp: boolean;
  /** The pseudo-peer for locally originated routes. */
  readonly local: boolean;
  readonly peerAddr: bigint;
  importPolicy: CompiledPolicy;
  /** Prefixes (with path ids) received and held, before policy (status: "received"). */
  received = 0;
  /** Of those, the ones import policy accepted (status: "accepted"). */
  accepted = 0;
  /** Of `received`, the ones flagged stale by `markStale` and not yet refreshed or swept. */
  staleCount = 0;
  /** AFIs with stale routes: set by `markStale`, cleared per AFI by `sweepStale` (End-of-RIB is per AFI/SAFI). */
  readonly staleAfis = new Set<number>();
  /** True between `markStale` and the last `sweepStale`. */
  get restarting(): boolean {
    return this.staleAfis.size > 0;
  }
  /** Current-generation Paths by pre-policy set (a short list: one per post-policy set and path id). */
  #paths = new Map<PathAttributes, Path[]>();
  /** Stale-generation Paths made while restarting (`LocRib.setImportPolicy` re-evaluating stale routes). */
  #stalePaths = new Map<PathAttributes, Path[]>();
  readonly #igpCost: (nextHop: string) => number;
  /** Per pre-policy set: after eBGP normalisation and loop checks; null when the loop check rejects it. */
  readonly normalised = new Map<PathAttributes, PathAttributes | null>();
  normalisedEpoch = -1;

  constructor(
    config: PeerConfig,
    opts: { ibgp: boolean; local: boolean; importPolicy: CompiledPolicy; igpCost: (nextHop: string) => number },
  ) {
    this.config = config;
    this.ibgp = opts.ibgp;
    this.local = opts.local;
    this.importPolicy = opts.importPolicy;
    this.#igpCost = opts.igpCost;
    // RFC 4271 §9.1.2.2 (g) compares peer addresses; an id that is not a bare address (a name, or
    // "addr:port") still works, it just ties at 0 and falls through to the path id.
    const parsed = opts.local ? undefined : tryParseIp(config.address);
    this.peerAddr = parsed?.ok ? parsed.value.value : 0n;
  }

  /**
   * The shared Path for (pre, post, path id) in the current generation, or with `stale` in the stale one
   * (re-evaluating a stale route must not make it fresh); `post` null: rejected.
   */
  pathFor(pre: PathAttributes, post: PathAttributes | null, pathId: number, reg: PathRegistry, stale = false): Path {
    const cache = stale ? this.#stalePaths : this.#paths;
    let list = cache.get(pre);
    if (list === undefined) {
      list = [];
      cache.set(pre, list);
    }
    for (let i = 0; i < list.length; i++) {
      const p = list[i]!;
      if (p.post === post && p.pathId === pathId) return p;
    }
    const p = new Path(this, pre, post, pathId, post === null ? 0 : this.#igpCost(post.nextHop));
    p.stale = stale;
    reg.add(p);
    list.push(p);
    return p;
  }

  /** Called when the last table entry let go of `p`. */
  dropPath(p: Path, reg: PathRegistry): void {
    for (const cache of [this.#paths, this.#stalePaths]) {
      const list = cache.get(p.pre);
      const i = list === undefined ? -1 : list.indexOf(p);
      if (i < 0) continue;
      list!.splice(i, 1);
      if (list!.length === 0) cache.delete(p.pre);
    }
    reg.remove(p);
  }

  /** RFC 4724 §4.2: flag everything stale and start a fresh generation for refreshed routes. */
  markStale(): void {
    for (const [pre, list] of this.#paths) {
      for (const p of list) p.stale = true;
      const old = this.#stalePaths.get(pre);
      this.#stalePaths.set(pre, old === undefined ? list : [...old, ...list]);
    }
    this.#paths = new Map();
    this.staleCount = this.received;
    this.staleAfis.add(Afi.IPv4).add(Afi.IPv6);
  }
}

/** Numbers the live Paths so the prefix table can store an int32; retains their attribute sets. */
export class PathRegistry {
  readonly #byId: (Path | undefined)[] = [];
  readonly #free: number[] = [];
  readonly #interner: AttrInterner;

  constructor(interner: AttrInterner) {
    this.#interner = interner;
  }

  add(p: Path): void {
    const id = this.#free.pop() ?? this.#byId.length;
    p.id = id;
    this.#byId[id] = p;
    this.#interner.retain(p.pre);
    if (p.post !== null) this.#interner.retain(p.post);
  }

  remove(p: Path): void {
    this.#byId[p.id] = undefined;
    this.#free.push(p.id);
    this.#interner.release(p.pre);
    if (p.post !== null) this.#interner.release(p.post);
  }

  get(id: number): Path {
    return this.#byId[id]!;
  }

  get size(): number {
    return this.#byId.length - this.#free.length;
  }
}
