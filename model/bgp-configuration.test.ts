import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BGPConfigurationSpec, communityProblem, effectiveBgpConfiguration } from './bgp-configuration.js';
import { expectIssue, expectValid, SAMPLES, withMeta, withSpec } from './testdata/samples.js';

describe('BGPConfiguration', () => {
  it('`parseResource()` applies the cluster-wide defaults of crds.md §2', () => {
    const c = expectValid('BGPConfiguration', SAMPLES.BGPConfiguration());
    assert.deepEqual(c.spec, {
      nodeToNodeMeshEnabled: true,
      asNumber: 64512,
      serviceLoadBalancerAggregation: 'Enabled',
      nodeMeshMaxRestartTimeSec: 120,
    });
  });

  it('`parseResource()` accepts "node.<name>" and names metadata.name for any other name', () => {
    expectValid('BGPConfiguration', withMeta('BGPConfiguration', { name: 'node.worker-1' }));
    expectIssue(
      'BGPConfiguration',
      withMeta('BGPConfiguration', { name: 'worker-1' }),
      'metadata.name',
      'must be "default" or "node.<nodeName>"',
    );
  });

  it('`parseResource()` names a community value that is not aa:nn or aa:nn:mm, or whose parts overflow', () => {
    expectIssue(
      'BGPConfiguration',
      withSpec('BGPConfiguration', { communities: [{ name: 'a', value: '1:2:3:4' }] }),
      'spec.communities[0].value',
      'must be aa:nn (standard) or aa:nn:mm (large)',
    );
    expectIssue(
      'BGPConfiguration',
      withSpec('BGPConfiguration', { communities: [{ name: 'a', value: '65536:1' }] }),
      'spec.communities[0].value',
      'must fit in 16 bits',
    );
  });

  it('`parseResource()` names a prefix advertisement community that is neither a defined name nor a literal', () => {
    const spec = {
      communities: [{ name: 'no-export-ish', value: '65000:100' }],
      prefixAdvertisements: [{ cidr: '10.244.0.0/16', communities: ['no-export-ish', '65000:200', 'typo'] }],
    };
    expectIssue(
      'BGPConfiguration',
      withSpec('BGPConfiguration', spec),
      'spec.prefixAdvertisements[0].communities[2]',
      'must name an entry of spec.communities',
    );
  });

  it('`parseResource()` names a duplicate community name', () => {
    const communities = [
      { name: 'a', value: '1:1' },
      { name: 'a', value: '1:2' },
    ];
    expectIssue(
      'BGPConfiguration',
      withSpec('BGPConfiguration', { communities }),
      'spec.communities[1]',
      'duplicates the community name at communities[0]',
    );
  });

  it('`parseResource()` names a service CIDR with host bits set', () => {
    expectIssue(
      'BGPConfiguration',
      withSpec('BGPConfiguration', { serviceClusterIPs: [{ cidr: '10.96.0.1/12' }] }),
      'spec.serviceClusterIPs[0].cidr',
      'must not have host bits set',
    );
  });

  it('`parseResource()` names spec.listenPort outside 1-65535', () => {
    expectIssue(
      'BGPConfiguration',
      withSpec('BGPConfiguration', { listenPort: 0 }),
      'spec.listenPort',
      'must be at least 1: current value is 0',
    );
  });
});

describe('communityProblem()', () => {
  it('accepts standard and large communities at their limits', () => {
    assert.equal(communityProblem('65535:65535'), undefined);
    assert.equal(communityProblem('4294967295:0:4294967295'), undefined);
    assert.match(communityProblem('4294967296:0:0') ?? '', /32 bits/);
  });
});

describe('effectiveBgpConfiguration()', () => {
  const spec = (v: unknown) => BGPConfigurationSpec.parse(v);

  it('uses the defaults when there is no default object', () => {
    const e = effectiveBgpConfiguration(undefined);
    assert.equal(e.listenPort, 179);
    assert.equal(e.logSeverityScreen, 'Info');
    assert.equal(e.bindMode, 'None');
    assert.equal(e.asNumber, 64512);
  });

  it('lets a node object override listenPort but not an unset field, nor a cluster-only field', () => {
    const global = spec({ listenPort: 1790, asNumber: 65000 });
    const node = spec({ logSeverityScreen: 'Debug', asNumber: 65123 });
    const e = effectiveBgpConfiguration(global, node);
    assert.equal(e.listenPort, 1790, 'an unset per-node listenPort keeps the cluster value');
    assert.equal(e.logSeverityScreen, 'Debug');
    assert.equal(e.asNumber, 65000, 'asNumber is read from the default object only');
    assert.equal(effectiveBgpConfiguration(global, spec({ listenPort: 1791 })).listenPort, 1791);
  });
});
