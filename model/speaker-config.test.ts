import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isCaracalError } from '../common/errors.js';
import { SpeakerConfig } from './speaker-config.js';
import { parseWithSchema } from './validate.js';

const parse = (v: unknown) => parseWithSchema(SpeakerConfig, v, 'load speaker config "t.yaml"');

const ISSUE_EXAMPLE = {
  asn: 64512,
  routerId: '10.0.0.1',
  listen: { address: '10.0.0.1', port: 179 },
  status: { address: '127.0.0.1', port: 9179 },
  peers: [
    {
      address: '10.0.0.2',
      asn: 64513,
      password: 's3cret',
      passive: false,
      routeReflectorClient: false,
      gracefulRestart: true,
      import: 'accept-all',
      export: 'originated',
    },
  ],
  originate: ['10.244.1.0/26', 'fd00:10:244:1::/122'],
};

describe('SpeakerConfig', () => {
  it('accepts the example of the issue and fills defaults', () => {
    const c = parse(ISSUE_EXAMPLE);
    assert.equal(c.peers[0]!.holdTimeSec, 90);
    assert.equal(c.peers[0]!.port, 179);
    assert.equal(c.rfc8212, true);
    assert.deepEqual(c.originate, ['10.244.1.0/26', 'fd00:10:244:1::/122']);
  });
  it('defaults listen and status, and leaves import/export unset for the RFC 8212 rules to decide', () => {
    const c = parse({ asn: 65000, routerId: '192.0.2.1', peers: [{ address: '192.0.2.2', asn: 65000 }] });
    assert.deepEqual(c.listen, { address: '0.0.0.0', port: 179 });
    assert.deepEqual(c.status, { address: '127.0.0.1', port: 9179 });
    assert.equal(c.peers[0]!.import, undefined);
    assert.equal(c.peers[0]!.export, undefined);
  });
  it('names the field path and the reason of each problem', () => {
    try {
      parse({ ...ISSUE_EXAMPLE, routerId: 'fd00::1', peers: [{ address: '10.0.0.2', asn: 0, holdTimeSec: 2 }] });
      assert.fail('expected an error');
    } catch (e) {
      assert.ok(isCaracalError(e, 'INVALID_CONFIG'));
      assert.match(e.message, /^Cannot load speaker config "t\.yaml": /);
      assert.match(e.message, /routerId: must be an IPv4 address/);
      assert.match(e.message, /peers\[0\]\.asn: .*current value is 0/);
      assert.match(e.message, /peers\[0\]\.holdTimeSec: must be 0 or at least 3/);
    }
  });
  it('rejects a reference to an undefined policy and a duplicate peer', () => {
    assert.throws(
      () =>
        parse({
          asn: 1,
          routerId: '10.0.0.1',
          peers: [
            { address: '10.0.0.2', asn: 2, import: 'from-tor' },
            { address: '10.0.0.2', asn: 2 },
          ],
        }),
      /peers\[0\]\.import: names no policy.*peers\[1\]\.address: is configured twice/,
    );
  });
  it('accepts a named policy with prefix ranges, and rejects a ge outside the prefix', () => {
    const policies = {
      'from-tor': {
        rules: [{ match: { prefix: [{ cidr: '10.244.0.0/16', ge: 24, le: 26 }] }, actions: { action: 'accept' } }],
      },
    };
    const ok = parse({
      asn: 1,
      routerId: '10.0.0.1',
      peers: [{ address: '10.0.0.2', asn: 2, import: 'from-tor' }],
      policies,
    });
    assert.equal(ok.policies['from-tor']!.default, 'reject');
    const bad = structuredClone(policies);
    bad['from-tor'].rules[0]!.match.prefix[0]!.ge = 8;
    assert.throws(
      () => parse({ asn: 1, routerId: '10.0.0.1', policies: bad }),
      /policies\["from-tor"\]\.rules\[0\]\.match\.prefix\[0\]\.ge: must be between the prefix length 16 and 32/,
    );
  });
  it('rejects unknown fields instead of ignoring a typo', () => {
    assert.throws(
      () => parse({ asn: 1, routerId: '10.0.0.1', peers: [{ address: '10.0.0.2', asn: 2, pasive: true }] }),
      /peers\[0\]: has unknown fields "pasive"/,
    );
  });
});
