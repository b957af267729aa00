import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MessageType, type NotificationMessage, type UpdateMessage } from '../wire/types.js';
import { buildOpen } from './config.js';
import {
  FSM_STATES,
  type FsmAction,
  type FsmEvent,
  type FsmState,
  type FsmStateName,
  initialState,
  step,
} from './fsm.js';
import { negotiate } from './negotiate.js';
import { peerOpen, testConfig } from './testing.js';

const config = testConfig();
const open = peerOpen(config, { holdTimeSec: 30 });
const negotiated = negotiate(buildOpen(config), open);
const notifMsg: NotificationMessage = { type: MessageType.Notification, code: 6, subcode: 2, data: new Uint8Array(0) };
const update: UpdateMessage = {
  type: MessageType.Update,
  withdrawn: [],
  reachable: [],
  treatAsWithdraw: false,
  discarded: [],
};

function at(name: FsmStateName, counter = 3): FsmState {
  const s: FsmState = { name, config, connectRetryCounter: counter };
  return name === 'OpenConfirm' || name === 'Established' ? { ...s, peerOpen: open, negotiated } : s;
}

/** Actions in a compact text form for the table. */
function show(a: FsmAction): string {
  switch (a.type) {
    case 'send-notification':
      return `notify ${a.code}/${a.subcode}`;
    case 'start-timer':
      return `start ${a.timer} ${a.seconds}`;
    case 'stop-timer':
      return `stop ${a.timer}`;
    case 'session-down':
      return `down ${a.reason.kind}`;
    default:
      return a.type;
  }
}
const STOP = ['stop connect-retry', 'stop hold', 'stop keepalive', 'close-connection'];
const idle = (kind: string, notify?: string): string[] => [
  ...(notify ? [`notify ${notify}`] : []),
  ...STOP,
  `down ${kind}`,
];

const E = {
  ManualStart: { type: 'ManualStart' },
  ManualStop: { type: 'ManualStop' },
  AutomaticStart: { type: 'AutomaticStart' },
  PassiveStart: { type: 'ManualStart_with_PassiveTcpEstablishment' },
  AutomaticStop: { type: 'AutomaticStop' },
  ConnectRetry: { type: 'ConnectRetryTimer_Expires' },
  Hold: { type: 'HoldTimer_Expires' },
  Keepalive: { type: 'KeepaliveTimer_Expires' },
  CrAcked: { type: 'Tcp_CR_Acked' },
  Confirmed: { type: 'TcpConnectionConfirmed' },
  Fails: { type: 'TcpConnectionFails' },
  Open: { type: 'BGPOpen', open },
  BadOpen: { type: 'BGPOpen', open: { ...open, holdTimeSec: 2 } },
  HeaderErr: { type: 'BGPHeaderErr', error: { code: 1, subcode: 2, data: new Uint8Array(0) } },
  OpenErr: { type: 'BGPOpenMsgErr', error: { code: 2, subcode: 4, data: new Uint8Array(0) } },
  Collision: { type: 'OpenCollisionDump' },
  NotifVerErr: { type: 'NotifMsgVerErr', notification: { ...notifMsg, code: 2, subcode: 1 } },
  Notif: { type: 'NotifMsg', notification: notifMsg },
  KeepAliveMsg: { type: 'KeepAliveMsg' },
  Update: { type: 'UpdateMsg', update },
  UpdateErr: { type: 'UpdateMsgErr', error: { code: 3, subcode: 1, data: new Uint8Array(0) } },
  UpdateErrWithdraw: {
    type: 'UpdateMsgErr',
    error: { code: 3, subcode: 5, data: new Uint8Array(0), action: 'treat-as-withdraw' },
  },
  Refresh: { type: 'RouteRefreshMsg', refresh: { type: MessageType.RouteRefresh, afi: 1, safi: 1, subtype: 0 } },
} satisfies Record<string, FsmEvent>;

type Row = [FsmStateName, keyof typeof E, FsmStateName, string[], number?];
// [state, event, next state, actions, ConnectRetryCounter after (from 3)]
const TABLE: Row[] = [
  // §8.2.2 Idle
  ['Idle', 'ManualStart', 'Connect', ['start connect-retry 5', 'connect'], 0],
  ['Idle', 'AutomaticStart', 'Connect', ['start connect-retry 5', 'connect'], 0],
  ['Idle', 'PassiveStart', 'Active', ['start connect-retry 5'], 0],
  ['Idle', 'ManualStop', 'Idle', [], 3],
  ['Idle', 'Open', 'Idle', [], 3],
  ['Idle', 'Fails', 'Idle', [], 3],
  // §8.2.2 Connect
  ['Connect', 'ManualStart', 'Connect', [], 3],
  ['Connect', 'ManualStop', 'Idle', idle('manual-stop'), 0],
  ['Connect', 'ConnectRetry', 'Connect', ['close-connection', 'start connect-retry 5', 'connect'], 3],
  ['Connect', 'CrAcked', 'OpenSent', ['stop connect-retry', 'send-open', 'start hold 240'], 3],
  ['Connect', 'Confirmed', 'OpenSent', ['stop connect-retry', 'send-open', 'start hold 240'], 3],
  ['Connect', 'Fails', 'Idle', idle('tcp-failed'), 3],
  ['Connect', 'HeaderErr', 'Idle', idle('header-error'), 4],
  ['Connect', 'NotifVerErr', 'Idle', idle('notification-received'), 4],
  ['Connect', 'Hold', 'Idle', idle('unexpected-event'), 4],
  ['Connect', 'Open', 'Idle', idle('unexpected-event'), 4],
  ['Connect', 'AutomaticStop', 'Idle', idle('automatic-stop'), 4],
  // §8.2.2 Active
  ['Active', 'PassiveStart', 'Active', [], 3],
  ['Active', 'ManualStop', 'Idle', idle('manual-stop'), 0],
  ['Active', 'ConnectRetry', 'Connect', ['start connect-retry 5', 'connect'], 3],
  ['Active', 'Confirmed', 'OpenSent', ['stop connect-retry', 'send-open', 'start hold 240'], 3],
  ['Active', 'CrAcked', 'OpenSent', ['stop connect-retry', 'send-open', 'start hold 240'], 3],
  ['Active', 'Fails', 'Idle', idle('tcp-failed'), 4],
  ['Active', 'OpenErr', 'Idle', idle('open-error'), 4],
  ['Active', 'Notif', 'Idle', idle('notification-received'), 4],
  ['Active', 'KeepAliveMsg', 'Idle', idle('unexpected-event'), 4],
  // §8.2.2 OpenSent
  ['OpenSent', 'ManualStart', 'OpenSent', [], 3],
  ['OpenSent', 'ManualStop', 'Idle', idle('manual-stop', '6/2'), 0],
  ['OpenSent', 'AutomaticStop', 'Idle', idle('automatic-stop', '6/4'), 4],
  ['OpenSent', 'Hold', 'Idle', idle('hold-timer-expired', '4/0'), 4],
  ['OpenSent', 'Confirmed', 'OpenSent', [], 3],
  ['OpenSent', 'Fails', 'Active', ['stop hold', 'close-connection', 'start connect-retry 5'], 3],
  [
    'OpenSent',
    'Open',
    'OpenConfirm',
    ['stop connect-retry', 'send-keepalive', 'start keepalive 10', 'start hold 30'],
    3,
  ],
  ['OpenSent', 'BadOpen', 'Idle', idle('open-error', '2/6'), 4],
  ['OpenSent', 'HeaderErr', 'Idle', idle('header-error', '1/2'), 4],
  ['OpenSent', 'OpenErr', 'Idle', idle('open-error', '2/4'), 4],
  ['OpenSent', 'Collision', 'Idle', idle('collision', '6/7'), 4],
  ['OpenSent', 'NotifVerErr', 'Idle', idle('notification-received'), 3],
  ['OpenSent', 'Notif', 'Idle', idle('notification-received'), 4],
  ['OpenSent', 'KeepAliveMsg', 'Idle', idle('fsm-error', '5/1'), 4],
  ['OpenSent', 'Update', 'Idle', idle('fsm-error', '5/1'), 4],
  ['OpenSent', 'ConnectRetry', 'Idle', idle('fsm-error', '5/1'), 4],
  ['OpenSent', 'Keepalive', 'Idle', idle('fsm-error', '5/1'), 4],
  // §8.2.2 OpenConfirm
  ['OpenConfirm', 'ManualStart', 'OpenConfirm', [], 3],
  ['OpenConfirm', 'ManualStop', 'Idle', idle('manual-stop', '6/2'), 0],
  ['OpenConfirm', 'AutomaticStop', 'Idle', idle('automatic-stop', '6/4'), 4],
  ['OpenConfirm', 'Hold', 'Idle', idle('hold-timer-expired', '4/0'), 4],
  ['OpenConfirm', 'Keepalive', 'OpenConfirm', ['send-keepalive', 'start keepalive 10'], 3],
  ['OpenConfirm', 'CrAcked', 'OpenConfirm', [], 3],
  ['OpenConfirm', 'Fails', 'Idle', idle('tcp-failed'), 4],
  ['OpenConfirm', 'Notif', 'Idle', idle('notification-received'), 4],
  ['OpenConfirm', 'NotifVerErr', 'Idle', idle('notification-received'), 3],
  ['OpenConfirm', 'HeaderErr', 'Idle', idle('header-error', '1/2'), 4],
  ['OpenConfirm', 'OpenErr', 'Idle', idle('open-error', '2/4'), 4],
  ['OpenConfirm', 'Collision', 'Idle', idle('collision', '6/7'), 4],
  ['OpenConfirm', 'KeepAliveMsg', 'Established', ['start hold 30', 'established'], 3],
  ['OpenConfirm', 'Open', 'Idle', idle('fsm-error', '5/2'), 4],
  ['OpenConfirm', 'Update', 'Idle', idle('fsm-error', '5/2'), 4],
  ['OpenConfirm', 'ConnectRetry', 'Idle', idle('fsm-error', '5/2'), 4],
  // §8.2.2 Established
  ['Established', 'ManualStart', 'Established', [], 3],
  ['Established', 'ManualStop', 'Idle', idle('manual-stop', '6/2'), 0],
  ['Established', 'AutomaticStop', 'Idle', idle('automatic-stop', '6/4'), 4],
  ['Established', 'Hold', 'Idle', idle('hold-timer-expired', '4/0'), 4],
  ['Established', 'Keepalive', 'Established', ['send-keepalive', 'start keepalive 10'], 3],
  ['Established', 'Confirmed', 'Established', [], 3],
  ['Established', 'Collision', 'Idle', idle('collision', '6/7'), 4],
  ['Established', 'Fails', 'Idle', idle('tcp-failed'), 4],
  ['Established', 'Notif', 'Idle', idle('notification-received'), 4],
  ['Established', 'NotifVerErr', 'Idle', idle('notification-received'), 3],
  ['Established', 'KeepAliveMsg', 'Established', ['start hold 30'], 3],
  ['Established', 'Update', 'Established', ['start hold 30', 'deliver-update'], 3],
  ['Established', 'Refresh', 'Established', ['start hold 30', 'deliver-route-refresh'], 3],
  ['Established', 'UpdateErr', 'Idle', idle('update-error', '3/1'), 4],
  ['Established', 'UpdateErrWithdraw', 'Established', ['start hold 30', 'update-error-tolerated'], 3],
  ['Established', 'HeaderErr', 'Idle', idle('header-error', '1/2'), 4],
  ['Established', 'Open', 'Idle', idle('fsm-error', '5/3'), 4],
  ['Established', 'ConnectRetry', 'Idle', idle('fsm-error', '5/3'), 4],
];

describe('step() — RFC 4271 §8.2.2 transition table', () => {
  for (const [from, ev, to, actions, counter] of TABLE) {
    it(`\`step()\` goes ${from} → ${to} on ${E[ev].type}${ev !== E[ev].type ? ` (${ev})` : ''} with [${actions.join(', ')}]`, () => {
      const r = step(at(from), E[ev]);
      assert.equal(r.state.name, to);
      assert.deepEqual(r.actions.map(show), actions);
      if (counter !== undefined) assert.equal(r.state.connectRetryCounter, counter);
    });
  }

  it('`step()` sends NOTIFICATION 4/0 and goes Idle when the hold timer expires in Established', () => {
    const r = step(at('Established'), E.Hold);
    assert.equal(r.state.name, 'Idle');
    assert.deepEqual(r.actions[0], { type: 'send-notification', code: 4, subcode: 0, data: new Uint8Array(0) });
  });

  it('`step()` sends the Cease subcode and shutdown communication given with ManualStop', () => {
    const data = Uint8Array.of(3, 0x62, 0x79, 0x65);
    const r = step(at('Established'), { type: 'ManualStop', subcode: 3, data });
    assert.deepEqual(r.actions[0], { type: 'send-notification', code: 6, subcode: 3, data });
  });

  it('`step()` starts no hold or keepalive timer when the negotiated hold time is 0', () => {
    const r = step(at('OpenSent'), { type: 'BGPOpen', open: { ...open, holdTimeSec: 0 } });
    assert.equal(r.state.name, 'OpenConfirm');
    assert.ok(!r.actions.some((a) => a.type === 'start-timer'));
    const e = step(r.state, E.KeepAliveMsg);
    assert.deepEqual(e.actions.map(show), ['established']);
    assert.deepEqual(step(e.state, E.KeepAliveMsg).actions, []);
  });

  it('`step()` keeps a passive session in Active when the connect-retry timer expires', () => {
    const passive = { ...at('Active'), config: testConfig({ passive: true }) };
    const r = step(passive, E.ConnectRetry);
    assert.equal(r.state.name, 'Active');
    assert.ok(!r.actions.some((a) => a.type === 'connect'));
    assert.equal(step(initialState(passive.config), E.ManualStart).state.name, 'Active');
  });

  it('`step()` marks routes to retain when a graceful-restart session loses TCP without a NOTIFICATION', () => {
    const gr = negotiate(
      buildOpen(testConfig({ gracefulRestart: { restartTimeSec: 90, restarting: false, forwardingPreserved: [] } })),
      peerOpen(
        config,
        {},
        { gracefulRestart: { restarting: false, notification: false, restartTimeSec: 60, afiSafis: [] } },
      ),
    );
    const s: FsmState = { ...at('Established'), negotiated: gr };
    const down = (ev: FsmEvent) => step(s, ev).actions.find((a) => a.type === 'session-down');
    assert.equal(down(E.Fails)?.type === 'session-down' && down(E.Fails)?.reason.retainRoutes, true);
    assert.equal(down(E.Hold)?.type === 'session-down' && down(E.Hold)?.reason.retainRoutes, false);
  });

  it('`step()` runs a whole session Idle → Established → Idle', () => {
    let s = initialState(config);
    const names: string[] = [];
    for (const ev of [E.ManualStart, E.CrAcked, E.Open, E.KeepAliveMsg, E.Update, E.ManualStop]) {
      s = step(s, ev).state;
      names.push(s.name);
    }
    assert.deepEqual(names, ['Connect', 'OpenSent', 'OpenConfirm', 'Established', 'Established', 'Idle']);
  });
});

describe('step() properties', () => {
  const eventArb = fc.constantFrom(...(Object.values(E) as FsmEvent[]));
  it('`step()` never throws, always returns a valid state, and enters Established only from OpenConfirm on KeepAliveMsg', () => {
    fc.assert(
      fc.property(fc.constantFrom(...FSM_STATES), fc.array(eventArb, { maxLength: 60 }), (startName, events) => {
        let s = at(startName);
        for (const ev of events) {
          const r = step(s, ev);
          assert.ok(FSM_STATES.includes(r.state.name));
          const entered = r.state.name === 'Established' && s.name !== 'Established';
          if (entered) {
            assert.equal(s.name, 'OpenConfirm');
            assert.equal(ev.type, 'KeepAliveMsg');
            assert.ok(r.actions.some((a) => a.type === 'established'));
          }
          if (r.state.name === 'Idle' && s.name !== 'Idle') {
            assert.ok(r.actions.some((a) => a.type === 'close-connection'));
            assert.equal(r.state.negotiated, undefined);
          }
          if (r.state.name === 'OpenConfirm' || r.state.name === 'Established') assert.ok(r.state.negotiated);
          assert.ok(r.state.connectRetryCounter >= 0);
          s = r.state;
        }
      }),
      { numRuns: 2000 },
    );
  });
});
