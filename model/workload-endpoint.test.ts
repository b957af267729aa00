import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expectIssue, expectValid, SAMPLES, withMeta, withSpec } from './testdata/samples.js';
import { workloadEndpointName } from './workload-endpoint.js';

describe('WorkloadEndpoint', () => {
  it('`parseResource()` applies defaults: orchestrator k8s, endpoint eth0, empty lists', () => {
    const w = expectValid('WorkloadEndpoint', SAMPLES.WorkloadEndpoint());
    assert.equal(w.spec.orchestrator, 'k8s');
    assert.equal(w.spec.endpoint, 'eth0');
    assert.deepEqual(w.spec.profiles, []);
    assert.deepEqual(w.spec.ports, []);
  });

  it('`parseResource()` requires metadata.namespace: WorkloadEndpoint is namespaced', () => {
    expectIssue(
      'WorkloadEndpoint',
      withMeta('WorkloadEndpoint', { namespace: undefined }),
      'metadata.namespace',
      'is required: WorkloadEndpoint is namespaced',
    );
  });

  it('`parseResource()` names an interfaceName longer than IFNAMSIZ allows', () => {
    expectIssue(
      'WorkloadEndpoint',
      withSpec('WorkloadEndpoint', { interfaceName: 'cali1234567890ab' }),
      'spec.interfaceName',
      'must be at most 15 characters long: current length is 16',
    );
  });

  it('`parseResource()` names an ipNetworks entry that is not a single address', () => {
    expectIssue(
      'WorkloadEndpoint',
      withSpec('WorkloadEndpoint', { ipNetworks: ['10.244.3.64/26'] }),
      'spec.ipNetworks[0]',
      'must be a single address (/32)',
    );
  });

  it('`parseResource()` names a duplicate named port and a port name that is not an IANA service name', () => {
    const ports = [
      { name: 'http', port: 80 },
      { name: 'http', protocol: 'TCP', port: 8080 },
      { name: 'Web_UI', port: 81 },
    ];
    expectIssue(
      'WorkloadEndpoint',
      withSpec('WorkloadEndpoint', { ports }),
      'spec.ports[2].name',
      'must be an IANA service name',
    );
    ports.pop();
    expectIssue(
      'WorkloadEndpoint',
      withSpec('WorkloadEndpoint', { ports }),
      'spec.ports[1]',
      'duplicates the port name and protocol at ports[0]',
    );
  });

  it('`parseResource()` names spec.pod when a k8s endpoint has none', () => {
    expectIssue(
      'WorkloadEndpoint',
      withSpec('WorkloadEndpoint', { pod: undefined }),
      'spec.pod',
      'is required when orchestrator is k8s',
    );
  });

  it('`parseResource()` names an upper-case MAC', () => {
    expectIssue(
      'WorkloadEndpoint',
      withSpec('WorkloadEndpoint', { mac: '0A:58:0A:F4:03:01' }),
      'spec.mac',
      'must be a lower-case MAC address',
    );
  });
});

describe('workloadEndpointName()', () => {
  it("doubles '-' inside each part so the parts stay separable", () => {
    assert.equal(workloadEndpointName({ node: 'worker-1', pod: 'web-0' }), 'worker--1-k8s-web--0-eth0');
    assert.equal(workloadEndpointName({ node: 'n', pod: 'p', orchestrator: 'cni', endpoint: 'net1' }), 'n-cni-p-net1');
  });
});
