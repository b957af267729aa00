import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type CollisionInput, type CollisionVerdict, resolveCollision, survivingDirection } from './collision.js';
import type { FsmStateName } from './fsm.js';

type Row = [string, FsmStateName, 'outgoing' | 'incoming', number, number, CollisionVerdict, boolean?];
// [what, existing state, existing direction, local id, remote id, verdict, collisionDetectEstablished]
const ROWS: Row[] = [
  [
    'lower local id: the peer-initiated connection survives, existing outgoing closes',
    'OpenConfirm',
    'outgoing',
    1,
    2,
    'close-existing',
  ],
  [
    'lower local id: existing incoming survives, the new outgoing closes',
    'OpenConfirm',
    'incoming',
    1,
    2,
    'close-newer',
  ],
  ['higher local id: our connection survives, existing outgoing kept', 'OpenConfirm', 'outgoing', 2, 1, 'close-newer'],
  ['higher local id: existing incoming closes', 'OpenConfirm', 'incoming', 2, 1, 'close-existing'],
  ['OpenSent is examined too', 'OpenSent', 'outgoing', 1, 2, 'close-existing'],
  ['ids compare as unsigned 32-bit', 'OpenConfirm', 'outgoing', 0xffffffff, 1, 'close-newer'],
  ['no collision while the existing connection is still in Connect', 'Connect', 'outgoing', 1, 2, 'none'],
  ['no collision with an Active existing connection', 'Active', 'outgoing', 1, 2, 'none'],
  ['Established: the newer connection closes', 'Established', 'outgoing', 1, 2, 'close-newer'],
  [
    'Established with CollisionDetectEstablishedState: the rule applies',
    'Established',
    'outgoing',
    1,
    2,
    'close-existing',
    true,
  ],
];

describe('resolveCollision()', () => {
  for (const [what, state, dir, local, remote, verdict, cde] of ROWS) {
    it(`\`resolveCollision()\` returns ${verdict} when ${what}`, () => {
      const input: CollisionInput = {
        existing: { direction: dir, state },
        newer: { direction: dir === 'outgoing' ? 'incoming' : 'outgoing', state: 'OpenSent' },
        localBgpId: local,
        remoteBgpId: remote,
        localAs: 65000,
        remoteAs: 65000,
        collisionDetectEstablished: cde,
      };
      assert.equal(resolveCollision(input), verdict);
    });
  }
  it('`resolveCollision()` closes the newer of two connections in one direction', () => {
    assert.equal(
      resolveCollision({
        existing: { direction: 'incoming', state: 'OpenConfirm' },
        newer: { direction: 'incoming', state: 'OpenSent' },
        localBgpId: 1,
        remoteBgpId: 2,
        localAs: 1,
        remoteAs: 2,
      }),
      'close-newer',
    );
  });
  it('`survivingDirection()` makes both speakers keep the same connection', () => {
    const id = fc.integer({ min: 1, max: 0xffffffff });
    const as = fc.integer({ min: 1, max: 0xffffffff });
    fc.assert(
      fc.property(id, id, as, as, (l, r, la, ra) => {
        fc.pre(l !== r || la !== ra);
        // The connection we dialled is the one the peer accepted, and vice versa.
        assert.notEqual(survivingDirection(l, r, la, ra), survivingDirection(r, l, ra, la));
      }),
    );
  });
  it('`survivingDirection()` breaks equal BGP ids by the larger AS (RFC 6286 §2.3)', () => {
    assert.equal(survivingDirection(7, 7, 65001, 65000), 'outgoing');
    assert.equal(survivingDirection(7, 7, 65000, 65001), 'incoming');
  });
});
