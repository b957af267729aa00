/**
 * The registry of every kind Caracal stores or reads. PLACEHOLDER SCHEMAS: the model work replaces each
 * `placeholder(...)` with the real schema module; the registry keys, kinds, plurals and store names are fixed.
 */
import { z } from 'zod';
import { CARACAL_GROUP, CARACAL_VERSION, type KindInfo } from './kind.js';
import { ObjectMeta } from './meta.js';

const placeholder = (apiVersion: string, kind: string) =>
  z.looseObject({
    apiVersion: z.literal(apiVersion),
    kind: z.literal(kind),
    metadata: ObjectMeta,
    spec: z.record(z.string(), z.unknown()).optional(),
    status: z.unknown().optional(),
  });

const ours = <K extends string>(key: K, kind: string, plural: string, shortNames: string[] = []) =>
  ({
    key,
    kind,
    group: CARACAL_GROUP,
    version: CARACAL_VERSION,
    plural,
    singular: kind.toLowerCase(),
    shortNames,
    namespaced: false,
    native: false,
    storeName: plural,
    schema: placeholder(`${CARACAL_GROUP}/${CARACAL_VERSION}`, kind),
  }) as const;

export const KINDS = {
  IPPool: ours('IPPool', 'IPPool', 'ippools'),
  IPAMBlock: ours('IPAMBlock', 'IPAMBlock', 'ipamblocks'),
  BlockAffinity: ours('BlockAffinity', 'BlockAffinity', 'blockaffinities'),
  IPAMHandle: ours('IPAMHandle', 'IPAMHandle', 'ipamhandles'),
  IPAMConfig: ours('IPAMConfig', 'IPAMConfig', 'ipamconfigs'),
  BGPConfiguration: ours('BGPConfiguration', 'BGPConfiguration', 'bgpconfigurations'),
  BGPPeer: ours('BGPPeer', 'BGPPeer', 'bgppeers'),
  FelixConfiguration: ours('FelixConfiguration', 'FelixConfiguration', 'felixconfigurations'),
  Node: ours('Node', 'Node', 'nodes', ['cnode']),
  WorkloadEndpoint: {
    ...ours('WorkloadEndpoint', 'WorkloadEndpoint', 'workloadendpoints', ['wep']),
    namespaced: true,
  },
  Pod: {
    key: 'Pod', kind: 'Pod', group: '', version: 'v1', plural: 'pods', singular: 'pod', namespaced: true,
    native: true, storeName: 'k8s-pods', schema: placeholder('v1', 'Pod'),
  },
  Namespace: {
    key: 'Namespace', kind: 'Namespace', group: '', version: 'v1', plural: 'namespaces', singular: 'namespace',
    namespaced: false, native: true, storeName: 'k8s-namespaces', schema: placeholder('v1', 'Namespace'),
  },
  NetworkPolicy: {
    key: 'NetworkPolicy', kind: 'NetworkPolicy', group: 'networking.k8s.io', version: 'v1', plural: 'networkpolicies',
    singular: 'networkpolicy', namespaced: true, native: true, storeName: 'k8s-networkpolicies',
    schema: placeholder('networking.k8s.io/v1', 'NetworkPolicy'),
  },
  K8sNode: {
    key: 'K8sNode', kind: 'Node', group: '', version: 'v1', plural: 'nodes', singular: 'node', namespaced: false,
    native: true, storeName: 'k8s-nodes', schema: placeholder('v1', 'Node'),
  },
} as const satisfies Record<string, KindInfo>;

export type KindName = keyof typeof KINDS;
export type ResourceOf<K extends KindName> = z.infer<(typeof KINDS)[K]['schema']>;

export function kindInfo<K extends KindName>(name: K): (typeof KINDS)[K] {
  return KINDS[name];
}
