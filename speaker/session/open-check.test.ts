import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { AS_TRANS, BgpRole } from '../wire/types.js';
import { buildOpen, IPV4_UNICAST, IPV6_UNICAST } from './config.js';
import { negotiate } from './negotiate.js';
import { checkOpen } from './open-check.js';
import { peerOpen, testConfig } from './testing.js';

describe('checkOpen()', () => {
  const c = testConfig();
  const rows: [string, Parameters<typeof peerOpen>, [number, number, number[]] | undefined][] = [
    ['accepts a matching OPEN', [c], undefined],
    ['sends 2/1 with version 4 as data for version 3', [c, { version: 3 }], [2, 1, [0, 4]]],
    ['sends 2/2 for the wrong AS', [c, { myAs: 65009 }, { fourOctetAs: 65009 }], [2, 2, []]],
    ['uses the 4-octet AS capability over AS_TRANS', [testConfig({ peerAs: 4_200_000_000 }), {}, {}], undefined],
    ['sends 2/2 when the 2-octet field disagrees with the capability', [c, { myAs: 65002 }], [2, 2, []]],
    ['sends 2/3 for a zero BGP identifier', [c, { bgpId: 0 }], [2, 3, []]],
    ['sends 2/6 for hold time 1', [c, { holdTimeSec: 1 }], [2, 6, []]],
    ['sends 2/6 for hold time 2', [c, { holdTimeSec: 2 }], [2, 6, []]],
    ['accepts hold time 0', [c, { holdTimeSec: 0 }], undefined],
    ['accepts hold time 3', [c, { holdTimeSec: 3 }], undefined],
    [
      'sends 2/7 naming the missing required family',
      [testConfig({ requiredFamilies: [IPV6_UNICAST] }), {}, { multiprotocol: [IPV4_UNICAST] }],
      [2, 7, [1, 4, 0, 2, 0, 1]],
    ],
    [
      'treats no Multiprotocol capability as IPv4 unicast',
      [testConfig({ requiredFamilies: [IPV4_UNICAST] }), {}, { multiprotocol: [] }],
      undefined,
    ],
    [
      'sends 2/11 for a role mismatch (RFC 9234)',
      [testConfig({ role: BgpRole.Customer }), {}, { role: BgpRole.Customer }],
      [2, 11, []],
    ],
    [
      'accepts Customer against Provider',
      [testConfig({ role: BgpRole.Customer }), {}, { role: BgpRole.Provider }],
      undefined,
    ],
    [
      'sends 2/11 in strict mode when the peer sends no role',
      [testConfig({ role: BgpRole.Peer, strictRole: true }), {}, { role: undefined }],
      [2, 11, []],
    ],
  ];
  for (const [what, args, want] of rows) {
    it(`\`checkOpen()\` ${what}`, () => {
      const cfg = args[0];
      const open = peerOpen(...args);
      const got = checkOpen(cfg, open);
      if (want === undefined) assert.equal(got, undefined);
      else assert.deepEqual(got && [got.code, got.subcode, [...got.data]], want);
    });
  }
  it('`checkOpen()` sends 2/3 when an iBGP peer uses our BGP identifier', () => {
    const ibgp = testConfig({ peerAs: 65000 });
    assert.equal(checkOpen(ibgp, peerOpen(ibgp, { bgpId: ibgp.bgpId }))?.subcode, 3);
    assert.equal(checkOpen(c, peerOpen(c, { bgpId: c.bgpId })), undefined, 'eBGP may share an id (RFC 6286)');
  });
  it('`buildOpen()` puts AS_TRANS in the 2-octet field for a 4-octet AS', () => {
    const o = buildOpen(testConfig({ localAs: 4_200_000_000 }));
    assert.equal(o.myAs, AS_TRANS);
    assert.equal(o.capabilities.fourOctetAs, 4_200_000_000);
  });
});

describe('negotiate()', () => {
  const c = testConfig({
    addPath: [
      { ...IPV4_UNICAST, mode: 'both' },
      { ...IPV6_UNICAST, mode: 'send' },
    ],
    gracefulRestart: { restartTimeSec: 120, restarting: false, forwardingPreserved: [IPV4_UNICAST] },
    extendedMessage: true,
  });
  it('`negotiate()` takes the smaller hold time and a third of it as keepalive', () => {
    const n = negotiate(buildOpen(c), peerOpen(c, { holdTimeSec: 30 }));
    assert.equal(n.holdTimeSec, 30);
    assert.equal(n.keepaliveSec, 10);
  });
  it('`negotiate()` never uses a configured keepalive above hold / 3', () => {
    assert.equal(negotiate(buildOpen(c), peerOpen(c, { holdTimeSec: 9 }), { keepaliveSec: 60 }).keepaliveSec, 3);
    assert.equal(negotiate(buildOpen(c), peerOpen(c), { keepaliveSec: 5 }).keepaliveSec, 5);
  });
  it('`negotiate()` turns keepalives off when the hold time is 0', () => {
    const n = negotiate(buildOpen(c), peerOpen(c, { holdTimeSec: 0 }));
    assert.deepEqual([n.holdTimeSec, n.keepaliveSec], [0, 0]);
  });
  it('`negotiate()` intersects families and implies IPv4 unicast for a side without Multiprotocol', () => {
    assert.deepEqual(negotiate(buildOpen(c), peerOpen(c, {}, { multiprotocol: [IPV6_UNICAST] })).families, [
      IPV6_UNICAST,
    ]);
    assert.deepEqual(negotiate(buildOpen(c), peerOpen(c, {}, { multiprotocol: [] })).families, [IPV4_UNICAST]);
  });
  it('`negotiate()` sets ADD-PATH directions per RFC 7911 §4', () => {
    const n = negotiate(
      buildOpen(c),
      peerOpen(
        c,
        {},
        {
          addPath: [
            { ...IPV4_UNICAST, mode: 'receive' },
            { ...IPV6_UNICAST, mode: 'send' },
          ],
        },
      ),
    );
    assert.deepEqual(n.addPath, [{ ...IPV4_UNICAST, send: true, receive: false }]);
  });
  it('`negotiate()` reports the peer restart time, its R bit and forwarding-preserved families', () => {
    const n = negotiate(
      buildOpen(c),
      peerOpen(
        c,
        {},
        {
          gracefulRestart: {
            restarting: true,
            notification: false,
            restartTimeSec: 77,
            afiSafis: [
              { ...IPV4_UNICAST, forwardingPreserved: true },
              { ...IPV6_UNICAST, forwardingPreserved: false },
            ],
          },
        },
      ),
    );
    assert.equal(n.gracefulRestart?.peerRestartTimeSec, 77);
    assert.equal(n.gracefulRestart?.peerRestarted, true);
    assert.deepEqual(n.gracefulRestart?.forwardingPreserved, [IPV4_UNICAST]);
    assert.equal(negotiate(buildOpen(testConfig()), peerOpen(c)).gracefulRestart, undefined);
  });
  it('`negotiate()` requires an explicit policy for eBGP unless configured otherwise (RFC 8212)', () => {
    assert.equal(negotiate(buildOpen(c), peerOpen(c)).requireExplicitPolicy, true);
    assert.equal(negotiate(buildOpen(c), peerOpen(c), { ebgpRequiresPolicy: false }).requireExplicitPolicy, false);
    const ibgp = testConfig({ peerAs: 65000 });
    const n = negotiate(buildOpen(ibgp), peerOpen(ibgp));
    assert.deepEqual([n.ibgp, n.requireExplicitPolicy], [true, false]);
  });
  it('`negotiate()` agrees on extended message, 4-octet AS and route refresh only when both sent them', () => {
    const n = negotiate(buildOpen(c), peerOpen(c, {}, { extendedMessage: false, routeRefresh: true }));
    assert.deepEqual([n.extendedMessage, n.fourOctetAs, n.routeRefresh], [false, true, true]);
  });
});

describe('negotiate() properties', () => {
  const fam = fc.constantFrom(IPV4_UNICAST, IPV6_UNICAST);
  const mode = fc.constantFrom('send' as const, 'receive' as const, 'both' as const);
  const side = fc.record({
    hold: fc.constantFrom(0, 3, 9, 90, 240),
    families: fc.uniqueArray(fam, { maxLength: 2 }),
    addPath: fc.uniqueArray(fc.record({ f: fam, mode }), { maxLength: 2, selector: (a) => a.f.afi }),
    em: fc.boolean(),
  });
  it('`negotiate()` is symmetric: what one side sends the other receives, and both agree on the rest', () => {
    fc.assert(
      fc.property(side, side, (a, b) => {
        const cfg = (x: typeof a, local: number, peer: number) =>
          testConfig({
            localAs: local,
            peerAs: peer,
            holdTimeSec: x.hold,
            families: x.families,
            addPath: x.addPath.map((p) => ({ ...p.f, mode: p.mode })),
            extendedMessage: x.em,
          });
        const oa = buildOpen(cfg(a, 65000, 65001));
        const ob = buildOpen(cfg(b, 65001, 65000));
        const ab = negotiate(oa, ob);
        const ba = negotiate(ob, oa);
        assert.equal(ab.holdTimeSec, ba.holdTimeSec);
        assert.equal(ab.keepaliveSec, ba.keepaliveSec);
        assert.ok(ab.holdTimeSec === 0 ? ab.keepaliveSec === 0 : ab.keepaliveSec * 3 <= ab.holdTimeSec);
        assert.deepEqual(new Set(ab.families.map((f) => f.afi)), new Set(ba.families.map((f) => f.afi)));
        assert.equal(ab.extendedMessage, ba.extendedMessage);
        for (const x of ab.addPath) {
          const y = ba.addPath.find((p) => p.afi === x.afi && p.safi === x.safi);
          assert.ok(y);
          assert.deepEqual([x.send, x.receive], [y.receive, y.send]);
        }
        assert.equal(ab.addPath.length, ba.addPath.length);
      }),
      { numRuns: 500 },
    );
  });
});
