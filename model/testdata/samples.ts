/**
 * Test support for model/: one valid, minimal input object per kind (defaults left out), and helpers that
 * assert on `safeParseResource()` issues by exact path. Used by the schema tests and by gen-crds.test.ts,
 * which checks that zod and the generated CRD schemas agree on these samples.
 */
import assert from 'node:assert/strict';
import type { KindName, ResourceOf } from '../kinds.js';
import { type ResourceIssue, safeParseResource } from '../validate.js';

/** A raw object as a writer hands it in. */
export interface Sample {
  apiVersion: string;
  kind: string;
  metadata: Record<string, unknown>;
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}

const ours = (kind: string, name: string, spec: Record<string, unknown>, namespace?: string): Sample => ({
  apiVersion: 'crd.caracal.dev/v1',
  kind,
  metadata: namespace === undefined ? { name } : { name, namespace },
  spec,
});

/** A fresh /26 block: every ordinal free, in order. */
export function emptyBlockSpec(cidr = '10.244.3.64/26', size = 64) {
  return {
    cidr,
    affinity: 'host:worker-1',
    allocations: new Array<number | null>(size).fill(null),
    unallocated: Array.from({ length: size }, (_, i) => i),
  };
}

export const SAMPLES: { readonly [K in KindName]: () => Sample } = {
  IPPool: () => ours('IPPool', 'pool-a', { cidr: '10.244.0.0/16' }),
  IPAMBlock: () => ours('IPAMBlock', '10-244-3-64-26', emptyBlockSpec()),
  BlockAffinity: () =>
    ours('BlockAffinity', 'worker-1-10-244-3-64-26', { state: 'confirmed', node: 'worker-1', cidr: '10.244.3.64/26' }),
  IPAMHandle: () =>
    ours('IPAMHandle', 'k8s-pod-network.abc123', {
      handleID: 'k8s-pod-network.abc123',
      block: { '10.244.3.64/26': 1 },
    }),
  IPAMConfig: () => ours('IPAMConfig', 'default', {}),
  BGPConfiguration: () => ours('BGPConfiguration', 'default', {}),
  BGPPeer: () => ours('BGPPeer', 'tor-1', { peerIP: '192.0.2.1', asNumber: 65001 }),
  FelixConfiguration: () => ours('FelixConfiguration', 'default', {}),
  Node: () => ours('Node', 'worker-1', { bgp: { ipv4Address: '10.0.0.5/24' } }),
  WorkloadEndpoint: () =>
    ours(
      'WorkloadEndpoint',
      'worker--1-k8s-web--0-eth0',
      { node: 'worker-1', pod: 'web-0', interfaceName: 'cali1234567890a', ipNetworks: ['10.244.3.70/32'] },
      'default',
    ),
  Pod: () => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web-0', namespace: 'default', labels: { app: 'web' } },
    spec: {
      nodeName: 'worker-1',
      containers: [{ name: 'web', image: 'nginx', ports: [{ name: 'http', containerPort: 80 }] }],
    },
    status: { phase: 'Running', podIP: '10.244.3.70', podIPs: [{ ip: '10.244.3.70' }] },
  }),
  Namespace: () => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default', labels: { team: 'a' } } }),
  NetworkPolicy: () => ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'allow-web', namespace: 'default' },
    spec: {
      podSelector: { matchLabels: { app: 'web' } },
      policyTypes: ['Ingress'],
      ingress: [{ from: [{ namespaceSelector: {} }], ports: [{ protocol: 'TCP', port: 'http' }] }],
    },
  }),
  K8sNode: () => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: 'worker-1' },
    spec: { podCIDR: '10.244.3.0/24', podCIDRs: ['10.244.3.0/24'] },
    status: { addresses: [{ type: 'InternalIP', address: '10.0.0.5' }] },
  }),
};

/** Parse and assert success; returns the typed object. */
export function expectValid<K extends KindName>(kind: K, value: unknown): ResourceOf<K> {
  const r = safeParseResource(kind, value);
  if (!r.ok) assert.fail(`expected a valid ${kind}, got: ${r.error.message}`);
  return r.value;
}

/** Parse and assert failure; returns the issues. */
export function issuesOf(kind: KindName, value: unknown): readonly ResourceIssue[] {
  const r = safeParseResource(kind, value);
  if (r.ok) assert.fail(`expected ${kind} to be rejected, but it parsed`);
  return (r.error.details as { issues: ResourceIssue[] }).issues;
}

/** Assert that parsing fails with an issue at exactly `path` whose message contains `text`. */
export function expectIssue(kind: KindName, value: unknown, path: string, text: string): void {
  const issues = issuesOf(kind, value);
  const hit = issues.find((i) => i.path === path && i.message.includes(text));
  if (!hit) {
    assert.fail(
      `expected an issue at ${path} containing "${text}", got:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`,
    );
  }
}

/** The sample of `kind` with `patch` merged into its spec (a key set to undefined is removed). */
export function withSpec(kind: KindName, patch: Record<string, unknown>): Sample {
  const o = SAMPLES[kind]();
  o.spec = strip({ ...o.spec, ...patch });
  return o;
}

/** The sample of `kind` with `patch` merged into its metadata. */
export function withMeta(kind: KindName, patch: Record<string, unknown>): Sample {
  const o = SAMPLES[kind]();
  o.metadata = strip({ ...o.metadata, ...patch });
  return o;
}

function strip(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}
