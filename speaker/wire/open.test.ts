import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { BgpError, ErrorCode, OpenSubcode } from './errors.js';
import { decodeOpen, encodeOpen, NO_CAPABILITIES, peerAs, sizeOpen } from './open.js';
import { type Capabilities, CapabilityCode, type OpenMessage } from './types.js';

const afiSafi = fc.record({ afi: fc.integer({ min: 0, max: 0xffff }), safi: fc.integer({ min: 0, max: 255 }) });
const KNOWN_CODES = new Set<number>(Object.values(CapabilityCode));

export const capabilitiesArb: fc.Arbitrary<Capabilities> = fc.record({
  multiprotocol: fc.array(afiSafi, { maxLength: 4 }),
  routeRefresh: fc.boolean(),
  enhancedRouteRefresh: fc.boolean(),
  fourOctetAs: fc.option(fc.integer({ min: 0, max: 0xffffffff }), { nil: undefined }),
  gracefulRestart: fc.option(
    fc.record({
      restarting: fc.boolean(),
      notification: fc.boolean(),
      restartTimeSec: fc.integer({ min: 0, max: 4095 }),
      afiSafis: fc.array(
        fc.record({
          afi: fc.integer({ min: 0, max: 0xffff }),
          safi: fc.integer({ min: 0, max: 255 }),
          forwardingPreserved: fc.boolean(),
        }),
        {
          maxLength: 4,
        },
      ),
    }),
    { nil: undefined },
  ),
  addPath: fc.array(
    fc.record({
      afi: fc.integer({ min: 0, max: 0xffff }),
      safi: fc.integer({ min: 0, max: 255 }),
      mode: fc.constantFrom('receive' as const, 'send' as const, 'both' as const),
    }),
    { maxLength: 4 },
  ),
  extendedMessage: fc.boolean(),
  extendedNextHop: fc.array(
    fc.record({
      afi: fc.integer({ min: 0, max: 0xffff }),
      safi: fc.integer({ min: 0, max: 0xffff }),
      nextHopAfi: fc.integer({ min: 0, max: 0xffff }),
    }),
    { maxLength: 3 },
  ),
  role: fc.option(fc.constantFrom(0 as const, 1 as const, 2 as const, 3 as const, 4 as const), { nil: undefined }),
  unknown: fc.array(
    fc.record({
      code: fc.integer({ min: 0, max: 255 }).filter((c) => !KNOWN_CODES.has(c)),
      value: fc.uint8Array({ maxLength: 40 }),
    }),
    { maxLength: 8 },
  ),
});

export const openArb: fc.Arbitrary<OpenMessage> = fc.record({
  type: fc.constant(1 as const),
  version: fc.constant(4),
  myAs: fc.integer({ min: 0, max: 0xffff }),
  holdTimeSec: fc.oneof(fc.constant(0), fc.integer({ min: 3, max: 0xffff })),
  bgpId: fc.integer({ min: 1, max: 0xffffffff }),
  capabilities: capabilitiesArb,
});

function body(hex: string): Buffer {
  return Buffer.from(hex.replaceAll(' ', ''), 'hex');
}

function throwsOpen(b: Buffer, subcode: number): void {
  assert.throws(
    () => decodeOpen(b),
    (e: unknown) =>
      e instanceof BgpError && e.code === ErrorCode.Open && e.subcode === subcode && e.action === 'session-reset',
  );
}

describe('OPEN', () => {
  it('decode∘encode is the identity for random OPENs (RFC 9072 extended parameters when large)', () => {
    fc.assert(
      fc.property(openArb, (m) => {
        const wire = encodeOpen(m);
        assert.equal(wire.length, sizeOpen(m));
        // structuredClone: fast-check records have a null prototype.
        assert.deepEqual(decodeOpen(wire.subarray(19)), structuredClone(m));
      }),
      { numRuns: 300 },
    );
  });

  it('`encodeOpen()` switches to RFC 9072 extended optional parameters above 255 bytes', () => {
    const unknown = Array.from({ length: 30 }, (_, i) => ({ code: 200 + (i % 50), value: new Uint8Array(10) }));
    const m: OpenMessage = {
      type: 1,
      version: 4,
      myAs: 1,
      holdTimeSec: 90,
      bgpId: 1,
      capabilities: { ...NO_CAPABILITIES, unknown },
    };
    const wire = encodeOpen(m);
    assert.equal(wire[28], 255);
    assert.equal(wire[29], 255);
    assert.deepEqual(decodeOpen(wire.subarray(19)).capabilities.unknown.length, 30);
  });

  it('`decodeOpen()` rejects version 3 with Unsupported Version Number, data = version 4', () => {
    const b = body('03 fde9 005a 01020304 00');
    try {
      decodeOpen(b);
      assert.fail('no throw');
    } catch (e) {
      assert.ok(e instanceof BgpError);
      assert.equal(e.subcode, OpenSubcode.UnsupportedVersionNumber);
      assert.deepEqual([...e.data], [0, 4]);
    }
  });
  it('`decodeOpen()` rejects a hold time of 2 (RFC 4271 §6.2)', () =>
    throwsOpen(body('04 fde9 0002 01020304 00'), OpenSubcode.UnacceptableHoldTime));
  it('`decodeOpen()` rejects a zero BGP Identifier (RFC 6286)', () =>
    throwsOpen(body('04 fde9 005a 00000000 00'), OpenSubcode.BadBgpIdentifier));
  it('`decodeOpen()` rejects an optional parameter other than Capabilities', () =>
    throwsOpen(body('04 fde9 005a 01020304 03 01 01 00'), OpenSubcode.UnsupportedOptionalParameter));
  it('`decodeOpen()` rejects a parameter length that disagrees with the body', () =>
    throwsOpen(body('04 fde9 005a 01020304 05 02 02 0200'), 0));
  it('`decodeOpen()` rejects a malformed 4-octet AS capability', () =>
    throwsOpen(body('04 fde9 005a 01020304 05 02 03 410100'), 0));

  it('`decodeOpen()` keeps unknown capabilities and ignores unknown ADD-PATH modes', () => {
    const m = decodeOpen(body('04 fde9 005a 01020304 10 02 02 8000 02 0a 45 08 00020101 00010104'));
    assert.deepEqual(
      m.capabilities.unknown.map((u) => [u.code, u.value.length]),
      [[0x80, 0]],
    );
    assert.deepEqual(m.capabilities.addPath, [{ afi: 2, safi: 1, mode: 'receive' }]);
  });

  it('`decodeOpen()` answers two disagreeing Role capabilities with Role Mismatch (RFC 9234 §4.2)', () => {
    throwsOpen(body('04 fde9 005a 01020304 08 02 06 090103 090100'), OpenSubcode.RoleMismatch);
    assert.equal(decodeOpen(body('04 fde9 005a 01020304 08 02 06 090103 090103')).capabilities.role, 3);
  });

  it('`peerAs()` prefers the 4-octet AS capability (RFC 6793 §4.1)', () => {
    const m: OpenMessage = {
      type: 1,
      version: 4,
      myAs: 23456,
      holdTimeSec: 90,
      bgpId: 1,
      capabilities: { ...NO_CAPABILITIES, fourOctetAs: 4_200_000_000 },
    };
    assert.equal(peerAs(m), 4_200_000_000);
    assert.equal(peerAs({ ...m, myAs: 65001, capabilities: NO_CAPABILITIES }), 65001);
  });
});
