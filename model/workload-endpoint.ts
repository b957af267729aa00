/**
 * WorkloadEndpoint: one network interface of a pod (namespaced, like the pod). The CNI plugin writes it on
 * ADD; felix turns it into a route and a per-interface policy dispatch entry. Labels (pod labels plus
 * Caracal's own) live in `metadata.labels`, where selectors match them.
 */
import { z } from 'zod';
import { addIssue, checkUnique, networkCidr, objectName, portName, portNumber, protocol } from './fields.js';
import { IP_BITS, tryParseCidr } from './ip.js';
import { ObjectMeta } from './meta.js';
import { CARACAL_API_VERSION, checkScope, typeMeta } from './resource.js';

/** Linux IFNAMSIZ is 16 bytes including the NUL. */
export const MAX_INTERFACE_NAME = 15;

export const EndpointPort = z
  .object({
    name: portName.describe('Port name, as policies refer to it (IANA service name)'),
    protocol: protocol.default('TCP').describe('TCP, UDP or SCTP'),
    port: portNumber.describe('Port number in the pod'),
  })
  .describe('A named port of the workload, for named-port policy rules');

export const WorkloadEndpointSpec = z
  .object({
    orchestrator: z.string().min(1).max(64).default('k8s').describe('Orchestrator that owns the workload'),
    node: objectName.describe('Node the workload runs on'),
    workload: z.string().max(253).optional().describe('Workload name for orchestrators other than Kubernetes'),
    pod: z.string().max(253).optional().describe('Pod name (Kubernetes)'),
    containerID: z.string().max(256).optional().describe('Container (sandbox) ID from the runtime'),
    endpoint: z.string().min(1).max(63).default('eth0').describe('Interface name inside the pod'),
    serviceAccountName: z.string().max(253).optional().describe('Service account of the pod, for policy selectors'),
    interfaceName: z
      .string()
      .min(1)
      .max(MAX_INTERFACE_NAME)
      .regex(/^[A-Za-z0-9_.-]+$/, 'must use only letters, digits, ".", "_" and "-"')
      .describe('Host-side interface name (the veth), at most 15 characters'),
    mac: z
      .string()
      .regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/, 'must be a lower-case MAC address such as 0a:58:0a:f4:03:01')
      .optional()
      .describe('MAC address of the pod-side interface'),
    ipNetworks: z
      .array(networkCidr())
      .max(16)
      .default([])
      .describe('Addresses of the pod interface, as /32 and /128 CIDRs'),
    profiles: z
      .array(z.string().min(1).max(253))
      .max(64)
      .default([])
      .describe('Profiles applied after policies, e.g. kns.<namespace>'),
    ports: z.array(EndpointPort).max(1024).default([]).describe('Named ports of the workload'),
  })
  .superRefine((spec, ctx) => {
    if (spec.orchestrator === 'k8s' && spec.pod === undefined)
      addIssue(ctx, ['pod'], 'is required when orchestrator is k8s');
    spec.ipNetworks.forEach((n, i) => {
      const c = tryParseCidr(n);
      if (c.ok && c.value.prefixLen !== IP_BITS[c.value.family]) {
        addIssue(ctx, ['ipNetworks', i], `must be a single address (/${IP_BITS[c.value.family]})`, n);
      }
    });
    checkUnique(ctx, 'ipNetworks', spec.ipNetworks, (n) => n, 'the address');
    checkUnique(ctx, 'ports', spec.ports, (p) => `${p.name}/${p.protocol}`, 'the port name and protocol');
  })
  .describe('One interface of a pod, with its addresses and named ports');
export type WorkloadEndpointSpec = z.infer<typeof WorkloadEndpointSpec>;

/**
 * Object name of an endpoint: node, orchestrator, pod and endpoint joined by '-', each with '-' doubled so
 * the parts stay separable (Calico's scheme).
 * @example workloadEndpointName({ node: 'worker-1', pod: 'web-0' }) // 'worker--1-k8s-web--0-eth0'
 */
export function workloadEndpointName(ids: {
  node: string;
  pod: string;
  orchestrator?: string;
  endpoint?: string;
}): string {
  return [ids.node, ids.orchestrator ?? 'k8s', ids.pod, ids.endpoint ?? 'eth0']
    .map((p) => p.replaceAll('-', '--'))
    .join('-');
}

export const WorkloadEndpoint = z
  .object({
    ...typeMeta(CARACAL_API_VERSION, 'WorkloadEndpoint'),
    metadata: ObjectMeta,
    spec: WorkloadEndpointSpec,
  })
  .superRefine(checkScope('WorkloadEndpoint', true))
  .describe('A pod network interface: its node, host-side interface, addresses, named ports and labels');
export type WorkloadEndpoint = z.infer<typeof WorkloadEndpoint>;
export type WorkloadEndpointInput = z.input<typeof WorkloadEndpoint>;
