import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { BgpError, ErrorCode, UpdateSubcode } from './errors.js';
import {
  decodeNlriV4,
  decodeNlriV6,
  formatIpv6,
  formatPrefixKey,
  parsePrefixKey,
  prefixAddrV4,
  prefixKeyV4,
  prefixKeyV6,
  prefixLenV4,
  prefixLenV6,
  sizePrefix,
  writePrefix,
} from './prefix.js';

const v4Key = fc
  .tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 32 }))
  .map(([a, l]) => prefixKeyV4(a, l));
const v6Key = fc
  .tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 128 }))
  .map(([b, l]) => prefixKeyV6(b, l));

function encodeAll(keys: readonly (number | string)[], ids?: readonly number[]): Buffer {
  let n = 0;
  for (const k of keys) n += sizePrefix(k, ids !== undefined);
  const out = Buffer.alloc(n);
  let off = 0;
  keys.forEach((k, i) => {
    off = writePrefix(k, ids?.[i], out, off);
  });
  return out;
}

describe('prefix keys', () => {
  it('`prefixKeyV4()` clears host bits and packs addr * 64 + len', () => {
    const k = prefixKeyV4(0x0a0102ff, 24);
    assert.equal(k, 0x0a010200 * 64 + 24);
    assert.equal(prefixLenV4(k), 24);
    assert.equal(prefixAddrV4(k), 0x0a010200);
    assert.equal(prefixKeyV4(0xffffffff, 0), 0);
  });

  it('`formatPrefixKey()` and `parsePrefixKey()` round-trip text', () => {
    for (const t of ['10.0.0.0/8', '0.0.0.0/0', '255.255.255.255/32', 'fd00::/64', '::/0', '2001:db8:1::1/128']) {
      assert.equal(formatPrefixKey(parsePrefixKey(t)), t);
    }
    assert.equal(formatPrefixKey(parsePrefixKey('10.1.2.3/8')), '10.0.0.0/8');
    assert.equal(typeof parsePrefixKey('fd00::/8'), 'string');
    assert.equal((parsePrefixKey('fd00::/8') as string).length, 17);
    assert.equal(prefixLenV6(parsePrefixKey('fd00::/8') as string), 8);
  });

  it('`formatIpv6()` follows RFC 5952', () => {
    const b = Buffer.alloc(16);
    b[0] = 0x20;
    b[1] = 0x01;
    b[2] = 0x0d;
    b[3] = 0xb8;
    b[15] = 1;
    assert.equal(formatIpv6(b), '2001:db8::1');
    assert.equal(formatIpv6(Buffer.from('00000000000000000000ffff0a000001', 'hex')), '::ffff:10.0.0.1');
  });
});

describe('NLRI', () => {
  it('decode∘encode is the identity for IPv4 keys, with and without ADD-PATH ids', () => {
    fc.assert(
      fc.property(fc.array(v4Key, { maxLength: 50 }), fc.boolean(), (keys, addPath) => {
        const ids = addPath ? keys.map((_, i) => i * 7919) : undefined;
        const wire = encodeAll(keys, ids);
        const got: number[] = [];
        const gotIds: number[] | undefined = addPath ? [] : undefined;
        decodeNlriV4(wire, 0, wire.length, got, gotIds);
        assert.deepEqual(got, keys);
        assert.deepEqual(gotIds, ids);
      }),
    );
  });

  it('decode∘encode is the identity for IPv6 keys', () => {
    fc.assert(
      fc.property(fc.array(v6Key, { maxLength: 30 }), fc.boolean(), (keys, addPath) => {
        const ids = addPath ? keys.map((_, i) => 0xffffffff - i) : undefined;
        const wire = encodeAll(keys, ids);
        const got: string[] = [];
        const gotIds: number[] | undefined = addPath ? [] : undefined;
        decodeNlriV6(wire, 0, wire.length, got, gotIds);
        assert.deepEqual(got, keys);
        assert.deepEqual(gotIds, ids);
      }),
    );
  });

  const bad: [string, string, 4 | 6][] = [
    ['a length of 33', '21 0a000000 00', 4],
    ['a prefix that overruns the field', '18 0a00', 4],
    ['a length of 129', '81', 6],
    ['an IPv6 prefix that overruns', '40 fd00', 6],
  ];
  for (const [name, hex, fam] of bad) {
    it(`\`decodeNlriV${fam}()\` resets the session on ${name} (RFC 7606 §5.3)`, () => {
      const b = Buffer.from(hex.replaceAll(' ', ''), 'hex');
      assert.throws(
        () => (fam === 4 ? decodeNlriV4(b, 0, b.length, [], undefined) : decodeNlriV6(b, 0, b.length, [], undefined)),
        (e: unknown) =>
          e instanceof BgpError &&
          e.code === ErrorCode.Update &&
          e.action === 'session-reset' &&
          (fam === 4
            ? e.subcode === UpdateSubcode.InvalidNetworkField
            : e.subcode === UpdateSubcode.OptionalAttributeError),
      );
    });
  }

  it('`decodeNlriV4()` resets the session when ADD-PATH ids are expected but missing', () => {
    const b = Buffer.from('180a0000', 'hex');
    assert.throws(() => decodeNlriV4(b, 0, b.length, [], []), BgpError);
  });
});
