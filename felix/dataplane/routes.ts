/**
 * The route reconciler (STYLE §3.3): desired routes in, the smallest set of kernel ops out. `setRoutes` /
 * `applyChanges` only update the desired map and mark keys dirty (no I/O); `apply()` reads back what we own
 * on its first call (and after a failure, and every `resyncIntervalMs`), plans ops for the dirty keys with
 * the pure `planRouteOps`, and sends them in one `RoutePort.applyBatch`. A failed op keeps its key dirty and
 * forces a resync, while the rest of the batch still lands.
 *
 * Failure modes it defends against (docs/design/felix-routes.md):
 * - Touching someone else's routes: every route we list, replace or delete carries our `rtm_protocol`, and
 *   owned routes in other tables than ours are ignored.
 * - A restart leaking or duplicating routes: the first apply lists our routes by protocol and sweeps those no
 *   longer desired (mark and sweep), and replaces those that differ.
 * - A metric change making a second route (IPv4 replace matches on metric): a route whose metric differs is
 *   deleted before the new one is added.
 * - IPv6 routes reading back with metric 1024 when none was set: we always set one.
 * - A restart blackholing traffic: until `keepStaleMs` has passed, owned routes found at resync that this
 *   process has never wanted are kept (the routing protocol has not re-learned them yet, graceful-restart
 *   style); after that they are swept.
 *
 * Leaves out: recursive next hops (a next hop must be on a connected subnet: the kernel resolves the
 * outgoing interface and refuses the route, ENETUNREACH, otherwise; the route then stays dirty and is
 * retried), IPIP/VXLAN (onlink via a tunnel device), ECMP, and scheduling (the caller runs `apply()`).
 */
import { type Clock, systemClock } from '../../common/clock.js';
import { RouteScope, RouteType, RtmFlag } from '../../kernel/netlink/codec.js';
import { type Route, type RouteKey, type RouteOp, type RoutePort, routeKey } from '../../kernel/netlink/routes.js';
import { formatIp, isV4Mapped, networkOf, tryParseCidr, tryParseIp } from '../../model/ip.js';
import type { BestRouteChange, PackedBestRoutes } from '../../model/route-feed.js';

export type Routes = ReadonlyMap<RouteKey, Route>;

/** The main routing table (linux/rtnetlink.h RT_TABLE_MAIN). */
export const MAIN_TABLE = 254;
/**
 * Metric of every route we install, both families: IPv6's default (so read-back equals what we sent), and
 * worse than the kernel's connected routes and than a hand-added IPv4 route (metric 0), which then win.
 */
export const DEFAULT_METRIC = 1024;
/** Felix's default route refresh interval (RouteRefreshInterval, 90 s): a full resync catches drift. */
export const DEFAULT_RESYNC_INTERVAL_MS = 90_000;

export interface RouteTableOptions {
  readonly port: RoutePort;
  /** Our rtm_protocol: ownership of every route we install. */
  readonly protocol: number;
  /** Routing table id; default 254 (main). */
  readonly table?: number | undefined;
  /** RTA_PRIORITY of our routes; default 1024. */
  readonly metric?: number | undefined;
  readonly clock?: Clock | undefined;
  /** A full resync at the next apply() once this long has passed since the last; 0 = only after failures. */
  readonly resyncIntervalMs?: number | undefined;
  /**
   * For this long after construction, owned routes this process never wanted (left by a previous run) are not
   * deleted: the restart window. Default 0 (sweep at the first apply).
   */
  readonly keepStaleMs?: number | undefined;
}

/** What one apply() did. */
export interface ApplyResult {
  readonly resynced: boolean;
  readonly ops: number;
  /** Stale routes of a previous run kept for the restart window (swept by the first apply after it). */
  readonly held: number;
  /** Ops the kernel refused; their keys stay dirty for the next apply(). */
  readonly failed: readonly { readonly key: RouteKey; readonly kind: RouteOp['kind']; readonly message: string }[];
}

/**
 * `have` (read from the kernel) is the route `want` asks for: what we set, ignoring kernel-added flag bits
 * (RTM_F_*, RTNH_F_*) and, when `want` names no interface, the interface the kernel resolved the gateway to
 * (a dump always reports one; comparing it would rewrite every route at every resync).
 */
export function sameRoute(want: Route, have: Route): boolean {
  const a = want;
  const b = have;
  return (
    a.gateway === b.gateway &&
    (a.oif === undefined || a.oif === b.oif) &&
    (a.priority ?? 0) === (b.priority ?? 0) &&
    a.type === b.type &&
    a.scope === b.scope &&
    a.protocol === b.protocol &&
    (a.flags & RtmFlag.Onlink) === (b.flags & RtmFlag.Onlink)
  );
}

/**
 * Pure: the smallest set of kernel ops that takes `actual` to `desired` for the dirty keys. A route whose
 * metric changes is deleted first: the kernel matches an IPv4 replace on metric and would add a second route.
 * @example planRouteOps(new Map([[k, r]]), new Map(), [k]) // [{ kind: 'replace', route: r }]
 */
export function planRouteOps(
  desired: Routes,
  actual: Routes,
  dirty: Iterable<RouteKey>,
  /** When given, receives each op's key at the op's index (so callers need not rebuild key strings). */
  keys?: RouteKey[],
): RouteOp[] {
  const ops: RouteOp[] = [];
  for (const key of dirty) {
    const want = desired.get(key);
    const have = actual.get(key);
    if (want && !(have && sameRoute(want, have))) {
      if (have && (have.priority ?? 0) !== (want.priority ?? 0)) {
        ops.push({ kind: 'delete', route: have });
        keys?.push(key);
      }
      ops.push({ kind: 'replace', route: want });
      keys?.push(key);
    } else if (!want && have) {
      ops.push({ kind: 'delete', route: have });
      keys?.push(key);
    }
  }
  return ops;
}

/**
 * The kernel route for a best-route change, or undefined when it cannot be installed: withdrawn, or a next hop
 * that is not a unicast address of the prefix's family (an IPv4-mapped IPv6 next hop, RFC 8950 IPv4-over-IPv6).
 */
export function routeForChange(
  c: BestRouteChange,
  o: { protocol: number; table: number; metric: number },
): Route | undefined {
  const cidr = tryParseCidr(c.prefix);
  if (!cidr.ok || c.nextHop === undefined) return undefined;
  const nh = tryParseIp(c.nextHop);
  if (!nh.ok || nh.value.family !== cidr.value.family || nh.value.value === 0n || isV4Mapped(nh.value))
    return undefined;
  const net = networkOf(cidr.value);
  return {
    family: net.family,
    dst: formatIp({ family: net.family, value: net.address }),
    prefixLen: net.prefixLen,
    table: o.table,
    protocol: o.protocol,
    scope: RouteScope.Universe,
    type: RouteType.Unicast,
    gateway: formatIp(nh.value),
    priority: o.metric,
    flags: 0,
  };
}

/**
 * The value of the dotted-quad IPv4 address text[from, to) when it is canonical (four decimal octets ≤ 255, no
 * leading zeros), else -1. Hand-rolled: on a full table this runs a million times.
 */
export function canonicalV4(text: string, from: number, to: number): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = from; i < to; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 46) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (ch >= 48 && ch <= 57) {
      if (digits > 0 && octet === 0) return -1; // a leading zero
      octet = octet * 10 + (ch - 48);
      if (octet > 255) return -1;
      digits++;
    } else return -1;
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + octet;
}

/** Whether IPv4 address `addr` (a u32) has bits set past prefix length `len`. */
function hasHostBits(addr: number, len: number): boolean {
  return len < 32 && addr % 2 ** (32 - len) !== 0;
}

/** The length of a canonical IPv4 prefix text ("a.b.c.d/len", host bits clear, `slash` at the "/"), else -1. */
function canonicalV4PrefixLen(prefix: string, slash: number): number {
  if (slash < 7 || slash > 15) return -1;
  const addr = canonicalV4(prefix, 0, slash);
  if (addr < 0) return -1;
  const lenText = prefix.slice(slash + 1);
  const len = Number(lenText);
  if (!Number.isInteger(len) || len < 0 || len > 32 || String(len) !== lenText) return -1;
  if (hasHostBits(addr, len)) return -1; // the general path says why
  return len;
}

/** Plain IPv4 ops planned and sent per applyBatch call (see RouteTable.apply). */
const PLAIN_CHUNK = 8192;

/** Dotted quad of a u32. */
function formatV4(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/** The plain-IPv4 key (address * 64 + length, host bits cleared) of any IPv4 prefix text, else undefined. */
function v4KeyOfPrefix(prefix: string): number | undefined {
  const cidr = tryParseCidr(prefix);
  if (!cidr.ok || cidr.value.family !== 4) return undefined;
  const net = networkOf(cidr.value);
  return Number(net.address) * 64 + net.prefixLen;
}

/** The route key of a change's prefix (undefined when the prefix does not parse). */
function keyForPrefix(prefix: string, table: number): RouteKey | undefined {
  const cidr = tryParseCidr(prefix);
  if (!cidr.ok) return undefined;
  const net = networkOf(cidr.value);
  return routeKey({
    family: net.family,
    dst: formatIp({ family: net.family, value: net.address }),
    prefixLen: net.prefixLen,
    table,
  });
}

/**
 * Desired best routes → kernel FIB, owned by `protocol`.
 * @example
 * const t = new RouteTable({ port: NetlinkRoutePort.open(), protocol: 44 });
 * t.setRoutes([{ prefix: '10.244.1.0/26', nextHop: '192.168.1.11' }]);
 * await t.apply();
 */
export class RouteTable {
  readonly protocol: number;
  readonly table: number;
  readonly metric: number;
  readonly #port: RoutePort;
  readonly #clock: Clock;
  /** A full resync once this long has passed since the last (0: only after failures); `syncFib` wakes as often. */
  readonly resyncIntervalMs: number;
  // General routes (IPv6, and IPv4 routes of any other shape): string keys, Route objects.
  #desired = new Map<RouteKey, Route>();
  #actual = new Map<RouteKey, Route>();
  readonly #dirty = new Set<RouteKey>();
  // Plain IPv4 routes — via a gateway, in our table with our protocol and metric, unicast, scope universe: a
  // full BGP table is nearly all of them. Key: address * 64 + prefix length; value: the gateway as a u32.
  // Two number maps instead of string keys and Route objects: ~70 bytes a route instead of ~300, and no parsing
  // or string building per route on the hot path.
  #desired4 = new Map<number, number>();
  #actual4 = new Map<number, number>();
  readonly #dirty4 = new Set<number>();
  #resyncNeeded = true;
  #lastResyncMs = 0;
  #unusable = 0;
  #keepStaleUntilMs: number;
  /**
   * While the restart window is open: the routes found in the kernel at the first resync that this process
   * has not wanted (yet) — a previous run's, held until re-learned or the window closes. Usually small; then
   * cleared for good.
   */
  #leftover: Set<RouteKey> | undefined;
  #leftover4: Set<number> | undefined;
  #leftoverTaken = false;
  /** Next hop text → its u32, or -1 when it is not a usable IPv4 gateway (a few next hops repeat a lot). */
  readonly #gateways = new Map<string, number>();

  constructor(o: RouteTableOptions) {
    this.#port = o.port;
    this.protocol = o.protocol;
    this.table = o.table ?? MAIN_TABLE;
    this.metric = o.metric ?? DEFAULT_METRIC;
    this.#clock = o.clock ?? systemClock;
    this.resyncIntervalMs = o.resyncIntervalMs ?? DEFAULT_RESYNC_INTERVAL_MS;
    this.#keepStaleUntilMs = this.#clock.now() + (o.keepStaleMs ?? 0);
  }

  /** When the restart window closes (ms since the epoch); stale routes go at the first apply() after it. */
  get keepStaleUntilMs(): number {
    return this.#keepStaleUntilMs;
  }

  /** Replaces the whole desired set (a snapshot); prefixes not in `routes` are to be removed. No I/O. */
  setRoutes(routes: readonly BestRouteChange[]): void {
    for (const k of this.#desired.keys()) this.#dirty.add(k);
    for (const k of this.#desired4.keys()) this.#dirty4.add(k);
    this.#desired = new Map();
    this.#desired4 = new Map();
    this.applyChanges(routes);
  }

  /**
   * Applies incremental changes to the desired set (absent next hop = remove). No I/O. A canonical IPv4 prefix
   * (`a.b.c.d/len`, host bits clear: what the speaker sends) with an IPv4 next hop is read by a hand-rolled
   * digit loop into the number maps; anything else takes the general `model/ip.ts` path (a property test checks
   * both give the same desired set and `unusable` count).
   */
  applyChanges(changes: readonly BestRouteChange[]): void {
    const o = { protocol: this.protocol, table: this.table, metric: this.metric };
    for (const c of changes) {
      const slash = c.prefix.indexOf('/');
      const len = canonicalV4PrefixLen(c.prefix, slash);
      if (len >= 0) {
        const k = canonicalV4(c.prefix, 0, slash) * 64 + len;
        const gw = c.nextHop === undefined ? 0 : this.#gatewayOf(c.nextHop);
        if (c.nextHop === undefined || gw > 0) {
          this.#want4(k, gw);
          continue;
        }
      }
      const key = keyForPrefix(c.prefix, this.table);
      if (key === undefined) {
        this.#unusable++;
        continue;
      }
      const r = routeForChange(c, o);
      const plain = r ? this.#plainV4(r, false) : undefined;
      if (plain) {
        this.#want4(plain[0], plain[1]);
        continue;
      }
      if (r) {
        this.#desired.set(key, r);
        this.#leftover?.delete(key);
      } else {
        if (c.nextHop !== undefined) this.#unusable++;
        this.#desired.delete(key);
        const k4 = v4KeyOfPrefix(c.prefix);
        if (k4 !== undefined) this.#want4(k4, 0);
      }
      this.#dirty.add(key);
    }
  }

  /**
   * Applies a packed batch (model/route-feed.ts `PackedBestRoutes`): IPv4 keys and next hops as numbers, straight
   * into the plain-IPv4 store; `other` through `applyChanges`. Same result as the text form of the same batch.
   */
  applyPacked(b: PackedBestRoutes): void {
    const { v4Keys, v4NextHops } = b;
    for (let i = 0; i < v4Keys.length; i++) {
      const k = v4Keys[i]!;
      const len = k % 64;
      if (!Number.isInteger(k) || k < 0 || len > 32 || hasHostBits((k - len) / 64, len)) {
        this.#unusable++; // not a prefix key: never from our speaker
        continue;
      }
      this.#want4(k, v4NextHops[i]!);
    }
    if (b.other.length > 0) this.applyChanges(b.other);
  }

  /** Plain IPv4 key `k` wanted via gateway `gw` (0: not wanted any more), to be applied. */
  #want4(k: number, gw: number): void {
    if (gw > 0) {
      this.#desired4.set(k, gw);
      this.#leftover4?.delete(k);
    } else this.#desired4.delete(k);
    this.#dirty4.add(k);
  }

  #gatewayOf(nextHop: string): number {
    let gw = this.#gateways.get(nextHop);
    if (gw === undefined) {
      gw = canonicalV4(nextHop, 0, nextHop.length);
      if (gw === 0) gw = -1; // 0.0.0.0
      if (this.#gateways.size >= 1024) this.#gateways.clear();
      this.#gateways.set(nextHop, gw);
    }
    return gw;
  }

  /**
   * [key, gateway] when `r` is a plain IPv4 route of this table (see the field comment), else undefined. A
   * route read from the kernel (`fromKernel`) may name the interface the kernel resolved its gateway to.
   */
  #plainV4(r: Route, fromKernel: boolean): [number, number] | undefined {
    if (r.family !== 4 || r.gateway === undefined || r.table !== this.table || r.protocol !== this.protocol)
      return undefined;
    if ((r.priority ?? 0) !== this.metric || r.scope !== RouteScope.Universe || r.type !== RouteType.Unicast)
      return undefined;
    if ((r.flags & RtmFlag.Onlink) !== 0 || (!fromKernel && r.oif !== undefined)) return undefined;
    const addr = canonicalV4(r.dst, 0, r.dst.length);
    const gw = canonicalV4(r.gateway, 0, r.gateway.length);
    if (addr < 0 || gw <= 0 || r.prefixLen < 0 || r.prefixLen > 32) return undefined;
    if (hasHostBits(addr, r.prefixLen)) return undefined;
    return [addr * 64 + r.prefixLen, gw];
  }

  /** The Route for a plain IPv4 entry. */
  #routeOf(k: number, gw: number): Route {
    const len = k % 64;
    return {
      family: 4,
      dst: formatV4((k - len) / 64),
      prefixLen: len,
      table: this.table,
      protocol: this.protocol,
      scope: RouteScope.Universe,
      type: RouteType.Unicast,
      gateway: formatV4(gw),
      priority: this.metric,
      flags: 0,
    };
  }

  #keyOf(k: number): RouteKey {
    const len = k % 64;
    return routeKey({ family: 4, dst: formatV4((k - len) / 64), prefixLen: len, table: this.table });
  }

  /** True when apply() has work: dirty keys or a resync due. */
  get pending(): boolean {
    return this.#dirty.size > 0 || this.#dirty4.size > 0 || this.#resyncNeeded || this.#resyncDue();
  }

  /** Changes that could not become a kernel route (bad prefix, next hop of the wrong family), since start. */
  get unusable(): number {
    return this.#unusable;
  }

  /** Every desired route, by key (built on each call: for tests and status, not the hot path). */
  get desired(): Routes {
    const out = new Map(this.#desired);
    for (const [k, gw] of this.#desired4) out.set(this.#keyOf(k), this.#routeOf(k, gw));
    return out;
  }

  /** What we believe the kernel holds, by key (built on each call, as `desired`). */
  get actual(): Routes {
    const out = new Map(this.#actual);
    for (const [k, gw] of this.#actual4) out.set(this.#keyOf(k), this.#routeOf(k, gw));
    return out;
  }

  /** Number of desired routes. */
  get size(): number {
    return this.#desired.size + this.#desired4.size;
  }

  #resyncDue(): boolean {
    return this.resyncIntervalMs > 0 && this.#clock.now() - this.#lastResyncMs >= this.resyncIntervalMs;
  }

  /**
   * Takes the kernel to the desired state for the dirty keys (every key after a resync). A port that throws
   * (socket failure) leaves everything dirty, forces a resync next time, and rethrows.
   */
  async apply(): Promise<ApplyResult> {
    let resynced = false;
    if (this.#resyncNeeded || this.#resyncDue()) {
      const owned = await this.#port.listOwnedRoutes(this.protocol); // throws: still resyncNeeded
      this.#actual = new Map();
      this.#actual4 = new Map();
      for (const [k, r] of owned) {
        if (r.table !== this.table) continue; // other tables: not ours
        const plain = this.#plainV4(r, true);
        if (plain) this.#actual4.set(plain[0], plain[1]);
        else this.#actual.set(k, r);
      }
      for (const k of this.#desired.keys()) this.#dirty.add(k);
      for (const k of this.#actual.keys()) this.#dirty.add(k);
      for (const k of this.#desired4.keys()) this.#dirty4.add(k);
      for (const k of this.#actual4.keys()) this.#dirty4.add(k);
      this.#resyncNeeded = false;
      this.#lastResyncMs = this.#clock.now();
      resynced = true;
      if (!this.#leftoverTaken && this.#clock.now() < this.#keepStaleUntilMs) {
        this.#leftoverTaken = true;
        const left = new Set<RouteKey>();
        for (const k of this.#actual.keys()) if (!this.#desired.has(k)) left.add(k);
        if (left.size > 0) this.#leftover = left;
        const left4 = new Set<number>();
        for (const k of this.#actual4.keys()) if (!this.#desired4.has(k)) left4.add(k);
        if (left4.size > 0) this.#leftover4 = left4;
      }
    }
    const inWindow = this.#clock.now() < this.#keepStaleUntilMs;
    if (!inWindow) {
      this.#leftover = undefined;
      this.#leftover4 = undefined;
      this.#leftoverTaken = true;
    }
    let held = 0;
    // General routes first: a general route of ours on the same prefix (another metric, say) is deleted before
    // the plain one replaces it.
    let keys: RouteKey[] = [];
    let ops = planRouteOps(this.#desired, this.#actual, this.#dirty, keys);
    this.#dirty.clear();
    const leftover = this.#leftover;
    if (leftover) {
      const keptKeys: RouteKey[] = [];
      ops = ops.filter((op, i) => {
        const key = keys[i]!;
        if (op.kind === 'delete' && !this.#desired.has(key) && leftover.has(key)) {
          this.#dirty.add(key); // swept by the first apply() after the window
          held++;
          return false;
        }
        keptKeys.push(key);
        return true;
      });
      keys = keptKeys;
    }
    const failed: { key: RouteKey; kind: RouteOp['kind']; message: string }[] = [];
    // Plain IPv4 after the general routes: want and have are gateways (or absent). Planned and sent PLAIN_CHUNK
    // at a time (the general ops ride with the first chunk), so a full table never has a million op objects
    // alive at once, and a small change is still one applyBatch.
    const pending4 = [...this.#dirty4];
    this.#dirty4.clear();
    const leftover4 = this.#leftover4;
    let next = 0;
    let general: RouteOp[] = ops;
    /** The next chunk: the general ops (first chunk only), then up to PLAIN_CHUNK plain ones. */
    const planNext = (): { chunk: RouteOp[]; ks: number[]; gws: number[]; generalCount: number } | undefined => {
      while (general.length > 0 || next < pending4.length) {
        const chunk: RouteOp[] = general;
        const generalCount = general.length;
        general = [];
        const ks: number[] = [];
        const gws: number[] = [];
        for (; next < pending4.length && chunk.length < PLAIN_CHUNK; next++) {
          const k = pending4[next]!;
          const want = this.#desired4.get(k);
          const have = this.#actual4.get(k);
          if (want !== undefined && want !== have) {
            chunk.push({ kind: 'replace', route: this.#routeOf(k, want) });
            ks.push(k);
            gws.push(want);
          } else if (want === undefined && have !== undefined) {
            if (leftover4?.has(k)) {
              held++;
              this.#dirty4.add(k); // swept by the first apply() after the window
              continue;
            }
            chunk.push({ kind: 'delete', route: this.#routeOf(k, have) });
            ks.push(k);
            gws.push(have);
          }
        }
        if (chunk.length > 0) return { chunk, ks, gws, generalCount };
      }
      return undefined;
    };
    let total = 0;
    let cur = planNext();
    while (cur) {
      // The port may hand the batch to the kernel off this thread (NetlinkRoutePort does): plan the next chunk
      // meanwhile, then take the results in order. One batch in flight at a time.
      const sending = this.#port.applyBatch(cur.chunk);
      const upcoming = planNext();
      let results: Awaited<ReturnType<RoutePort['applyBatch']>>;
      try {
        results = await sending;
      } catch (err) {
        for (const c of [cur, upcoming]) {
          if (!c) continue;
          for (let i = 0; i < c.generalCount; i++) this.#dirty.add(keys[i]!);
          for (const k of c.ks) this.#dirty4.add(k);
        }
        for (let j = next; j < pending4.length; j++) this.#dirty4.add(pending4[j]!);
        this.#resyncNeeded = true;
        throw err;
      }
      total += cur.chunk.length;
      const { ks, gws, generalCount } = cur;
      for (let i = 0; i < results.length; i++) {
        const { op, error } = results[i]!;
        if (i < generalCount) {
          const key = keys[i]!;
          if (error) {
            this.#dirty.add(key);
            this.#resyncNeeded = true; // the kernel's state for this key is unknown now: read it back
            failed.push({ key, kind: op.kind, message: error.message });
          } else if (op.kind === 'delete') this.#actual.delete(key);
          else this.#actual.set(key, op.route);
          continue;
        }
        const k = ks[i - generalCount]!;
        if (error) {
          this.#dirty4.add(k);
          this.#resyncNeeded = true;
          failed.push({ key: this.#keyOf(k), kind: op.kind, message: error.message });
        } else if (op.kind === 'delete') this.#actual4.delete(k);
        else this.#actual4.set(k, gws[i - generalCount]!);
      }
      cur = upcoming;
    }
    return { resynced, ops: total, held, failed };
  }
}
