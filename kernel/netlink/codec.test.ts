import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { formatIp } from '../../model/ip.js';
import {
  decodeMessages,
  decodeRoute,
  encodeRouteBatch,
  encodeRouteDump,
  NLMSG_HDRLEN,
  type Route,
  type RouteOp,
  RouteScope,
  RouteType,
  RtmFlag,
  routeKey,
} from './codec.js';

const V4_LINK: Route = {
  family: 4,
  dst: '10.244.1.0',
  prefixLen: 26,
  table: 254,
  protocol: 80,
  scope: RouteScope.Link,
  type: RouteType.Unicast,
  oif: 2,
  flags: 0,
};
const V6_GW: Route = {
  family: 6,
  dst: 'fd00:1::',
  prefixLen: 64,
  table: 1000,
  protocol: 80,
  scope: RouteScope.Universe,
  type: RouteType.Unicast,
  oif: 2,
  gateway: 'fe80::1',
  priority: 5,
  flags: 0,
};

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('encodeRouteBatch()', () => {
  it('writes golden bytes for an IPv4 replace and an IPv6 delete (bytes accepted by a 6.x kernel)', () => {
    const b = encodeRouteBatch(
      [
        { kind: 'replace', route: V4_LINK },
        { kind: 'delete', route: V6_GW },
      ],
      7,
    );
    const want = hex(`
      2c000000 1800 0505 07000000 00000000
      02 1a 00 00 fe 50 fd 01 00000000
      0800 0100 0af40100
      0800 0400 02000000
      5c000000 1900 0500 08000000 00000000
      0a 40 00 00 00 50 00 01 00000000
      1400 0100 fd000001000000000000000000000000
      0800 0f00 e8030000
      0800 0400 02000000
      1400 0500 fe800000000000000000000000000001
      0800 0600 05000000`);
    assert.equal(b.toString('hex'), want.toString('hex'));
  });

  it('sets CREATE|EXCL instead of CREATE|REPLACE when asked', () => {
    const b = encodeRouteBatch([{ kind: 'replace', route: V4_LINK }], 1, { excl: true });
    assert.equal(b.readUInt16LE(6), 0x1 | 0x4 | 0x400 | 0x200);
  });

  it('omits RTA_DST for a default route', () => {
    const b = encodeRouteBatch([{ kind: 'replace', route: { ...V4_LINK, dst: '0.0.0.0', prefixLen: 0 } }], 1);
    assert.equal(b.length, NLMSG_HDRLEN + 12 + 8);
    assert.equal(decodeRoute(b.subarray(NLMSG_HDRLEN))?.dst, '0.0.0.0');
  });

  it('writes a blackhole route with no oif and an onlink gateway route', () => {
    const b = encodeRouteBatch(
      [
        { kind: 'replace', route: { ...V4_LINK, oif: undefined, type: RouteType.Blackhole, scope: 0 } },
        { kind: 'replace', route: { ...V4_LINK, scope: 0, gateway: '192.168.7.1', flags: RtmFlag.Onlink } },
      ],
      1,
    );
    const first = b.readUInt32LE(0);
    assert.equal(first, 16 + 12 + 8);
    const second = decodeRoute(b.subarray(first + NLMSG_HDRLEN));
    assert.equal(second?.flags, RtmFlag.Onlink);
    assert.equal(second?.gateway, '192.168.7.1');
  });

  it('writes an RTM_GETROUTE dump request', () => {
    assert.equal(
      encodeRouteDump(6, 9).toString('hex'),
      hex('1c000000 1a00 0103 09000000 00000000 0a000000 00000000 00000000').toString('hex'),
    );
  });
});

describe('decodeMessages()', () => {
  it('decodes an ACK, an error with extended-ack text (capped) and NLMSG_DONE', () => {
    const ack = Buffer.alloc(36);
    ack.writeUInt32LE(36, 0);
    ack.writeUInt16LE(2, 4);
    ack.writeUInt16LE(0x100, 6); // capped
    ack.writeUInt32LE(11, 8);
    ack.writeInt32LE(0, 16);
    const text = 'Nexthop has invalid gateway';
    const tlvLen = 4 + text.length + 1;
    const errLen = 36 + ((tlvLen + 3) & ~3);
    const err = Buffer.alloc(errLen);
    err.writeUInt32LE(errLen, 0);
    err.writeUInt16LE(2, 4);
    err.writeUInt16LE(0x300, 6); // capped | ack tlvs
    err.writeUInt32LE(12, 8);
    err.writeInt32LE(-22, 16);
    err.writeUInt16LE(tlvLen, 36);
    err.writeUInt16LE(1, 38);
    err.write(text, 40, 'latin1');
    const done = Buffer.alloc(20);
    done.writeUInt32LE(20, 0);
    done.writeUInt16LE(3, 4);
    done.writeUInt32LE(13, 8);
    const msgs = decodeMessages(Buffer.concat([ack, err, done]));
    assert.deepEqual(msgs, [
      { kind: 'ack', seq: 11, error: 0, message: undefined, offset: undefined },
      { kind: 'ack', seq: 12, error: 22, message: text, offset: undefined },
      { kind: 'done', seq: 13, flags: 0 },
    ]);
  });

  it('throws a TypeError on a truncated message', () => {
    const b = encodeRouteBatch([{ kind: 'replace', route: V4_LINK }], 1);
    assert.throws(() => decodeMessages(b.subarray(0, 30)), TypeError);
  });
});

describe('decodeMessages() on random bytes', () => {
  it('returns messages or throws a TypeError, nothing else (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.array(fc.nat(60), { maxLength: 4 }), (bytes, lens) => {
        // Random bytes, sometimes behind plausible headers so the body decoders run too.
        const parts: Buffer[] = [];
        for (const n of lens) {
          const body = Buffer.from(bytes.subarray(0, n));
          const h = Buffer.alloc(16);
          h.writeUInt32LE(16 + ((body.length + 3) & ~3), 0);
          h.writeUInt16LE([2, 3, 24, 99][n % 4] ?? 24, 4);
          h.writeUInt16LE(n % 2 ? 0x300 : 0, 6);
          parts.push(h, body, Buffer.alloc(((body.length + 3) & ~3) - body.length));
        }
        parts.push(Buffer.from(bytes));
        for (const buf of [Buffer.concat(parts), Buffer.from(bytes)]) {
          try {
            decodeMessages(buf);
          } catch (e) {
            assert.ok(e instanceof TypeError, String(e));
          }
        }
      }),
    );
  });
});

describe('routeKey()', () => {
  it('is family|dst/len|table', () => {
    assert.equal(routeKey(V4_LINK), '4|10.244.1.0/26|254');
    assert.equal(routeKey(V6_GW), '6|fd00:1::/64|1000');
  });
});

const arbV4 = fc.integer({ min: 0, max: 0xffffffff }).map((v) => formatIp({ family: 4, value: BigInt(v) }));
const arbV6 = fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }).map((v) => formatIp({ family: 6, value: v }));
const arbRoute: fc.Arbitrary<Route> = fc.constantFrom(4 as const, 6 as const).chain((family) =>
  fc.record({
    family: fc.constant(family),
    dst: family === 4 ? arbV4 : arbV6,
    prefixLen: fc.integer({ min: 1, max: family === 4 ? 32 : 128 }),
    table: fc.oneof(fc.integer({ min: 1, max: 255 }), fc.integer({ min: 256, max: 0xffffffff })),
    protocol: fc.integer({ min: 0, max: 255 }),
    scope: fc.integer({ min: 0, max: 255 }),
    type: fc.integer({ min: 1, max: 11 }),
    oif: fc.option(fc.integer({ min: 1, max: 0xffffffff }), { nil: undefined }),
    gateway: fc.option(family === 4 ? arbV4 : arbV6, { nil: undefined }),
    priority: fc.option(fc.integer({ min: 0, max: 0xffffffff }), { nil: undefined }),
    flags: fc.constantFrom(0, RtmFlag.Onlink),
  }),
);

describe('encode → decode', () => {
  it('is the identity on every route field (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('replace' as const, 'delete' as const), arbRoute), { maxLength: 20 }),
        (pairs) => {
          const ops: RouteOp[] = pairs.map(([kind, route]) => ({ kind, route }));
          const buf = encodeRouteBatch(ops, 100);
          let off = 0;
          for (const [i, op] of ops.entries()) {
            const len = buf.readUInt32LE(off);
            assert.equal(buf.readUInt32LE(off + 8), 100 + i);
            assert.deepEqual(decodeRoute(buf.subarray(off + NLMSG_HDRLEN, off + len)), { ...op.route });
            off += len;
          }
          assert.equal(off, buf.length);
          // The stream decoder sees the NEWROUTE ones as routes.
          const routes = decodeMessages(buf).filter((m) => m.kind === 'route');
          assert.equal(routes.length, ops.filter((o) => o.kind === 'replace').length);
        },
      ),
    );
  });
});
