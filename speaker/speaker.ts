/**
 * The speaker: sessions (speaker/session) feeding one Loc-RIB (speaker/rib) through import policies, and
 * one Adj-RIB-Out per established session sending the Loc-RIB's changes back out through export policies.
 * It is what `caracal speaker --config FILE` runs, and what the node agent will embed.
 *
 * Data flow per received UPDATE: Peer decodes it (attribute sets interned into the Loc-RIB's interner) →
 * `LocRib.applyMessage` → prefixes marked dirty → a flush, coalesced on `setImmediate` so a burst of
 * UPDATEs costs one pass → `takeDirty()` handed to every established peer's `AdjRibOut.sync()` → grouped
 * changes encoded (many prefixes per UPDATE) and written in one `socket.write` per peer.
 *
 * Graceful restart (RFC 4724 §4.2), helper side: a GR-capable session that drops keeps its routes as stale;
 * they are swept per AFI on the peer's End-of-RIB (LocRib.applyMessage) or all at once when the peer's
 * advertised restart time runs out.
 *
 * Best routes for the FIB: the Speaker is a RouteFeed (model/route-feed.ts). Each flush that has listeners
 * turns its dirty keys into one batch of BestRouteChanges (learned best → next hop; none, or our own
 * origination → withdrawn); with no listener it costs nothing.
 *
 * Leaves out: reading BGPPeer/BGPConfiguration resources (the node agent maps them to this config), FIB
 * installation (felix consumes best routes through the RouteFeed; node/ wires it), ADD-PATH send.
 */
import { networkInterfaces } from 'node:os';
import type { Clock } from '../common/clock.js';
import { systemClock } from '../common/clock.js';
import { describeError } from '../common/errors.js';
import { type Logger, logger as rootLogger } from '../common/logger.js';
import type { BgpPeerStatus, BgpRouteStatus, BgpRoutesResponse } from '../model/bgp-status.js';
import { parseIp } from '../model/ip.js';
import type { BestRouteChange, PackedBestRoutes, PackedRouteFeed } from '../model/route-feed.js';
import type { SpeakerConfig, SpeakerPeerConfig } from '../model/speaker-config.js';
import { BUILTIN_POLICIES, compilePolicy, effectivePolicy, type Policy } from './policy/policy.js';
import type { Path } from './rib/adj-rib-in.js';
import { AdjRibOut, type OutUpdate } from './rib/adj-rib-out.js';
import { baseAttrs } from './rib/attr-intern.js';
import { LocRib, type RouteView } from './rib/loc-rib.js';
import { IPV4_UNICAST, IPV6_UNICAST, type SessionConfig } from './session/config.js';
import type { DownReason } from './session/fsm.js';
import type { NegotiatedSession } from './session/negotiate.js';
import { Listener, type Md5Port, normalizeAddress, Peer } from './session/peer.js';
import { wireUpdateDecoder } from './session/update-decoder.js';
import { errorText } from './wire/errors.js';
import { encodeRouteRefresh, RouteRefreshSubtype } from './wire/messages.js';
import { formatIpv4, formatPrefixKey, parsePrefixKey } from './wire/prefix.js';
import {
  Afi,
  type AfiSafi,
  MAX_EXTENDED_MESSAGE_LEN,
  MAX_MESSAGE_LEN,
  type PathAttributes,
  type PrefixKey,
  type RouteRefreshMessage,
  type UpdateMessage,
} from './wire/types.js';
import { encodeEndOfRib, encodeUpdates, encodeWithdrawals } from './wire/update.js';

export interface SpeakerDeps {
  /** TCP-MD5 (kernel/tcp-md5.ts); required when any peer has a password. */
  readonly md5?: Md5Port | undefined;
  readonly clock?: Clock | undefined;
  readonly logger?: Logger | undefined;
  /** Backoff between reconnect attempts (tests shorten it). */
  readonly backoff?: { readonly baseMs: number; readonly maxMs: number; readonly minMs?: number } | undefined;
  /**
   * We are restarting under graceful restart (RFC 4724 §4.1): set the Restart State (R) bit in the first OPEN
   * to each graceful-restart peer (later OPENs, after that session went down again, clear it).
   */
  readonly restarting?: boolean | undefined;
}

interface PeerEntry {
  readonly cfg: SpeakerPeerConfig;
  readonly id: string;
  readonly peer: Peer;
  stateSinceMs: number;
  lastError?: string | undefined;
  session?: NegotiatedSession | undefined;
  out?: AdjRibOut | undefined;
  restartTimer?: { cancel(): void } | undefined;
}

const FAMILY: Record<'ipv4-unicast' | 'ipv6-unicast', AfiSafi> = {
  'ipv4-unicast': IPV4_UNICAST,
  'ipv6-unicast': IPV6_UNICAST,
};

/** An IPv4 dotted quad as the unsigned 32-bit BGP identifier. */
export function routerIdNumber(text: string): number {
  return Number(parseIp(text).value);
}

/** "ipv4-unicast" etc. for status output. */
function familyName(f: AfiSafi): string {
  const afi = f.afi === 1 ? 'ipv4' : f.afi === 2 ? 'ipv6' : `afi${f.afi}`;
  return `${afi}-${f.safi === 1 ? 'unicast' : `safi${f.safi}`}`;
}

function describeDown(r: DownReason): string {
  const n =
    r.code === undefined ? '' : ` (NOTIFICATION ${r.code}/${r.subcode ?? 0}: ${errorText(r.code, r.subcode ?? 0)})`;
  return `${r.kind}${n}`;
}

/**
 * Our IPv6 address on the link of an IPv4 session: a global IPv6 address of the interface that holds `v4`,
 * the next hop for IPv6 routes carried over that session (RFC 2545 §3). BIRD treats an IPv4-mapped next hop
 * (::ffff:a.b.c.d) as not on the link and drops the route (treat-as-withdraw), so that form is only the
 * fallback for links without IPv6. Undefined when the interface has no such address.
 */
export function linkIpv6For(v4: string, interfaces = networkInterfaces()): string | undefined {
  const want = v4.replace(/^::ffff:/i, '');
  for (const addrs of Object.values(interfaces)) {
    if (!addrs?.some((a) => a.family === 'IPv4' && a.address === want)) continue;
    return addrs.find((a) => a.family === 'IPv6' && !a.internal && !/^fe[89ab]/i.test(a.address))?.address;
  }
  return undefined;
}

/** The FIB's view of a best path: learned ones only; our own originations are never installed. */
function fibNextHop(best: Path | undefined): string | undefined {
  if (!best || best.local) return undefined;
  const nh = best.attrs.nextHop;
  return nh === '' ? undefined : nh;
}

/** With RouteFeed listeners, changed prefixes are handed over at least this often during a burst of UPDATEs. */
const EARLY_FLUSH = 16_384;

export class Speaker implements PackedRouteFeed {
  readonly config: SpeakerConfig;
  readonly rib: LocRib;
  readonly #deps: SpeakerDeps;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #peers = new Map<string, PeerEntry>();
  readonly #policies = new Map<string, Policy>();
  #listener: Listener | undefined;
  #flushQueued = false;
  readonly #routeListeners = new Set<(changes: readonly BestRouteChange[]) => void>();
  readonly #packedListeners = new Set<(batch: PackedBestRoutes) => void>();
  /** IPv4 next-hop text → u32 (or -1: not IPv4), for packed batches; a table has few next hops. */
  readonly #nextHopU32 = new Map<string, number>();
  #originated: PrefixKey[] = [];
  #started = false;

  constructor(config: SpeakerConfig, deps: SpeakerDeps = {}) {
    this.config = config;
    this.#deps = deps;
    this.#clock = deps.clock ?? systemClock;
    this.#log = deps.logger ?? rootLogger('speaker', { asn: config.asn, routerId: config.routerId });
    this.rib = new LocRib({
      asn: config.asn,
      routerId: routerIdNumber(config.routerId),
      clusterId: config.clusterId === undefined ? undefined : routerIdNumber(config.clusterId),
    });
    for (const [name, p] of BUILTIN_POLICIES) this.#policies.set(name, p);
    for (const [name, p] of Object.entries(config.policies)) this.#policies.set(name, { name, ...p });
  }

  /** Listens, originates the configured prefixes and starts every session. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    const c = this.config;
    this.setOriginated(c.originate);
    this.#listener = new Listener({
      port: c.listen.port,
      host: c.listen.address,
      md5: this.#deps.md5,
      logger: this.#log,
    });
    for (const p of c.peers) this.#addPeer(p);
    await this.#listener.listen();
    for (const e of this.#peers.values()) e.peer.start();
    this.#log.info({ event: 'speakerStarted', peers: c.peers.length, listen: c.listen }, 'BGP speaker started');
  }

  /** Sends Cease to every peer and closes the listener. */
  async stop(): Promise<void> {
    await this.#stop(false);
  }

  /**
   * The restarting-speaker half of graceful restart (RFC 4724 §4): a peer whose session negotiated graceful
   * restart gets no Cease (a Cease would make it flush our routes); its connection is left open for the
   * process exit that must follow to close, and the peer keeps our routes, stale, until we are back and send
   * End-of-RIB or our restart time runs out. Every other peer gets Cease as usual, and the listener closes.
   * Returns the addresses of the peers left to the process exit.
   */
  stopForRestart(): Promise<string[]> {
    return this.#stop(true);
  }

  async #stop(forRestart: boolean): Promise<string[]> {
    const left: string[] = [];
    for (const e of this.#peers.values()) {
      e.restartTimer?.cancel();
      if (forRestart && e.session?.gracefulRestart) left.push(e.id);
      else e.peer.stop({ message: 'speaker shutting down' });
    }
    const closing = this.#listener?.close();
    this.#listener = undefined;
    this.#started = false;
    // server.close() resolves once every accepted connection has ended: a session the peer opened to us
    // and that we leave open for the restart would hold it forever. New connections are refused either way.
    if (left.length === 0) await closing;
    return left;
  }

  /** The prefixes this speaker originates (replaces the previous set; the difference is advertised). */
  setOriginated(cidrs: readonly string[]): void {
    const next = cidrs.map((c) => parsePrefixKey(c));
    const keep = new Set<PrefixKey>(next);
    const gone = this.#originated.filter((k) => !keep.has(k));
    if (gone.length) this.rib.unoriginate(gone);
    if (next.length) {
      // Origin IGP, empty AS path; AdjRibOut gives an originated route our address on each session.
      const attrs = this.rib.interner.internAttrs(baseAttrs(''));
      this.rib.originate(next, attrs);
    }
    this.#originated = next;
    this.#scheduleFlush();
  }

  // -------------------------------------------------------------------------------------------------------
  // Sessions

  #sessionConfig(p: SpeakerPeerConfig, restarting: () => boolean): SessionConfig {
    const c = this.config;
    const families =
      p.families?.map((f) => FAMILY[f]) ??
      [
        ...new Set([
          p.address.includes(':') ? 'ipv6-unicast' : 'ipv4-unicast',
          ...c.originate.map((o) => (o.includes(':') ? 'ipv6-unicast' : 'ipv4-unicast')),
        ]),
      ].map((f) => FAMILY[f as 'ipv4-unicast' | 'ipv6-unicast']);
    const addPath =
      p.addPath === 'none'
        ? undefined
        : families.map((f) => ({ ...f, mode: p.addPath as 'receive' | 'send' | 'both' }));
    return {
      localAs: c.asn,
      peerAs: p.asn,
      bgpId: routerIdNumber(c.routerId),
      holdTimeSec: p.holdTimeSec,
      keepaliveSec: p.keepaliveSec,
      connectRetrySec: p.connectRetrySec,
      passive: p.passive,
      families,
      addPath,
      routeRefresh: true,
      enhancedRouteRefresh: true,
      extendedMessage: true,
      gracefulRestart: p.gracefulRestart
        ? {
            restartTimeSec: c.gracefulRestartTimeSec,
            // read by buildOpen() for every OPEN: only the first OPEN after our restart carries the R bit
            get restarting() {
              return restarting();
            },
            forwardingPreserved: families,
          }
        : undefined,
      ebgpRequiresPolicy: c.rfc8212,
    };
  }

  #addPeer(p: SpeakerPeerConfig): void {
    const id = normalizeAddress(p.address);
    if (p.password && !this.#deps.md5) {
      throw new Error(`Cannot start BGP session "${id}": a password needs TCP-MD5 support, which was not provided`);
    }
    const restarting = { on: this.#deps.restarting === true && p.gracefulRestart };
    const peer = new Peer({
      config: this.#sessionConfig(p, () => restarting.on),
      peerAddress: p.address,
      peerPort: p.port,
      localAddress: p.localAddress,
      password: p.password,
      md5: this.#deps.md5,
      clock: this.#clock,
      logger: this.#log.child({ peer: id, peerAs: p.asn }),
      decodeUpdate: wireUpdateDecoder((key, build) => this.rib.interner.intern(key, build)),
      backoff: this.#deps.backoff,
    });
    const e: PeerEntry = { cfg: p, id, peer, stateSinceMs: this.#clock.now() };
    peer.on('state', () => {
      e.stateSinceMs = this.#clock.now();
    });
    peer.on('established', () => {
      restarting.on = false; // RFC 4724 §4.1: the R bit belongs to the first OPEN after our restart only
    });
    peer.on('established', (s) => this.#onEstablished(e, s));
    peer.on('update', (u) => this.#onUpdate(e, u));
    peer.on('route-refresh', (r) => this.#onRouteRefresh(e, r));
    peer.on('down', (r) => this.#onDown(e, r));
    this.#peers.set(id, e);
    this.#listener?.addPeer(peer);
  }

  get #isReflector(): boolean {
    return this.config.peers.some((p) => p.routeReflectorClient && p.asn === this.config.asn);
  }

  #policyFor(e: PeerEntry, dir: 'import' | 'export', ibgp: boolean): Policy {
    const name = e.cfg[dir];
    return effectivePolicy(
      {
        ebgp: !ibgp,
        rfc8212: this.config.rfc8212,
        // A route reflector (any iBGP peer is its client) reflects client routes to non-clients too (RFC 4456
        // §6), so every iBGP peer of a reflector defaults to all routes, the reflection rules deciding.
        reflecting: e.cfg.routeReflectorClient || this.#isReflector,
        importPolicy: dir === 'import' && name ? this.#policies.get(name) : undefined,
        exportPolicy: dir === 'export' && name ? this.#policies.get(name) : undefined,
      },
      dir,
    );
  }

  #onEstablished(e: PeerEntry, s: NegotiatedSession): void {
    e.restartTimer?.cancel();
    e.restartTimer = undefined;
    e.session = s;
    e.lastError = undefined;
    const localAddress = e.peer.localAddress ?? e.cfg.localAddress;
    // IPv6 routes over an IPv4 session: our IPv6 address on that link as their next hop
    const localAddressV6 =
      localAddress && !localAddress.includes(':') && s.families.some((f) => f.afi === Afi.IPv6)
        ? linkIpv6For(localAddress)
        : undefined;
    const peerCfg = {
      id: e.id,
      address: e.id,
      asn: s.peerAs,
      routerId: s.peerBgpId,
      rrClient: e.cfg.routeReflectorClient,
      localAddress,
      localAddressV6,
    };
    const ctx = { interner: this.rib.interner, selfNextHop: localAddress, selfNextHopV6: localAddressV6 };
    this.rib.addPeer(peerCfg, compilePolicy(this.#policyFor(e, 'import', s.ibgp), ctx));
    e.out = new AdjRibOut(this.rib, peerCfg, {
      exportPolicy: compilePolicy(this.#policyFor(e, 'export', s.ibgp), ctx),
      families: s.families,
    });
    this.#log.info({ event: 'sessionUp', peer: e.id, families: s.families.map(familyName) }, 'BGP session established');
    this.#send(e, e.out.initialSync());
  }

  /**
   * A ROUTE-REFRESH request (RFC 2918): re-send that family's Adj-RIB-Out; with enhanced route refresh
   * negotiated, between a BoRR and an EoRR (RFC 7313 §4 — BIRD and FRR negotiate it). A family the session
   * did not negotiate is ignored (RFC 2918 §4); a BoRR/EoRR from the peer only frames its own re-advertisement,
   * which we never ask for.
   */
  #onRouteRefresh(e: PeerEntry, r: RouteRefreshMessage): void {
    const s = e.session;
    if (!e.out || !s || r.subtype !== RouteRefreshSubtype.Normal) return;
    if (!s.families.some((f) => f.afi === r.afi && f.safi === r.safi)) return;
    const all = e.out.refresh();
    const u: OutUpdate = {
      withdraw: all.withdraw.filter((b) => b.afi === r.afi),
      announce: all.announce.filter((a) => a.batch.afi === r.afi),
      endOfRib: [],
    };
    const family = { afi: r.afi, safi: r.safi };
    const framed = s.enhancedRouteRefresh;
    if (framed) e.peer.send(encodeRouteRefresh({ ...family, subtype: RouteRefreshSubtype.BeginningOfRouteRefresh }));
    this.#send(e, u);
    if (framed) e.peer.send(encodeRouteRefresh({ ...family, subtype: RouteRefreshSubtype.EndOfRouteRefresh }));
  }

  #onUpdate(e: PeerEntry, u: UpdateMessage | Uint8Array): void {
    if (u instanceof Uint8Array) return; // only when no decoder is wired; ours always is
    this.rib.applyMessage(e.id, u);
    // With a FIB listening, hand over every EARLY_FLUSH changed prefixes without waiting for the end of the
    // socket's burst: the FIB worker then installs the first routes while the rest are still being read.
    if (this.#hasFeedListeners() && this.rib.dirtyCount >= EARLY_FLUSH) this.#flush();
    else this.#scheduleFlush();
  }

  #onDown(e: PeerEntry, r: DownReason): void {
    const wasUp = e.out !== undefined;
    e.out?.clear();
    e.out = undefined;
    if (r.kind !== 'manual-stop' && (r.code !== undefined || r.kind !== 'tcp-failed' || wasUp))
      e.lastError = describeDown(r);
    else if (r.kind === 'tcp-failed') e.lastError = 'connection failed';
    const s = e.session;
    e.session = undefined;
    if (!this.rib.peer(e.id)) return;
    // A failed attempt to reconnect while the peer restarts: its stale routes wait for the restart timer.
    if (!wasUp && e.restartTimer) return;
    if (r.retainRoutes && s?.gracefulRestart) {
      // RFC 4724 §4.2: keep the routes, stale, until End-of-RIB or the peer's restart time runs out.
      this.rib.markStale(e.id);
      e.restartTimer?.cancel();
      e.restartTimer = this.#clock.setTimeout(() => {
        e.restartTimer = undefined;
        if (this.rib.peer(e.id)?.restarting) {
          if (e.out) this.rib.sweepStale(e.id);
          else this.rib.removePeer(e.id);
          this.#scheduleFlush();
        }
      }, s.gracefulRestart.peerRestartTimeSec * 1000);
    } else {
      this.rib.removePeer(e.id);
    }
    if (wasUp) this.#log.info({ event: 'sessionDown', peer: e.id, reason: describeDown(r) }, 'BGP session down');
    this.#scheduleFlush();
  }

  // -------------------------------------------------------------------------------------------------------
  // Export

  #scheduleFlush(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    setImmediate(() => {
      this.#flushQueued = false;
      this.#flush();
    });
  }

  /** Best-path changes since the last flush → each peer's Adj-RIB-Out and the RouteFeed listeners. */
  #flush(): void {
    const dirty = this.rib.takeDirty();
    if (dirty.v4.length === 0 && dirty.v6.length === 0) return;
    for (const e of this.#peers.values()) if (e.out) this.#send(e, e.out.sync(dirty));
    if (this.#hasFeedListeners()) this.#publish(dirty);
  }

  // -------------------------------------------------------------------------------------------------------
  // RouteFeed (model/route-feed.ts): best learned routes for felix's FIB

  onChanges(listener: (changes: readonly BestRouteChange[]) => void): () => void {
    this.#routeListeners.add(listener);
    return () => void this.#routeListeners.delete(listener);
  }

  onPackedChanges(listener: (batch: PackedBestRoutes) => void): () => void {
    this.#packedListeners.add(listener);
    return () => void this.#packedListeners.delete(listener);
  }

  #hasFeedListeners(): boolean {
    return this.#routeListeners.size > 0 || this.#packedListeners.size > 0;
  }

  /** The u32 of an IPv4 next hop's text, -1 when it is not one (cached: a table has few next hops). */
  #ipv4U32(text: string): number {
    let v = this.#nextHopU32.get(text);
    if (v === undefined) {
      v = -1;
      try {
        const ip = parseIp(text);
        if (ip.family === 4 && ip.value !== 0n) v = Number(ip.value);
      } catch {
        // not an address: stays -1
      }
      if (this.#nextHopU32.size >= 1024) this.#nextHopU32.clear();
      this.#nextHopU32.set(text, v);
    }
    return v;
  }

  snapshot(): BestRouteChange[] {
    const out: BestRouteChange[] = [];
    this.rib.forEachBest((key, best) => {
      const nextHop = fibNextHop(best);
      if (nextHop !== undefined) out.push({ prefix: formatPrefixKey(key), nextHop });
    });
    return out;
  }

  /**
   * One batch per flush for each kind of listener: the dirty keys (deduplicated; takeDirty may repeat them)
   * and their best next hop now, looked up once per key. Text listeners get `BestRouteChange`s; packed
   * listeners (model/route-feed.ts `PackedBestRoutes`) the IPv4 keys (our prefix keys) and next hops as
   * numbers, anything else (IPv6, an IPv4 prefix with a non-IPv4 next hop: RFC 8950) as text in `other`.
   */
  #publish(dirty: { v4: ArrayLike<number> & Iterable<number>; v6: readonly string[] }): void {
    const text = this.#routeListeners.size > 0 ? ([] as BestRouteChange[]) : undefined;
    const packed = this.#packedListeners.size > 0;
    const keys = packed ? new Float64Array(dirty.v4.length) : undefined;
    const hops = packed ? new Uint32Array(dirty.v4.length) : undefined;
    const other: BestRouteChange[] = [];
    const change = (key: PrefixKey, nextHop: string | undefined): BestRouteChange =>
      nextHop === undefined ? { prefix: formatPrefixKey(key) } : { prefix: formatPrefixKey(key), nextHop };
    let n = 0;
    const seen = new Set<PrefixKey>();
    for (const key of dirty.v4) {
      if (seen.has(key)) continue;
      seen.add(key);
      const nextHop = fibNextHop(this.rib.best(key));
      text?.push(change(key, nextHop));
      if (!keys || !hops) continue;
      const u32 = nextHop === undefined ? 0 : this.#ipv4U32(nextHop);
      if (u32 < 0) other.push(change(key, nextHop));
      else {
        keys[n] = key;
        hops[n] = u32;
        n++;
      }
    }
    for (const key of dirty.v6) {
      if (seen.has(key)) continue;
      seen.add(key);
      const c = change(key, fibNextHop(this.rib.best(key)));
      text?.push(c);
      if (packed) other.push(c);
    }
    if (text) this.#notify(this.#routeListeners, text);
    if (keys && hops)
      this.#notify(this.#packedListeners, { v4Keys: keys.subarray(0, n), v4NextHops: hops.subarray(0, n), other });
  }

  #notify<T>(listeners: ReadonlySet<(x: T) => void>, x: T): void {
    for (const l of listeners) {
      try {
        l(x);
      } catch (err) {
        this.#log.error({ event: 'routeFeedListenerFailed', err: describeError(err) }, 'a best-route listener threw');
      }
    }
  }

  /**
   * Encodes one peer's changes, packing many prefixes per UPDATE, and writes them in one call. A batch that
   * cannot be encoded (no usable next hop for its family) is logged and skipped; it never takes the session
   * down, and the rest still goes out.
   */
  #send(e: PeerEntry, u: OutUpdate): void {
    const s = e.session;
    if (!s) return;
    const maxLen = s.extendedMessage ? MAX_EXTENDED_MESSAGE_LEN : MAX_MESSAGE_LEN;
    const parts: Buffer[] = [];
    for (const w of u.withdraw) parts.push(...encodeWithdrawals(w, { maxLen }));
    for (const a of u.announce) {
      try {
        parts.push(
          ...encodeUpdates(this.#nextHopForFamily(a.attrs, a.batch.afi), a.batch, {
            fourOctetAs: s.fourOctetAs,
            maxLen,
          }),
        );
      } catch (err) {
        this.#log.warn(
          { event: 'encodeFailed', peer: e.id, prefixes: a.batch.prefixes.length, err: describeError(err) },
          'BGP routes not sent to a peer: they cannot be encoded for this session',
        );
      }
    }
    for (const f of u.endOfRib) parts.push(encodeEndOfRib(f));
    if (parts.length) e.peer.send(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
  }

  /**
   * IPv6 routes over an IPv4 session whose link has no IPv6 address (`linkIpv6For`) carry the IPv4-mapped
   * IPv6 form of the IPv4 next hop (::ffff:a.b.c.d), as FRR sends; FRR resolves it, BIRD does not.
   */
  #nextHopForFamily(attrs: PathAttributes, afi: number): PathAttributes {
    if (afi !== Afi.IPv6 || attrs.nextHop === '' || attrs.nextHop.includes(':')) return attrs;
    return this.rib.interner.internAttrs({ ...attrs, nextHop: `::ffff:${attrs.nextHop}` });
  }

  // -------------------------------------------------------------------------------------------------------
  // Status (GET /bgp/peers, GET /bgp/routes)

  peerStatus(): BgpPeerStatus[] {
    const now = this.#clock.now();
    return [...this.#peers.values()].map((e) => {
      const adj = this.rib.peer(e.id);
      const s = e.session;
      return {
        address: e.id,
        asn: e.cfg.asn,
        state: e.peer.state,
        uptime: Math.max(0, Math.floor((now - e.stateSinceMs) / 1000)),
        capabilities: s
          ? {
              families: s.families.map(familyName),
              holdTimeSec: s.holdTimeSec,
              keepaliveSec: s.keepaliveSec,
              fourOctetAs: s.fourOctetAs,
              routeRefresh: s.routeRefresh,
              enhancedRouteRefresh: s.enhancedRouteRefresh,
              extendedMessage: s.extendedMessage,
              addPath: s.addPath.map((a) => ({ family: familyName(a), send: a.send, receive: a.receive })),
              extendedNextHop: s.extendedNextHop.map(familyName),
              gracefulRestart: s.gracefulRestart
                ? {
                    restartTimeSec: s.gracefulRestart.peerRestartTimeSec,
                    peerRestarted: s.gracefulRestart.peerRestarted,
                  }
                : false,
            }
          : {},
        prefixesReceived: adj?.received ?? 0,
        prefixesAccepted: adj?.accepted ?? 0,
        prefixesAdvertised: e.out?.size ?? 0,
        lastError: e.lastError,
        type: e.cfg.asn === this.config.asn ? 'ibgp' : 'ebgp',
        routeReflectorClient: e.cfg.routeReflectorClient,
        passive: e.cfg.passive,
      };
    });
  }

  /** The Loc-RIB: `prefix` (exact) filters, `limit` (default 1000) and `after` page. */
  routes(
    q: { prefix?: string | undefined; limit?: number | undefined; after?: string | undefined } = {},
  ): BgpRoutesResponse {
    if (q.prefix !== undefined) {
      const key = parsePrefixKey(q.prefix);
      const r = this.rib.route(key);
      return r ? { count: 1, routes: [this.#routeStatus(key, r)] } : { count: 0, routes: [] };
    }
    const page = this.rib.bestRoutes({ after: q.after, limit: q.limit ?? 1000 });
    return {
      count: this.rib.size,
      routes: page.routes.map((r) => this.#routeStatus(parsePrefixKey(r.prefix), r)),
      next: page.next,
    };
  }

  /** A Loc-RIB route for status, plus the RFC 4456 attributes when the route carries them. */
  #routeStatus(key: PrefixKey, r: RouteView): BgpRouteStatus {
    const a = this.rib.best(key)?.post;
    if (!a || (a.originatorId === undefined && a.clusterList.length === 0)) return { ...r };
    return {
      ...r,
      ...(a.originatorId === undefined ? {} : { originatorId: formatIpv4(a.originatorId) }),
      clusterList: a.clusterList.map(formatIpv4),
    };
  }
}
