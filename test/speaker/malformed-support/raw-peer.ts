/**
 * A scriptable raw BGP peer for live-session tests: a plain node:net socket that dials a running Speaker,
 * does the OPEN/KEEPALIVE handshake with the wire encoder (so the speaker sees an Established session), and
 * then writes whatever bytes a test wants. Everything the speaker sends back is framed and recorded; the
 * first NOTIFICATION is decoded, and `outcome()` reports how the connection ended (or that it did not).
 *
 * Imported only from test files.
 */
import { once } from 'node:events';
import { Socket } from 'node:net';
import { MessageFramer } from '../../../speaker/wire/framing.js';
import { encodeKeepalive, encodeNotification } from '../../../speaker/wire/messages.js';
import { encodeOpen } from '../../../speaker/wire/open.js';
import { type AfiSafi, HEADER_LEN, MessageType, type OpenMessage } from '../../../speaker/wire/types.js';

export interface RawPeerOptions {
  /** The speaker's listen address and port. */
  readonly host: string;
  readonly port: number;
  /** Our source address: the speaker matches it against its configured peers. */
  readonly localAddress: string;
  readonly asn: number;
  readonly bgpId: number;
  /** 0 (the default) turns off the hold and keepalive timers on both sides. */
  readonly holdTimeSec?: number;
  /** Send the RFC 6793 capability (default true); false makes a 2-octet AS session. */
  readonly fourOctetAs?: boolean;
  readonly families?: readonly AfiSafi[];
  /** Advertise RFC 8654 extended messages (the speaker always does). */
  readonly extendedMessage?: boolean;
}

export interface ReceivedNotification {
  readonly code: number;
  readonly subcode: number;
  readonly data: Buffer;
}

/** How an exchange ended: a NOTIFICATION (and whether the connection then closed), a bare close, or neither. */
export type Outcome =
  | { readonly kind: 'notification'; readonly code: number; readonly subcode: number; readonly closed: boolean }
  | { readonly kind: 'closed' }
  | { readonly kind: 'up' };

export function openMessage(o: RawPeerOptions, over: Partial<OpenMessage> = {}): OpenMessage {
  const four = o.fourOctetAs ?? true;
  return {
    type: MessageType.Open,
    version: 4,
    myAs: o.asn > 0xffff ? 23_456 : o.asn,
    holdTimeSec: o.holdTimeSec ?? 0,
    bgpId: o.bgpId,
    capabilities: {
      multiprotocol: o.families ?? [{ afi: 1, safi: 1 }],
      routeRefresh: true,
      enhancedRouteRefresh: false,
      fourOctetAs: four ? o.asn : undefined,
      gracefulRestart: undefined,
      addPath: [],
      extendedMessage: o.extendedMessage ?? false,
      extendedNextHop: [],
      role: undefined,
      unknown: [],
    },
    ...over,
  };
}

export class RawPeer {
  readonly options: RawPeerOptions;
  readonly socket: Socket;
  /** Every whole message received, header included, in order. */
  readonly received: Buffer[] = [];
  notification: ReceivedNotification | undefined;
  closed = false;
  /** Set when the speaker's bytes could not be framed (would be a speaker bug). */
  framingError: unknown;
  readonly #framer = new MessageFramer();
  #waiters: (() => void)[] = [];

  private constructor(options: RawPeerOptions, socket: Socket) {
    this.options = options;
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
  }

  /** A TCP connection to the speaker, nothing sent yet. */
  static async connect(options: RawPeerOptions): Promise<RawPeer> {
    const socket = new Socket();
    const peer = new RawPeer(options, socket);
    socket.connect({ host: options.host, port: options.port, localAddress: options.localAddress });
    await Promise.race([
      once(socket, 'connect'),
      once(socket, 'close').then(() => {
        throw new Error(`Raw peer ${options.localAddress} could not connect to ${options.host}:${options.port}`);
      }),
    ]);
    return peer;
  }

  /**
   * Connects and completes the handshake: our OPEN, the speaker's OPEN, KEEPALIVEs both ways. Resolves once
   * the speaker's KEEPALIVE arrived and ours is written; the caller checks the speaker's own state.
   */
  static async established(options: RawPeerOptions, timeoutMs = 5000): Promise<RawPeer> {
    const p = await RawPeer.connect(options);
    p.send(encodeOpen(openMessage(options)));
    await p.until('the speaker OPEN and KEEPALIVE', () => p.count(MessageType.Keepalive) > 0, timeoutMs);
    if (p.count(MessageType.Open) === 0) throw new Error('speaker sent KEEPALIVE before OPEN');
    p.send(encodeKeepalive());
    return p;
  }

  send(bytes: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  count(type: number): number {
    return this.received.filter((m) => m[18] === type).length;
  }

  /** Resolves when `pred()` holds; rejects after `timeoutMs`, or if the connection closed first without it. */
  async until(what: string, pred: () => boolean, timeoutMs = 5000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!pred()) {
      if (this.closed && !pred()) {
        const n = this.notification;
        throw new Error(
          `Connection closed while waiting for ${what}${n ? ` (NOTIFICATION ${n.code}/${n.subcode})` : ''}`,
        );
      }
      const left = end - Date.now();
      if (left <= 0) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 50));
        this.#waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /**
   * Waits up to `ms` for a NOTIFICATION or a close. A NOTIFICATION is followed by a short wait for the close
   * the speaker owes us after it.
   */
  async outcome(ms = 300): Promise<Outcome> {
    const end = Date.now() + ms;
    while (!this.notification && !this.closed && Date.now() < end) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(1, Math.min(20, end - Date.now())));
        this.#waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    const n = this.notification;
    if (n) {
      const closeBy = Date.now() + 2000;
      while (!this.closed && Date.now() < closeBy) await new Promise((r) => setTimeout(r, 5));
      return { kind: 'notification', code: n.code, subcode: n.subcode, closed: this.closed };
    }
    return this.closed ? { kind: 'closed' } : { kind: 'up' };
  }

  /** Ends the connection: 'fin' (plain close), 'reset' (TCP RST), or 'cease' (NOTIFICATION 6/2, then close). */
  async close(how: 'fin' | 'reset' | 'cease' = 'fin'): Promise<void> {
    if (this.closed) return;
    const s = this.socket;
    const closed = once(s, 'close');
    if (how === 'reset') s.resetAndDestroy();
    else if (how === 'cease') s.end(encodeNotification({ code: 6, subcode: 2, data: new Uint8Array(0) }));
    else s.end();
    const t = setTimeout(() => s.destroy(), 1000);
    await closed;
    clearTimeout(t);
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  #onData(chunk: Buffer): void {
    try {
      this.#framer.push(chunk);
      for (let m = this.#framer.pull(); m !== undefined; m = this.#framer.pull()) {
        const msg = Buffer.from(m);
        this.received.push(msg);
        if (msg[18] === MessageType.Notification && !this.notification) {
          this.notification = {
            code: msg[HEADER_LEN] ?? -1,
            subcode: msg[HEADER_LEN + 1] ?? -1,
            data: msg.subarray(HEADER_LEN + 2),
          };
        }
      }
    } catch (e) {
      this.framingError ??= e;
    }
    this.#wake();
  }
}
