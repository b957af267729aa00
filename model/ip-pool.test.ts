import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { effectiveBlockSize, IPPoolSpec } from './ip-pool.js';
import { expectIssue, expectValid, SAMPLES, withMeta, withSpec } from './testdata/samples.js';
import { parseResource } from './validate.js';

describe('IPPool', () => {
  it('`parseResource()` applies the defaults of ipam.md §1.1 to a minimal pool', () => {
    const pool = expectValid('IPPool', SAMPLES.IPPool());
    assert.deepEqual(pool.spec, {
      cidr: '10.244.0.0/16',
      blockSize: 26,
      ipipMode: 'Never',
      vxlanMode: 'Never',
      natOutgoing: false,
      disabled: false,
      disableBGPExport: false,
      nodeSelector: 'all()',
      allowedUses: ['Workload', 'Tunnel'],
      assignmentMode: 'Automatic',
    });
  });

  it('`parseResource()` defaults blockSize to 122 for an IPv6 pool and keeps an explicit one', () => {
    assert.equal(expectValid('IPPool', withSpec('IPPool', { cidr: 'fd00:10:244::/48' })).spec.blockSize, 122);
    assert.equal(expectValid('IPPool', withSpec('IPPool', { blockSize: 24 })).spec.blockSize, 24);
  });

  it('`parseResource()` reads an empty allowedUses as Workload and Tunnel', () => {
    assert.deepEqual(expectValid('IPPool', withSpec('IPPool', { allowedUses: [] })).spec.allowedUses, [
      'Workload',
      'Tunnel',
    ]);
  });

  it('`parseResource()` gives the exact message of STYLE §2.5 for an IPv4 blockSize out of range', () => {
    assert.throws(() => parseResource('IPPool', withSpec('IPPool', { blockSize: 19 })), {
      code: 'INVALID_RESOURCE',
      message: 'Cannot accept IPPool "pool-a": spec.blockSize: must be between 20 and 32 for IPv4: current value is 19',
    });
  });

  it('`parseResource()` names spec.blockSize when an IPv6 block size is outside 116-128', () => {
    expectIssue(
      'IPPool',
      withSpec('IPPool', { cidr: 'fd00::/48', blockSize: 64 }),
      'spec.blockSize',
      'must be between 116 and 128 for IPv6: current value is 64',
    );
  });

  it('`parseResource()` names spec.blockSize when a block would not fit in the pool, explicit or defaulted', () => {
    expectIssue(
      'IPPool',
      withSpec('IPPool', { cidr: '10.0.0.0/24', blockSize: 22 }),
      'spec.blockSize',
      "must be at least the pool's prefix length 24",
    );
    expectIssue(
      'IPPool',
      withSpec('IPPool', { cidr: '10.0.0.0/28' }),
      'spec.blockSize',
      'defaults to 26 for IPv4, and a /26 block does not fit in the /28 pool',
    );
  });

  it('`parseResource()` names spec.cidr when it is not a CIDR, has host bits set, or is not canonical', () => {
    expectIssue(
      'IPPool',
      withSpec('IPPool', { cidr: '10.244.0.0' }),
      'spec.cidr',
      'must be a CIDR such as 10.244.0.0/16',
    );
    expectIssue(
      'IPPool',
      withSpec('IPPool', { cidr: '10.244.0.1/16' }),
      'spec.cidr',
      'must not have host bits set; the network is 10.244.0.0/16: current value is "10.244.0.1/16"',
    );
    expectIssue(
      'IPPool',
      withSpec('IPPool', { cidr: 'fd00:0:0::/48' }),
      'spec.cidr',
      'must be written in canonical form "fd00::/48"',
    );
  });

  it('`parseResource()` names spec.ipipMode when an IPv6 pool asks for IP-in-IP', () => {
    expectIssue(
      'IPPool',
      withSpec('IPPool', { cidr: 'fd00::/48', ipipMode: 'CrossSubnet' }),
      'spec.ipipMode',
      'must be Never for an IPv6 pool',
    );
  });

  it('`parseResource()` names spec.vxlanMode when both IPIP and VXLAN are on', () => {
    expectIssue(
      'IPPool',
      withSpec('IPPool', { ipipMode: 'Always', vxlanMode: 'CrossSubnet' }),
      'spec.vxlanMode',
      'must be Never when ipipMode is Always',
    );
  });

  it('`parseResource()` names the duplicate entry of allowedUses', () => {
    expectIssue(
      'IPPool',
      withSpec('IPPool', { allowedUses: ['Workload', 'Workload'] }),
      'spec.allowedUses[1]',
      'duplicates the use at allowedUses[0]',
    );
  });

  it('`parseResource()` lists an unknown enum value with the allowed ones', () => {
    expectIssue(
      'IPPool',
      withSpec('IPPool', { vxlanMode: 'Sometimes' }),
      'spec.vxlanMode',
      'must be one of "Never", "Always", "CrossSubnet": current value is "Sometimes"',
    );
  });

  it('`parseResource()` refuses a namespace on the cluster-scoped IPPool', () => {
    expectIssue(
      'IPPool',
      withMeta('IPPool', { namespace: 'default' }),
      'metadata.namespace',
      'must be unset: IPPool is cluster-scoped',
    );
  });

  it('`parseResource()` refuses a wrong apiVersion or kind', () => {
    expectIssue(
      'IPPool',
      { ...SAMPLES.IPPool(), apiVersion: 'crd.projectcalico.org/v1' },
      'apiVersion',
      'must be "crd.caracal.dev/v1"',
    );
    expectIssue('IPPool', { ...SAMPLES.IPPool(), kind: 'IPAMBlock' }, 'kind', 'must be "IPPool"');
  });
});

describe('effectiveBlockSize()', () => {
  it('is the explicit blockSize, else 26 for IPv4 and 122 for IPv6', () => {
    assert.equal(effectiveBlockSize({ cidr: '10.0.0.0/8' }), 26);
    assert.equal(effectiveBlockSize({ cidr: 'fd00::/8' }), 122);
    assert.equal(effectiveBlockSize({ cidr: 'fd00::/8', blockSize: 120 }), 120);
  });

  it('agrees with the blockSize of the parsed spec', () => {
    for (const cidr of ['10.0.0.0/8', 'fd00::/8']) {
      assert.equal(IPPoolSpec.parse({ cidr }).blockSize, effectiveBlockSize({ cidr }));
    }
  });
});
