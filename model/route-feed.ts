/**
 * The interface between the BGP speaker and felix (STYLE §2.2): speaker/ publishes its best routes through
 * it, felix/dataplane consumes them, and node/ connects the two, so neither imports the other.
 *
 * A change names one prefix and the next hop of its best learned route now; no next hop means the prefix
 * has no learned best route any more (withdrawn, or our own origination won, which is never installed).
 * Leaves out: path attributes, multipath, the interface a next hop resolves over (the kernel resolves it).
 */

/** One prefix's best learned route, or its withdrawal. */
export interface BestRouteChange {
  /** Canonical CIDR, host bits clear: "10.244.1.0/26", "fd00:10:244:1::/122". */
  readonly prefix: string;
  /** The best path's BGP next hop; absent = withdrawn (no learned best route). */
  readonly nextHop?: string | undefined;
}

/**
 * A source of best-route changes.
 * @example
 * const off = feed.onChanges((changes) => table.applyChanges(changes));
 * table.setRoutes(feed.snapshot());
 */
export interface RouteFeed {
  /** Calls `listener` once per batch of changes (never per prefix); returns the unsubscribe function. */
  onChanges(listener: (changes: readonly BestRouteChange[]) => void): () => void;
  /** Every prefix with a learned best route now (none withdrawn). */
  snapshot(): BestRouteChange[];
}

/**
 * A batch of changes with the IPv4 prefixes as numbers, for a consumer that would otherwise spend more time
 * formatting and parsing prefix text than installing routes (a full table into the kernel FIB).
 * `v4Keys[i]` = address × 64 + prefix length (host bits clear; exact in a double), `v4NextHops[i]` = the best
 * path's IPv4 next hop as a u32, 0 = withdrawn. Everything else (IPv6 prefixes, an IPv4 prefix whose next hop
 * is not IPv4) comes as `other`, in the text form of `BestRouteChange`.
 */
export interface PackedBestRoutes {
  readonly v4Keys: Float64Array;
  readonly v4NextHops: Uint32Array;
  readonly other: readonly BestRouteChange[];
}

/** A RouteFeed that can also deliver packed batches (the speaker does); a listener takes one form or the other. */
export interface PackedRouteFeed extends RouteFeed {
  onPackedChanges(listener: (batch: PackedBestRoutes) => void): () => void;
}

export function isPackedRouteFeed(feed: RouteFeed): feed is PackedRouteFeed {
  return typeof (feed as Partial<PackedRouteFeed>).onPackedChanges === 'function';
}
