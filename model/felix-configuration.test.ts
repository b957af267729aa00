import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { effectiveFelixConfiguration, FELIX_DEFAULTS, FelixConfigurationSpec } from './felix-configuration.js';
import { expectIssue, expectValid, SAMPLES, withMeta, withSpec } from './testdata/samples.js';

describe('FelixConfiguration', () => {
  it('`parseResource()` leaves every field unset: per-node objects override only what they set', () => {
    assert.deepEqual(expectValid('FelixConfiguration', SAMPLES.FelixConfiguration()).spec, {});
  });

  it('`FELIX_DEFAULTS` passes the schema, field by field', () => {
    assert.deepEqual(FelixConfigurationSpec.parse(FELIX_DEFAULTS), FELIX_DEFAULTS);
  });

  it("every defaulted field's description states its default", () => {
    const shape = FelixConfigurationSpec.unwrap().shape as Record<string, { description?: string }>;
    for (const [key, value] of Object.entries(FELIX_DEFAULTS)) {
      assert.ok(shape[key]?.description?.includes(`Default: ${JSON.stringify(value)}`), key);
    }
  });

  it('`parseResource()` names a port range that is not lo:hi with lo <= hi', () => {
    expectIssue(
      'FelixConfiguration',
      withSpec('FelixConfiguration', { kubeNodePortRanges: ['32767:30000'] }),
      'spec.kubeNodePortRanges[0]',
      'must be "lo:hi" with 1 <= lo <= hi <= 65535',
    );
    expectIssue(
      'FelixConfiguration',
      withSpec('FelixConfiguration', { natPortRange: '1-2' }),
      'spec.natPortRange',
      'must be "lo:hi"',
    );
  });

  it('`parseResource()` names an mtuIfacePattern that is not a regular expression', () => {
    expectIssue(
      'FelixConfiguration',
      withSpec('FelixConfiguration', { mtuIfacePattern: '(eth' }),
      'spec.mtuIfacePattern',
      'must be a regular expression',
    );
  });

  it('`parseResource()` names a failsafe port with an unknown protocol', () => {
    const ports = [{ protocol: 'ICMP', port: 1 }];
    expectIssue(
      'FelixConfiguration',
      withSpec('FelixConfiguration', { failsafeInboundHostPorts: ports }),
      'spec.failsafeInboundHostPorts[0].protocol',
      'must be one of "TCP", "UDP", "SCTP"',
    );
  });

  it('`parseResource()` names natOutgoingAddress that is not IPv4', () => {
    expectIssue(
      'FelixConfiguration',
      withSpec('FelixConfiguration', { natOutgoingAddress: 'fd00::1' }),
      'spec.natOutgoingAddress',
      'must be an IPv4 address',
    );
  });

  it('`parseResource()` names metadata.name unless it is "default" or "node.<name>"', () => {
    expectIssue(
      'FelixConfiguration',
      withMeta('FelixConfiguration', { name: 'node.' }),
      'metadata.name',
      'must be "default" or "node.<nodeName>"',
    );
  });
});

describe('effectiveFelixConfiguration()', () => {
  it('layers defaults, then the default object, then the per-node object', () => {
    const e = effectiveFelixConfiguration({ vxlanPort: 8472, healthEnabled: true }, { vxlanPort: 4790 });
    assert.equal(e.vxlanPort, 4790);
    assert.equal(e.healthEnabled, true);
    assert.equal(e.routeRefreshIntervalSec, 90);
    assert.equal(e.ipipEnabled, undefined, 'fields without a default stay unset');
  });

  it('does not share the default lists with the caller', () => {
    const e = effectiveFelixConfiguration(undefined);
    assert.deepEqual(e.failsafeInboundHostPorts, FELIX_DEFAULTS.failsafeInboundHostPorts);
    assert.notEqual(e.failsafeInboundHostPorts, FELIX_DEFAULTS.failsafeInboundHostPorts);
  });
});
