/**
 * Sample objects for the datastore contract suite (datastore/contract.ts) and for other components' tests:
 * one cluster-scoped kind (IPPool) and one namespaced kind (WorkloadEndpoint), valid against model/, plus raw
 * objects that are not (to plant with `ContractHarness.putRaw`).
 */
import type { ResourceOf } from '../model/kinds.js';
import { CARACAL_API_VERSION } from '../model/resource.js';

/** A distinct, canonical IPv4 /24 for index `i` (0 ≤ i < 65536): 10.<hi>.<lo>.0/24. */
export function poolCidrV4(i: number): string {
  return `10.${(i >> 8) & 0xff}.${i & 0xff}.0/24`;
}

export interface SamplePoolOpts {
  cidr?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  natOutgoing?: boolean;
}

/** A valid IPPool with every spec field spelled out, so it equals what a read returns (defaults applied). */
export function sampleIPPool(name: string, opts: SamplePoolOpts = {}): ResourceOf<'IPPool'> {
  return {
    apiVersion: CARACAL_API_VERSION,
    kind: 'IPPool',
    metadata: {
      name,
      ...(opts.labels ? { labels: opts.labels } : {}),
      ...(opts.annotations ? { annotations: opts.annotations } : {}),
    },
    spec: {
      cidr: opts.cidr ?? '10.244.0.0/16',
      blockSize: 26,
      ipipMode: 'Never',
      vxlanMode: 'Never',
      natOutgoing: opts.natOutgoing ?? false,
      disabled: false,
      disableBGPExport: false,
      nodeSelector: 'all()',
      allowedUses: ['Workload', 'Tunnel'],
      assignmentMode: 'Automatic',
    },
  } as ResourceOf<'IPPool'>;
}

export interface SampleWepOpts {
  labels?: Record<string, string>;
  node?: string;
  ip?: string;
}

/** A valid WorkloadEndpoint for pod `pod` in `namespace`, named the way the CNI plugin names them; like
 *  sampleIPPool, every defaulted field is spelled out. */
export function sampleWorkloadEndpoint(
  namespace: string,
  pod: string,
  opts: SampleWepOpts = {},
): ResourceOf<'WorkloadEndpoint'> {
  const node = opts.node ?? 'node-1';
  return {
    apiVersion: CARACAL_API_VERSION,
    kind: 'WorkloadEndpoint',
    metadata: {
      name: `${node}-k8s-${pod}-eth0`,
      namespace,
      ...(opts.labels ? { labels: opts.labels } : {}),
    },
    spec: {
      orchestrator: 'k8s',
      node,
      pod,
      endpoint: 'eth0',
      containerID: 'c0ffee',
      interfaceName: `cali${pod.replace(/[^a-z0-9]/g, '').slice(0, 11)}`,
      ipNetworks: [`${opts.ip ?? '10.244.1.5'}/32`],
      profiles: [`kns.${namespace}`],
      ports: [],
    },
  } as ResourceOf<'WorkloadEndpoint'>;
}

/** A raw IPPool that fails validation at `spec` (not an object) under any schema; for `putRaw`. */
export function invalidRawIPPool(name: string, labels?: Record<string, string>): Record<string, unknown> {
  return {
    apiVersion: CARACAL_API_VERSION,
    kind: 'IPPool',
    metadata: { name, ...(labels ? { labels } : {}) },
    spec: 'not-an-object',
  };
}

/** Objects a write must reject, and the field path the error must name. */
export function invalidWrites(): { what: string; object: ResourceOf<'IPPool'>; field: string }[] {
  const base = sampleIPPool('bad-pool');
  return [
    {
      what: 'a pool CIDR with host bits set',
      object: { ...base, spec: { ...base.spec, cidr: '10.244.0.1/16' } },
      field: 'spec.cidr',
    },
    {
      what: 'a block size outside 20-32 for IPv4',
      object: { ...base, spec: { ...base.spec, blockSize: 19 } },
      field: 'spec.blockSize',
    },
    {
      what: 'a name that is not an RFC 1123 subdomain',
      object: { ...base, metadata: { name: 'Not_A_Name' } },
      field: 'metadata.name',
    },
    {
      what: 'a label value that is not a string',
      object: { ...base, metadata: { name: 'bad-pool', labels: { tier: 7 as unknown as string } } },
      field: 'metadata.labels.tier',
    },
    {
      what: 'a spec that is not an object',
      object: { ...base, spec: 'nope' } as unknown as ResourceOf<'IPPool'>,
      field: 'spec',
    },
  ];
}
