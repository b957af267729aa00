import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { BgpError, ErrorCode, HeaderSubcode } from './errors.js';
import { MessageFramer } from './framing.js';
import { encodeKeepalive, encodeNotification, encodeRouteRefresh } from './messages.js';
import { encodeOpen, NO_CAPABILITIES } from './open.js';
import { encodeEndOfRib } from './update.js';

function raw(type: number, len: number, fill = 0): Buffer {
  const b = Buffer.alloc(len, fill);
  b.fill(0xff, 0, 16);
  b.writeUInt16BE(len, 16);
  b[18] = type;
  return b;
}

const SAMPLE = [
  encodeOpen({ type: 1, version: 4, myAs: 65001, holdTimeSec: 90, bgpId: 1, capabilities: NO_CAPABILITIES }),
  encodeKeepalive(),
  encodeEndOfRib({ afi: 1, safi: 1 }),
  encodeRouteRefresh({ afi: 2, safi: 1, subtype: 1 }),
  encodeNotification({ code: 6, subcode: 2, data: Buffer.from('bye') }),
];

function expectHeaderError(fn: () => unknown, subcode: number): BgpError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof BgpError, `expected BgpError, got ${String(caught)}`);
  assert.equal(caught.code, ErrorCode.Header);
  assert.equal(caught.subcode, subcode);
  return caught;
}

describe('MessageFramer', () => {
  it('`pull()` returns views into the chunk when a message lies in one chunk', () => {
    const f = new MessageFramer();
    const chunk = Buffer.concat(SAMPLE);
    f.push(chunk);
    const out: Buffer[] = [];
    for (let m = f.pull(); m; m = f.pull()) out.push(m);
    assert.deepEqual(out, SAMPLE);
    assert.equal(out[1]?.buffer, chunk.buffer);
    assert.equal(f.buffered, 0);
  });

  it('`pull()` returns undefined until the whole message arrived', () => {
    const f = new MessageFramer();
    const ka = encodeKeepalive();
    f.push(ka.subarray(0, 10));
    assert.equal(f.pull(), undefined);
    f.push(ka.subarray(10, 18));
    assert.equal(f.pull(), undefined);
    f.push(ka.subarray(18));
    assert.deepEqual(f.pull(), ka);
  });

  it('any split of a byte stream yields the same messages', () => {
    const stream = Buffer.concat(SAMPLE);
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 30 }), (cuts) => {
        cuts.sort((a, b) => a - b);
        const f = new MessageFramer();
        const out: Buffer[] = [];
        let prev = 0;
        for (const c of [...cuts, stream.length]) {
          f.push(Buffer.from(stream.subarray(prev, c)));
          prev = c;
          for (let m = f.pull(); m; m = f.pull()) out.push(Buffer.from(m));
        }
        assert.deepEqual(out, SAMPLE);
      }),
    );
  });

  it('`pull()` throws Connection Not Synchronized on a bad marker (RFC 4271 §6.1)', () => {
    const f = new MessageFramer();
    const b = encodeKeepalive();
    b[3] = 0;
    f.push(b);
    expectHeaderError(() => f.pull(), HeaderSubcode.ConnectionNotSynchronized);
    // poisoned: the same error again
    expectHeaderError(() => f.pull(), HeaderSubcode.ConnectionNotSynchronized);
  });

  it('`pull()` throws Bad Message Type with the type as data', () => {
    const f = new MessageFramer();
    f.push(raw(9, 19));
    const e = expectHeaderError(() => f.pull(), HeaderSubcode.BadMessageType);
    assert.deepEqual([...e.data], [9]);
  });

  const lengthCases: [string, number, number, boolean][] = [
    ['KEEPALIVE of 20 bytes', 4, 20, false],
    ['OPEN shorter than 29', 1, 28, false],
    ['UPDATE shorter than 23', 2, 22, false],
    ['NOTIFICATION shorter than 21', 3, 20, false],
    ['ROUTE-REFRESH shorter than 23', 5, 22, false],
    ['UPDATE of 4097 without extended messages', 2, 4097, false],
    ['OPEN of 4097 even with extended messages', 1, 4097, true],
  ];
  for (const [name, type, len, ext] of lengthCases) {
    it(`\`pull()\` throws Bad Message Length for a ${name}`, () => {
      const hdr = raw(type, 19);
      hdr.writeUInt16BE(len, 16);
      const g = new MessageFramer({ extendedMessage: ext });
      g.push(hdr);
      const e = expectHeaderError(() => g.pull(), HeaderSubcode.BadMessageLength);
      assert.equal(e.data.length, 2); // RFC 4271 §6.1: Data is the erroneous Length field
    });
  }

  it('`setExtendedMessage(true)` admits UPDATEs up to 65,535 bytes (RFC 8654)', () => {
    const f = new MessageFramer();
    f.setExtendedMessage(true);
    const big = raw(2, 10_000);
    f.push(big);
    assert.equal(f.pull()?.length, 10_000);
  });
});
