/**
 * IPAMHandle: handle ID → the blocks holding its addresses, so a release by handle visits only those blocks
 * (ipam.md §1.4). Counts go up before the block write and down after a release; a crash in between leaves
 * an over-count, which release paths tolerate.
 *
 * `metadata.name` is `handleName(spec.handleID)` (the ID lower-cased). The ID conventions are pure
 * functions here because other code parses them back (GC, CNI DEL by workload ID).
 */
import { z } from 'zod';
import { addIssue } from './fields.js';
import { canonicalCidrProblem } from './ip.js';
import { ObjectMeta } from './meta.js';
import { CARACAL_API_VERSION, checkScope, typeMeta } from './resource.js';

export const IPAMHandleSpec = z
  .object({
    handleID: z
      .string()
      .min(1)
      .max(253)
      .describe('The handle: "<network>.<containerID>" for pods, "<type>-tunnel-addr-<node>" for tunnel addresses'),
    block: z
      .record(z.string(), z.number().int().min(0))
      .default({})
      .describe('Block CIDR -> number of addresses this handle holds in that block'),
    deleted: z
      .boolean()
      .default(false)
      .describe('Soft-delete mark: readers treat the handle as absent; the hard delete follows'),
  })
  .superRefine((spec, ctx) => {
    for (const cidr of Object.keys(spec.block)) {
      const problem = canonicalCidrProblem(cidr);
      if (problem) addIssue(ctx, ['block', cidr], `key ${problem}`);
    }
  })
  .describe('Which blocks hold addresses of one handle');
export type IPAMHandleSpec = z.infer<typeof IPAMHandleSpec>;

/** Network name Kubernetes pods are allocated under. */
export const DEFAULT_NETWORK_NAME = 'k8s-pod-network';

/** Object name of a handle: the handle ID lower-cased (ipam.md §1.7). */
export function handleName(handleID: string): string {
  return handleID.toLowerCase();
}

/** Handle of a pod's addresses: `<networkName>.<containerID>`. */
export function workloadHandleId(containerID: string, networkName: string = DEFAULT_NETWORK_NAME): string {
  return `${networkName}.${containerID}`;
}

/** The second handle CNI DEL releases by: `<namespace>.<pod>` (survives a container-ID change). */
export function workloadIdHandle(namespace: string, pod: string): string {
  return `${namespace}.${pod}`;
}

export const TunnelType = z.enum(['ipip', 'vxlan', 'vxlan-v6']);
export type TunnelType = z.infer<typeof TunnelType>;

/** Handle of a node's tunnel address: `ipip-tunnel-addr-<node>`, `vxlan-tunnel-addr-<node>`, ... */
export function tunnelHandleId(type: TunnelType, node: string): string {
  return `${type}-tunnel-addr-${node}`;
}

export const IPAMHandle = z
  .object({
    ...typeMeta(CARACAL_API_VERSION, 'IPAMHandle'),
    metadata: ObjectMeta,
    spec: IPAMHandleSpec,
  })
  .superRefine(checkScope('IPAMHandle', false))
  .superRefine((obj, ctx) => {
    const want = handleName(obj.spec.handleID);
    if (obj.metadata.name !== want) {
      addIssue(ctx, ['metadata', 'name'], `must be "${want}", the lower-cased spec.handleID`, obj.metadata.name);
    }
  })
  .meta({
    'x-kubernetes-validations': [
      {
        rule: 'self.metadata.name == self.spec.handleID.lowerAscii()',
        message: 'name must be spec.handleID in lower case',
      },
    ],
  })
  .describe('Index from an IPAM handle to the blocks holding its addresses');
export type IPAMHandle = z.infer<typeof IPAMHandle>;
export type IPAMHandleInput = z.input<typeof IPAMHandle>;
