import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { effectivePolicyTypes, NetworkPolicySpec } from './k8s.js';
import { fromSelectorObject, matchesLabels } from './label-selector.js';
import { expectIssue, expectValid, SAMPLES } from './testdata/samples.js';

const policy = (spec: Record<string, unknown>) => ({ ...SAMPLES.NetworkPolicy(), spec });

describe('native kinds', () => {
  it('`parseResource()` passes unknown Pod fields through unchanged, at every level', () => {
    const raw = SAMPLES.Pod();
    const extra = {
      ...raw,
      metadata: { ...raw.metadata, ownerReferences: [{ kind: 'ReplicaSet', name: 'web' }] },
      spec: {
        ...raw.spec,
        restartPolicy: 'Always',
        containers: [{ name: 'web', image: 'nginx', resources: { limits: { cpu: '1' } } }],
      },
      status: { ...raw.status, conditions: [{ type: 'Ready', status: 'True' }] },
    };
    assert.deepEqual(expectValid('Pod', extra), extra);
  });

  it('`parseResource()` adds no defaults to native objects', () => {
    for (const kind of ['Pod', 'Namespace', 'NetworkPolicy', 'K8sNode'] as const) {
      const raw = SAMPLES[kind]();
      assert.deepEqual(expectValid(kind, raw), raw, kind);
    }
  });

  it('`parseResource()` names a pod address that is not an IP', () => {
    expectIssue(
      'Pod',
      { ...SAMPLES.Pod(), status: { podIPs: [{ ip: '10.244.3' }] } },
      'status.podIPs[0].ip',
      'must be an IPv4 or IPv6 address',
    );
  });

  it('`parseResource()` requires a namespace on Pods and refuses one on Nodes', () => {
    expectIssue(
      'Pod',
      { ...SAMPLES.Pod(), metadata: { name: 'web-0' } },
      'metadata.namespace',
      'is required: Pod is namespaced',
    );
    expectIssue(
      'K8sNode',
      { ...SAMPLES.K8sNode(), metadata: { name: 'n', namespace: 'x' } },
      'metadata.namespace',
      'must be unset',
    );
  });

  it('`parseResource()` keeps the native Node kind name "Node" under the registry key K8sNode', () => {
    expectIssue('K8sNode', { ...SAMPLES.K8sNode(), apiVersion: 'crd.caracal.dev/v1' }, 'apiVersion', 'must be "v1"');
  });
});

describe('NetworkPolicy', () => {
  it('`parseResource()` accepts the full spec: selectors, ipBlock with except, numbered, named and ranged ports', () => {
    expectValid(
      'NetworkPolicy',
      policy({
        podSelector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['web', 'api'] }] },
        policyTypes: ['Ingress', 'Egress'],
        ingress: [
          { from: [{ podSelector: {}, namespaceSelector: { matchLabels: { team: 'a' } } }], ports: [{ port: 'http' }] },
          { from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }] },
        ],
        egress: [
          {
            to: [{ ipBlock: { cidr: '0.0.0.0/0' } }],
            ports: [
              { protocol: 'UDP', port: 53 },
              { port: 30000, endPort: 32767 },
            ],
          },
        ],
      }),
    );
  });

  it('`parseResource()` accepts an ipBlock cidr with host bits set, as the API server does', () => {
    expectValid('NetworkPolicy', policy({ ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.1/8' } }] }] }));
  });

  it('`parseResource()` names an except that is not a strict subset of cidr', () => {
    const spec = { ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.0.0.0/8', '11.0.0.0/16'] } }] }] };
    expectIssue(
      'NetworkPolicy',
      policy(spec),
      'spec.ingress[0].from[0].ipBlock.except[0]',
      'must be a strict subset of cidr 10.0.0.0/8',
    );
    expectIssue('NetworkPolicy', policy(spec), 'spec.ingress[0].from[0].ipBlock.except[1]', 'must be a strict subset');
  });

  it('`parseResource()` names an ipBlock combined with a selector, and an empty peer', () => {
    expectIssue(
      'NetworkPolicy',
      policy({ egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }] }] }),
      'spec.egress[0].to[0].ipBlock',
      'cannot be combined with podSelector or namespaceSelector',
    );
    expectIssue(
      'NetworkPolicy',
      policy({ egress: [{ to: [{}] }] }),
      'spec.egress[0].to[0]',
      'must set podSelector, namespaceSelector or ipBlock',
    );
  });

  it('`parseResource()` names a port that is neither a number nor a name, and an endPort on a named port or below port', () => {
    expectIssue(
      'NetworkPolicy',
      policy({ ingress: [{ ports: [{ port: true }] }] }),
      'spec.ingress[0].ports[0].port',
      'must be a port number (1-65535) or a port name: current value is true',
    );
    expectIssue(
      'NetworkPolicy',
      policy({ ingress: [{ ports: [{ port: 70000 }] }] }),
      'spec.ingress[0].ports[0].port',
      'must be at most 65535: current value is 70000',
    );
    expectIssue(
      'NetworkPolicy',
      policy({ ingress: [{ ports: [{ port: 'HTTP' }] }] }),
      'spec.ingress[0].ports[0].port',
      'must be an IANA service name',
    );
    expectIssue(
      'NetworkPolicy',
      policy({ ingress: [{ ports: [{ port: 'http', endPort: 90 }] }] }),
      'spec.ingress[0].ports[0].endPort',
      'requires a numeric port',
    );
    expectIssue(
      'NetworkPolicy',
      policy({ ingress: [{ ports: [{ port: 90, endPort: 80 }] }] }),
      'spec.ingress[0].ports[0].endPort',
      'must be at least port (90)',
    );
  });

  it('`parseResource()` names a protocol other than TCP, UDP and SCTP', () => {
    expectIssue(
      'NetworkPolicy',
      policy({ ingress: [{ ports: [{ protocol: 'ICMP' }] }] }),
      'spec.ingress[0].ports[0].protocol',
      'must be one of "TCP", "UDP", "SCTP"',
    );
  });

  it('`parseResource()` names selector requirements whose values do not fit the operator', () => {
    expectIssue(
      'NetworkPolicy',
      policy({ podSelector: { matchExpressions: [{ key: 'a', operator: 'In' }] } }),
      'spec.podSelector.matchExpressions[0].values',
      'must be non-empty when operator is In',
    );
    expectIssue(
      'NetworkPolicy',
      policy({ podSelector: { matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] } }),
      'spec.podSelector.matchExpressions[0].values',
      'must be empty when operator is Exists',
    );
  });

  it('a parsed podSelector works with label-selector.ts', () => {
    const np = expectValid('NetworkPolicy', SAMPLES.NetworkPolicy());
    const reqs = fromSelectorObject(np.spec?.podSelector ?? {});
    assert.equal(matchesLabels(reqs, { app: 'web' }), true);
    assert.equal(matchesLabels(reqs, { app: 'db' }), false);
  });
});

describe('effectivePolicyTypes()', () => {
  it('defaults as the API server does: Ingress, plus Egress when there are egress rules', () => {
    const s = (v: unknown) => NetworkPolicySpec.parse(v);
    assert.deepEqual(effectivePolicyTypes(s({})), ['Ingress']);
    assert.deepEqual(effectivePolicyTypes(s({ egress: [{}] })), ['Ingress', 'Egress']);
    assert.deepEqual(effectivePolicyTypes(s({ policyTypes: ['Egress'] })), ['Egress']);
    assert.deepEqual(effectivePolicyTypes(undefined), ['Ingress']);
  });
});
