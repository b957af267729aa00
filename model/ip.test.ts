import assert from 'node:assert/strict';
import { isIPv4, isIPv6 } from 'node:net';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isCaracalError } from '../common/errors.js';
import {
  addressAt,
  type Cidr,
  canonicalCidrProblem,
  cidrContains,
  cidrContainsIp,
  cidrSize,
  cidrsOverlap,
  formatCidr,
  formatIp,
  hasHostBits,
  type IpAddress,
  type IpFamily,
  isV4Mapped,
  lastAddress,
  maskOf,
  networkOf,
  ordinalOf,
  parseCidr,
  parseIp,
  tryParseCidr,
  tryParseIp,
} from './ip.js';

const MAX = { 4: (1n << 32n) - 1n, 6: (1n << 128n) - 1n } as const;
const arbFamily = fc.constantFrom<IpFamily>(4, 6);
const arbIp = (family: IpFamily) =>
  fc.bigInt({ min: 0n, max: MAX[family] }).map((value): IpAddress => ({ family, value }));
const arbAnyIp = arbFamily.chain(arbIp);
const arbCidr = (family: IpFamily) =>
  fc
    .tuple(arbIp(family), fc.integer({ min: 0, max: family === 4 ? 32 : 128 }))
    .map(([ip, prefixLen]): Cidr => ({ family, address: ip.value, prefixLen }));
/** Two networks that often nest: b is carved out of a's neighbourhood. */
const arbCidrPair = arbFamily.chain((family) =>
  fc
    .tuple(arbCidr(family), fc.integer({ min: 0, max: family === 4 ? 32 : 128 }), fc.bigInt({ min: 0n, max: 255n }))
    .map(([a, lenB, jitter]) => {
      const na = networkOf(a);
      const b = networkOf({ family, address: (na.address ^ jitter) & MAX[family], prefixLen: lenB });
      return [na, b] as const;
    }),
);

describe('tryParseIp()', () => {
  it('parses dotted-decimal IPv4 and names the family', () => {
    assert.deepEqual(tryParseIp('10.244.3.64'), { ok: true, value: { family: 4, value: 0x0af40340n } });
    assert.deepEqual(tryParseIp('0.0.0.0'), { ok: true, value: { family: 4, value: 0n } });
    assert.deepEqual(tryParseIp('255.255.255.255'), { ok: true, value: { family: 4, value: 0xffffffffn } });
  });

  it('parses the IPv6 text forms of RFC 4291 §2.2, including "::" and a dotted tail', () => {
    const v = (s: string) => {
      const r = tryParseIp(s);
      assert.ok(r.ok, `${s}: ${r.ok ? '' : r.reason}`);
      return r.value.value;
    };
    assert.equal(v('::'), 0n);
    assert.equal(v('::1'), 1n);
    assert.equal(v('1::'), 1n << 112n);
    assert.equal(v('fd00:10:244::40'), 0xfd000010024400000000000000000040n);
    assert.equal(v('FD00:0010:0244:0000:0000:0000:0000:0040'), 0xfd000010024400000000000000000040n);
    assert.equal(v('::ffff:192.0.2.1'), 0xffffc0000201n);
    assert.equal(v('::192.0.2.1'), 0xc0000201n);
    assert.equal(v('1:2:3:4:5:6:192.0.2.1'), 0x000100020003000400050006c0000201n);
  });

  it('refuses malformed text with a reason', () => {
    for (const bad of [
      '',
      '1.2.3',
      '1.2.3.4.5',
      '256.0.0.1',
      '01.2.3.4',
      '1.2.3.-4',
      '1.2.3.4 ',
      ':::',
      '1:::2',
      '1::2::3',
      '12345::',
      'g::1',
      '1:2:3:4:5:6:7',
      '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6:7::8',
      ':1:2:3:4:5:6:7',
      '1:2:3:4:5:6:7:',
      'fe80::1%eth0',
      '::ffff:1.2.3',
    ]) {
      const r = tryParseIp(bad);
      assert.equal(r.ok, false, `"${bad}" should be refused`);
      assert.ok(!r.ok && r.reason.length > 0);
    }
  });

  it('agrees with node:net on which strings of address characters are addresses', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9a-f:.]{1,24}$/), (s) => {
        assert.equal(tryParseIp(s).ok, isIPv4(s) || isIPv6(s), s);
      }),
      { numRuns: 2000 },
    );
  });

  it('reads every non-canonical IPv6 spelling (padded, upper case, any zero run compressed) as the same address', () => {
    const arbSpelling = fc
      .tuple(arbIp(6), fc.boolean(), fc.boolean(), fc.nat(7), fc.nat(8))
      .map(([ip, pad, upper, from, len]) => {
        let groups = Array.from({ length: 8 }, (_, i) =>
          Number((ip.value >> BigInt((7 - i) * 16)) & 0xffffn).toString(16),
        );
        if (pad) groups = groups.map((g) => g.padStart(4, '0'));
        if (upper) groups = groups.map((g) => g.toUpperCase());
        const to = Math.min(8, from + len);
        const zeros = to - from >= 1 && groups.slice(from, to).every((g) => /^0+$/.test(g));
        const text = zeros ? `${groups.slice(0, from).join(':')}::${groups.slice(to).join(':')}` : groups.join(':');
        return [ip, text] as const;
      });
    fc.assert(
      fc.property(arbSpelling, ([ip, text]) => {
        assert.ok(isIPv6(text), `node:net refuses ${text}`);
        assert.deepEqual(parseIp(text), ip, text);
      }),
    );
  });
});

describe('formatIp()', () => {
  it('writes IPv6 per RFC 5952: lower case, longest zero run compressed, the first on a tie, no single-group "::"', () => {
    const f = (s: string) => formatIp(parseIp(s));
    assert.equal(f('FD00:0:0:0:0:0:0:1'), 'fd00::1');
    assert.equal(f('1:0:0:2:0:0:0:3'), '1:0:0:2::3');
    assert.equal(f('1:0:0:2:0:0:3:4'), '1::2:0:0:3:4');
    assert.equal(f('1:0:2:3:4:5:6:7'), '1:0:2:3:4:5:6:7');
    assert.equal(f('0:0:0:0:0:0:0:0'), '::');
    assert.equal(f('::ffff:c000:201'), '::ffff:192.0.2.1');
  });

  it('parse(format(x)) is the identity for every address of both families', () => {
    fc.assert(
      fc.property(arbAnyIp, (ip) => {
        assert.deepEqual(parseIp(formatIp(ip)), ip);
      }),
    );
  });

  it('matches the WHATWG URL serialiser for IPv6 outside ::ffff:0:0/96', () => {
    fc.assert(
      fc.property(arbIp(6), (ip) => {
        fc.pre(!isV4Mapped(ip));
        const whatwg = new URL(`http://[${formatIp(ip)}]/`).hostname.slice(1, -1);
        assert.equal(formatIp(ip), whatwg);
      }),
    );
  });
});

describe('parseIp()', () => {
  it('throws INVALID_RESOURCE naming the text and the reason', () => {
    assert.throws(
      () => parseIp('10.0.0.256'),
      (e) =>
        isCaracalError(e, 'INVALID_RESOURCE') &&
        e.message === 'Cannot parse IP address "10.0.0.256": part "256" must be a decimal number from 0 to 255',
    );
  });
});

describe('tryParseCidr()', () => {
  it('keeps host bits as written and reports them through hasHostBits()', () => {
    const c = parseCidr('10.0.0.5/24');
    assert.deepEqual(c, { family: 4, address: 0x0a000005n, prefixLen: 24 });
    assert.equal(hasHostBits(c), true);
    assert.equal(formatCidr(networkOf(c)), '10.0.0.0/24');
    assert.equal(hasHostBits(parseCidr('10.0.0.0/24')), false);
  });

  it('refuses a missing, non-decimal, zero-padded or too long prefix length', () => {
    for (const bad of ['10.0.0.0', '10.0.0.0/', '10.0.0.0/33', '10.0.0.0/024', '10.0.0.0/x', 'fd00::/129', '/8']) {
      assert.equal(tryParseCidr(bad).ok, false, bad);
    }
  });

  it('parse(format(c)) is the identity for every CIDR', () => {
    fc.assert(
      fc.property(arbFamily.chain(arbCidr), (c) => {
        assert.deepEqual(parseCidr(formatCidr(c)), c);
      }),
    );
  });
});

describe('canonicalCidrProblem()', () => {
  it('accepts canonical networks and explains the rest', () => {
    assert.equal(canonicalCidrProblem('10.244.0.0/16'), undefined);
    assert.equal(canonicalCidrProblem('fd00:10:244::/48'), undefined);
    assert.equal(canonicalCidrProblem('10.244.0.1/16'), 'must not have host bits set; the network is 10.244.0.0/16');
    assert.equal(canonicalCidrProblem('FD00:10:244::/48'), 'must be written in canonical form "fd00:10:244::/48"');
    assert.match(canonicalCidrProblem('10.244.0.0') ?? '', /^must be a CIDR such as/);
  });
});

describe('cidrContains() and cidrsOverlap()', () => {
  it('contains() implies overlaps(), and overlaps() means one contains the other', () => {
    fc.assert(
      fc.property(arbCidrPair, ([a, b]) => {
        if (cidrContains(a, b)) assert.ok(cidrsOverlap(a, b));
        assert.equal(cidrsOverlap(a, b), cidrContains(a, b) || cidrContains(b, a));
        assert.equal(cidrsOverlap(a, b), cidrsOverlap(b, a));
      }),
    );
  });

  it('contains(a, b) holds exactly when a holds both the first and the last address of b', () => {
    fc.assert(
      fc.property(arbCidrPair, ([a, b]) => {
        const first: IpAddress = { family: b.family, value: b.address };
        const last: IpAddress = { family: b.family, value: lastAddress(b) };
        assert.equal(cidrContains(a, b), cidrContainsIp(a, first) && cidrContainsIp(a, last));
      }),
    );
  });

  it('overlaps() agrees with comparing address ranges', () => {
    fc.assert(
      fc.property(arbCidrPair, ([a, b]) => {
        const ranges = a.address <= lastAddress(b) && b.address <= lastAddress(a);
        assert.equal(cidrsOverlap(a, b), ranges);
      }),
    );
  });

  it('relates nested, disjoint and equal networks', () => {
    const c = parseCidr;
    assert.equal(cidrContains(c('10.0.0.0/8'), c('10.1.0.0/16')), true);
    assert.equal(cidrContains(c('10.1.0.0/16'), c('10.0.0.0/8')), false);
    assert.equal(cidrsOverlap(c('10.1.0.0/16'), c('10.0.0.0/8')), true);
    assert.equal(cidrsOverlap(c('10.1.0.0/16'), c('10.2.0.0/16')), false);
    assert.equal(cidrContains(c('fd00::/48'), c('fd00::/48')), true);
    assert.equal(cidrContains(c('fd00::/48'), c('fd00:0:1::/64')), false);
  });

  it('never relates networks of different families', () => {
    assert.equal(cidrContains(parseCidr('0.0.0.0/0'), parseCidr('::/0')), false);
    assert.equal(cidrsOverlap(parseCidr('::/0'), parseCidr('10.0.0.0/8')), false);
    assert.equal(cidrContainsIp(parseCidr('::/0'), parseIp('10.0.0.1')), false);
  });
});

describe('addressAt() and ordinalOf()', () => {
  it('map block ordinals to addresses and back', () => {
    const block = parseCidr('10.244.3.64/26');
    assert.equal(cidrSize(block), 64n);
    assert.equal(formatIp(addressAt(block, 6)), '10.244.3.70');
    assert.equal(ordinalOf(block, parseIp('10.244.3.70')), 6n);
    assert.equal(ordinalOf(block, parseIp('10.244.3.128')), undefined);
    assert.throws(() => addressAt(block, 64), /ordinal must be below 64/);
  });

  it('ordinalOf(addressAt(c, i)) is i for every ordinal of any network', () => {
    fc.assert(
      fc.property(arbFamily.chain(arbCidr), fc.bigInt({ min: 0n, max: MAX[6] }), (c, raw) => {
        const i = raw % cidrSize(c);
        assert.equal(ordinalOf(c, addressAt(c, i)), i);
      }),
    );
  });
});

describe('maskOf()', () => {
  it('has prefixLen leading ones', () => {
    assert.equal(maskOf(4, 0), 0n);
    assert.equal(maskOf(4, 26), 0xffffffc0n);
    assert.equal(maskOf(6, 128), MAX[6]);
  });
});
