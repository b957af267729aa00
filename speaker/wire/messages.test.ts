import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { BgpError, CeaseSubcode, ErrorCode, errorText, RouteRefreshSubcode, UpdateSubcode } from './errors.js';
import {
  decodeNotification,
  decodeRouteRefresh,
  encodeKeepalive,
  encodeNotification,
  encodeRouteRefresh,
  shutdownCommunication,
  shutdownData,
} from './messages.js';
import { MessageType } from './types.js';

describe('NOTIFICATION', () => {
  it('decode∘encode is the identity for random NOTIFICATIONs', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 255 }),
        fc.uint8Array({ maxLength: 200 }),
        (code, subcode, data) => {
          const wire = encodeNotification({ code, subcode, data });
          assert.deepEqual(decodeNotification(wire.subarray(19)), {
            type: MessageType.Notification,
            code,
            subcode,
            data,
          });
        },
      ),
    );
  });

  it('`encodeNotification()` cuts Data to fit 4096 bytes', () => {
    assert.equal(encodeNotification({ code: 3, subcode: 1, data: new Uint8Array(10_000) }).length, 4096);
  });

  it('`BgpError.toNotification()` carries code, subcode and data', () => {
    const e = new BgpError(ErrorCode.Update, UpdateSubcode.MalformedAsPath, 'x', { data: Uint8Array.of(1, 2) });
    const n = decodeNotification(e.toNotification().subarray(19));
    assert.deepEqual([n.code, n.subcode, [...n.data]], [3, 11, [1, 2]]);
    assert.match(e.message, /Malformed AS_PATH/);
  });

  it('`errorText()` names known pairs and falls back to numbers', () => {
    assert.equal(errorText(2, 2), 'Bad peer AS');
    assert.equal(errorText(6, 99), 'Cease, subcode 99');
    assert.equal(errorText(42, 1), 'code 42, subcode 1');
  });

  it('`shutdownCommunication()` reads the RFC 9003 message and ignores malformed ones', () => {
    const data = shutdownData('maintenance, back at 23:00 ✓');
    assert.equal(
      shutdownCommunication({ type: 3, code: ErrorCode.Cease, subcode: CeaseSubcode.AdministrativeShutdown, data }),
      'maintenance, back at 23:00 ✓',
    );
    assert.equal(
      shutdownCommunication({
        type: 3,
        code: ErrorCode.Cease,
        subcode: CeaseSubcode.AdministrativeReset,
        data: Uint8Array.of(5, 0x41),
      }),
      undefined,
    );
    assert.equal(
      shutdownCommunication({
        type: 3,
        code: ErrorCode.Cease,
        subcode: CeaseSubcode.AdministrativeReset,
        data: Uint8Array.of(1, 0xff),
      }),
      undefined,
    );
    assert.equal(shutdownData('é'.repeat(200)).length, 1 + 254);
  });
});

describe('KEEPALIVE and ROUTE-REFRESH', () => {
  it('`encodeKeepalive()` is a bare 19-byte header, fresh on each call', () => {
    const a = encodeKeepalive();
    assert.equal(a.toString('hex'), `${'ff'.repeat(16)}001304`);
    assert.notEqual(a, encodeKeepalive());
  });

  it('decode∘encode is the identity for random ROUTE-REFRESH messages (RFC 7313 subtypes)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 255 }),
        (afi, safi, subtype) => {
          assert.deepEqual(decodeRouteRefresh(encodeRouteRefresh({ afi, safi, subtype }).subarray(19)), {
            type: MessageType.RouteRefresh,
            afi,
            safi,
            subtype,
          });
        },
      ),
    );
  });

  it('`decodeRouteRefresh()` answers a bad length with ROUTE-REFRESH Invalid Message Length (RFC 7313 §5)', () => {
    assert.throws(
      () => decodeRouteRefresh(Buffer.alloc(5)),
      (e: unknown) =>
        e instanceof BgpError &&
        e.code === ErrorCode.RouteRefresh &&
        e.subcode === RouteRefreshSubcode.InvalidMessageLength,
    );
  });
});
