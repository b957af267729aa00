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
import type { BestRouteChange } from '../../model/route-feed.js';

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

/** The length of a canonical IPv4 prefix text ("a.b.c.d/len", host bits clear, `slash` at the "/"), else -1. */
function canonicalV4PrefixLen(prefix: string, slash: number): number {
  if (slash < 7 || slash > 15) return -1;
  const addr = canonicalV4(prefix, 0, slash);
  if (addr < 0) return -1;
  const lenText = prefix.slice(slash + 1);
  const len = Number(lenText);
  if (!Number.isInteger(len) || len < 0 || len > 32 || String(len) !== lenText) return -1;
  if (len < 32 && addr % 2 ** (32 - len) !== 0) return -1; // host bits: the general path says why
  return len;
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
  readonly #resyncIntervalMs: number;
  #desired = new Map<RouteKey, Route>();
  #actual = new Map<RouteKey, Route>();
  readonly #dirty = new Set<RouteKey>();
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
  #leftoverTaken = false;

  constructor(o: RouteTableOptions) {
    this.#port = o.port;
    this.protocol = o.protocol;
    this.table = o.table ?? MAIN_TABLE;
    this.metric = o.metric ?? DEFAULT_METRIC;
    this.#clock = o.clock ?? systemClock;
    this.#resyncIntervalMs = o.resyncIntervalMs ?? DEFAULT_RESYNC_INTERVAL_MS;
    this.#keepStaleUntilMs = this.#clock.now() + (o.keepStaleMs ?? 0);
  }

  /** When the restart window closes (ms since the epoch); stale routes go at the first apply() after it. */
  get keepStaleUntilMs(): number {
    return this.#keepStaleUntilMs;
  }

  /** Replaces the whole desired set (a snapshot); prefixes not in `routes` are to be removed. No I/O. */
  setRoutes(routes: readonly BestRouteChange[]): void {
    for (const k of this.#desired.keys()) this.#dirty.add(k);
    this.#desired = new Map();
    this.applyChanges(routes);
  }

  /**
   * Applies incremental changes to the desired set (absent next hop = remove). No I/O. Each prefix is parsed
   * once (canonical IPv4 prefixes, nearly every change of a full table, without BigInt), and next hops, which
   * repeat, through a small cache.
   */
  applyChanges(changes: readonly BestRouteChange[]): void {
    const o = { protocol: this.protocol, table: this.table, metric: this.metric };
    for (const c of changes) {
      if (c.nextHop === undefined) {
        const k = this.#fastV4Key(c.prefix);
        if (k !== undefined) {
          this.#desired.delete(k);
          this.#dirty.add(k);
          continue;
        }
      } else {
        const fast = this.#fastV4Route(c.prefix, c.nextHop);
        if (fast) {
          this.#desired.set(fast[0], fast[1]);
          this.#leftover?.delete(fast[0]);
          this.#dirty.add(fast[0]);
          continue;
        }
      }
      const key = keyForPrefix(c.prefix, this.table);
      if (key === undefined) {
        this.#unusable++;
        continue;
      }
      const r = routeForChange(c, o);
      if (r) {
        this.#desired.set(key, r);
        this.#leftover?.delete(key);
      } else {
        if (c.nextHop !== undefined) this.#unusable++;
        this.#desired.delete(key);
      }
      this.#dirty.add(key);
    }
  }

  /**
   * Next hop text → the one string every route with it shares, or null when it is not a usable IPv4 gateway
   * (the same few next hops repeat for a whole table: one string each, not one per route).
   */
  readonly #v4NextHops = new Map<string, string | null>();

  /**
   * [key, route] for a canonical IPv4 prefix ("a.b.c.d/len", host bits clear, no leading zeros) with a usable
   * IPv4 next hop; undefined for anything else, which then takes the general path (same result, slower).
   */
  #fastV4Route(prefix: string, nextHop: string): [RouteKey, Route] | undefined {
    const slash = prefix.indexOf('/');
    const len = canonicalV4PrefixLen(prefix, slash);
    if (len < 0) return undefined;
    let gateway = this.#v4NextHops.get(nextHop);
    if (gateway === undefined) {
      gateway = canonicalV4(nextHop, 0, nextHop.length) > 0 ? nextHop : null;
      if (this.#v4NextHops.size >= 1024) this.#v4NextHops.clear();
      this.#v4NextHops.set(nextHop, gateway);
    }
    if (gateway === null) return undefined;
    const dst = prefix.slice(0, slash);
    const route: Route = {
      family: 4,
      dst,
      prefixLen: len,
      table: this.table,
      protocol: this.protocol,
      scope: RouteScope.Universe,
      type: RouteType.Unicast,
      gateway,
      priority: this.metric,
      flags: 0,
    };
    return [`4|${prefix}|${this.table}`, route];
  }

  /** The key of a canonical IPv4 prefix (see #fastV4Route), else undefined. */
  #fastV4Key(prefix: string): RouteKey | undefined {
    return canonicalV4PrefixLen(prefix, prefix.indexOf('/')) < 0 ? undefined : `4|${prefix}|${this.table}`;
  }

  /** True when apply() has work: dirty keys or a resync due. */
  get pending(): boolean {
    return this.#dirty.size > 0 || this.#resyncNeeded || this.#resyncDue();
  }

  /** Changes that could not become a kernel route (bad prefix, next hop of the wrong family), since start. */
  get unusable(): number {
    return this.#unusable;
  }

  get desired(): Routes {
    return this.#desired;
  }

  get actual(): Routes {
    return this.#actual;
  }

  #resyncDue(): boolean {
    return this.#resyncIntervalMs > 0 && this.#clock.now() - this.#lastResyncMs >= this.#resyncIntervalMs;
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
      for (const [k, r] of owned) if (r.table === this.table) this.#actual.set(k, r); // other tables: not ours
      for (const k of this.#desired.keys()) this.#dirty.add(k);
      for (const k of this.#actual.keys()) this.#dirty.add(k);
      this.#resyncNeeded = false;
      this.#lastResyncMs = this.#clock.now();
      resynced = true;
      if (!this.#leftoverTaken && this.#clock.now() < this.#keepStaleUntilMs) {
        this.#leftoverTaken = true;
        const left = new Set<RouteKey>();
        for (const k of this.#actual.keys()) if (!this.#desired.has(k)) left.add(k);
        if (left.size > 0) this.#leftover = left;
      }
    }
    let keys: RouteKey[] = [];
    let ops = planRouteOps(this.#desired, this.#actual, this.#dirty, keys);
    this.#dirty.clear();
    let held = 0;
    const leftover = this.#leftover;
    if (leftover && this.#clock.now() < this.#keepStaleUntilMs) {
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
    } else {
      this.#leftover = undefined;
      if (this.#clock.now() >= this.#keepStaleUntilMs) this.#leftoverTaken = true;
    }
    if (ops.length === 0) return { resynced, ops: 0, held, failed: [] };
    let results: Awaited<ReturnType<RoutePort['applyBatch']>>;
    try {
      results = await this.#port.applyBatch(ops);
    } catch (err) {
      for (const k of keys) this.#dirty.add(k);
      this.#resyncNeeded = true;
      throw err;
    }
    const failed: { key: RouteKey; kind: RouteOp['kind']; message: string }[] = [];
    for (let i = 0; i < results.length; i++) {
      const { op, error } = results[i]!;
      const key = keys[i]!;
      if (error) {
        this.#dirty.add(key);
        this.#resyncNeeded = true; // the kernel's state for this key is unknown now: read it back
        failed.push({ key, kind: op.kind, message: error.message });
        continue;
      }
      if (op.kind === 'delete') this.#actual.delete(key);
      else this.#actual.set(key, op.route);
    }
    return { resynced, ops: ops.length, held, failed };
  }
}
