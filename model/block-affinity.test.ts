import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AFFINITY_LABELS,
  base32NoPad,
  blockAffinityLabels,
  blockAffinityName,
  hostnameHash,
} from './block-affinity.js';
import { DNS_SUBDOMAIN } from './meta.js';
import { expectIssue, expectValid, SAMPLES, withMeta, withSpec } from './testdata/samples.js';

describe('BlockAffinity', () => {
  it('`parseResource()` defaults type to host and deleted to false', () => {
    const a = expectValid('BlockAffinity', SAMPLES.BlockAffinity());
    assert.equal(a.spec.type, 'host');
    assert.equal(a.spec.deleted, false);
  });

  it('`parseResource()` requires spec.state: a writer must say which claim step it is at', () => {
    expectIssue('BlockAffinity', withSpec('BlockAffinity', { state: undefined }), 'spec.state', 'is required');
    expectIssue(
      'BlockAffinity',
      withSpec('BlockAffinity', { state: 'claimed' }),
      'spec.state',
      'must be one of "pending", "confirmed", "pendingDeletion"',
    );
  });

  it('`parseResource()` names metadata.name when it is not blockAffinityName(node, cidr)', () => {
    expectIssue(
      'BlockAffinity',
      withMeta('BlockAffinity', { name: 'worker-2-10-244-3-64-26' }),
      'metadata.name',
      'must be "worker-1-10-244-3-64-26"',
    );
  });

  it('`parseResource()` names spec.cidr when it is not a canonical block CIDR', () => {
    expectIssue(
      'BlockAffinity',
      withSpec('BlockAffinity', { cidr: '10.244.3.65/26' }),
      'spec.cidr',
      'must not have host bits set',
    );
  });
});

describe('blockAffinityName()', () => {
  it('is <node>-<blockName> for ordinary names', () => {
    assert.equal(blockAffinityName('worker-1', '10.244.3.64/26'), 'worker-1-10-244-3-64-26');
  });

  it('shortens the node part and appends a hash when the name would reach 253 characters', () => {
    const node = `${'n'.repeat(200)}.${'m'.repeat(60)}`;
    const name = blockAffinityName(node, '10.244.3.64/26');
    assert.equal(name.length, 252);
    assert.match(name, /-10-244-3-64-26-[0-9a-f]{11}$/);
    assert.ok(DNS_SUBDOMAIN.test(name));
    assert.notEqual(name, blockAffinityName(`${node}x`, '10.244.3.64/26'));
  });

  it('the long form passes validation too', () => {
    const node = `${'n'.repeat(200)}.${'m'.repeat(50)}`;
    const obj = withSpec('BlockAffinity', { node });
    obj.metadata = { name: blockAffinityName(node, '10.244.3.64/26') };
    assert.equal(expectValid('BlockAffinity', obj).spec.node, node);
  });
});

describe('blockAffinityLabels()', () => {
  it('labels the node hash, the affinity type and the IP version', () => {
    const labels = blockAffinityLabels({ node: 'worker-1', type: 'host', cidr: 'fd00::/122' });
    assert.deepEqual(labels, {
      [AFFINITY_LABELS.hostnameHash]: hostnameHash('worker-1'),
      [AFFINITY_LABELS.affinityType]: 'host',
      [AFFINITY_LABELS.ipVersion]: '6',
    });
  });

  it('`hostnameHash()` is 52 base32 characters, fits a label value, and differs per node', () => {
    const h = hostnameHash('worker-1');
    assert.match(h, /^[A-Z2-7]{52}$/);
    assert.notEqual(h, hostnameHash('worker-2'));
    // base32(SHA3-256("worker-1")), computed independently (Python hashlib + base64)
    assert.equal(h, 'CPU5J3TPSNHFA66J45DG4Z5C3PSJAZ36LD46JZLYEGZSTAWBUCUA');
  });

  it('`base32NoPad()` matches the test vectors of RFC 4648 §10', () => {
    const vectors = {
      '': '',
      f: 'MY',
      fo: 'MZXQ',
      foo: 'MZXW6',
      foob: 'MZXW6YQ',
      fooba: 'MZXW6YTB',
      foobar: 'MZXW6YTBOI',
    };
    for (const [plain, encoded] of Object.entries(vectors))
      assert.equal(base32NoPad(Buffer.from(plain)), encoded, plain);
  });
});
