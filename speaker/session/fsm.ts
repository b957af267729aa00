/**
 * The RFC 4271 §8 BGP finite state machine as a pure function: `step(state, event) → { state, actions }`.
 * One FSM instance runs per TCP connection (BIRD's model: a peer may briefly hold an outgoing and an incoming
 * connection, §6.8); `peer.ts` owns the sockets and timers, feeds events in and carries the actions out.
 * Every transition of §8.2.2 we implement is one row of the table test in fsm.test.ts.
 *
 * Leaves out (optional session attributes of §8.1.1): DelayOpen, DampPeerOscillations (the shell's backoff
 * does that job), SendNOTIFICATIONwithoutOPEN, TrackTcpState (Events 14, 15, 18). Deviations from the letter
 * of §8.2.2 are marked "Deviation" and listed in docs/design/bgp-session.md.
 */
import { CeaseSubcode, type ErrorAction, ErrorCode, FsmSubcode } from '../wire/errors.js';
import type { NotificationMessage, OpenMessage, RouteRefreshMessage, UpdateMessage } from '../wire/types.js';
import { buildOpen, OPEN_SENT_HOLD_TIME_SEC, type SessionConfig } from './config.js';
import { type NegotiatedSession, negotiate } from './negotiate.js';
import { checkOpen, type NotificationSpec } from './open-check.js';

/** RFC 4271 §8.2.2 state names. */
export type FsmStateName = 'Idle' | 'Connect' | 'Active' | 'OpenSent' | 'OpenConfirm' | 'Established';
export const FSM_STATES: readonly FsmStateName[] = [
  'Idle',
  'Connect',
  'Active',
  'OpenSent',
  'OpenConfirm',
  'Established',
];

export type TimerName = 'connect-retry' | 'hold' | 'keepalive';

export interface FsmState {
  readonly name: FsmStateName;
  readonly config: SessionConfig;
  /** RFC 4271 §8: ConnectRetryCounter; peer.ts scales its reconnect backoff by it. */
  readonly connectRetryCounter: number;
  /** Set from BGPOpen on, cleared in Idle. */
  readonly peerOpen?: OpenMessage | undefined;
  readonly negotiated?: NegotiatedSession | undefined;
}

/** A received error the codec turned into an event: wire/errors.ts BgpError fits this shape. */
export interface ReceivedError extends NotificationSpec {
  /** RFC 7606 action; only 'session-reset' (the default) ends the session. */
  readonly action?: ErrorAction | undefined;
  readonly message?: string | undefined;
}

/** RFC 4271 §8.1 events (numbers in comments). */
export type FsmEvent =
  | { readonly type: 'ManualStart' } // 1
  /** 2; `subcode` (default 2, Administrative Shutdown) and `data` (RFC 9003 shutdown communication) for the Cease. */
  | { readonly type: 'ManualStop'; readonly subcode?: number | undefined; readonly data?: Uint8Array | undefined } // 2
  | { readonly type: 'AutomaticStart' } // 3
  | { readonly type: 'ManualStart_with_PassiveTcpEstablishment' } // 4
  | { readonly type: 'AutomaticStart_with_PassiveTcpEstablishment' } // 5
  | { readonly type: 'AutomaticStop'; readonly subcode?: number | undefined; readonly data?: Uint8Array | undefined } // 8 (Cease subcode, RFC 4486)
  | { readonly type: 'ConnectRetryTimer_Expires' } // 9
  | { readonly type: 'HoldTimer_Expires' } // 10
  | { readonly type: 'KeepaliveTimer_Expires' } // 11
  | { readonly type: 'Tcp_CR_Acked' } // 16: our outgoing connection is up
  | { readonly type: 'TcpConnectionConfirmed' } // 17: we accepted the peer's connection
  | { readonly type: 'TcpConnectionFails'; readonly message?: string | undefined } // 18
  | { readonly type: 'BGPOpen'; readonly open: OpenMessage } // 19
  | { readonly type: 'BGPHeaderErr'; readonly error: ReceivedError } // 21
  | { readonly type: 'BGPOpenMsgErr'; readonly error: ReceivedError } // 22
  | { readonly type: 'OpenCollisionDump' } // 23
  | { readonly type: 'NotifMsgVerErr'; readonly notification: NotificationMessage } // 24
  | { readonly type: 'NotifMsg'; readonly notification: NotificationMessage } // 25
  | { readonly type: 'KeepAliveMsg' } // 26
  /** 27: the decoded UPDATE, or the raw message bytes when peer.ts has no UPDATE decoder wired in. */
  | { readonly type: 'UpdateMsg'; readonly update: UpdateMessage | Uint8Array } // 27
  | { readonly type: 'UpdateMsgErr'; readonly error: ReceivedError } // 28
  | { readonly type: 'RouteRefreshMsg'; readonly refresh: RouteRefreshMessage }; // RFC 2918, not in §8.1

export type FsmEventType = FsmEvent['type'];

/** Why a session left the Established/OpenSent/OpenConfirm/Connect/Active state for Idle. */
export interface DownReason {
  readonly kind:
    | 'manual-stop'
    | 'automatic-stop'
    | 'hold-timer-expired'
    | 'tcp-failed'
    | 'notification-received'
    | 'open-error'
    | 'header-error'
    | 'update-error'
    | 'fsm-error'
    | 'collision'
    | 'unexpected-event';
  /** The NOTIFICATION sent or received, when there was one. */
  readonly code?: number | undefined;
  readonly subcode?: number | undefined;
  readonly sent?: boolean | undefined;
  readonly event: FsmEventType;
  /** RFC 4724 §4.2: the connection died without a NOTIFICATION while GR was negotiated: keep routes as stale. */
  readonly retainRoutes: boolean;
  readonly wasEstablished: boolean;
}

export type FsmAction =
  | { readonly type: 'connect' }
  | { readonly type: 'close-connection' }
  | { readonly type: 'send-open'; readonly open: OpenMessage }
  | { readonly type: 'send-keepalive' }
  | { readonly type: 'send-notification'; readonly code: number; readonly subcode: number; readonly data: Uint8Array }
  | { readonly type: 'start-timer'; readonly timer: TimerName; readonly seconds: number }
  | { readonly type: 'stop-timer'; readonly timer: TimerName }
  | { readonly type: 'established'; readonly session: NegotiatedSession }
  | { readonly type: 'session-down'; readonly reason: DownReason }
  | { readonly type: 'deliver-update'; readonly update: UpdateMessage | Uint8Array }
  | { readonly type: 'deliver-route-refresh'; readonly refresh: RouteRefreshMessage }
  /** An UPDATE error RFC 7606 lets the session survive (the codec should have recorded it instead). */
  | { readonly type: 'update-error-tolerated'; readonly error: ReceivedError };

export interface StepResult {
  readonly state: FsmState;
  readonly actions: FsmAction[];
}

/** A fresh FSM in Idle. */
export function initialState(config: SessionConfig): FsmState {
  return { name: 'Idle', config, connectRetryCounter: 0 };
}

const EMPTY = new Uint8Array(0);
const STOP_ALL: FsmAction[] = [
  { type: 'stop-timer', timer: 'connect-retry' },
  { type: 'stop-timer', timer: 'hold' },
  { type: 'stop-timer', timer: 'keepalive' },
];

const notification = (code: number, subcode: number, data: Uint8Array = EMPTY): FsmAction => ({
  type: 'send-notification',
  code,
  subcode,
  data,
});

/** RFC 6608 subcode for an unexpected event in this state. */
function fsmSubcode(name: FsmStateName): number {
  if (name === 'OpenSent') return FsmSubcode.UnexpectedInOpenSent;
  if (name === 'OpenConfirm') return FsmSubcode.UnexpectedInOpenConfirm;
  if (name === 'Established') return FsmSubcode.UnexpectedInEstablished;
  return FsmSubcode.Unspecified;
}

/**
 * The common way to Idle: optionally send a NOTIFICATION, stop every timer ("ConnectRetryTimer to zero",
 * "releases all BGP resources"), drop the TCP connection, adjust ConnectRetryCounter and report why.
 */
function toIdle(
  s: FsmState,
  event: FsmEventType,
  kind: DownReason['kind'],
  opts: { send?: NotificationSpec; received?: NotificationSpec; resetCounter?: boolean; noIncrement?: boolean } = {},
): StepResult {
  const actions: FsmAction[] = [];
  if (opts.send) actions.push(notification(opts.send.code, opts.send.subcode, opts.send.data));
  actions.push(...STOP_ALL, { type: 'close-connection' });
  const n = opts.send ?? opts.received;
  const wasEstablished = s.name === 'Established';
  const gr = s.negotiated?.gracefulRestart;
  actions.push({
    type: 'session-down',
    reason: {
      kind,
      code: n?.code,
      subcode: n?.subcode,
      sent: n === undefined ? undefined : opts.send !== undefined,
      event,
      retainRoutes: wasEstablished && gr !== undefined && n === undefined,
      wasEstablished,
    },
  });
  const connectRetryCounter = opts.resetCounter
    ? 0
    : opts.noIncrement
      ? s.connectRetryCounter
      : s.connectRetryCounter + 1;
  return {
    state: { name: 'Idle', config: s.config, connectRetryCounter },
    actions,
  };
}

const stay = (s: FsmState, actions: FsmAction[] = []): StepResult => ({ state: s, actions });
const go = (s: FsmState, name: FsmStateName, actions: FsmAction[], extra: Partial<FsmState> = {}): StepResult => ({
  state: { ...s, ...extra, name },
  actions,
});

const cease = (subcode: number, data: Uint8Array = EMPTY): NotificationSpec => ({
  code: ErrorCode.Cease,
  subcode,
  data,
});
const HOLD_EXPIRED: NotificationSpec = { code: ErrorCode.HoldTimerExpired, subcode: 0, data: EMPTY };

/** Sending OPEN after the TCP connection is up (§8.2.2 Connect/Active, Events 16/17 without DelayOpen). */
function sendOpen(s: FsmState): StepResult {
  return go(s, 'OpenSent', [
    { type: 'stop-timer', timer: 'connect-retry' },
    { type: 'send-open', open: buildOpen(s.config) },
    // §8.2.2: "sets the HoldTimer to a large value"
    { type: 'start-timer', timer: 'hold', seconds: OPEN_SENT_HOLD_TIME_SEC },
  ]);
}

function isStart(t: FsmEventType): boolean {
  return (
    t === 'ManualStart' ||
    t === 'AutomaticStart' ||
    t === 'ManualStart_with_PassiveTcpEstablishment' ||
    t === 'AutomaticStart_with_PassiveTcpEstablishment'
  );
}

function stepIdle(s: FsmState, e: FsmEvent): StepResult {
  switch (e.type) {
    case 'ManualStart':
    case 'AutomaticStart':
      // Deviation: a passive config never dials, whichever start event arrives.
      if (s.config.passive) return stepIdle(s, { type: 'ManualStart_with_PassiveTcpEstablishment' });
      return go(
        s,
        'Connect',
        [{ type: 'start-timer', timer: 'connect-retry', seconds: s.config.connectRetrySec }, { type: 'connect' }],
        { connectRetryCounter: 0 },
      );
    case 'ManualStart_with_PassiveTcpEstablishment':
    case 'AutomaticStart_with_PassiveTcpEstablishment':
      return go(s, 'Active', [{ type: 'start-timer', timer: 'connect-retry', seconds: s.config.connectRetrySec }], {
        connectRetryCounter: 0,
      });
    default:
      // §8.2.2 Idle: every other event is ignored.
      return stay(s);
  }
}

function stepConnectOrActive(s: FsmState, e: FsmEvent): StepResult {
  if (isStart(e.type)) return stay(s);
  switch (e.type) {
    case 'ManualStop':
      return toIdle(s, e.type, 'manual-stop', { resetCounter: true });
    case 'ConnectRetryTimer_Expires': {
      const restart: FsmAction = { type: 'start-timer', timer: 'connect-retry', seconds: s.config.connectRetrySec };
      // Deviation: a passive peer never dials; it keeps waiting in Active.
      if (s.config.passive) return go(s, 'Active', [restart]);
      // Connect: drop the attempt, retry. Active: dial (→ Connect).
      return go(s, 'Connect', [
        ...(s.name === 'Connect' ? [{ type: 'close-connection' } as const] : []),
        restart,
        { type: 'connect' },
      ]);
    }
    case 'Tcp_CR_Acked':
    case 'TcpConnectionConfirmed':
      return sendOpen(s);
    case 'TcpConnectionFails':
      // Connect (no DelayOpen) → Idle; Active → Idle with the counter incremented.
      return toIdle(s, e.type, 'tcp-failed', { noIncrement: s.name === 'Connect' });
    case 'NotifMsgVerErr':
      return toIdle(s, e.type, 'notification-received', { received: e.notification });
    case 'NotifMsg':
      return toIdle(s, e.type, 'notification-received', { received: e.notification });
    case 'BGPHeaderErr':
      return toIdle(s, e.type, 'header-error');
    case 'BGPOpenMsgErr':
      return toIdle(s, e.type, 'open-error');
    default:
      // Events 8, 10, 11, 13, 19, 23, 25-28: drop the connection, counter + 1, Idle.
      return toIdle(s, e.type, e.type === 'AutomaticStop' ? 'automatic-stop' : 'unexpected-event');
  }
}

/** Shared by OpenSent, OpenConfirm and Established: the events that end the session the same way in all three. */
function stepCommonEnd(s: FsmState, e: FsmEvent): StepResult | undefined {
  switch (e.type) {
    case 'ManualStop':
      return toIdle(s, e.type, 'manual-stop', {
        send: cease(e.subcode ?? CeaseSubcode.AdministrativeShutdown, e.data),
        resetCounter: true,
      });
    case 'AutomaticStop':
      return toIdle(s, e.type, 'automatic-stop', {
        send: cease(e.subcode ?? CeaseSubcode.AdministrativeReset, e.data),
      });
    case 'HoldTimer_Expires':
      return toIdle(s, e.type, 'hold-timer-expired', { send: HOLD_EXPIRED });
    case 'OpenCollisionDump':
      // RFC 4486 subcode 7
      return toIdle(s, e.type, 'collision', { send: cease(CeaseSubcode.ConnectionCollisionResolution) });
    case 'NotifMsgVerErr':
      return toIdle(s, e.type, 'notification-received', { received: e.notification, noIncrement: true });
    case 'BGPHeaderErr':
      // §6.1: the header error's own NOTIFICATION (Deviation in Established, where §8.2.2 says FSM error).
      return toIdle(s, e.type, 'header-error', { send: e.error });
    case 'BGPOpenMsgErr':
      return toIdle(s, e.type, 'open-error', { send: e.error });
    case 'NotifMsg':
      // Deviation in OpenSent: §8.2.2 lists Event 25 under "any other event" (send FSM error); answering a
      // NOTIFICATION with one helps nobody, and OpenConfirm/Established just close.
      return toIdle(s, e.type, 'notification-received', { received: e.notification });
    default:
      return undefined;
  }
}

function fsmError(s: FsmState, e: FsmEvent): StepResult {
  return toIdle(s, e.type, 'fsm-error', { send: { code: ErrorCode.Fsm, subcode: fsmSubcode(s.name), data: EMPTY } });
}

function stepOpenSent(s: FsmState, e: FsmEvent): StepResult {
  if (isStart(e.type)) return stay(s);
  // §8.2.2: a second connection is tracked by collision processing (peer.ts), not by this FSM.
  if (e.type === 'Tcp_CR_Acked' || e.type === 'TcpConnectionConfirmed') return stay(s);
  if (e.type === 'TcpConnectionFails') {
    // §8.2.2 OpenSent Event 18: close, restart ConnectRetryTimer, continue to listen → Active.
    return go(
      s,
      'Active',
      [
        { type: 'stop-timer', timer: 'hold' },
        { type: 'close-connection' },
        { type: 'start-timer', timer: 'connect-retry', seconds: s.config.connectRetrySec },
      ],
      { peerOpen: undefined },
    );
  }
  if (e.type === 'BGPOpen') {
    const err = checkOpen(s.config, e.open);
    if (err) return toIdle(s, e.type, 'open-error', { send: err });
    const session = negotiate(buildOpen(s.config), e.open, {
      keepaliveSec: s.config.keepaliveSec,
      ebgpRequiresPolicy: s.config.ebgpRequiresPolicy,
    });
    const actions: FsmAction[] = [{ type: 'stop-timer', timer: 'connect-retry' }, { type: 'send-keepalive' }];
    if (session.holdTimeSec > 0) {
      actions.push(
        { type: 'start-timer', timer: 'keepalive', seconds: session.keepaliveSec },
        { type: 'start-timer', timer: 'hold', seconds: session.holdTimeSec },
      );
    } else {
      // §4.4 / §8.2.2: a negotiated hold time of zero means neither timer runs.
      actions.push({ type: 'stop-timer', timer: 'hold' }, { type: 'stop-timer', timer: 'keepalive' });
    }
    return go(s, 'OpenConfirm', actions, { peerOpen: e.open, negotiated: session });
  }
  return stepCommonEnd(s, e) ?? fsmError(s, e);
}

function stepOpenConfirm(s: FsmState, e: FsmEvent): StepResult {
  if (isStart(e.type)) return stay(s);
  if (e.type === 'Tcp_CR_Acked' || e.type === 'TcpConnectionConfirmed') return stay(s);
  const n = s.negotiated;
  switch (e.type) {
    case 'KeepaliveTimer_Expires':
      return stay(s, [
        { type: 'send-keepalive' },
        ...(n && n.keepaliveSec > 0
          ? [{ type: 'start-timer', timer: 'keepalive', seconds: n.keepaliveSec } as const]
          : []),
      ]);
    case 'TcpConnectionFails':
      return toIdle(s, e.type, 'tcp-failed');
    case 'KeepAliveMsg': {
      if (!n) return fsmError(s, e); // unreachable: OpenConfirm is only entered with a negotiated session
      const actions: FsmAction[] = [];
      if (n.holdTimeSec > 0) actions.push({ type: 'start-timer', timer: 'hold', seconds: n.holdTimeSec });
      actions.push({ type: 'established', session: n });
      return go(s, 'Established', actions);
    }
    default:
      // Event 19 on this connection is a second OPEN: an FSM error (collisions arrive as Event 23).
      return stepCommonEnd(s, e) ?? fsmError(s, e);
  }
}

function stepEstablished(s: FsmState, e: FsmEvent): StepResult {
  if (isStart(e.type)) return stay(s);
  if (e.type === 'Tcp_CR_Acked' || e.type === 'TcpConnectionConfirmed') return stay(s);
  const n = s.negotiated;
  const restartHold: FsmAction[] =
    n && n.holdTimeSec > 0 ? [{ type: 'start-timer', timer: 'hold', seconds: n.holdTimeSec }] : [];
  switch (e.type) {
    case 'KeepaliveTimer_Expires':
      return stay(s, [
        { type: 'send-keepalive' },
        ...(n && n.keepaliveSec > 0
          ? [{ type: 'start-timer', timer: 'keepalive', seconds: n.keepaliveSec } as const]
          : []),
      ]);
    case 'TcpConnectionFails':
      return toIdle(s, e.type, 'tcp-failed');
    case 'KeepAliveMsg':
      return stay(s, restartHold);
    case 'UpdateMsg':
      return stay(s, [...restartHold, { type: 'deliver-update', update: e.update }]);
    case 'RouteRefreshMsg':
      return stay(s, [...restartHold, { type: 'deliver-route-refresh', refresh: e.refresh }]);
    case 'UpdateMsgErr': {
      // RFC 7606 §2: only session-reset ends the session. 'afisafi-disable' resets too: we do not implement
      // per-family disable (RFC 4760 §7), and a reset is the conservative reading.
      const action = e.error.action ?? 'session-reset';
      if (action === 'treat-as-withdraw' || action === 'attribute-discard')
        return stay(s, [...restartHold, { type: 'update-error-tolerated', error: e.error }]);
      return toIdle(s, e.type, 'update-error', { send: e.error });
    }
    default:
      return stepCommonEnd(s, e) ?? fsmError(s, e);
  }
}

/**
 * Advances the FSM by one event. Pure and total: never throws, every event is handled in every state.
 *
 * @example
 * let s = initialState(config);
 * ({ state: s } = step(s, { type: 'ManualStart' })); // → Connect, actions: start connect-retry timer, connect
 */
export function step(state: FsmState, event: FsmEvent): StepResult {
  switch (state.name) {
    case 'Idle':
      return stepIdle(state, event);
    case 'Connect':
    case 'Active':
      return stepConnectOrActive(state, event);
    case 'OpenSent':
      return stepOpenSent(state, event);
    case 'OpenConfirm':
      return stepOpenConfirm(state, event);
    case 'Established':
      return stepEstablished(state, event);
  }
}
