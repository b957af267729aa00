import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isCaracalError } from '../common/errors.js';
import type { KindName } from './kinds.js';
import { emptyBlockSpec, SAMPLES, withSpec } from './testdata/samples.js';
import { describeValue, formatPath, MAX_ISSUES_IN_MESSAGE, parseResource, safeParseResource } from './validate.js';

describe('parseResource()', () => {
  it('returns the typed object with defaults applied', () => {
    const pool = parseResource('IPPool', SAMPLES.IPPool());
    assert.equal(pool.spec.blockSize, 26);
    assert.equal(pool.metadata.name, 'pool-a');
  });

  it('throws INVALID_RESOURCE naming the kind, the object and every failing path, joined with "; "', () => {
    const bad = withSpec('IPPool', { cidr: '10.244.0.1/16', natOutgoing: 'yes' });
    assert.throws(
      () => parseResource('IPPool', bad),
      (e: unknown) => {
        assert.ok(isCaracalError(e, 'INVALID_RESOURCE'));
        assert.equal(
          e.message,
          'Cannot accept IPPool "pool-a": spec.cidr: must not have host bits set; the network is 10.244.0.0/16: current value is "10.244.0.1/16"; ' +
            'spec.natOutgoing: must be true or false: current value is "yes"',
        );
        assert.deepEqual(e.details, {
          kind: 'IPPool',
          name: 'pool-a',
          issues: [
            {
              path: 'spec.cidr',
              message: 'must not have host bits set; the network is 10.244.0.0/16: current value is "10.244.0.1/16"',
            },
            { path: 'spec.natOutgoing', message: 'must be true or false: current value is "yes"' },
          ],
        });
        return true;
      },
    );
  });

  it('names a namespaced object as "<namespace>/<name>" and carries the namespace in details', () => {
    const wep = withSpec('WorkloadEndpoint', { interfaceName: '' });
    const r = safeParseResource('WorkloadEndpoint', wep);
    assert.ok(!r.ok);
    assert.match(
      r.error.message,
      /^Cannot accept WorkloadEndpoint "default\/worker--1-k8s-web--0-eth0": spec.interfaceName: /,
    );
    assert.equal(r.error.details.namespace, 'default');
  });

  it('says "(unnamed)" and "is required" when the object has no metadata', () => {
    const r = safeParseResource('Namespace', { apiVersion: 'v1', kind: 'Namespace' });
    assert.ok(!r.ok);
    assert.equal(r.error.message, 'Cannot accept Namespace (unnamed): metadata: is required');
  });

  it('says "must be an object" for a value that is not one', () => {
    const r = safeParseResource('IPPool', 'pool-a');
    assert.ok(!r.ok);
    assert.equal(r.error.message, 'Cannot accept IPPool (unnamed): must be an object: current value is "pool-a"');
  });

  it(`spells out at most ${MAX_ISSUES_IN_MESSAGE} issues in the message but keeps all in details`, () => {
    const spec = emptyBlockSpec();
    spec.unallocated = [];
    const r = safeParseResource('IPAMBlock', withSpec('IPAMBlock', spec));
    assert.ok(!r.ok);
    assert.equal((r.error.details.issues as unknown[]).length, 64);
    assert.match(r.error.message, /; and 54 more$/);
  });

  it('throws UNKNOWN_KIND for a key that is not in the registry', () => {
    assert.throws(
      () => parseResource('Pool' as KindName, {}),
      (e) => isCaracalError(e, 'UNKNOWN_KIND'),
    );
  });

  it('accepts the sample of every registry kind', () => {
    for (const kind of Object.keys(SAMPLES) as KindName[]) {
      const r = safeParseResource(kind, SAMPLES[kind]());
      assert.ok(r.ok, `${kind}: ${r.ok ? '' : r.error.message}`);
    }
  });
});

describe('formatPath() and describeValue()', () => {
  it('write indexes in brackets and quote keys that are not identifiers', () => {
    assert.equal(formatPath(['spec', 'ports', 0, 'port']), 'spec.ports[0].port');
    assert.equal(formatPath(['spec', 'block', '10.0.0.0/26']), 'spec.block["10.0.0.0/26"]');
    assert.equal(formatPath([]), '');
  });

  it('quote strings and cut long values short', () => {
    assert.equal(describeValue('x'), '"x"');
    assert.equal(describeValue(3), '3');
    assert.equal(describeValue(undefined), 'undefined');
    assert.equal(describeValue('a'.repeat(200)).length, 80);
  });
});
