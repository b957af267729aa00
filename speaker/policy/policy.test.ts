import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AttrInterner, baseAttrs } from '../rib/attr-intern.js';
import {
  ACCEPT_ALL,
  compilePolicy,
  effectivePolicy,
  matchAsPattern,
  ORIGINATED,
  type Policy,
  parseCommunity,
  REJECT_ALL,
} from './policy.js';

const v4 = (text: string): number => {
  const [a, l] = text.split('/');
  const n = a!.split('.').reduce((x, o) => x * 256 + Number(o), 0);
  return n * 64 + Number(l);
};
const v6 = (bytes: number[], len: number): string =>
  Buffer.from([...bytes, ...new Array(16 - bytes.length).fill(0)]).toString('latin1') + String.fromCharCode(len);

describe('compilePolicy()', () => {
  const interner = new AttrInterner();
  const a = interner.internAttrs(
    baseAttrs('10.0.0.1', {
      asPath: [{ type: 2, asns: [65001, 65002, 65003] }],
      communities: [parseCommunity('65000:1')],
    }),
  );

  it('matches an exact prefix when ge/le are absent', () => {
    const p = compilePolicy(
      {
        name: 't',
        rules: [{ match: { prefix: [{ cidr: '10.1.0.0/16' }] }, actions: { action: 'accept' } }],
        default: 'reject',
      },
      { interner },
    );
    assert.equal(p.evaluate(v4('10.1.0.0/16'), a, false), a);
    assert.equal(p.evaluate(v4('10.1.1.0/24'), a, false), null);
    assert.equal(p.evaluate(v4('10.2.0.0/16'), a, false), null);
    assert.ok(p.prefixDependent);
  });
  it('matches more-specifics within ge/le', () => {
    const p = compilePolicy(
      {
        name: 't',
        rules: [{ match: { prefix: [{ cidr: '10.0.0.0/8', ge: 16, le: 24 }] }, actions: { action: 'accept' } }],
        default: 'reject',
      },
      { interner },
    );
    assert.equal(p.evaluate(v4('10.200.0.0/16'), a, false), a);
    assert.equal(p.evaluate(v4('10.200.3.0/24'), a, false), a);
    assert.equal(p.evaluate(v4('10.200.3.128/25'), a, false), null);
    assert.equal(p.evaluate(v4('10.0.0.0/8'), a, false), null);
    assert.equal(p.evaluate(v4('11.0.0.0/16'), a, false), null);
  });
  it('matches IPv6 keys with a partial last byte', () => {
    const p = compilePolicy(
      {
        name: 't',
        rules: [{ match: { prefix: [{ cidr: 'fd00:10::/28', le: 64 }] }, actions: { action: 'accept' } }],
        default: 'reject',
      },
      { interner },
    );
    assert.equal(p.evaluate(v6([0xfd, 0, 0, 0x1f], 48), a, false), a);
    assert.equal(p.evaluate(v6([0xfd, 0, 0, 0x20], 48), a, false), null);
    assert.equal(p.evaluate(v6([0xfd, 0, 0, 0x10], 96), a, false), null);
  });
  it('matches by community, AS path and origin AS', () => {
    const mk = (match: Policy['rules'][number]['match']) =>
      compilePolicy({ name: 't', rules: [{ match, actions: { action: 'accept' } }], default: 'reject' }, { interner });
    assert.equal(mk({ community: ['65000:1'] }).evaluate(1, a, false), a);
    assert.equal(mk({ community: ['65000:2'] }).evaluate(1, a, false), null);
    assert.equal(mk({ asPath: { contains: 65002 } }).evaluate(1, a, false), a);
    assert.equal(mk({ asPath: { originAs: 65003 } }).evaluate(1, a, false), a);
    assert.equal(mk({ asPath: { originAs: 65001 } }).evaluate(1, a, false), null);
    assert.equal(mk({ asPath: { pattern: '65001 * 65003' } }).evaluate(1, a, false), a);
    assert.equal(mk({ asPath: { pattern: '? 65003' } }).evaluate(1, a, false), null);
    assert.equal(mk({ nextHop: ['10.0.0.1'] }).evaluate(1, a, false), a);
    assert.equal(mk({ asPath: { regex: '^65001 (\\d+ )*65003$' } }).evaluate(1, a, false), a);
    assert.equal(mk({ asPath: { regex: '^65002' } }).evaluate(1, a, false), null);
    assert.throws(() => mk({ asPath: { regex: '(' } }), /Cannot compile AS path regex/);
    assert.ok(!mk({ community: ['65000:1'] }).prefixDependent);
  });
  it('applies modifications and keeps going until a terminating rule', () => {
    const p = compilePolicy(
      {
        name: 't',
        rules: [
          { match: {}, actions: { setLocalPref: 300, addCommunities: ['65000:9'], removeCommunities: ['65000:1'] } },
          {
            match: { community: ['65000:9'] },
            actions: { setMed: 7, prependAs: { asn: 64512, times: 2 }, nextHopSelf: true },
          },
        ],
        default: 'accept',
      },
      { interner, selfNextHop: '192.0.2.1' },
    );
    const out = p.evaluate(1, a, false)!;
    assert.equal(out.localPref, 300);
    assert.equal(out.med, 7);
    assert.deepEqual(out.communities, [parseCommunity('65000:9')]);
    assert.deepEqual(out.asPath[0]!.asns, [64512, 64512, 65001, 65002, 65003]);
    assert.equal(out.asPathLength, 5);
    assert.equal(out.nextHop, '192.0.2.1');
    assert.equal(p.evaluate(2, a, false), out, 'cached and interned');
  });
  it('`nextHopSelf` picks our address of the prefix family', () => {
    const p = compilePolicy(
      { name: 't', rules: [{ match: {}, actions: { nextHopSelf: true } }], default: 'accept' },
      { interner, selfNextHop: '192.0.2.1', selfNextHopV6: 'fd00::1' },
    );
    assert.equal(p.evaluate(v4('10.0.0.0/8'), a, false)?.nextHop, '192.0.2.1');
    assert.equal(p.evaluate(v6([0xfd], 8), a, false)?.nextHop, 'fd00::1');
  });
  it('`originated` exports only locally originated routes', () => {
    const p = compilePolicy(ORIGINATED, { interner });
    assert.equal(p.evaluate(1, a, true), a);
    assert.equal(p.evaluate(1, a, false), null);
  });
});

describe('compilePolicy() limits and errors', () => {
  const interner = new AttrInterner();
  const a = interner.internAttrs(baseAttrs('10.0.0.1'));
  it('handles more than 30 prefix rules', () => {
    const rules = Array.from({ length: 40 }, (_, i) => ({
      match: { prefix: [{ cidr: `10.${i}.0.0/16` }] },
      actions: { action: i === 35 ? ('reject' as const) : ('accept' as const) },
    }));
    const p = compilePolicy({ name: 'many', rules, default: 'reject' }, { interner });
    assert.equal(p.evaluate(v4('10.1.0.0/16'), a, false), a);
    assert.equal(p.evaluate(v4('10.35.0.0/16'), a, false), null);
    assert.equal(p.evaluate(v4('10.39.0.0/16'), a, false), a);
    assert.equal(p.evaluate(v4('10.99.0.0/16'), a, false), null);
  });
  it('reports a bad rule as INVALID_CONFIG naming the policy and rule', () => {
    assert.throws(
      () =>
        compilePolicy(
          {
            name: 'bad',
            rules: [{ match: { prefix: [{ cidr: '10.0.0.0/8', ge: 4 }] }, actions: {} }],
            default: 'accept',
          },
          { interner },
        ),
      (e: Error & { code?: string }) =>
        e.code === 'INVALID_CONFIG' && /"bad" rule 0: Cannot compile prefix match/.test(e.message),
    );
  });
});

describe('effectivePolicy()', () => {
  it('rejects everything for an eBGP peer without explicit policy (RFC 8212)', () => {
    assert.equal(effectivePolicy({ ebgp: true }, 'import'), REJECT_ALL);
    assert.equal(effectivePolicy({ ebgp: true }, 'export'), REJECT_ALL);
  });
  it('falls back to accept-all / originated when rfc8212 is false', () => {
    assert.equal(effectivePolicy({ ebgp: true, rfc8212: false }, 'import'), ACCEPT_ALL);
    assert.equal(effectivePolicy({ ebgp: true, rfc8212: false }, 'export'), ORIGINATED);
  });
  it('uses an explicit policy and reflects for iBGP when reflecting', () => {
    const mine: Policy = { name: 'mine', rules: [], default: 'accept' };
    assert.equal(effectivePolicy({ ebgp: true, exportPolicy: mine }, 'export'), mine);
    assert.equal(effectivePolicy({ ebgp: false }, 'export'), ORIGINATED);
    assert.equal(effectivePolicy({ ebgp: false, reflecting: true }, 'export'), ACCEPT_ALL);
  });
});

describe('matchAsPattern()', () => {
  it('anchors both ends and lets * match an empty run', () => {
    assert.ok(matchAsPattern(['*', 1, '*'], [1]));
    assert.ok(matchAsPattern(['*'], []));
    assert.ok(!matchAsPattern([1], [1, 2]));
    assert.ok(matchAsPattern([1, '?'], [1, 2]));
  });
});
