import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { handleName, tunnelHandleId, workloadHandleId, workloadIdHandle } from './ipam-handle.js';
import { expectIssue, expectValid, SAMPLES, withMeta, withSpec } from './testdata/samples.js';

describe('IPAMHandle', () => {
  it('`parseResource()` accepts a handle and defaults deleted to false', () => {
    const h = expectValid('IPAMHandle', SAMPLES.IPAMHandle());
    assert.deepEqual(h.spec, { handleID: 'k8s-pod-network.abc123', block: { '10.244.3.64/26': 1 }, deleted: false });
  });

  it('`parseResource()` names the block key that is not a canonical CIDR', () => {
    expectIssue(
      'IPAMHandle',
      withSpec('IPAMHandle', { block: { '10.244.3.65/26': 1 } }),
      'spec.block["10.244.3.65/26"]',
      'key must not have host bits set',
    );
  });

  it('`parseResource()` names a negative count', () => {
    expectIssue(
      'IPAMHandle',
      withSpec('IPAMHandle', { block: { '10.244.3.64/26': -1 } }),
      'spec.block["10.244.3.64/26"]',
      'must be at least 0: current value is -1',
    );
  });

  it('`parseResource()` names metadata.name when it is not the lower-cased handle ID', () => {
    const obj = withSpec('IPAMHandle', { handleID: 'k8s-pod-network.ABC123' });
    assert.equal(expectValid('IPAMHandle', obj).metadata.name, 'k8s-pod-network.abc123');
    expectIssue(
      'IPAMHandle',
      withMeta('IPAMHandle', { name: 'other' }),
      'metadata.name',
      'must be "k8s-pod-network.abc123", the lower-cased spec.handleID',
    );
  });
});

describe('handle ID conventions', () => {
  it('follow ipam.md §1.4', () => {
    assert.equal(workloadHandleId('abc123'), 'k8s-pod-network.abc123');
    assert.equal(workloadHandleId('abc123', 'net2'), 'net2.abc123');
    assert.equal(workloadIdHandle('default', 'web-0'), 'default.web-0');
    assert.equal(tunnelHandleId('vxlan-v6', 'worker-1'), 'vxlan-v6-tunnel-addr-worker-1');
    assert.equal(handleName('K8s-Pod-Network.ABC'), 'k8s-pod-network.abc');
  });
});
