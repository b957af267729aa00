/**
 * The effectful shell around the pure FSM (fsm.ts): one `Peer` per configured neighbour owns its TCP
 * connection(s), a MessageFramer per connection, and the three RFC 4271 timers on an injected Clock. Every
 * socket callback, timer and decode result becomes an FsmEvent; `step()` decides; this file carries out the
 * returned actions and turns them into typed events for the RIB (`established`, `update`, `down`, ...).
 * `Listener` accepts connections on one port, sets each peer's TCP-MD5 key on the listening fd, and hands an
 * accepted socket to the Peer whose address matches.
 *
 * Failure modes this defends against: an exception in a socket callback or in a listener of our events
 * (caught, logged, and the connection dropped as TcpConnectionFails); a peer that goes silent (the hold timer
 * is always enforced once negotiated, unlike MetalLB's native speaker); both sides dialling at once (§6.8
 * collision, collision.ts); a peer that restarts while we still think it is Established (RFC 4724 §4.2: the
 * old session is treated as a TCP failure, its routes kept as stale); reconnect storms (exponential backoff
 * with full jitter between automatic restarts).
 *
 * Leaves out: building and packing UPDATEs (speaker/rib), decoding UPDATEs (injected `decodeUpdate`; without
 * one the raw message is delivered), TCP-MD5 syscalls (injected `Md5Port`, kernel/tcp-md5.ts in production).
 */
import { EventEmitter } from 'node:events';
import { createServer, isIPv6, type Server, Socket } from 'node:net';
import { backoffMs, type Clock, systemClock } from '../../common/clock.js';
import { CaracalError } from '../../common/errors.js';
import { type Logger, logger as rootChild } from '../../common/logger.js';
import { CeaseSubcode, ErrorCode, isBgpError, OpenSubcode, UpdateSubcode } from '../wire/errors.js';
import { MessageFramer } from '../wire/framing.js';
import {
  decodeNotification,
  decodeRouteRefresh,
  encodeKeepalive,
  encodeNotification,
  shutdownData,
} from '../wire/messages.js';
import { decodeOpen, encodeOpen, peerAs } from '../wire/open.js';
import {
  HEADER_LEN,
  MAX_EXTENDED_MESSAGE_LEN,
  MAX_MESSAGE_LEN,
  MessageType,
  type RouteRefreshMessage,
  type UpdateMessage,
} from '../wire/types.js';
import { type Direction, resolveCollision } from './collision.js';
import type { SessionConfig } from './config.js';
import {
  type DownReason,
  type FsmAction,
  type FsmEvent,
  type FsmState,
  type FsmStateName,
  initialState,
  type ReceivedError,
  step,
  type TimerName,
} from './fsm.js';
import type { NegotiatedSession } from './negotiate.js';

/** TCP-MD5 (RFC 2385) as a port; node/ passes kernel/tcp-md5.ts `setTcpMd5` and `createMd5Socket`. */
export interface Md5Port {
  /** Sets (key) or removes (undefined) the key for `peerAddress` on a listening socket fd. */
  setKey(fd: number, peerAddress: string, key: string | undefined): void;
  /** A new, unconnected TCP socket fd with the key for `peerAddress` set, for an active open. */
  createSocket(family: 4 | 6, peerAddress: string, key: string): number;
}

export interface PeerOptions {
  readonly config: SessionConfig;
  readonly peerAddress: string;
  /** Default 179. */
  readonly peerPort?: number | undefined;
  /** Source address for the active open. */
  readonly localAddress?: string | undefined;
  /** TCP-MD5 password; needs `md5`. */
  readonly password?: string | undefined;
  readonly md5?: Md5Port | undefined;
  readonly clock?: Clock | undefined;
  readonly logger?: Logger | undefined;
  /** The UPDATE decoder (speaker/wire); given the body after the header. Without it `update` carries raw bytes. */
  readonly decodeUpdate?: ((body: Buffer, session: NegotiatedSession) => UpdateMessage) | undefined;
  /** Restart automatically after the session goes Idle (default true), with backoff between attempts. */
  readonly autoRestart?: boolean | undefined;
  /** Backoff between automatic restarts: full jitter in [minMs, min(maxMs, baseMs·2^n)). Default 1 s … 120 s. */
  readonly backoff?: { readonly baseMs: number; readonly maxMs: number; readonly minMs?: number } | undefined;
  readonly random?: (() => number) | undefined;
}

export type PeerEvents = {
  /** The session reached Established; the RIB reads families, ADD-PATH, GR and the RFC 8212 flag from it. */
  established: [session: NegotiatedSession];
  /** A received UPDATE: decoded when `decodeUpdate` is wired, else the whole raw message. */
  update: [update: UpdateMessage | Uint8Array];
  'route-refresh': [refresh: RouteRefreshMessage];
  /** The session (or the attempt to make one) ended; `reason.retainRoutes` says keep routes as stale (RFC 4724). */
  down: [reason: DownReason];
  /** RFC 4724: the peer's OPEN had the Restart State (R) bit: it restarted and will send End-of-RIB. */
  'peer-restarted': [session: NegotiatedSession];
  state: [to: FsmStateName, from: FsmStateName];
};

const TIMERS: readonly TimerName[] = ['connect-retry', 'hold', 'keepalive'];
const TIMER_EVENT: Record<TimerName, FsmEvent> = {
  'connect-retry': { type: 'ConnectRetryTimer_Expires' },
  hold: { type: 'HoldTimer_Expires' },
  keepalive: { type: 'KeepaliveTimer_Expires' },
};

/**
 * A timer that is cheap to restart: restarting moves a deadline; the underlying timeout is re-armed only when
 * it fires early (STYLE §2.9: the hold timer restarts on every message, so no cancel/create per message).
 */
class DeadlineTimer {
  readonly #clock: Clock;
  readonly #fire: () => void;
  #running = false;
  #deadline = 0;
  #armedAt = 0;
  #handle: { cancel(): void } | undefined = undefined;
  constructor(clock: Clock, fire: () => void) {
    this.#clock = clock;
    this.#fire = fire;
  }
  start(ms: number): void {
    this.#running = true;
    this.#deadline = this.#clock.now() + ms;
    if (this.#handle === undefined || this.#armedAt > this.#deadline) this.#arm(ms);
  }
  stop(): void {
    this.#running = false;
    this.#handle?.cancel();
    this.#handle = undefined;
  }
  #arm(ms: number): void {
    this.#handle?.cancel();
    this.#armedAt = this.#clock.now() + ms;
    this.#handle = this.#clock.setTimeout(() => this.#expired(), ms);
  }
  #expired(): void {
    this.#handle = undefined;
    if (!this.#running) return;
    const left = this.#deadline - this.#clock.now();
    if (left > 0) {
      this.#arm(left);
      return;
    }
    this.#running = false;
    this.#fire();
  }
}

/** One TCP connection to the peer and the FSM that runs on it (RFC 4271 §8: one FSM per connection). */
class Connection {
  direction: Direction;
  fsm: FsmState;
  socket: Socket | undefined = undefined;
  framer = new MessageFramer();
  readonly timers: Record<TimerName, DeadlineTimer>;
  constructor(direction: Direction, config: SessionConfig, clock: Clock, onTimer: (t: TimerName) => void) {
    this.direction = direction;
    this.fsm = initialState(config);
    this.timers = {
      'connect-retry': new DeadlineTimer(clock, () => onTimer('connect-retry')),
      hold: new DeadlineTimer(clock, () => onTimer('hold')),
      keepalive: new DeadlineTimer(clock, () => onTimer('keepalive')),
    };
  }
}

/** "::ffff:10.0.0.1" → "10.0.0.1"; lower-case IPv6. */
export function normalizeAddress(a: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  return m?.[1] ?? a.toLowerCase();
}

function notificationBytes(code: number, subcode: number): Buffer {
  return encodeNotification({ code, subcode, data: new Uint8Array(0) });
}

/**
 * One BGP neighbour. `start()` begins connecting (or waiting, when passive); `accept()` takes a connection the
 * Listener accepted; `stop()` sends Cease and stays down.
 *
 * @example
 * const peer = new Peer({ config, peerAddress: '10.0.0.2', md5: kernelMd5, password: 's3cret' });
 * peer.on('established', (s) => rib.peerUp(peer, s)).on('update', (u) => rib.apply(peer, u)).on('down', (r) => rib.peerDown(peer, r));
 * listener.addPeer(peer);
 * peer.start();
 */
export class Peer extends EventEmitter<PeerEvents> {
  readonly address: string;
  readonly #o: PeerOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  #primary: Connection;
  #secondary: Connection | undefined = undefined;
  #enabled = false;
  #restart: { cancel(): void } | undefined = undefined;
  #failures = 0;
  #session: NegotiatedSession | undefined = undefined;
  readonly #queue: (() => void)[] = [];
  #draining = false;
  /** Message counters (STYLE §2.6: rates are counters, not log lines). */
  readonly counters = {
    messagesIn: 0,
    keepalivesIn: 0,
    keepalivesOut: 0,
    updatesIn: 0,
    notificationsIn: 0,
    notificationsOut: 0,
  };

  constructor(opts: PeerOptions) {
    super();
    this.#o = opts;
    this.address = normalizeAddress(opts.peerAddress);
    this.#clock = opts.clock ?? systemClock;
    this.#log = opts.logger ?? rootChild('bgp-session', { peer: this.address, asn: opts.config.peerAs });
    this.#primary = this.#newConnection(opts.config.passive ? 'incoming' : 'outgoing');
  }

  /** RFC 4271 state of the session (of its main connection). */
  get state(): FsmStateName {
    return this.#primary.fsm.name;
  }
  /** The negotiated session while Established. */
  get session(): NegotiatedSession | undefined {
    return this.#session;
  }
  get password(): string | undefined {
    return this.#o.password;
  }
  /** Our address on the current session's connection (next-hop-self), when connected. */
  get localAddress(): string | undefined {
    const a = this.#primary.socket?.localAddress;
    return a === undefined ? undefined : normalizeAddress(a);
  }
  /** Connections currently open (0–2), for tests and `caracal bgp show`. */
  get connectionCount(): number {
    return [this.#primary, this.#secondary].filter((c) => c?.socket !== undefined).length;
  }

  /** ManualStart (RFC 4271 §8.1.2 Event 1, or Event 4 for a passive peer). */
  start(): void {
    this.#enqueue(() => {
      this.#enabled = true;
      this.#process(this.#primary, {
        type: this.#o.config.passive ? 'ManualStart_with_PassiveTcpEstablishment' : 'ManualStart',
      });
    });
  }

  /**
   * ManualStop (Event 2): Cease to an open session, then stay Idle. Default subcode 2 (Administrative Shutdown);
   * 3 (Peer De-configured) when the peer is being removed. `message` is the RFC 9003 shutdown communication.
   */
  stop(opts: { subcode?: number; message?: string } = {}): void {
    const ev: FsmEvent = {
      type: 'ManualStop',
      subcode: opts.subcode,
      data: opts.message === undefined ? undefined : shutdownData(opts.message),
    };
    this.#enqueue(() => {
      this.#enabled = false;
      this.#restart?.cancel();
      this.#restart = undefined;
      if (this.#secondary) this.#process(this.#secondary, ev);
      this.#process(this.#primary, ev);
    });
  }

  /** Takes a connection the peer opened to us (from `Listener`); resolves it against any existing one. */
  accept(socket: Socket): void {
    this.#enqueue(() => this.#accept(socket));
  }

  /** Writes one encoded UPDATE (or ROUTE-REFRESH) while Established; false when there is no session. */
  send(message: Buffer): boolean {
    const c = this.#primary;
    if (c.fsm.name !== 'Established' || !c.socket) return false;
    c.socket.write(message);
    // RFC 4271 §8.2.2 Established: sending an UPDATE restarts the KeepaliveTimer (a deadline move, no syscall).
    const k = c.fsm.negotiated?.keepaliveSec ?? 0;
    if (k > 0) c.timers.keepalive.start(k * 1000);
    return true;
  }

  #newConnection(direction: Direction): Connection {
    const c: Connection = new Connection(direction, this.#o.config, this.#clock, (t) =>
      this.#enqueue(() => this.#process(c, TIMER_EVENT[t])),
    );
    return c;
  }

  /** Runs work one item at a time, so an event emitted mid-step (a listener calling stop()) waits its turn. */
  #enqueue(work: () => void): void {
    this.#queue.push(work);
    if (this.#draining) return;
    this.#draining = true;
    try {
      for (let w = this.#queue.shift(); w !== undefined; w = this.#queue.shift()) {
        try {
          w();
        } catch (e) {
          // A bug here or in a listener of our events: never let it escape into a socket callback.
          this.#log.error({ err: e, event: 'sessionInternalError' }, 'BGP session internal error');
        }
      }
    } finally {
      this.#draining = false;
    }
  }

  /** Emits to our listeners; a listener that throws is logged and does not cut the step short. */
  #signal<K extends keyof PeerEvents>(name: K, ...args: PeerEvents[K]): void {
    try {
      (this.emit as (n: K, ...a: PeerEvents[K]) => boolean)(name, ...args);
    } catch (e) {
      this.#log.error({ err: e, event: 'listenerError', listener: name }, 'A BGP session event listener threw');
    }
  }

  #feed(c: Connection, e: FsmEvent): void {
    this.#enqueue(() => this.#process(c, e));
  }

  #process(c: Connection, e: FsmEvent): void {
    if (c !== this.#primary && c !== this.#secondary) return; // a discarded connection's late event
    let ev = e;
    if (ev.type === 'BGPOpen') {
      const other = c === this.#primary ? this.#secondary : this.#primary;
      if (other && other.fsm.name !== 'Idle') {
        const verdict = resolveCollision({
          existing: { direction: other.direction, state: other.fsm.name },
          newer: { direction: c.direction, state: c.fsm.name },
          localBgpId: this.#o.config.bgpId,
          remoteBgpId: ev.open.bgpId,
          localAs: this.#o.config.localAs,
          remoteAs: peerAs(ev.open),
          collisionDetectEstablished: this.#o.config.collisionDetectEstablished,
        });
        if (verdict !== 'none')
          this.#log.info(
            { event: 'collision', verdict, kept: verdict === 'close-newer' ? other.direction : c.direction },
            'BGP connection collision',
          );
        if (verdict === 'close-newer') ev = { type: 'OpenCollisionDump' };
        else if (verdict === 'close-existing') this.#process(other, { type: 'OpenCollisionDump' });
      }
    }
    const from = c.fsm.name;
    const r = step(c.fsm, ev);
    c.fsm = r.state;
    let down: DownReason | undefined;
    for (const a of r.actions) {
      if (a.type === 'session-down') down = a.reason;
      else this.#exec(c, a);
    }
    const idle = c.fsm.name === 'Idle' && from !== 'Idle';
    if (idle) this.#onIdle(c, down);
    // After #onIdle: a connection replaced by the other one (collision) reports no state of its own.
    if (c === this.#primary && from !== c.fsm.name) this.#signal('state', c.fsm.name, from);
  }

  #exec(c: Connection, a: FsmAction): void {
    switch (a.type) {
      case 'connect':
        this.#dial(c);
        return;
      case 'close-connection':
        this.#closeSocket(c);
        return;
      case 'send-open':
        this.#write(c, encodeOpen(a.open));
        return;
      case 'send-keepalive':
        this.counters.keepalivesOut++;
        this.#write(c, encodeKeepalive());
        return;
      case 'send-notification': {
        const max = c.fsm.negotiated?.extendedMessage ? MAX_EXTENDED_MESSAGE_LEN : MAX_MESSAGE_LEN;
        this.counters.notificationsOut++;
        this.#log.warn({ event: 'notificationSent', code: a.code, subcode: a.subcode }, 'BGP NOTIFICATION sent');
        this.#write(c, encodeNotification({ code: a.code, subcode: a.subcode, data: a.data }, max));
        return;
      }
      case 'start-timer':
        c.timers[a.timer].start(a.seconds * 1000);
        return;
      case 'stop-timer':
        c.timers[a.timer].stop();
        return;
      case 'established':
        c.framer.setExtendedMessage(a.session.extendedMessage);
        this.#established(c, a.session);
        return;
      case 'deliver-update':
        this.#signal('update', a.update);
        return;
      case 'deliver-route-refresh':
        this.#signal('route-refresh', a.refresh);
        return;
      case 'update-error-tolerated':
        if (this.#log.isLevelEnabled('debug'))
          this.#log.debug(
            { code: a.error.code, subcode: a.error.subcode, action: a.error.action },
            'UPDATE error tolerated',
          );
        return;
      case 'session-down':
        return;
    }
  }

  #established(c: Connection, session: NegotiatedSession): void {
    if (c !== this.#primary) {
      // The second connection won; the first is not far enough along to have been dumped by collision.
      this.#discard(this.#primary);
      this.#primary = c;
      this.#secondary = undefined;
    } else if (this.#secondary) {
      // §6.8: a connection colliding with Established is closed.
      this.#process(this.#secondary, { type: 'OpenCollisionDump' });
    }
    this.#failures = 0;
    this.#session = session;
    this.#log.info(
      { event: 'sessionUp', holdTimeSec: session.holdTimeSec, families: session.families.length, ibgp: session.ibgp },
      'BGP session established',
    );
    this.#signal('established', session);
    if (session.gracefulRestart?.peerRestarted) this.#signal('peer-restarted', session);
  }

  /** Drops a connection without protocol (it never sent or got an OPEN), removing it from the peer. */
  #discard(c: Connection): void {
    for (const t of TIMERS) c.timers[t].stop();
    const s = c.socket;
    c.socket = undefined;
    s?.destroy();
    if (this.#secondary === c) this.#secondary = undefined;
  }

  #onIdle(c: Connection, reason: DownReason | undefined): void {
    for (const t of TIMERS) c.timers[t].stop();
    if (c === this.#secondary) {
      this.#secondary = undefined;
      return;
    }
    const wasUp = this.#session !== undefined;
    this.#session = undefined;
    if (this.#secondary && this.#secondary.fsm.name !== 'Idle') {
      // The other connection carries on (collision resolved in its favour, or it was already further).
      this.#primary = this.#secondary;
      this.#secondary = undefined;
      if (wasUp && reason) this.#signal('down', reason);
      return;
    }
    if (reason) {
      const level = wasUp ? 'info' : 'debug';
      if (this.#log.isLevelEnabled(level))
        this.#log[level](
          { event: 'sessionDown', reason: reason.kind, code: reason.code, subcode: reason.subcode },
          'BGP session down',
        );
      this.#signal('down', reason);
    }
    if (!wasUp) this.#failures++;
    if (this.#enabled && this.#o.autoRestart !== false && this.#restart === undefined) {
      const b = this.#o.backoff ?? { baseMs: 1000, maxMs: 120_000 };
      const delay = Math.max(b.minMs ?? 100, backoffMs(this.#failures, b.baseMs, b.maxMs, this.#o.random));
      this.#restart = this.#clock.setTimeout(() => {
        this.#restart = undefined;
        if (this.#primary.fsm.name !== 'Idle') return;
        this.#feed(this.#primary, {
          type: this.#o.config.passive ? 'AutomaticStart_with_PassiveTcpEstablishment' : 'AutomaticStart',
        });
      }, delay);
    }
  }

  #accept(socket: Socket): void {
    if (!this.#enabled) {
      reject(socket, CeaseSubcode.ConnectionRejected);
      return;
    }
    const p = this.#primary;
    switch (p.fsm.name) {
      case 'Idle':
        this.#restart?.cancel();
        this.#restart = undefined;
        p.direction = 'incoming';
        this.#process(p, { type: 'AutomaticStart_with_PassiveTcpEstablishment' });
        this.#attach(p, socket);
        this.#process(p, { type: 'TcpConnectionConfirmed' });
        return;
      case 'Connect':
      case 'Active':
        if (p.socket === undefined) {
          // No dial in flight (§8.2.2 Active, Event 17): this connection becomes the session's.
          p.direction = 'incoming';
          this.#attach(p, socket);
          this.#process(p, { type: 'TcpConnectionConfirmed' });
          return;
        }
        // Our dial is in flight too: keep both and let §6.8 pick one when the OPENs arrive. (Dropping our
        // dial here would, when the peer does the same, drop both connections.)
        this.#acceptSecond(socket);
        return;
      case 'OpenSent':
      case 'OpenConfirm':
        this.#acceptSecond(socket);
        return;
      case 'Established':
        if (p.fsm.negotiated?.gracefulRestart) {
          // RFC 4724 §4.2: the peer restarted: end the old session as a TCP failure (routes kept as stale)
          // and take the new connection.
          this.#process(p, { type: 'TcpConnectionFails', message: 'peer reconnected (graceful restart)' });
          this.#accept(socket);
          return;
        }
        // §6.8: with CollisionDetectEstablishedState the rule decides when the OPEN arrives; without it the
        // new connection is closed.
        if (this.#o.config.collisionDetectEstablished) {
          this.#acceptSecond(socket);
          return;
        }
        reject(socket, CeaseSubcode.ConnectionCollisionResolution);
        return;
    }
  }

  /** A second connection beside the one in progress; collision.ts decides between them (§6.8). */
  #acceptSecond(socket: Socket): void {
    if (this.#secondary) {
      reject(socket, CeaseSubcode.ConnectionRejected);
      return;
    }
    const c = this.#newConnection('incoming');
    this.#secondary = c;
    this.#process(c, { type: 'AutomaticStart_with_PassiveTcpEstablishment' });
    this.#attach(c, socket);
    this.#process(c, { type: 'TcpConnectionConfirmed' });
  }

  #dial(c: Connection): void {
    const o = this.#o;
    let socket: Socket;
    try {
      if (o.password !== undefined) {
        if (!o.md5) throw new Error('a TCP-MD5 password is configured but no MD5 port was given');
        socket = new Socket({ fd: o.md5.createSocket(isIPv6(this.address) ? 6 : 4, this.address, o.password) });
      } else socket = new Socket();
    } catch (e) {
      this.#log.error({ err: e, event: 'connectFailed' }, 'Cannot create BGP socket');
      this.#feed(c, { type: 'TcpConnectionFails', message: String(e) });
      return;
    }
    c.direction = 'outgoing';
    this.#attach(c, socket);
    socket.once('connect', () => {
      if (c.socket === socket) this.#feed(c, { type: 'Tcp_CR_Acked' });
    });
    socket.connect({ host: this.address, port: o.peerPort ?? 179, localAddress: o.localAddress });
  }

  #attach(c: Connection, socket: Socket): void {
    c.socket = socket;
    c.framer = new MessageFramer();
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      if (c.socket === socket) this.#enqueue(() => this.#onData(c, socket, chunk));
    });
    socket.on('error', (e) => {
      if (this.#log.isLevelEnabled('debug')) this.#log.debug({ err: e }, 'BGP socket error');
    });
    socket.on('close', () => {
      if (c.socket !== socket) return;
      this.#feed(c, { type: 'TcpConnectionFails' });
    });
  }

  #onData(c: Connection, socket: Socket, chunk: Buffer): void {
    c.framer.push(chunk);
    while (c.socket === socket) {
      let msg: Buffer | undefined;
      try {
        msg = c.framer.pull();
      } catch (e) {
        this.#process(c, { type: 'BGPHeaderErr', error: asReceived(e, ErrorCode.Header, 0) });
        return;
      }
      if (msg === undefined) return;
      this.#process(c, this.#decode(c, msg));
    }
  }

  /** One framed message → one FSM event; decode errors become the matching error events. */
  #decode(c: Connection, msg: Buffer): FsmEvent {
    const body = msg.subarray(HEADER_LEN);
    this.counters.messagesIn++;
    try {
      switch (msg[18]) {
        case MessageType.Open:
          try {
            return { type: 'BGPOpen', open: decodeOpen(body) };
          } catch (e) {
            return { type: 'BGPOpenMsgErr', error: asReceived(e, ErrorCode.Open, 0) };
          }
        case MessageType.Keepalive:
          this.counters.keepalivesIn++;
          return { type: 'KeepAliveMsg' };
        case MessageType.Notification: {
          const n = decodeNotification(body);
          this.counters.notificationsIn++;
          this.#log.warn(
            { event: 'notificationReceived', code: n.code, subcode: n.subcode },
            'BGP NOTIFICATION received',
          );
          return n.code === ErrorCode.Open && n.subcode === OpenSubcode.UnsupportedVersionNumber
            ? { type: 'NotifMsgVerErr', notification: n }
            : { type: 'NotifMsg', notification: n };
        }
        case MessageType.Update: {
          this.counters.updatesIn++;
          const decode = this.#o.decodeUpdate;
          const session = c.fsm.negotiated;
          if (!decode || !session) return { type: 'UpdateMsg', update: msg };
          try {
            return { type: 'UpdateMsg', update: decode(body, session) };
          } catch (e) {
            return {
              type: 'UpdateMsgErr',
              error: asReceived(e, ErrorCode.Update, UpdateSubcode.MalformedAttributeList),
            };
          }
        }
        case MessageType.RouteRefresh:
          return { type: 'RouteRefreshMsg', refresh: decodeRouteRefresh(body) };
        default:
          return {
            type: 'BGPHeaderErr',
            error: { code: ErrorCode.Header, subcode: 3, data: Uint8Array.of(msg[18] ?? 0) },
          };
      }
    } catch (e) {
      return { type: 'BGPHeaderErr', error: asReceived(e, ErrorCode.Header, 0) };
    }
  }

  #write(c: Connection, buf: Buffer): void {
    const s = c.socket;
    if (s && !s.destroyed && s.writable) s.write(buf);
  }

  #closeSocket(c: Connection): void {
    const s = c.socket;
    c.socket = undefined;
    if (!s) return;
    // Let a NOTIFICATION written just before drain, then make sure the socket goes away.
    s.end();
    setTimeout(() => s.destroy(), 1000).unref();
  }
}

/** A thrown value as the error an FSM event carries: a BgpError keeps its NOTIFICATION and RFC 7606 action. */
function asReceived(e: unknown, code: number, subcode: number): ReceivedError {
  if (isBgpError(e)) return { code: e.code, subcode: e.subcode, data: e.data, action: e.action, message: e.message };
  return { code, subcode, data: new Uint8Array(0), action: 'session-reset', message: String(e) };
}

function reject(socket: Socket, subcode: number): void {
  socket.end(notificationBytes(ErrorCode.Cease, subcode));
  setTimeout(() => socket.destroy(), 1000).unref();
}

export interface ListenerOptions {
  /** 179 in production; 0 picks a free port (tests). */
  readonly port: number;
  /** Default "::" (dual stack). */
  readonly host?: string | undefined;
  readonly md5?: Md5Port | undefined;
  readonly logger?: Logger | undefined;
}

/**
 * Accepts BGP connections on one port and dispatches them by remote address to the registered Peer
 * (unknown addresses are refused with Cease / Connection Rejected). TCP-MD5 keys of registered peers are set
 * on the listening fd, so an unsigned SYN from a keyed peer never completes.
 */
export class Listener {
  readonly #o: ListenerOptions;
  readonly #server: Server;
  readonly #peers = new Map<string, Peer>();
  readonly #log: Logger;

  constructor(opts: ListenerOptions) {
    this.#o = opts;
    this.#log = opts.logger ?? rootChild('bgp-listener');
    this.#server = createServer((socket) => {
      try {
        const peer = this.#peers.get(normalizeAddress(socket.remoteAddress ?? ''));
        if (!peer) {
          this.#log.debug({ remote: socket.remoteAddress }, 'BGP connection from an unknown address refused');
          reject(socket, CeaseSubcode.ConnectionRejected);
          return;
        }
        peer.accept(socket);
      } catch (e) {
        this.#log.error({ err: e }, 'Cannot accept BGP connection');
        socket.destroy();
      }
    });
    this.#server.on('error', (e) => this.#log.error({ err: e }, 'BGP listener error'));
  }

  /** Starts listening; resolves with the bound port. */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      this.#server.once('error', onError);
      this.#server.listen(this.#o.port, this.#o.host ?? '::', () => {
        this.#server.off('error', onError);
        try {
          for (const p of this.#peers.values()) this.#setKey(p.address, p.password);
        } catch (e) {
          reject(e);
          return;
        }
        const addr = this.#server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : this.#o.port);
      });
    });
  }

  addPeer(peer: Peer): void {
    this.#peers.set(peer.address, peer);
    if (this.#server.listening) this.#setKey(peer.address, peer.password);
  }

  removePeer(peer: Peer): void {
    if (this.#peers.get(peer.address) !== peer) return;
    this.#peers.delete(peer.address);
    if (this.#server.listening && peer.password !== undefined) this.#setKey(peer.address, undefined, true);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  #setKey(address: string, key: string | undefined, removing = false): void {
    if (key === undefined && !removing) return;
    if (!this.#o.md5)
      throw new CaracalError('INVALID_CONFIG', `Cannot set TCP-MD5 key for peer "${address}": no MD5 port was given`);
    const fd = (this.#server as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (fd === undefined || fd < 0)
      throw new CaracalError('INTERNAL', `Cannot set TCP-MD5 key for peer "${address}": the listener has no fd`);
    this.#o.md5.setKey(fd, address, key);
  }
}
