import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { blockName, formatAffinity, nextSequenceNumber, parseAffinity } from './ipam-block.js';
import { emptyBlockSpec, expectIssue, expectValid, SAMPLES, withMeta, withSpec } from './testdata/samples.js';

/** A /26 with ordinals 0 and 1 allocated to attributes[0]. */
function twoAllocated() {
  const spec = emptyBlockSpec();
  spec.allocations[0] = 0;
  spec.allocations[1] = 0;
  spec.unallocated = spec.unallocated.slice(2);
  return {
    ...spec,
    attributes: [
      { handle_id: 'k8s-pod-network.abc', secondary: { pod: 'web-0', namespace: 'default', node: 'worker-1' } },
    ],
    sequenceNumber: '1763841225000000001',
    sequenceNumberForAllocation: { '0': '1763841225000000000', '1': '1763841225000000001' },
  };
}

describe('IPAMBlock', () => {
  it('`parseResource()` accepts a fresh block and applies defaults', () => {
    const b = expectValid('IPAMBlock', SAMPLES.IPAMBlock());
    assert.equal(b.spec.allocations.length, 64);
    assert.deepEqual(b.spec.attributes, []);
    assert.equal(b.spec.sequenceNumber, '0');
    assert.deepEqual(b.spec.sequenceNumberForAllocation, {});
    assert.equal(b.spec.deleted, false);
  });

  it('`parseResource()` keeps a sequence number beyond 2^53 exact, as a string', () => {
    const b = expectValid('IPAMBlock', withSpec('IPAMBlock', twoAllocated()));
    assert.equal(b.spec.sequenceNumber, '1763841225000000001');
    assert.equal(b.spec.sequenceNumberForAllocation['1'], '1763841225000000001');
  });

  it('`parseResource()` names spec.sequenceNumber when it is a JSON number or out of uint64 range', () => {
    expectIssue('IPAMBlock', withSpec('IPAMBlock', { sequenceNumber: 5 }), 'spec.sequenceNumber', 'must be a string');
    expectIssue(
      'IPAMBlock',
      withSpec('IPAMBlock', { sequenceNumber: '18446744073709551616' }),
      'spec.sequenceNumber',
      'must be at most 18446744073709551615',
    );
    expectIssue(
      'IPAMBlock',
      withSpec('IPAMBlock', { sequenceNumber: '007' }),
      'spec.sequenceNumber',
      'must be a decimal integer without leading zeros',
    );
  });

  it('`parseResource()` names spec.allocations when its length is not the block size', () => {
    const spec = emptyBlockSpec();
    spec.allocations.pop();
    expectIssue(
      'IPAMBlock',
      withSpec('IPAMBlock', spec),
      'spec.allocations',
      'must have one entry per address of the /26 block (64): current length is 63',
    );
  });

  it('`parseResource()` names the allocation that points past attributes', () => {
    const spec = twoAllocated();
    spec.allocations[1] = 1;
    expectIssue(
      'IPAMBlock',
      withSpec('IPAMBlock', spec),
      'spec.allocations[1]',
      'must index an entry of attributes (there are 1): current value is 1',
    );
  });

  it('`parseResource()` names an unallocated ordinal that is out of range, repeated or allocated', () => {
    const spec = twoAllocated();
    expectIssue(
      'IPAMBlock',
      withSpec('IPAMBlock', { ...spec, unallocated: [...spec.unallocated, 64] }),
      'spec.unallocated[62]',
      'must be an ordinal below the block size 64',
    );
    expectIssue(
      'IPAMBlock',
      withSpec('IPAMBlock', { ...spec, unallocated: [...spec.unallocated, 2] }),
      'spec.unallocated[62]',
      'lists a free ordinal twice',
    );
    expectIssue(
      'IPAMBlock',
      withSpec('IPAMBlock', { ...spec, unallocated: [0, ...spec.unallocated] }),
      'spec.unallocated[0]',
      'lists ordinal 0, which is allocated',
    );
  });

  it('`parseResource()` names a free ordinal missing from unallocated (free + used = size)', () => {
    const spec = emptyBlockSpec();
    spec.unallocated = spec.unallocated.filter((o) => o !== 7);
    expectIssue(
      'IPAMBlock',
      withSpec('IPAMBlock', spec),
      'spec.allocations[7]',
      'is free but ordinal 7 is missing from unallocated',
    );
  });

  it('`parseResource()` names a sequenceNumberForAllocation key that is not an ordinal of the block', () => {
    const spec = { ...emptyBlockSpec(), sequenceNumberForAllocation: { '64': '1', x: '1' } };
    expectIssue(
      'IPAMBlock',
      withSpec('IPAMBlock', spec),
      'spec.sequenceNumberForAllocation["64"]',
      'key must be an ordinal below the block size 64',
    );
    expectIssue(
      'IPAMBlock',
      withSpec('IPAMBlock', spec),
      'spec.sequenceNumberForAllocation.x',
      'key must be an ordinal below the block size 64',
    );
  });

  it('`parseResource()` names spec.cidr when the prefix length is not a block size', () => {
    expectIssue(
      'IPAMBlock',
      withSpec('IPAMBlock', emptyBlockSpec('10.244.0.0/16', 65536)),
      'spec.cidr',
      'must have a prefix length between 20 and 32 for IPv4',
    );
  });

  it('`parseResource()` names spec.affinity when it is neither host: nor virtual:', () => {
    expectIssue(
      'IPAMBlock',
      withSpec('IPAMBlock', { affinity: 'worker-1' }),
      'spec.affinity',
      'must be "host:<nodeName>" or "virtual:<name>"',
    );
  });

  it('`parseResource()` names metadata.name when it is not derived from spec.cidr', () => {
    expectIssue(
      'IPAMBlock',
      withMeta('IPAMBlock', { name: 'block-1' }),
      'metadata.name',
      'must be "10-244-3-64-26", derived from spec.cidr: current value is "block-1"',
    );
  });

  it('`parseResource()` accepts an IPv6 /122 block named by blockName()', () => {
    const cidr = 'fd00:10:244::40/122';
    const obj = withMeta('IPAMBlock', { name: blockName(cidr) });
    obj.spec = { ...emptyBlockSpec(cidr, 64), affinity: 'virtual:load-balancer' };
    assert.equal(expectValid('IPAMBlock', obj).metadata.name, 'fd00-10-244--40-122');
  });
});

describe('blockName()', () => {
  it('replaces ".", ":" and "/" with "-" (ipam.md §1.7)', () => {
    assert.equal(blockName('10.244.3.64/26'), '10-244-3-64-26');
    assert.equal(blockName('fd00:10:244::40/122'), 'fd00-10-244--40-122');
  });
});

describe('parseAffinity() and formatAffinity()', () => {
  it('round-trip host and virtual owners and refuse malformed text', () => {
    assert.deepEqual(parseAffinity('host:worker-1'), { type: 'host', name: 'worker-1' });
    assert.deepEqual(parseAffinity('virtual:load-balancer'), { type: 'virtual', name: 'load-balancer' });
    assert.equal(formatAffinity({ type: 'host', name: 'n.1' }), 'host:n.1');
    assert.equal(parseAffinity('worker-1'), undefined);
    assert.equal(parseAffinity(undefined), undefined);
  });
});

describe('nextSequenceNumber()', () => {
  it('adds one without losing precision above 2^53', () => {
    assert.equal(nextSequenceNumber('9007199254740993'), '9007199254740994');
    assert.equal(nextSequenceNumber('0'), '1');
  });
});
