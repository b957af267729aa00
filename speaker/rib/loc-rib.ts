/**
 * Loc-RIB (RFC 4271 §3.2, §9.1): the best path per prefix over every peer's Adj-RIB-In and our own
 * originated routes, with the step that decided it. This class is also the RIB's front door: the session
 * layer hands it decoded UPDATEs (`applyMessage`, or the batch calls), session events (`removePeer`,
 * `markStale`, `sweepStale`) and originations; `AdjRibOut` (adj-rib-out.ts) consumes `takeDirty()`.
 *
 * Hot path (one UPDATE: a batch of keys sharing one attribute set):
 *  - the loop checks, eBGP normalisation and, unless the import policy looks at prefixes, the policy
 *    itself run once per batch;
 *  - per prefix: one lookup and usually one store in the prefix table (prefix-table.ts: typed arrays for
 *    IPv4), no allocation. The table holds every peer's routes (see adj-rib-in.ts for why there is no
 *    separate per-peer map): an entry is the id of the only candidate `Path`; with two candidates, a slot
 *    in a typed pair pool; with more, an array; usable best first. The decision process runs only when
 *    several peers (or ADD-PATH ids) offer the prefix;
 *  - a prefix whose best path changed is appended to the dirty list (IPv4 keys in a reused Float64Array,
 *    list stays a packed double array). Duplicates are allowed: AdjRibOut's diff is idempotent.
 *
 * Not here: ADD-PATH send, multipath/ECMP selection, IGP cost resolution (the `igpCost` hook returns 0),
 * confederations, LLGR (RFC 9494), max-prefix limits.
 */
import { CaracalError, ErrorCodes } from '../../common/errors.js';
import { ACCEPT_ALL, type CompiledPolicy, compilePolicy, formatCommunity } from '../policy/policy.js';
import { formatPrefixKey } from '../wire/prefix.js';
import { Afi, type NlriBatch, type PathAttributes, type PrefixKey, type UpdateMessage } from '../wire/types.js';
import { AdjRibIn, type Path, PathRegistry, type PeerConfig } from './adj-rib-in.js';
import { AttrInterner } from './attr-intern.js';
import { type BestReason, comparePaths, selectBest } from './best-path.js';
import { freeSoon, NONE, PrefixTable } from './prefix-table.js';

export interface LocRibOptions {
  /** Our AS (4-octet). */
  readonly asn: number;
  /** Our BGP identifier, unsigned 32-bit. */
  readonly routerId: number;
  /** RFC 4456 §7 CLUSTER_ID when we reflect; defaults to the router id. */
  readonly clusterId?: number | undefined;
  readonly interner?: AttrInterner | undefined;
  /** RFC 4271 §9.1.2.2 (e): cost to reach a next hop; 0 for every next hop when absent. */
  readonly igpCost?: ((nextHop: string) => number) | undefined;
}

/** One best route, formatted for status (`GET /bgp/routes`). */
export interface RouteView {
  readonly prefix: string;
  readonly pathId: number;
  readonly nextHop: string;
  readonly asPath: string;
  readonly localPref: number;
  readonly med: number | undefined;
  readonly communities: readonly string[];
  readonly origin: 'igp' | 'egp' | 'incomplete';
  readonly peer: string;
  readonly reason: BestReason;
  readonly stale: boolean;
  readonly candidates: number;
}

export interface RoutePage {
  readonly routes: readonly RouteView[];
  /** Pass as `after` for the next page; undefined on the last page. Stable across changes. */
  readonly next?: string | undefined;
}

/** Dirty-list entries tolerated beyond twice the table size before deduplicating (8 bytes each). */
const DIRTY_SLACK = 1 << 20;
/**
 * Capacity (entries) the IPv4 dirty buffer starts at. It is reused between flushes and only grows, to the
 * largest burst seen (one socket read can carry ~2 MB of UPDATEs, ~500k prefixes; a full-table peer going
 * down dirties 1M at once: 8 MB), so a burst costs no JS-heap allocation at all. With a growing `number[]`
 * each burst left ~2× its size of backing stores in V8's large-object space until the next full GC
 * (measured: ~20 MiB of a 1M-prefix ingest's peak RSS). Shrinking it after a burst would not lower the
 * peak, only move the next one.
 */
const DIRTY_INITIAL = 1 << 10;

/** The local pseudo-peer's id. */
export const LOCAL_PEER = '<local>';

export class LocRib {
  readonly interner: AttrInterner;
  readonly asn: number;
  readonly routerId: number;
  readonly clusterId: number;
  readonly #igpCost: (nextHop: string) => number;
  readonly #peers = new Map<string, AdjRibIn>();
  readonly #local: AdjRibIn;
  readonly #paths: PathRegistry;
  readonly #table: PrefixTable;
  /**
   * Entries with several candidates. Table values: ≥ 0 the only Path's id; -(2i + 1) pair i, two Path ids
   * in #pairA/#pairB (8 bytes, no object: two full feeds are common); -(2i + 2) array i in #multi, for
   * three or more (and for two after shrinking from three). Usable best first in both.
   */
  #pairA = new Int32Array(256);
  #pairB = new Int32Array(256);
  #pairCount = 0;
  readonly #pairFree: number[] = [];
  readonly #multi: (Path[] | undefined)[] = [];
  readonly #multiFree: number[] = [];
  /** Prefixes with a usable best path. */
  #routes = 0;
  /** IPv4 dirty keys: `#dirtyV4[0 .. #dirtyV4n)`; the buffer is reused across takeDirty() calls. */
  #dirtyV4 = new Float64Array(DIRTY_INITIAL);
  #dirtyV4n = 0;
  #dirtyV6: string[] = [];
  /**
   * Duplicates are tolerated, but if nobody calls `takeDirty()` for a while a flapping prefix must not grow
   * the lists without bound: past both the cap and twice the table size plus DIRTY_SLACK they are
   * deduplicated, and the cap doubles past what remains, so the cost stays amortised O(1) per change.
   * Neither a full-table ingest nor a full-table withdrawal (removePeer of 1M) comes near that, so the
   * normal paths never pay for it; the bound costs at most ~8 MB of duplicates.
   */
  #dirtyCap4 = DIRTY_SLACK;
  #dirtyCap6 = DIRTY_SLACK;
  /** Bumped on every best-path change; status snapshots key on it. */
  #version = 0;
  /** Sorted keys for status paging: IPv4 in a typed array (native numeric sort), then IPv6. */
  #snapshot: { version: number; v4: Float64Array; v6: string[] } | undefined;

  constructor(opts: LocRibOptions & { readonly expectedPrefixes?: number | undefined }) {
    this.interner = opts.interner ?? new AttrInterner();
    this.asn = opts.asn;
    this.routerId = opts.routerId;
    this.clusterId = opts.clusterId ?? opts.routerId;
    this.#igpCost = opts.igpCost ?? (() => 0);
    this.#paths = new PathRegistry(this.interner);
    this.#table = new PrefixTable(opts.expectedPrefixes ?? 1024);
    this.#local = new AdjRibIn(
      { id: LOCAL_PEER, address: '', asn: opts.asn, routerId: opts.routerId },
      { ibgp: false, local: true, importPolicy: compilePolicy(ACCEPT_ALL, this), igpCost: () => 0 },
    );
  }

  /** Prefixes with a usable best path. */
  get size(): number {
    return this.#routes;
  }
  get version(): number {
    return this.#version;
  }
  /** Distinct Paths alive (memory diagnostics). */
  get pathCount(): number {
    return this.#paths.size;
  }

  // -------------------------------------------------------------------------------------------------------
  // Peers

  /** Registers a session that reached Established. `importPolicy` defaults to accept-all. */
  addPeer(config: PeerConfig, importPolicy?: CompiledPolicy): AdjRibIn {
    const old = this.#peers.get(config.id);
    if (old !== undefined) {
      // A graceful restart: the session is back; keep the stale routes and their counters.
      if (old.restarting) {
        if (config.asn !== old.config.asn)
          throw new CaracalError(
            ErrorCodes.Internal,
            `Cannot re-add BGP peer "${config.id}" after a restart: AS ${config.asn} differs from ${old.config.asn}; remove it first`,
          );
        old.config = config;
        old.importPolicy = importPolicy ?? old.importPolicy;
        return old;
      }
      throw new CaracalError(ErrorCodes.Internal, `Cannot add BGP peer "${config.id}": it is already in the RIB`);
    }
    const adj = new AdjRibIn(config, {
      ibgp: config.asn === this.asn,
      local: false,
      importPolicy: importPolicy ?? compilePolicy(ACCEPT_ALL, this),
      igpCost: this.#igpCost,
    });
    this.#peers.set(config.id, adj);
    return adj;
  }

  peer(id: string): AdjRibIn | undefined {
    return id === LOCAL_PEER ? this.#local : this.#peers.get(id);
  }

  peers(): IterableIterator<AdjRibIn> {
    return this.#peers.values();
  }

  #adj(id: string): AdjRibIn {
    const a = this.peer(id);
    if (a === undefined)
      throw new CaracalError(ErrorCodes.Internal, `Cannot update the RIB from BGP peer "${id}": it is not registered`);
    return a;
  }

  /**
   * Session down without graceful restart: withdraw all of its routes and forget it. One pass over the
   * table (BIRD prunes the same way); returns how many routes were removed.
   */
  removePeer(id: string): number {
    const adj = this.#adj(id);
    const n = this.#removeWhere(adj, false);
    if (adj !== this.#local) this.#peers.delete(id);
    this.interner.maybeSweep(1);
    return n;
  }

  /** RFC 4724 §4.2: a GR-capable session dropped; keep its routes (still usable) as stale. */
  markStale(id: string): void {
    this.#adj(id).markStale();
  }

  /**
   * End-of-RIB from the restarted peer for `afi`, or its restart timer expired (all AFIs; RFC 4724 §4.2):
   * withdraw the stale routes that were not refreshed. Returns how many routes were withdrawn.
   * `applyMessage` calls this itself when an End-of-RIB arrives from a restarting peer.
   */
  sweepStale(id: string, afi?: Afi): number {
    const adj = this.#adj(id);
    if (!adj.restarting) return 0;
    const n = this.#removeWhere(adj, true, afi);
    if (afi === undefined) adj.staleAfis.clear();
    else adj.staleAfis.delete(afi);
    if (!adj.restarting) adj.staleCount = 0;
    this.interner.maybeSweep(1);
    return n;
  }

  #removeWhere(adj: AdjRibIn, onlyStale: boolean, afi?: Afi): number {
    // One pass that removes as it goes (PrefixTable.forEachDeletable): collecting a full table's keys first
    // cost ~30 MB of heap (or 12 MB of typed arrays) at the moment a session dropped.
    let n = 0;
    const ids: number[] = [];
    this.#reserveDirty4(this.#dirtyV4n + adj.received); // no regrowth (and copies) in the middle of the pass
    this.#table.forEachDeletable((k, v) => {
      if (afi !== undefined && (typeof k === 'number') !== (afi === Afi.IPv4)) return;
      if (v >= 0) {
        const p = this.#paths.get(v);
        if (p.peer !== adj || (onlyStale && !p.stale)) return;
        this.#set(k, adj, p.pathId, null);
        n++;
        return;
      }
      // Several candidates: note the ids first, since #set reorders the candidate list.
      ids.length = 0;
      for (const p of this.#list(v)) if (p.peer === adj && (!onlyStale || p.stale)) ids.push(p.pathId);
      for (const id of ids) this.#set(k, adj, id, null);
      n += ids.length;
    });
    this.#table.compact();
    return n;
  }

  /** Re-runs a peer's import policy over what it sent (soft reconfiguration inbound). */
  setImportPolicy(id: string, policy: CompiledPolicy): void {
    const adj = this.#adj(id);
    adj.importPolicy = policy;
    adj.normalised.clear();
    const todo: [PrefixKey, Path][] = [];
    this.#table.forEach((k, v) => {
      for (const p of this.#list(v)) if (p.peer === adj) todo.push([k, p]);
    });
    for (const [k, p] of todo) {
      const eff = this.#normalise(adj, p.pre);
      const post = eff === null ? null : policy.evaluate(k, eff, adj.local);
      this.#set(k, adj, p.pathId, adj.pathFor(p.pre, post, p.pathId, this.#paths, p.stale));
    }
  }

  // -------------------------------------------------------------------------------------------------------
  // UPDATE processing

  /**
   * Applies a decoded UPDATE: withdrawals, then announcements (or treat-as-withdraw, RFC 7606 §2); an
   * End-of-RIB from a restarting peer sweeps that AFI's stale routes (RFC 4724 §4.2).
   */
  applyMessage(id: string, msg: UpdateMessage): void {
    if (msg.endOfRib !== undefined) {
      if (this.#adj(id).restarting) this.sweepStale(id, msg.endOfRib.afi as Afi);
      return;
    }
    for (const b of msg.withdrawn) this.withdraw(id, b);
    if (msg.treatAsWithdraw || msg.attributes === undefined) {
      for (const b of msg.reachable) this.withdraw(id, b);
    } else {
      for (const b of msg.reachable) this.applyUpdate(id, b, msg.attributes);
    }
    this.interner.maybeSweep();
  }

  /**
   * Announcements of one UPDATE: every prefix in `batch` now has `attrs` from this peer.
   * @example rib.applyUpdate('tor-1', { afi: 1, safi: 1, prefixes: [keyOf('10.0.0.0/24')] }, attrs)
   */
  applyUpdate(id: string, batch: NlriBatch, attrs: PathAttributes): void {
    const adj = this.#adj(id);
    const prefixes = batch.prefixes;
    const n = prefixes.length;
    if (n === 0) return;
    const ids = batch.pathIds;
    const policy = adj.importPolicy;
    const reg = this.#paths;
    const eff = this.#normalise(adj, attrs);
    // Unless the policy looks at prefixes, one evaluation serves the whole batch.
    if (eff === null || !policy.prefixDependent) {
      const post = eff === null ? null : policy.evaluate(prefixes[0]!, eff, adj.local);
      if (ids === undefined) {
        const path = adj.pathFor(attrs, post, 0, reg);
        const table = this.#table;
        const usable = !path.rejected;
        let added = 0;
        for (let i = 0; i < n; i++) {
          const key = prefixes[i]!;
          // Fast path, the whole of a first full table: a prefix nobody has offered yet. Inlined here so
          // the IPv4 key stays an unboxed double (a call to #set boxes it).
          if (typeof key === 'number' && table.get(key) === NONE) {
            table.set(key, path.id);
            added++;
            if (usable) {
              this.#version++;
              const d = this.#dirtyV4n;
              if (d < this.#dirtyV4.length && d < this.#dirtyCap4) {
                this.#dirtyV4[d] = key;
                this.#dirtyV4n = d + 1;
              } else this.#dirty4(key);
            }
            continue;
          }
          this.#set(key, adj, 0, path);
        }
        if (added > 0) {
          path.refs += added;
          adj.received += added;
          if (usable) {
            adj.accepted += added;
            this.#routes += added;
          }
        }
      } else {
        for (let i = 0; i < n; i++) {
          const pathId = ids[i] ?? 0;
          this.#set(prefixes[i]!, adj, pathId, adj.pathFor(attrs, post, pathId, reg));
        }
      }
      return;
    }
    for (let i = 0; i < n; i++) {
      const key = prefixes[i]!;
      const pathId = ids === undefined ? 0 : (ids[i] ?? 0);
      this.#set(key, adj, pathId, adj.pathFor(attrs, policy.evaluate(key, eff, adj.local), pathId, reg));
    }
  }

  /** Withdrawals of one UPDATE (or treat-as-withdraw announcements). */
  withdraw(id: string, batch: NlriBatch): void {
    const adj = this.#adj(id);
    const prefixes = batch.prefixes;
    const ids = batch.pathIds;
    for (let i = 0; i < prefixes.length; i++) this.#set(prefixes[i]!, adj, ids === undefined ? 0 : (ids[i] ?? 0), null);
  }

  /** Local origination: our own blocks and configured prefixes, preferred over any learned path. */
  originate(prefixes: readonly PrefixKey[], attrs: PathAttributes): void {
    this.applyUpdate(LOCAL_PEER, { afi: Afi.IPv4, safi: 1, prefixes }, attrs); // afi is not read: keys say
  }

  /** Stops originating `prefixes`. */
  unoriginate(prefixes: readonly PrefixKey[]): void {
    this.withdraw(LOCAL_PEER, { afi: Afi.IPv4, safi: 1, prefixes });
  }

  /**
   * Import-side checks that depend only on the attribute set, cached per set:
   *  - eBGP: AS-path loop (RFC 4271 §9.1.2), and a received LOCAL_PREF is ignored (§5.1.5);
   *  - iBGP: RFC 4456 §8, our ORIGINATOR_ID or our CLUSTER_ID in CLUSTER_LIST means a reflection loop.
   */
  #normalise(adj: AdjRibIn, a: PathAttributes): PathAttributes | null {
    if (adj.local) return a;
    if (adj.normalisedEpoch !== this.interner.epoch) {
      adj.normalised.clear();
      adj.normalisedEpoch = this.interner.epoch;
    }
    const hit = adj.normalised.get(a);
    if (hit !== undefined) return hit;
    let out: PathAttributes | null = a;
    const cfg = adj.config;
    if (a.nextHop !== '' && (a.nextHop === cfg.localAddress || a.nextHop === cfg.localAddressV6)) {
      out = null; // RFC 4271 §6.3: a NEXT_HOP that is our own address is semantically wrong; ignore the route
    } else if (adj.ibgp) {
      if (a.originatorId === this.routerId || a.clusterList.includes(this.clusterId)) out = null;
    } else if (cfg.enforceFirstAs !== false && a.neighborAs !== cfg.asn) {
      out = null; // RFC 4271 §6.3, RFC 7606 §7.2: the leftmost AS of an eBGP AS_PATH must be the peer's
    } else {
      let own = 0;
      for (const s of a.asPath) for (const asn of s.asns) if (asn === this.asn) own++;
      if (own > (cfg.allowOwnAs ?? 0)) out = null;
      else if (a.localPref !== undefined) out = this.interner.with(a, { localPref: undefined });
    }
    adj.normalised.set(a, out);
    return out;
  }

  // -------------------------------------------------------------------------------------------------------
  // The table entry update: the only place candidates change

  /** Replaces (or with null removes) the candidate of (`adj`, `pathId`) for `key`; keeps counters. */
  #set(key: PrefixKey, adj: AdjRibIn, pathId: number, path: Path | null): void {
    const table = this.#table;
    const v = table.get(key);
    if (v === NONE) {
      if (path === null) return;
      table.set(key, path.id);
      this.#hold(path);
      if (!path.rejected) {
        this.#routes++;
        this.#dirty(key);
      }
      return;
    }
    if (v >= 0) {
      const e = this.#paths.get(v);
      if (e.peer === adj && e.pathId === pathId) {
        if (e === path) return;
        this.#let(e);
        if (path === null) table.delete(key);
        else {
          table.set(key, path.id);
          this.#hold(path);
        }
        const was = !e.rejected;
        const now = path !== null && !path.rejected;
        if (was !== now) this.#routes += now ? 1 : -1;
        if (was || now) this.#dirty(key);
        return;
      }
      if (path === null) return;
      this.#hold(path);
      const pathFirst = this.#goesFirst(path, e);
      table.set(key, this.#newPair(pathFirst ? path : e, pathFirst ? e : path));
      if (e.rejected && !path.rejected) this.#routes++;
      if (pathFirst && !path.rejected) this.#dirty(key);
      return;
    }
    if ((-v & 1) === 1) {
      this.#setInPair(key, v, adj, pathId, path);
      return;
    }
    const mi = (-v - 2) / 2;
    const list = this.#multi[mi]!;
    const oldBest = list[0]!.rejected ? undefined : list[0];
    let idx = -1;
    for (let i = 0; i < list.length; i++) {
      const c = list[i]!;
      if (c.peer === adj && c.pathId === pathId) {
        idx = i;
        break;
      }
    }
    if (idx >= 0) {
      const c = list[idx]!;
      if (c === path) return;
      this.#let(c);
      if (path === null) list.splice(idx, 1);
      else {
        list[idx] = path;
        this.#hold(path);
      }
    } else {
      if (path === null) return;
      list.push(path);
      this.#hold(path);
    }
    let newBest: Path | undefined;
    if (list.length === 1) {
      const only = list[0]!;
      table.set(key, only.id);
      this.#multi[mi] = undefined;
      this.#multiFree.push(mi);
      newBest = only.rejected ? undefined : only;
    } else {
      newBest = this.#order(list) ? list[0] : undefined;
    }
    if ((oldBest === undefined) !== (newBest === undefined)) this.#routes += newBest ? 1 : -1;
    if (newBest !== oldBest) this.#dirty(key);
  }

  #setInPair(key: PrefixKey, v: number, adj: AdjRibIn, pathId: number, path: Path | null): void {
    const pi = (-v - 1) / 2;
    const a = this.#paths.get(this.#pairA[pi]!);
    const b = this.#paths.get(this.#pairB[pi]!);
    const oldBest = a.rejected ? undefined : a;
    let newBest: Path | undefined;
    const aMine = a.peer === adj && a.pathId === pathId;
    if (aMine || (b.peer === adj && b.pathId === pathId)) {
      const mine = aMine ? a : b;
      const other = aMine ? b : a;
      if (mine === path) return;
      this.#let(mine);
      if (path === null) {
        this.#table.set(key, other.id);
        this.#pairFree.push(pi);
        newBest = other.rejected ? undefined : other;
      } else {
        this.#hold(path);
        const pathFirst = this.#goesFirst(path, other);
        this.#pairA[pi] = pathFirst ? path.id : other.id;
        this.#pairB[pi] = pathFirst ? other.id : path.id;
        const first = pathFirst ? path : other;
        newBest = first.rejected ? undefined : first;
      }
    } else {
      if (path === null) return;
      this.#hold(path);
      const list = [a, b, path];
      this.#pairFree.push(pi);
      const mi = this.#multiFree.pop() ?? this.#multi.length;
      this.#multi[mi] = list;
      this.#table.set(key, -(2 * mi + 2));
      newBest = this.#order(list) ? list[0] : undefined;
    }
    if ((oldBest === undefined) !== (newBest === undefined)) this.#routes += newBest ? 1 : -1;
    if (newBest !== oldBest) this.#dirty(key);
  }

  /** Order within a pair: usable before rejected, then the decision process (as `selectBest` for two). */
  #goesFirst(x: Path, y: Path): boolean {
    if (x.rejected !== y.rejected) return !x.rejected;
    return comparePaths(x, y) <= 0;
  }

  #newPair(first: Path, second: Path): number {
    let pi = this.#pairFree.pop();
    if (pi === undefined) {
      pi = this.#pairCount++;
      if (pi >= this.#pairA.length) {
        const a = new Int32Array(this.#pairA.length * 2);
        a.set(this.#pairA);
        this.#pairA = a;
        const b = new Int32Array(this.#pairB.length * 2);
        b.set(this.#pairB);
        this.#pairB = b;
      }
    }
    this.#pairA[pi] = first.id;
    this.#pairB[pi] = second.id;
    return -(2 * pi + 1);
  }

  /** The first candidate of a table value (the best when usable). */
  #first(v: number): Path {
    if (v >= 0) return this.#paths.get(v);
    if ((-v & 1) === 1) return this.#paths.get(this.#pairA[(-v - 1) / 2]!);
    return this.#multi[(-v - 2) / 2]![0]!;
  }

  /** All candidates of a table value, first the best (allocates for singles and pairs: not a hot path). */
  #list(v: number): readonly Path[] {
    if (v >= 0) return [this.#paths.get(v)];
    if ((-v & 1) === 1) {
      const pi = (-v - 1) / 2;
      return [this.#paths.get(this.#pairA[pi]!), this.#paths.get(this.#pairB[pi]!)];
    }
    return this.#multi[(-v - 2) / 2]!;
  }

  /** Puts the usable best first; returns whether there is one. Allocates only with rejected candidates. */
  #order(list: Path[]): boolean {
    let usable = list;
    let anyRejected = false;
    for (const p of list) if (p.rejected) anyRejected = true;
    if (anyRejected) {
      usable = list.filter((p) => !p.rejected);
      if (usable.length === 0) return false;
    }
    const best = usable[selectBest(usable).index]!;
    const bi = list.indexOf(best);
    if (bi !== 0) {
      list[bi] = list[0]!;
      list[0] = best;
    }
    return true;
  }

  #hold(p: Path): void {
    p.refs++;
    const adj = p.peer;
    adj.received++;
    if (!p.rejected) adj.accepted++;
  }

  #let(p: Path): void {
    const adj = p.peer;
    adj.received--;
    if (!p.rejected) adj.accepted--;
    if (p.stale) adj.staleCount--;
    if (--p.refs === 0) adj.dropPath(p, this.#paths);
  }

  #dirty(key: PrefixKey): void {
    this.#version++;
    if (typeof key === 'number') {
      this.#dirty4(key);
    } else {
      const n = this.#dirtyV6.push(key);
      if (n > this.#dirtyCap6 && n > 2 * this.#table.size + DIRTY_SLACK) {
        this.#dirtyV6 = dedupe(this.#dirtyV6);
        this.#dirtyCap6 = Math.max(DIRTY_SLACK, 2 * this.#dirtyV6.length);
      }
    }
  }

  /** Appends an IPv4 key to the dirty buffer (growing it by doubling), deduplicating past the cap. */
  #dirty4(key: number): void {
    let n = this.#dirtyV4n;
    if (n === this.#dirtyV4.length) this.#reserveDirty4(n + 1);
    this.#dirtyV4[n++] = key;
    if (n > this.#dirtyCap4 && n > 2 * this.#table.size + DIRTY_SLACK) {
      n = dedupeSorted(this.#dirtyV4, n);
      this.#dirtyCap4 = Math.max(DIRTY_SLACK, 2 * n);
    }
    this.#dirtyV4n = n;
  }

  /** Makes room for `n` IPv4 dirty keys (doubling); the old buffer is freed at once (any view of it dies). */
  #reserveDirty4(n: number): void {
    const old = this.#dirtyV4;
    if (n <= old.length) return;
    let cap = old.length;
    while (cap < n) cap *= 2;
    this.#dirtyV4 = new Float64Array(cap);
    this.#dirtyV4.set(old.subarray(0, this.#dirtyV4n));
    freeSoon(old);
  }

  // -------------------------------------------------------------------------------------------------------
  // Reading

  /** Entries in the dirty lists (duplicates included) since the last `takeDirty()`. */
  get dirtyCount(): number {
    return this.#dirtyV4n + this.#dirtyV6.length;
  }

  /**
   * The prefixes whose best path changed since the last call (may hold duplicates), for AdjRibOut.
   * Every Adj-RIB-Out must be given the same lists before the next call. `v4` is a view into a buffer the
   * RIB reuses: it is valid until the RIB next changes (after which it may hold other keys or be empty),
   * so consume it, or copy it, before applying more.
   */
  takeDirty(): { v4: Float64Array; v6: string[] } {
    const out = { v4: this.#dirtyV4.subarray(0, this.#dirtyV4n), v6: this.#dirtyV6 };
    this.#dirtyV4n = 0;
    this.#dirtyV6 = [];
    this.#dirtyCap4 = DIRTY_SLACK;
    this.#dirtyCap6 = DIRTY_SLACK;
    return out;
  }

  /** The usable best path for `key`. */
  best(key: PrefixKey): Path | undefined {
    const v = this.#table.get(key);
    if (v === NONE) return undefined;
    const p = this.#first(v);
    return p.rejected ? undefined : p;
  }

  /** Every candidate for `key`, rejected ones included, usable best first. */
  candidates(key: PrefixKey): readonly Path[] {
    const v = this.#table.get(key);
    if (v === NONE) return [];
    return this.#list(v);
  }

  /** Which decision step chose the best path for `key` (recomputed: not stored per prefix). */
  reason(key: PrefixKey): BestReason | undefined {
    const usable = this.candidates(key).filter((p) => !p.rejected);
    return usable.length === 0 ? undefined : selectBest(usable).reason;
  }

  /** Calls `fn` for every prefix with a usable best path, in table order (not prefix order). */
  forEachBest(fn: (key: PrefixKey, best: Path) => void): void {
    this.#table.forEach((k, v) => {
      const p = this.#first(v);
      if (!p.rejected) fn(k, p);
    });
  }

  /** The best route for exactly `key`, formatted for status; undefined when there is none. */
  route(key: PrefixKey): RouteView | undefined {
    const best = this.best(key);
    return best === undefined ? undefined : view(key, best, this.candidates(key));
  }

  /**
   * Best routes in prefix order (IPv4 before IPv6; address, then length), `limit` at a time, resuming
   * after the cursor. The sorted key list is cached until the table changes.
   */
  bestRoutes(opts: { after?: string | undefined; limit?: number | undefined } = {}): RoutePage {
    const limit = opts.limit ?? 100;
    if (this.#snapshot?.version !== this.#version) {
      let n4 = 0;
      const v6: string[] = [];
      this.forEachBest((k) => {
        if (typeof k === 'number') n4++;
        else v6.push(k);
      });
      const v4 = new Float64Array(n4);
      let j = 0;
      this.forEachBest((k) => {
        if (typeof k === 'number') v4[j++] = k;
      });
      v4.sort();
      v6.sort();
      this.#snapshot = { version: this.#version, v4, v6 };
    }
    const { v4, v6 } = this.#snapshot;
    const total = v4.length + v6.length;
    const keyAt = (i: number): PrefixKey => (i < v4.length ? v4[i]! : v6[i - v4.length]!);
    let i = 0;
    if (opts.after !== undefined) {
      const after = decodeCursor(opts.after);
      let lo = 0;
      let hi = total;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (keyLe(keyAt(mid), after)) lo = mid + 1;
        else hi = mid;
      }
      i = lo;
    }
    const routes: RouteView[] = [];
    for (; i < total && routes.length < limit; i++) {
      const k = keyAt(i);
      const best = this.best(k);
      if (best !== undefined) routes.push(view(k, best, this.candidates(k)));
    }
    const last = i > 0 ? keyAt(i - 1) : undefined;
    return { routes, next: i < total && last !== undefined ? encodeCursor(last) : undefined };
  }
}

/** Distinct elements in first-seen order, keeping a number[] packed (no boxing through a spread Set). */
/** Sorts `buf[0 .. n)` in place, drops repeats, and returns how many distinct keys remain at the front. */
function dedupeSorted(buf: Float64Array, n: number): number {
  const a = buf.subarray(0, n).sort();
  let m = 0;
  for (let i = 0; i < n; i++) if (m === 0 || a[i] !== a[m - 1]) a[m++] = a[i]!;
  return m;
}

function dedupe<T extends PrefixKey>(list: T[]): T[] {
  const seen = new Set<T>();
  const out: T[] = [];
  for (const k of list) {
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(k);
  }
  return out;
}

function keyLe(a: PrefixKey, b: PrefixKey): boolean {
  if (typeof a === 'number') return typeof b === 'number' ? a <= b : true;
  return typeof b === 'number' ? false : a <= b;
}

const encodeCursor = (k: PrefixKey): string =>
  typeof k === 'number' ? `4.${k}` : `6.${Buffer.from(k, 'latin1').toString('hex')}`;
function decodeCursor(c: string): PrefixKey {
  if (c.startsWith('4.')) return Number(c.slice(2));
  if (c.startsWith('6.')) return Buffer.from(c.slice(2), 'hex').toString('latin1');
  throw new CaracalError(ErrorCodes.Usage, `Cannot page BGP routes: cursor "${c}" is not one this API returned`);
}

const ORIGINS = ['igp', 'egp', 'incomplete'] as const;

function view(k: PrefixKey, best: Path, cands: readonly Path[]): RouteView {
  const a = best.attrs;
  const usable = cands.filter((p) => !p.rejected);
  return {
    prefix: formatPrefixKey(k),
    pathId: best.pathId,
    nextHop: a.nextHop,
    asPath: a.asPath.map((s) => (s.type === 1 ? `{${s.asns.join(',')}}` : s.asns.join(' '))).join(' '),
    localPref: best.localPref,
    med: a.med,
    communities: a.communities.map(formatCommunity),
    origin: ORIGINS[a.origin] ?? 'incomplete',
    peer: best.peer.config.id,
    reason: selectBest(usable).reason,
    stale: best.stale,
    candidates: usable.length,
  };
}
