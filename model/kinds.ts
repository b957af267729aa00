/**
 * The registry of every kind Caracal stores or reads: registry key → API names, store name and the zod
 * schema of the whole object (one file per kind). Registry keys, kinds, plurals and store names are fixed:
 * the datastore's keys and the CRDs' names are made from them.
 */
import type { z } from 'zod';
import { BGPConfiguration } from './bgp-configuration.js';
import { BGPPeer } from './bgp-peer.js';
import { BlockAffinity } from './block-affinity.js';
import { FelixConfiguration } from './felix-configuration.js';
import { IPPool } from './ip-pool.js';
import { IPAMBlock } from './ipam-block.js';
import { IPAMConfig } from './ipam-config.js';
import { IPAMHandle } from './ipam-handle.js';
import { K8sNode, Namespace, NetworkPolicy, Pod } from './k8s.js';
import { CARACAL_GROUP, CARACAL_VERSION, type KindInfo, type PrinterColumn } from './kind.js';
import { Node } from './node.js';
import { WorkloadEndpoint } from './workload-endpoint.js';

const ours = <K extends string, S extends z.ZodType>(
  key: K,
  plural: string,
  schema: S,
  opts: { shortNames?: string[]; namespaced?: boolean; printerColumns?: PrinterColumn[] } = {},
) =>
  ({
    key,
    kind: key,
    group: CARACAL_GROUP,
    version: CARACAL_VERSION,
    plural,
    singular: key.toLowerCase(),
    shortNames: opts.shortNames ?? [],
    namespaced: opts.namespaced ?? false,
    native: false,
    storeName: plural,
    schema,
    printerColumns: opts.printerColumns ?? [],
  }) as const;

const col = (name: string, jsonPath: string, type: PrinterColumn['type'] = 'string', priority = 0): PrinterColumn =>
  priority === 0 ? { name, type, jsonPath } : { name, type, jsonPath, priority };

export const KINDS = {
  IPPool: ours('IPPool', 'ippools', IPPool, {
    printerColumns: [
      col('CIDR', '.spec.cidr'),
      col('Block Size', '.spec.blockSize', 'integer'),
      col('IPIP', '.spec.ipipMode'),
      col('VXLAN', '.spec.vxlanMode'),
      col('Disabled', '.spec.disabled', 'boolean'),
      col('NAT Outgoing', '.spec.natOutgoing', 'boolean', 1),
    ],
  }),
  IPAMBlock: ours('IPAMBlock', 'ipamblocks', IPAMBlock, {
    printerColumns: [col('CIDR', '.spec.cidr'), col('Affinity', '.spec.affinity')],
  }),
  BlockAffinity: ours('BlockAffinity', 'blockaffinities', BlockAffinity, {
    printerColumns: [col('Node', '.spec.node'), col('CIDR', '.spec.cidr'), col('State', '.spec.state')],
  }),
  IPAMHandle: ours('IPAMHandle', 'ipamhandles', IPAMHandle, {
    printerColumns: [col('Handle', '.spec.handleID')],
  }),
  IPAMConfig: ours('IPAMConfig', 'ipamconfigs', IPAMConfig, {
    printerColumns: [
      col('Strict Affinity', '.spec.strictAffinity', 'boolean'),
      col('Max Blocks', '.spec.maxBlocksPerHost', 'integer'),
    ],
  }),
  BGPConfiguration: ours('BGPConfiguration', 'bgpconfigurations', BGPConfiguration, {
    printerColumns: [col('AS', '.spec.asNumber', 'integer'), col('Mesh', '.spec.nodeToNodeMeshEnabled', 'boolean')],
  }),
  BGPPeer: ours('BGPPeer', 'bgppeers', BGPPeer, {
    printerColumns: [
      col('Peer IP', '.spec.peerIP'),
      col('AS', '.spec.asNumber', 'integer'),
      col('Peer Selector', '.spec.peerSelector'),
      col('Node', '.spec.node', 'string', 1),
      col('Node Selector', '.spec.nodeSelector', 'string', 1),
    ],
  }),
  FelixConfiguration: ours('FelixConfiguration', 'felixconfigurations', FelixConfiguration),
  Node: ours('Node', 'nodes', Node, {
    shortNames: ['cnode'],
    printerColumns: [
      col('IPv4', '.spec.bgp.ipv4Address'),
      col('IPv6', '.spec.bgp.ipv6Address'),
      col('AS', '.spec.bgp.asNumber', 'integer'),
      col('RR Cluster', '.spec.bgp.routeReflectorClusterID', 'string', 1),
    ],
  }),
  WorkloadEndpoint: ours('WorkloadEndpoint', 'workloadendpoints', WorkloadEndpoint, {
    shortNames: ['wep'],
    namespaced: true,
    printerColumns: [
      col('Node', '.spec.node'),
      col('Pod', '.spec.pod'),
      col('Interface', '.spec.interfaceName'),
      col('Networks', '.spec.ipNetworks'),
    ],
  }),
  Pod: {
    key: 'Pod',
    kind: 'Pod',
    group: '',
    version: 'v1',
    plural: 'pods',
    singular: 'pod',
    namespaced: true,
    native: true,
    storeName: 'k8s-pods',
    schema: Pod,
  },
  Namespace: {
    key: 'Namespace',
    kind: 'Namespace',
    group: '',
    version: 'v1',
    plural: 'namespaces',
    singular: 'namespace',
    namespaced: false,
    native: true,
    storeName: 'k8s-namespaces',
    schema: Namespace,
  },
  NetworkPolicy: {
    key: 'NetworkPolicy',
    kind: 'NetworkPolicy',
    group: 'networking.k8s.io',
    version: 'v1',
    plural: 'networkpolicies',
    singular: 'networkpolicy',
    namespaced: true,
    native: true,
    storeName: 'k8s-networkpolicies',
    schema: NetworkPolicy,
  },
  K8sNode: {
    key: 'K8sNode',
    kind: 'Node',
    group: '',
    version: 'v1',
    plural: 'nodes',
    singular: 'node',
    namespaced: false,
    native: true,
    storeName: 'k8s-nodes',
    schema: K8sNode,
  },
} as const satisfies Record<string, KindInfo>;

export type KindName = keyof typeof KINDS;
/** A parsed object of the kind: defaults applied (what every reader gets). */
export type ResourceOf<K extends KindName> = z.infer<(typeof KINDS)[K]['schema']>;
/** What a writer may hand in: fields with defaults may be left out. */
export type ResourceInputOf<K extends KindName> = z.input<(typeof KINDS)[K]['schema']>;

export function kindInfo<K extends KindName>(name: K): (typeof KINDS)[K] {
  return KINDS[name];
}

/** Whether `name` is a registry key. */
export function isKindName(name: string): name is KindName {
  return Object.hasOwn(KINDS, name);
}
