/**
 * The effectful shell around `codec.ts`: one NETLINK_ROUTE socket through koffi and libc (socket, bind,
 * setsockopt, send, recv, close, strerror). A request is one send() of a whole encoded batch, then recv() until
 * every sequence number has its ACK or error, so one bad route fails alone while the rest land. Dumps are read
 * part by part until NLMSG_DONE and decoded per recv() (streamed, never buffered whole).
 *
 * It works in the network namespace of the calling process (tests run it under `ip netns exec`).
 *
 * Hazards: the calls block the event loop (each batch of 1000 routes takes about 5 ms in the kernel); a recv
 * timeout (SO_RCVTIMEO, 5 s) turns a lost ACK into an error rather than a hang. ENOBUFS on recv means the
 * kernel dropped messages (receive buffer overrun): the request fails as a whole and the caller resyncs.
 * NLM_F_DUMP_INTR on a dump part means the table changed during the dump: `dumpRoutes` retries up to 3 times.
 *
 * It works in the network namespace the calling thread was in when `open()` ran: kernel/netns.ts opens one
 * inside a pod's namespace (setns there and back), and the socket stays bound to that namespace.
 *
 * Leaves out: multicast groups (route monitoring), non-blocking I/O through libuv.
 */
import { CaracalError, ErrorCodes } from '../../common/errors.js';
import { errnoError, lastErrno, libc } from '../libc.js';
import {
  decodeMessages,
  encodeRouteDump,
  type NetlinkMessage,
  NlmFlag,
  type Route,
  type RouteFamily,
} from './codec.js';

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_ROUTE = 0;
const SOL_SOCKET = 1;
const SO_SNDBUF = 7;
const SO_RCVBUF = 8;
const SO_RCVTIMEO = 20;
const SO_SNDBUFFORCE = 32;
const SO_RCVBUFFORCE = 33;
const SOL_NETLINK = 270;
const NETLINK_CAP_ACK = 10;
const NETLINK_EXT_ACK = 11;
const EINTR = 4;
const SOCK_BUF_BYTES = 4 << 20;
const RECV_BUF_BYTES = 1 << 20;

/** The outcome of one request message: `errno` 0 for success. */
export interface AckResult {
  seq: number;
  errno: number;
  /** strerror text plus the kernel's extended-ack message when it sent one. */
  message?: string | undefined;
}

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v, 0);
  return b;
}

/** A message whose body outlives the receive buffer (the next recv() overwrites it). */
function detach(m: NetlinkMessage): NetlinkMessage {
  return m.kind === 'other' ? { ...m, body: Buffer.from(m.body) } : m;
}

export class NetlinkSocket {
  #fd: number;
  #seq: number;
  readonly #rx = Buffer.alloc(RECV_BUF_BYTES);

  private constructor(fd: number) {
    this.#fd = fd;
    this.#seq = (Date.now() & 0x3fffffff) >>> 0;
  }

  /**
   * Open and bind a NETLINK_ROUTE socket in the current network namespace.
   * @example const nl = NetlinkSocket.open(); try { ... } finally { nl.close(); }
   */
  static open(): NetlinkSocket {
    const c = libc();
    const fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) throw errnoError('open a netlink socket');
    try {
      const sa = Buffer.alloc(12); // struct sockaddr_nl: family, pad, pid (0 = kernel assigns), groups
      sa.writeUInt16LE(AF_NETLINK, 0);
      if (c.bind(fd, sa, sa.length) < 0) throw errnoError('bind the netlink socket');
      const one = u32(1);
      c.setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, one, 4); // best effort: older kernels lack it
      c.setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, one, 4);
      const size = u32(SOCK_BUF_BYTES);
      // *BUFFORCE ignores rmem_max/wmem_max but needs CAP_NET_ADMIN; fall back to the capped option.
      if (c.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, size, 4) < 0) c.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, size, 4);
      if (c.setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, size, 4) < 0) c.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, size, 4);
      const tv = Buffer.alloc(16); // struct timeval { tv_sec; tv_usec } on 64-bit
      tv.writeBigInt64LE(5n, 0);
      c.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16);
    } catch (e) {
      c.close(fd);
      throw e;
    }
    return new NetlinkSocket(fd);
  }

  /** Reserve `n` consecutive sequence numbers; returns the first. */
  nextSeq(n: number): number {
    if (this.#seq + n > 0xffffffff) this.#seq = 1; // wrap early: a batch's numbers stay increasing
    const s = this.#seq;
    this.#seq += n;
    return s;
  }

  /**
   * Sends a batch encoded with `ackLastOnly` (codec.ts `encodeRouteBatch`) of `count` requests and waits for
   * the last one's ACK. Every request the kernel refused has its error ACK (errno ≠ 0); the others succeeded.
   * The send runs on a thread-pool thread (libc.ts `sendAsync`): the kernel installs the batch while this
   * thread's event loop runs on (the FIB worker plans its next batch meanwhile). One request at a time per
   * socket: the caller awaits each before the next (ACKs of overlapping batches would mix).
   */
  async requestLastAck(batch: Buffer, count: number): Promise<AckResult[]> {
    if (count === 0) return [];
    if (this.#fd < 0) throw new CaracalError(ErrorCodes.Internal, 'Cannot send to netlink: the socket is closed');
    if (this.#busy) throw new CaracalError(ErrorCodes.Internal, 'Cannot send to netlink: a request is in flight');
    this.#busy = true;
    try {
      const n = await libc().sendAsync(this.#fd, batch, batch.length, 0);
      if (n !== batch.length)
        throw new CaracalError(
          ErrorCodes.Internal,
          n < 0
            ? `Cannot send ${batch.length} bytes to netlink: send failed`
            : `Cannot send to netlink: short send ${n} of ${batch.length} bytes`,
        );
      // The kernel handled every message inside that send: the ACKs are queued already.
      return this.#collectLastAck(batch.readUInt32LE(8), count);
    } finally {
      this.#busy = false;
    }
  }

  #busy = false;

  #collectLastAck(firstSeq: number, count: number): AckResult[] {
    const results: AckResult[] = new Array(count);
    let done = false;
    while (!done) {
      for (const m of decodeMessages(this.#recv('read netlink ACKs'))) {
        if (m.kind !== 'ack') continue;
        const i = (m.seq - firstSeq) >>> 0;
        if (i >= count || results[i] !== undefined) continue; // a stale reply from an earlier request
        if (m.error !== 0) {
          const text = libc().strerror(m.error);
          results[i] = { seq: m.seq, errno: m.error, message: m.message ? `${text}: ${m.message}` : text };
        }
        if (i === count - 1) done = true;
      }
    }
    for (let i = 0; i < count; i++) results[i] ??= { seq: (firstSeq + i) >>> 0, errno: 0, message: undefined };
    return results;
  }

  /**
   * Send one encoded batch (every message with NLM_F_ACK and consecutive sequence numbers, the first message's
   * seq first; get them from `nextSeq`), then read until each has its ACK or error, in seq order; also returns
   * the replies the kernel sent before the ACKs (an RTM_GETLINK's
   * RTM_NEWLINK, say), each tagged with its request's sequence number.
   */
  exchangeSync(batch: Buffer, expectAcks: number): { acks: AckResult[]; replies: NetlinkMessage[] } {
    const replies: NetlinkMessage[] = [];
    if (expectAcks === 0) return { acks: [], replies };
    const firstSeq = batch.readUInt32LE(8);
    this.#sendAll(batch);
    const results: (AckResult | undefined)[] = new Array(expectAcks).fill(undefined);
    let pending = expectAcks;
    while (pending > 0) {
      for (const m of decodeMessages(this.#recv('read netlink ACKs'))) {
        const i = (m.seq - firstSeq) >>> 0;
        if (m.kind !== 'ack') {
          if (i < expectAcks && results[i] === undefined) replies.push(detach(m));
          continue;
        }
        if (i >= expectAcks || results[i] !== undefined) continue; // a stale reply from an earlier request
        const message =
          m.error === 0
            ? undefined
            : m.message
              ? `${libc().strerror(m.error)}: ${m.message}`
              : libc().strerror(m.error);
        results[i] = { seq: m.seq, errno: m.error, message };
        pending--;
      }
    }
    return { acks: results as AckResult[], replies };
  }

  /**
   * Send one dump request (NLM_F_DUMP; its seq from `nextSeq(1)`) and return every message of the answer
   * up to NLMSG_DONE, retrying up to 3 times when the kernel marks the dump interrupted.
   */
  dumpSync(encode: (seq: number) => Buffer): NetlinkMessage[] {
    for (let attempt = 0; ; attempt++) {
      const seq = this.nextSeq(1);
      this.#sendAll(encode(seq));
      const out: NetlinkMessage[] = [];
      let interrupted = false;
      for (let done = false; !done; ) {
        for (const m of decodeMessages(this.#recv('read a netlink dump'))) {
          if (m.seq !== seq) continue;
          if (m.kind === 'ack' && m.error !== 0) throw errnoError('dump', m.error);
          if (m.kind === 'done') {
            done = true;
            if (m.flags & NlmFlag.DumpIntr) interrupted = true;
            break;
          }
          if ('flags' in m && m.flags & NlmFlag.DumpIntr) interrupted = true;
          out.push(detach(m));
        }
      }
      if (!interrupted || attempt >= 2) return out;
    }
  }

  /** All routes of one family (every table), optionally only one table and/or one protocol. */
  dumpRoutes(family: RouteFamily, filter: { table?: number; protocol?: number } = {}): Route[] {
    for (let attempt = 0; ; attempt++) {
      const { routes, interrupted } = this.#dumpOnce(family, filter);
      if (!interrupted || attempt >= 2) return routes;
    }
  }

  #dumpOnce(
    family: RouteFamily,
    filter: { table?: number; protocol?: number },
  ): { routes: Route[]; interrupted: boolean } {
    const seq = this.nextSeq(1);
    this.#sendAll(encodeRouteDump(family, seq));
    const routes: Route[] = [];
    let interrupted = false;
    for (;;) {
      for (const m of decodeMessages(this.#recv('read a route dump'))) {
        if (m.seq !== seq) continue;
        if (m.kind === 'ack' && m.error !== 0) throw errnoError('dump routes', m.error);
        if (m.kind === 'done') return { routes, interrupted: interrupted || (m.flags & NlmFlag.DumpIntr) !== 0 };
        if (m.kind !== 'route') continue;
        if (m.flags & NlmFlag.DumpIntr) interrupted = true;
        const r = m.route;
        if (filter.protocol !== undefined && r.protocol !== filter.protocol) continue;
        if (filter.table !== undefined && r.table !== filter.table) continue;
        routes.push(r);
      }
    }
  }

  close(): void {
    if (this.#fd >= 0) libc().close(this.#fd);
    this.#fd = -1;
  }

  #sendAll(buf: Buffer): void {
    if (this.#fd < 0) throw new CaracalError(ErrorCodes.Internal, 'Cannot send to netlink: the socket is closed');
    for (;;) {
      const n = Number(libc().send(this.#fd, buf, buf.length, 0));
      if (n === buf.length) return;
      const errno = lastErrno();
      if (n < 0 && errno === EINTR) continue;
      throw n < 0
        ? errnoError(`send ${buf.length} bytes to netlink`, errno)
        : new CaracalError(ErrorCodes.Internal, `Cannot send to netlink: short send ${n} of ${buf.length} bytes`);
    }
  }

  #recv(what: string): Buffer {
    for (;;) {
      const n = Number(libc().recv(this.#fd, this.#rx, this.#rx.length, 0));
      if (n >= 0) return this.#rx.subarray(0, n);
      const errno = lastErrno();
      if (errno !== EINTR) throw errnoError(what, errno);
    }
  }
}
