import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRouteReflector } from './node.js';
import { expectIssue, expectValid, SAMPLES, withSpec } from './testdata/samples.js';

describe('Node', () => {
  it('`parseResource()` accepts a node with a BGP address and tunnel addresses', () => {
    const n = expectValid(
      'Node',
      withSpec('Node', {
        bgp: {
          ipv4Address: '10.0.0.5/24',
          ipv6Address: 'fd00::5/64',
          asNumber: 65001,
          ipv4IPIPTunnelAddr: '10.244.3.65',
        },
        ipv4VXLANTunnelAddr: '10.244.3.66',
        vxlanTunnelMACAddr: '66:a0:1b:2c:3d:4e',
        addresses: [{ address: '10.0.0.5', type: 'InternalIP' }],
      }),
    );
    assert.equal(n.spec.bgp?.asNumber, 65001);
    assert.equal(isRouteReflector(n), false);
  });

  it('`isRouteReflector()` is true when the node has a cluster ID', () => {
    const n = expectValid(
      'Node',
      withSpec('Node', { bgp: { ipv4Address: '10.0.0.5/24', routeReflectorClusterID: '224.0.0.1' } }),
    );
    assert.equal(isRouteReflector(n), true);
  });

  it('`parseResource()` names spec.bgp when it has no address', () => {
    expectIssue(
      'Node',
      withSpec('Node', { bgp: { asNumber: 65001 } }),
      'spec.bgp',
      'must set ipv4Address or ipv6Address',
    );
  });

  it('`parseResource()` names spec.bgp.ipv4Address when it is IPv6 or lacks a prefix length', () => {
    expectIssue(
      'Node',
      withSpec('Node', { bgp: { ipv4Address: 'fd00::5/64' } }),
      'spec.bgp.ipv4Address',
      'must be an IPv4 address',
    );
    expectIssue(
      'Node',
      withSpec('Node', { bgp: { ipv4Address: '10.0.0.5' } }),
      'spec.bgp.ipv4Address',
      'must be an IPv4 address with prefix length',
    );
  });

  it('`parseResource()` names spec.bgp.routeReflectorClusterID that is not an IPv4 address', () => {
    expectIssue(
      'Node',
      withSpec('Node', { bgp: { ipv4Address: '10.0.0.5/24', routeReflectorClusterID: '1' } }),
      'spec.bgp.routeReflectorClusterID',
      'must be an IPv4 address',
    );
  });

  it('`parseResource()` names the VXLAN MAC when the tunnel address comes without it', () => {
    expectIssue(
      'Node',
      withSpec('Node', { ipv4VXLANTunnelAddr: '10.244.3.66' }),
      'spec.vxlanTunnelMACAddr',
      'must be set together with ipv4VXLANTunnelAddr',
    );
  });

  it('`parseResource()` accepts a node without a spec (no BGP, no tunnels)', () => {
    const { spec: _s, ...bare } = SAMPLES.Node();
    assert.deepEqual(expectValid('Node', bare).spec, {});
  });
});
