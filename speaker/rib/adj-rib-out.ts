/**
 * Adj-RIB-Out (RFC 4271 §3.2, §9.2), one per established session: what we advertise to that peer, kept as
 * the attribute set sent per prefix. The caller takes the Loc-RIB's dirty lists (`LocRib.takeDirty()`)
 * and hands the same lists to every peer's `sync()`; each computes what the peer should now have for
 * those prefixes, diffs against what it was sent (MetalLB-style: desired in, minimal delta out), and
 * returns the changes GROUPED BY ATTRIBUTE SET, so the codec packs many prefixes into each UPDATE (BIRD's
 * buckets, `bgp_get_bucket`). Nothing here touches sockets; the session encodes and writes the result.
 *
 * What a peer should have for a prefix (`#export`), in order:
 *  1. the Loc-RIB best path (no best: withdraw); never back to the peer it came from;
 *  2. well-known communities: NO_ADVERTISE never leaves, NO_EXPORT and NO_EXPORT_SUBCONFED never go to
 *     eBGP (RFC 1997; we have no confederations);
 *  3. iBGP split horizon (RFC 4271 §9.2): an iBGP-learned route goes to iBGP peers only by reflection,
 *     RFC 4456 §6: from a client to every client and non-client, from a non-client to clients only;
 *     never to the peer whose router id is the route's ORIGINATOR_ID;
 *  4. eBGP preparation: drop LOCAL_PREF (§5.1.5), drop a MED learned from another AS (§5.1.4),
 *     drop ORIGINATOR_ID and CLUSTER_LIST (RFC 4456 §8: they never leave the AS);
 *  5. the export policy (may reject, set MED/communities/next hop, prepend);
 *  6. protocol rewrites: eBGP prepends our AS (§5.1.2) and sets next hop self (§5.1.3; `nextHopMode:
 *     'keep'` leaves it); iBGP always carries LOCAL_PREF (100 when absent) and keeps the next hop unless
 *     `nextHopMode: 'self'` (reflected routes never change it, RFC 4456 §10); reflection sets
 *     ORIGINATOR_ID if absent and prepends our CLUSTER_ID to CLUSTER_LIST (RFC 4456 §8); an originated
 *     route with no next hop gets ours.
 * Results are cached per (Path, post-policy set), so per prefix the work is a table lookup and a diff.
 *
 * Not here: ADD-PATH send (only the best path is advertised), MRAI pacing (the session's runner decides
 * when to call `sync`), route-target or ORF filtering.
 */
import type { CompiledPolicy } from '../policy/policy.js';
import { WELL_KNOWN_COMMUNITIES } from '../policy/policy.js';
import type { AfiSafi, NlriBatch, PathAttributes, PrefixKey } from '../wire/types.js';
import { Afi, AsPathSegmentType, Safi } from '../wire/types.js';
import type { Path, PeerConfig } from './adj-rib-in.js';
import type { LocRib } from './loc-rib.js';
import { NONE, PrefixTable } from './prefix-table.js';

/** What to send one peer: withdrawals, then announcements grouped by attribute set. */
export interface OutUpdate {
  readonly withdraw: readonly NlriBatch[];
  readonly announce: readonly { readonly attrs: PathAttributes; readonly batch: NlriBatch }[];
  /** End-of-RIB markers to send after this update (initial sync only, RFC 4724 §2). */
  readonly endOfRib: readonly AfiSafi[];
}

export interface AdjRibOutOptions {
  readonly exportPolicy: CompiledPolicy;
  /** RFC 4271 §5.1.3 next hop handling: auto (self to eBGP, keep to iBGP), always self, or never change. */
  readonly nextHopMode?: 'auto' | 'self' | 'keep' | undefined;
  /** Families negotiated on the session: only their NLRI is sent, and End-of-RIB for each; IPv4 and IPv6 unicast when absent. */
  readonly families?: readonly AfiSafi[] | undefined;
}

const NO_EXPORT = WELL_KNOWN_COMMUNITIES['no-export']!;
const NO_ADVERTISE = WELL_KNOWN_COMMUNITIES['no-advertise']!;
/** RFC 1997: without confederations, NO_EXPORT_SUBCONFED means the same as NO_EXPORT. */
const NO_EXPORT_SUBCONFED = WELL_KNOWN_COMMUNITIES['no-export-subconfed']!;
const DEFAULT_FAMILIES: readonly AfiSafi[] = [
  { afi: Afi.IPv4, safi: Safi.Unicast },
  { afi: Afi.IPv6, safi: Safi.Unicast },
];

export class AdjRibOut {
  readonly peer: PeerConfig;
  readonly ibgp: boolean;
  readonly #rib: LocRib;
  #policy: CompiledPolicy;
  readonly #nextHopMode: 'auto' | 'self' | 'keep';
  /** Families negotiated on the session: End-of-RIB markers, and the only NLRI we send. */
  readonly #families: readonly AfiSafi[];
  readonly #sendV4: boolean;
  readonly #sendV6: boolean;
  /** Advertised: prefix → index into #sets. */
  readonly #adv = new PrefixTable(64);
  readonly #sets: (PathAttributes | undefined)[] = [];
  readonly #setIds = new Map<PathAttributes, number>();
  readonly #setRefs: number[] = [];
  readonly #freeIds: number[] = [];
  /** Export result per best Path (prefix-independent part), and per post-policy set. */
  #prep = new Map<Path, PathAttributes | null>();
  /** Per family (0: IPv4 prefixes, 1: IPv6), because next-hop-self depends on it. */
  #final = [
    new Map<Path, Map<PathAttributes, PathAttributes | null>>(),
    new Map<Path, Map<PathAttributes, PathAttributes | null>>(),
  ];
  #epoch = -1;

  constructor(rib: LocRib, peer: PeerConfig, opts: AdjRibOutOptions) {
    this.#rib = rib;
    this.peer = peer;
    this.ibgp = peer.asn === rib.asn;
    this.#policy = opts.exportPolicy;
    this.#nextHopMode = opts.nextHopMode ?? 'auto';
    this.#families = opts.families ?? DEFAULT_FAMILIES;
    this.#sendV4 = this.#families.some((f) => f.afi === Afi.IPv4 && f.safi === Safi.Unicast);
    this.#sendV6 = this.#families.some((f) => f.afi === Afi.IPv6 && f.safi === Safi.Unicast);
  }

  /** Prefixes currently advertised to the peer. */
  get size(): number {
    return this.#adv.size;
  }

  /** The set advertised for `key`, if any. */
  advertised(key: PrefixKey): PathAttributes | undefined {
    const id = this.#adv.get(key);
    return id === NONE ? undefined : this.#sets[id];
  }

  /** Start of a session: everything the peer should have, then End-of-RIB for each family. */
  initialSync(): OutUpdate {
    const out = new Collector();
    this.#rib.forEachBest((k, best) => this.#visit(k, best, out));
    return out.result(this.#families);
  }

  /** Changes for the prefixes the Loc-RIB marked dirty. */
  sync(dirty: { readonly v4: ArrayLike<number>; readonly v6: readonly string[] }): OutUpdate {
    const out = new Collector();
    const rib = this.#rib;
    for (let i = 0; i < dirty.v4.length; i++) {
      const k = dirty.v4[i]!;
      this.#visit(k, rib.best(k), out);
    }
    for (let i = 0; i < dirty.v6.length; i++) {
      const k = dirty.v6[i]!;
      this.#visit(k, rib.best(k), out);
    }
    return out.result([]);
  }

  /** Route refresh (RFC 2918 §4, RFC 7313): re-send everything advertised, as it stands. */
  refresh(): OutUpdate {
    const out = new Collector();
    this.#adv.forEach((k, id) => {
      out.announce(k, this.#sets[id]!);
    });
    return out.result([]);
  }

  /** A new export policy: re-evaluate every prefix (ours and advertised) and send the difference. */
  setExportPolicy(policy: CompiledPolicy): OutUpdate {
    this.#policy = policy;
    this.#prep = new Map();
    this.#final = [new Map(), new Map()];
    const out = new Collector();
    const rib = this.#rib;
    rib.forEachBest((k, best) => this.#visit(k, best, out));
    for (const k of this.#adv.keys()) if (rib.best(k) === undefined) this.#visit(k, undefined, out);
    return out.result([]);
  }

  /** Session down: forget what was sent (the peer forgets it too), releasing the attribute sets. */
  clear(): void {
    for (const a of this.#sets) if (a !== undefined) this.#rib.interner.release(a);
    this.#sets.length = 0;
    this.#setIds.clear();
    this.#setRefs.length = 0;
    this.#freeIds.length = 0;
    for (const k of this.#adv.keys()) this.#adv.delete(k);
  }

  #visit(k: PrefixKey, best: Path | undefined, out: Collector): void {
    // RFC 4760 §7: never NLRI of a family the session did not negotiate (GoBGP resets the session for it).
    const negotiated = typeof k === 'number' ? this.#sendV4 : this.#sendV6;
    const want = best === undefined || !negotiated ? null : this.#export(k, best);
    const id = this.#adv.get(k);
    const have = id === NONE ? undefined : this.#sets[id];
    if (want === null) {
      if (have === undefined) return;
      this.#adv.delete(k);
      this.#unref(id);
      out.withdraw(k);
      return;
    }
    if (want === have) return;
    if (have !== undefined) this.#unref(id);
    this.#adv.set(k, this.#ref(want));
    out.announce(k, want);
  }

  #ref(a: PathAttributes): number {
    let id = this.#setIds.get(a);
    if (id === undefined) {
      id = this.#freeIds.pop() ?? this.#sets.length;
      this.#sets[id] = a;
      this.#setRefs[id] = 0;
      this.#setIds.set(a, id);
      this.#rib.interner.retain(a);
    }
    this.#setRefs[id]!++;
    return id;
  }

  #unref(id: number): void {
    if (--this.#setRefs[id]! > 0) return;
    const a = this.#sets[id]!;
    this.#sets[id] = undefined;
    this.#setIds.delete(a);
    this.#freeIds.push(id);
    this.#rib.interner.release(a);
  }

  /** The set to advertise for `key` with best path `p`, or null to send nothing (see module header). */
  #export(key: PrefixKey, p: Path): PathAttributes | null {
    const interner = this.#rib.interner;
    // Reset when sets were swept (they may be rebuilt as new objects) or dead Paths piled up.
    if (interner.epoch !== this.#epoch || this.#prep.size > 4096) {
      this.#prep = new Map();
      this.#final = [new Map(), new Map()];
      this.#epoch = interner.epoch;
    }
    let prepared = this.#prep.get(p);
    if (prepared === undefined) {
      prepared = this.#prepare(p);
      this.#prep.set(p, prepared);
    }
    if (prepared === null) return null;
    const post = this.#policy.evaluate(key, prepared, p.local);
    if (post === null) return null;
    const v6 = typeof key !== 'number';
    const byPath = this.#final[v6 ? 1 : 0]!;
    let finals = byPath.get(p);
    if (finals === undefined) {
      finals = new Map();
      byPath.set(p, finals);
    }
    let fin = finals.get(post);
    if (fin === undefined) {
      fin = this.#rewrite(p, post, v6);
      finals.set(post, fin);
    }
    return fin;
  }

  /** Steps 1–4: whether the route may go to this peer at all, and the eBGP attribute preparation. */
  #prepare(p: Path): PathAttributes | null {
    const src = p.peer;
    const a = p.attrs;
    if (src.config.id === this.peer.id) return null;
    if (a.communities.includes(NO_ADVERTISE)) return null;
    if (!this.ibgp) {
      if (a.communities.includes(NO_EXPORT) || a.communities.includes(NO_EXPORT_SUBCONFED)) return null;
      const med = p.local ? a.med : undefined;
      if (a.localPref === undefined && a.med === med && a.originatorId === undefined && a.clusterList.length === 0)
        return a;
      return this.#rib.interner.with(a, { localPref: undefined, med, originatorId: undefined, clusterList: [] });
    }
    if (src.ibgp && !src.local) {
      // RFC 4456 §6: reflect client routes to everyone, non-client routes to clients only.
      if (!src.config.rrClient && !this.peer.rrClient) return null;
    }
    if (a.originatorId !== undefined && a.originatorId === this.peer.routerId) return null;
    return a;
  }

  /**
   * Step 6: protocol rewrites after the export policy. Null when no next hop can be given (an originated
   * route, or next-hop-self, with no local address of a usable family): sending nothing beats an UPDATE
   * the codec must refuse.
   */
  #rewrite(p: Path, a: PathAttributes, v6: boolean): PathAttributes | null {
    const fin = this.#rewriteAttrs(p, a, v6);
    return fin.nextHop === '' ? null : fin;
  }

  #rewriteAttrs(p: Path, a: PathAttributes, v6: boolean): PathAttributes {
    const rib = this.#rib;
    // RFC 4760 / RFC 8950: IPv6 prefixes want our IPv6 address; IPv4 ones our IPv4 address, else IPv6.
    const cfg = this.peer;
    const self = (v6 ? (cfg.localAddressV6 ?? cfg.localAddress) : (cfg.localAddress ?? cfg.localAddressV6)) ?? '';
    let nextHop = a.nextHop;
    if (nextHop === '' || this.#nextHopMode === 'self') nextHop = self;
    if (!this.ibgp) {
      if (this.#nextHopMode !== 'keep') nextHop = self;
      // RFC 4271 §5.1.2: prepend our AS (into a leading AS_SEQUENCE when there is room).
      const first = a.asPath[0];
      const asPath =
        first?.type === AsPathSegmentType.AsSequence && first.asns.length < 255
          ? [{ type: first.type, asns: [rib.asn, ...first.asns] }, ...a.asPath.slice(1)]
          : [{ type: AsPathSegmentType.AsSequence, asns: [rib.asn] }, ...a.asPath];
      return rib.interner.with(a, { asPath, nextHop, localPref: undefined });
    }
    const reflected = p.peer.ibgp && !p.local;
    if (reflected) {
      return rib.interner.with(a, {
        localPref: a.localPref ?? 100,
        originatorId: a.originatorId ?? p.peer.config.routerId, // RFC 4456 §8
        clusterList: [rib.clusterId, ...a.clusterList],
        nextHop: this.#nextHopMode === 'self' ? self : a.nextHop,
      });
    }
    if (a.localPref !== undefined && nextHop === a.nextHop) return a;
    return rib.interner.with(a, { localPref: a.localPref ?? 100, nextHop });
  }
}

/** Groups announcements by attribute set and splits prefixes by family. */
class Collector {
  readonly #wd4: number[] = [];
  readonly #wd6: string[] = [];
  readonly #groups = new Map<PathAttributes, { v4: number[]; v6: string[] }>();

  withdraw(k: PrefixKey): void {
    if (typeof k === 'number') this.#wd4.push(k);
    else this.#wd6.push(k);
  }

  announce(k: PrefixKey, a: PathAttributes): void {
    let g = this.#groups.get(a);
    if (g === undefined) {
      g = { v4: [], v6: [] };
      this.#groups.set(a, g);
    }
    if (typeof k === 'number') g.v4.push(k);
    else g.v6.push(k);
  }

  result(endOfRib: readonly AfiSafi[]): OutUpdate {
    const withdraw: NlriBatch[] = [];
    if (this.#wd4.length) withdraw.push({ afi: Afi.IPv4, safi: Safi.Unicast, prefixes: this.#wd4 });
    if (this.#wd6.length) withdraw.push({ afi: Afi.IPv6, safi: Safi.Unicast, prefixes: this.#wd6 });
    const announce: { attrs: PathAttributes; batch: NlriBatch }[] = [];
    for (const [attrs, g] of this.#groups) {
      if (g.v4.length) announce.push({ attrs, batch: { afi: Afi.IPv4, safi: Safi.Unicast, prefixes: g.v4 } });
      if (g.v6.length) announce.push({ attrs, batch: { afi: Afi.IPv6, safi: Safi.Unicast, prefixes: g.v6 } });
    }
    return { withdraw, announce, endOfRib };
  }
}
