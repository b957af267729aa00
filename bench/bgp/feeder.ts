/**
 * The BGP feeder of the ingest benchmark: announces N distinct IPv4 prefixes over one session as fast as the
 * socket takes them, so that what is timed is the *receiver*.
 *
 * - `buildFeed()` makes the prefixes and a few dozen attribute sets (varied AS paths, some MEDs and
 *   communities, so a receiver's attribute interning works as it would on a real table) and packs them with
 *   our codec (speaker/wire `encodeUpdates`, as many prefixes per UPDATE as fit in 4096 bytes), then joins
 *   the messages into large blocks. All of it happens before connecting: encoding is never on the clock.
 * - `startFeeder()` connects to the receiver (retrying while nothing listens yet), does the OPEN/KEEPALIVE
 *   handshake itself (hold time 90, 4-octet AS, MP IPv4 unicast, route refresh), and at Established (both
 *   sides have sent OPEN and KEEPALIVE) records `process.hrtime.bigint()` (CLOCK_MONOTONIC, comparable across
 *   processes on one machine) and writes the blocks, honouring backpressure (write until false, wait for
 *   'drain'), then End-of-RIB. It answers KEEPALIVEs, sends its own every hold/3, reads and ignores UPDATEs,
 *   and keeps the session until `stop()` (a Cease NOTIFICATION, then FIN).
 *
 * bench/bgp/feeder-cli.ts runs this as a child process inside the feeder's network namespace.
 */

import { createConnection, type Socket } from 'node:net';
import { seededRandom } from '../../common/random.js';
import {
  Afi,
  AS_TRANS,
  type AsPathSegment,
  type Capabilities,
  decodeNotification,
  decodeOpen,
  encodeEndOfRib,
  encodeKeepalive,
  encodeNotification,
  encodeOpen,
  encodeUpdates,
  errorText,
  HEADER_LEN,
  MessageFramer,
  MessageType,
  NO_CAPABILITIES,
  type OpenMessage,
  type PathAttributes,
  parseIpv4,
  prefixKeyV4,
  Safi,
} from '../../speaker/wire/index.js';

// ---------------------------------------------------------------------------------------------------------
// What is announced

/** `24`: /24s from 11.0.0.0 upward. `mixed`: a table-like mix of /18–/24 (70% /24), never overlapping. */
export type LengthMix = '24' | 'mixed';

export interface FeedSpec {
  /** Distinct IPv4 prefixes to announce. */
  readonly n: number;
  /** The feeder's AS: first AS of every AS path (eBGP receivers check it). */
  readonly localAs: number;
  /** NEXT_HOP: the feeder's address on the link. */
  readonly nextHop: string;
  /** Default `mixed`. */
  readonly lengths?: LengthMix;
  /** Distinct attribute sets, default 40. */
  readonly attrSets?: number;
  /** Consecutive prefixes sharing one attribute set, default 400 (so most UPDATEs are full). */
  readonly run?: number;
  /** Bytes per pre-joined write block, default 256 KiB. */
  readonly blockBytes?: number;
}

export interface Feed {
  /** The UPDATE stream joined into blocks; End-of-RIB is not included (the session sends it). */
  readonly blocks: readonly Buffer[];
  readonly messages: number;
  readonly bytes: number;
  readonly prefixes: number;
  readonly attrSets: number;
}

/** Deterministic, so every run announces the same table. */

const FIRST = 0x0b000000; // 11.0.0.0
const LIMIT = 0x64000000; // 100.0.0.0: stay clear of 100.64/10 and everything special above it
/** Cumulative share of each length in the `mixed` table. */
const MIX: readonly (readonly [number, number])[] = [
  [24, 0.7],
  [23, 0.8],
  [22, 0.88],
  [21, 0.93],
  [20, 0.97],
  [19, 0.99],
  [18, 1],
];

/** N distinct, non-overlapping IPv4 prefix keys (speaker/wire PrefixKeyV4: addr*64+len), ascending. */
export function buildPrefixes(n: number, lengths: LengthMix = 'mixed'): number[] {
  const out: number[] = new Array(n);
  const rnd = seededRandom(0x5eed);
  let cursor = FIRST;
  for (let i = 0; i < n; i++) {
    let len = 24;
    if (lengths === 'mixed') {
      const r = rnd();
      len = MIX.find(([, c]) => r < c)?.[0] ?? 24;
    }
    const size = 2 ** (32 - len);
    cursor = Math.ceil(cursor / size) * size;
    if (cursor + size > LIMIT) {
      throw new RangeError(`Cannot build ${n} prefixes: the address range 11.0.0.0–99.255.255.255 is exhausted`);
    }
    out[i] = prefixKeyV4(cursor, len);
    cursor += size;
  }
  return out;
}

/** `count` attribute sets, all starting with `localAs`, with 1–6 more ASes, some MEDs and communities. */
export function buildAttrSets(count: number, localAs: number, nextHop: string): PathAttributes[] {
  const rnd = seededRandom(0xa77);
  const sets: PathAttributes[] = [];
  for (let i = 0; i < count; i++) {
    const asns = [localAs];
    const extra = 1 + Math.floor(rnd() * 6);
    for (let k = 0; k < extra; k++)
      asns.push(k === extra - 1 && i % 5 === 0 ? 4_200_000_000 + i : 1000 + Math.floor(rnd() * 60_000));
    const asPath: AsPathSegment[] = [{ type: 2, asns }];
    const communities = i % 3 === 0 ? [((localAs & 0xffff) << 16) | (100 + i)] : [];
    sets.push({
      origin: (i % 7 === 0 ? 2 : 0) as 0 | 2,
      asPath,
      nextHop,
      nextHopLinkLocal: undefined,
      med: i % 2 === 0 ? i * 10 : undefined,
      localPref: undefined,
      atomicAggregate: false,
      aggregator: undefined,
      communities: communities.map((c) => c >>> 0),
      extendedCommunities: [],
      largeCommunities: i % 4 === 1 ? [[localAs, 1, i]] : [],
      originatorId: undefined,
      clusterList: [],
      onlyToCustomer: undefined,
      unknown: [],
      asPathLength: asns.length,
      neighborAs: localAs,
    });
  }
  return sets;
}

/** Encodes the whole announcement (see `FeedSpec`) into write blocks. Pure CPU work, done before connecting. */
export function buildFeed(spec: FeedSpec): Feed {
  const prefixes = buildPrefixes(spec.n, spec.lengths);
  const sets = buildAttrSets(spec.attrSets ?? 40, spec.localAs, spec.nextHop);
  const run = spec.run ?? 400;
  const blockBytes = spec.blockBytes ?? 256 * 1024;
  const blocks: Buffer[] = [];
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let messages = 0;
  let bytes = 0;
  const flush = () => {
    if (pendingBytes > 0) blocks.push(Buffer.concat(pending, pendingBytes));
    pending = [];
    pendingBytes = 0;
  };
  for (let i = 0, r = 0; i < prefixes.length; i += run, r++) {
    const attrs = sets[r % sets.length] as PathAttributes;
    const batch = { afi: Afi.IPv4, safi: Safi.Unicast, prefixes: prefixes.slice(i, i + run) };
    for (const m of encodeUpdates(attrs, batch, { fourOctetAs: true })) {
      pending.push(m);
      pendingBytes += m.length;
      bytes += m.length;
      messages++;
      if (pendingBytes >= blockBytes) flush();
    }
  }
  flush();
  return { blocks, messages, bytes, prefixes: prefixes.length, attrSets: sets.length };
}

// ---------------------------------------------------------------------------------------------------------
// The session

export interface FeederOptions {
  readonly host: string;
  readonly port: number;
  readonly localAs: number;
  /** BGP Identifier, dotted quad. */
  readonly routerId: string;
  readonly feed: Feed;
  /** Proposed hold time, default 90. */
  readonly holdTimeSec?: number;
  /** Keep retrying a refused connection this long (the receiver may not listen yet); default 15 s. */
  readonly connectTimeoutMs?: number;
  /** Local address to bind (optional). */
  readonly localAddress?: string;
}

export interface FeederStats {
  updatesReceived: number;
  keepalivesReceived: number;
  /** The receiver's OPEN, once received. */
  peerOpen?: OpenMessage;
}

export interface FeederHandle {
  /** CLOCK_MONOTONIC nanoseconds (process.hrtime.bigint) when the session became Established. */
  readonly established: Promise<bigint>;
  /** When the last byte (End-of-RIB included) was handed to the kernel. */
  readonly sent: Promise<bigint>;
  /** Settles when the session ends: resolves after `stop()`, rejects on any error or a NOTIFICATION. */
  readonly closed: Promise<void>;
  readonly stats: FeederStats;
  /** Cease / Administrative Shutdown, then close. Idempotent. */
  stop(): Promise<void>;
}

const IPV4_UNICAST = { afi: Afi.IPv4, safi: Safi.Unicast } as const;

export function feederOpen(localAs: number, routerId: string, holdTimeSec: number): Buffer {
  const capabilities: Capabilities = {
    ...NO_CAPABILITIES,
    multiprotocol: [IPV4_UNICAST],
    routeRefresh: true,
    fourOctetAs: localAs,
  };
  return encodeOpen({
    type: MessageType.Open,
    version: 4,
    myAs: localAs > 0xffff ? AS_TRANS : localAs,
    holdTimeSec,
    bgpId: parseIpv4(routerId),
    capabilities,
  });
}

function connectWithRetry(opts: FeederOptions): Promise<Socket> {
  const until = Date.now() + (opts.connectTimeoutMs ?? 15_000);
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = createConnection({
        host: opts.host,
        port: opts.port,
        ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
      });
      const onError = (e: NodeJS.ErrnoException) => {
        s.destroy();
        const retry = e.code === 'ECONNREFUSED' || e.code === 'ECONNRESET' || e.code === 'EHOSTUNREACH';
        if (retry && Date.now() < until) setTimeout(attempt, 50);
        else reject(new Error(`Cannot connect to ${opts.host}:${opts.port}: ${e.message}`, { cause: e }));
      };
      s.once('error', onError);
      s.once('connect', () => {
        s.off('error', onError);
        s.setNoDelay(true);
        resolve(s);
      });
    };
    attempt();
  });
}

/** Connects, handshakes and feeds; see the file header. */
export async function startFeeder(opts: FeederOptions): Promise<FeederHandle> {
  const hold = opts.holdTimeSec ?? 90;
  const sock = await connectWithRetry(opts);
  const stats: FeederStats = { updatesReceived: 0, keepalivesReceived: 0 };
  const framer = new MessageFramer();
  let gotOpen = false;
  let isEstablished = false;
  let stopping = false;
  let keepaliveTimer: NodeJS.Timeout | undefined;

  let resolveEst!: (t: bigint) => void;
  let resolveSent!: (t: bigint) => void;
  let resolveClosed!: () => void;
  let rejectAll!: (e: Error) => void;
  const established = new Promise<bigint>((res, rej) => {
    resolveEst = res;
    rejectAll = rej;
  });
  let rejectSent!: (e: Error) => void;
  const sent = new Promise<bigint>((res, rej) => {
    resolveSent = res;
    rejectSent = rej;
  });
  let rejectClosed!: (e: Error) => void;
  const closed = new Promise<void>((res, rej) => {
    resolveClosed = res;
    rejectClosed = rej;
  });
  // Callers may only await some of these; a rejection must not become an unhandled one.
  for (const p of [established, sent, closed]) p.catch(() => {});
  let failed: Error | undefined;
  const fail = (e: Error) => {
    if (failed || stopping) return;
    failed = e;
    clearInterval(keepaliveTimer);
    rejectAll(e);
    rejectSent(e);
    rejectClosed(e);
    sock.destroy();
  };

  const pump = async () => {
    for (const b of opts.feed.blocks) {
      if (failed || stopping) return;
      if (!sock.write(b)) await new Promise<void>((res) => sock.once('drain', res));
    }
    if (failed || stopping) return;
    sock.write(encodeEndOfRib(IPV4_UNICAST), () => resolveSent(process.hrtime.bigint()));
  };

  const onMessage = (m: Buffer) => {
    switch (m[18]) {
      case MessageType.Open: {
        const open = decodeOpen(m.subarray(HEADER_LEN));
        stats.peerOpen = open;
        if (open.capabilities.fourOctetAs === undefined)
          throw new Error('Cannot feed: the receiver does not support 4-octet AS numbers (RFC 6793)');
        gotOpen = true;
        sock.write(encodeKeepalive());
        const negotiated = Math.min(hold, open.holdTimeSec);
        if (negotiated > 0) {
          keepaliveTimer = setInterval(() => sock.write(encodeKeepalive()), (negotiated * 1000) / 3);
          keepaliveTimer.unref();
        }
        return;
      }
      case MessageType.Keepalive:
        stats.keepalivesReceived++;
        if (gotOpen && !isEstablished) {
          isEstablished = true;
          resolveEst(process.hrtime.bigint());
          pump().catch((e: Error) => fail(e));
        }
        return;
      case MessageType.Update:
        stats.updatesReceived++;
        return;
      case MessageType.Notification: {
        const n = decodeNotification(m.subarray(HEADER_LEN));
        throw new Error(
          `Cannot feed: the receiver sent NOTIFICATION ${n.code}/${n.subcode} (${errorText(n.code, n.subcode)})`,
        );
      }
      default:
        return; // ROUTE-REFRESH: we have nothing else to send
    }
  };

  sock.on('data', (chunk: Buffer) => {
    try {
      framer.push(chunk);
      for (let m = framer.pull(); m; m = framer.pull()) onMessage(m);
    } catch (e) {
      fail(e instanceof Error ? e : new Error(String(e)));
    }
  });
  sock.on('error', (e) => fail(new Error(`Cannot feed: socket error: ${e.message}`, { cause: e })));
  sock.on('close', () => {
    clearInterval(keepaliveTimer);
    if (stopping) resolveClosed();
    else fail(new Error('Cannot feed: the receiver closed the connection'));
  });
  sock.write(feederOpen(opts.localAs, opts.routerId, hold));

  return {
    established,
    sent,
    closed,
    stats,
    stop: () => {
      if (!stopping && !failed) {
        stopping = true;
        clearInterval(keepaliveTimer);
        sock.end(encodeNotification({ code: 6, subcode: 2, data: new Uint8Array(0) }));
        setTimeout(() => sock.destroy(), 1000).unref();
      }
      return closed.catch(() => {});
    },
  };
}
