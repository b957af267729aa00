/**
 * The parts of native Kubernetes kinds that Caracal reads: Pod (node, host networking, named ports,
 * addresses, phase), Namespace (labels), NetworkPolicy (all of spec) and Node (pod CIDRs, addresses).
 *
 * Every object here is a `z.looseObject`, at every level: fields we do not model pass through unchanged, so
 * a read-modify-write never drops them. Nothing gets a default (we report what the API server stored).
 * The checks mirror the API server's own validation and are never stricter: the datastore skips an object
 * that fails, and a skipped NetworkPolicy would mean a policy silently not enforced.
 */
import { z } from 'zod';
import { addIssue, anyCidr, ipAddress, portName, portNumber, protocol } from './fields.js';
import { cidrContains, tryParseCidr } from './ip.js';
import { ObjectMeta } from './meta.js';
import { checkScope, typeMeta } from './resource.js';

// ----------------------------------------------------------------------------------------------------------
// LabelSelector (metav1.LabelSelector); model/label-selector.ts turns one into requirements.

export const LabelSelectorRequirement = z
  .looseObject({
    key: z.string().min(1).max(317).describe('Label key'),
    operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']).describe('In, NotIn, Exists or DoesNotExist'),
    values: z
      .array(z.string().max(63))
      .optional()
      .describe('Values for In and NotIn; empty for Exists and DoesNotExist'),
  })
  .superRefine((r, ctx) => {
    const n = r.values?.length ?? 0;
    if ((r.operator === 'In' || r.operator === 'NotIn') && n === 0) {
      addIssue(ctx, ['values'], `must be non-empty when operator is ${r.operator}`);
    }
    if ((r.operator === 'Exists' || r.operator === 'DoesNotExist') && n > 0) {
      addIssue(ctx, ['values'], `must be empty when operator is ${r.operator}`, r.values);
    }
  })
  .describe('One requirement on a label');

export const LabelSelector = z
  .looseObject({
    matchLabels: z.record(z.string(), z.string()).optional().describe('Labels that must be equal'),
    matchExpressions: z.array(LabelSelectorRequirement).optional().describe('Requirements, all of which must hold'),
  })
  .describe('A label selector; empty selects everything');
export type LabelSelector = z.infer<typeof LabelSelector>;

// ----------------------------------------------------------------------------------------------------------
// Pod

export const ContainerPort = z
  .looseObject({
    name: portName.optional().describe('Port name that NetworkPolicies can refer to'),
    containerPort: portNumber.describe('Port number in the pod'),
    protocol: protocol.optional().describe("TCP (the API server's default), UDP or SCTP"),
    hostPort: z.number().int().min(0).max(65_535).optional().describe('Port exposed on the host'),
    hostIP: z.string().optional().describe('Host address the host port binds'),
  })
  .describe('A port a container exposes');

export const Container = z
  .looseObject({
    name: z.string().min(1).max(63).describe('Container name'),
    ports: z.array(ContainerPort).optional().describe('Ports the container exposes (named ports)'),
  })
  .describe('A container of the pod (only its ports are read)');

export const PodSpec = z
  .looseObject({
    nodeName: z.string().optional().describe('Node the pod is bound to; unset while pending scheduling'),
    hostNetwork: z.boolean().optional().describe("The pod uses the node's network namespace: no endpoint, no policy"),
    containers: z.array(Container).optional().describe('Containers of the pod'),
    initContainers: z.array(Container).optional().describe('Init containers (sidecars may expose named ports)'),
  })
  .describe('The parts of a pod spec Caracal reads');

export const PodStatus = z
  .looseObject({
    phase: z.string().optional().describe('Pending, Running, Succeeded, Failed or Unknown'),
    podIP: ipAddress().optional().describe('Primary pod address'),
    podIPs: z
      .array(z.looseObject({ ip: ipAddress().describe('A pod address') }).describe('A pod address'))
      .optional()
      .describe('All pod addresses, at most one per family'),
  })
  .describe('The parts of a pod status Caracal reads');

export const Pod = z
  .looseObject({
    ...typeMeta('v1', 'Pod'),
    metadata: ObjectMeta,
    spec: PodSpec.optional(),
    status: PodStatus.optional(),
  })
  .superRefine(checkScope('Pod', true))
  .describe('Kubernetes Pod');
export type Pod = z.infer<typeof Pod>;

// ----------------------------------------------------------------------------------------------------------
// Namespace

export const Namespace = z
  .looseObject({
    ...typeMeta('v1', 'Namespace'),
    metadata: ObjectMeta,
  })
  .superRefine(checkScope('Namespace', false))
  .describe('Kubernetes Namespace (its labels feed namespaceSelector)');
export type Namespace = z.infer<typeof Namespace>;

// ----------------------------------------------------------------------------------------------------------
// NetworkPolicy (networking.k8s.io/v1)

export const IPBlock = z
  .looseObject({
    cidr: anyCidr.describe('Allowed network'),
    except: z.array(anyCidr).optional().describe('Networks inside cidr that are not allowed'),
  })
  .superRefine((b, ctx) => {
    const outer = tryParseCidr(b.cidr);
    if (!outer.ok) return;
    b.except?.forEach((e, i) => {
      const inner = tryParseCidr(e);
      // API server rule: each except must be a strict subset of cidr.
      if (inner.ok && !(cidrContains(outer.value, inner.value) && inner.value.prefixLen > outer.value.prefixLen)) {
        addIssue(ctx, ['except', i], `must be a strict subset of cidr ${b.cidr}`, e);
      }
    });
  })
  .describe('A network, minus some parts of it');

export const NetworkPolicyPeer = z
  .looseObject({
    podSelector: LabelSelector.optional().describe("Pods (in the policy's namespace, or in namespaceSelector's)"),
    namespaceSelector: LabelSelector.optional().describe(
      'Namespaces; with podSelector, those pods in these namespaces',
    ),
    ipBlock: IPBlock.optional().describe('A network; cannot be combined with the selectors'),
  })
  .superRefine((p, ctx) => {
    const selectors = p.podSelector !== undefined || p.namespaceSelector !== undefined;
    if (p.ipBlock !== undefined && selectors)
      addIssue(ctx, ['ipBlock'], 'cannot be combined with podSelector or namespaceSelector');
    if (p.ipBlock === undefined && !selectors) addIssue(ctx, [], 'must set podSelector, namespaceSelector or ipBlock');
  })
  .describe('A source (ingress) or destination (egress) of allowed traffic');

export const NetworkPolicyPort = z
  .looseObject({
    protocol: protocol.optional().describe("TCP (the API server's default), UDP or SCTP"),
    port: z
      .union([portNumber, portName], { error: 'must be a port number (1-65535) or a port name' })
      .optional()
      .meta({ 'x-kubernetes-int-or-string': true })
      .describe('Port number or named port; all ports when unset'),
    endPort: portNumber.optional().describe('Last port of a range starting at port (numeric port only)'),
  })
  .superRefine((p, ctx) => {
    if (p.endPort === undefined) return;
    if (typeof p.port !== 'number') addIssue(ctx, ['endPort'], 'requires a numeric port', p.endPort);
    else if (p.endPort < p.port) addIssue(ctx, ['endPort'], `must be at least port (${p.port})`, p.endPort);
  })
  .describe('A port (or range) traffic is allowed to');

export const NetworkPolicyIngressRule = z
  .looseObject({
    from: z.array(NetworkPolicyPeer).optional().describe('Allowed sources; any source when empty or unset'),
    ports: z.array(NetworkPolicyPort).optional().describe('Allowed ports; any port when empty or unset'),
  })
  .describe('Traffic allowed into the selected pods');

export const NetworkPolicyEgressRule = z
  .looseObject({
    to: z.array(NetworkPolicyPeer).optional().describe('Allowed destinations; any when empty or unset'),
    ports: z.array(NetworkPolicyPort).optional().describe('Allowed ports; any port when empty or unset'),
  })
  .describe('Traffic allowed out of the selected pods');

export const PolicyType = z.enum(['Ingress', 'Egress']);
export type PolicyType = z.infer<typeof PolicyType>;

export const NetworkPolicySpec = z
  .looseObject({
    podSelector: LabelSelector.optional().describe('Pods the policy applies to; empty (or unset) selects all pods'),
    policyTypes: z.array(PolicyType).max(2).optional().describe('Directions the policy isolates'),
    ingress: z.array(NetworkPolicyIngressRule).optional().describe('Allowed incoming traffic'),
    egress: z.array(NetworkPolicyEgressRule).optional().describe('Allowed outgoing traffic'),
  })
  .describe('Kubernetes NetworkPolicy spec');
export type NetworkPolicySpec = z.infer<typeof NetworkPolicySpec>;

export const NetworkPolicy = z
  .looseObject({
    ...typeMeta('networking.k8s.io/v1', 'NetworkPolicy'),
    metadata: ObjectMeta,
    spec: NetworkPolicySpec.optional(),
  })
  .superRefine(checkScope('NetworkPolicy', true))
  .describe('Kubernetes NetworkPolicy');
export type NetworkPolicy = z.infer<typeof NetworkPolicy>;

/**
 * The directions a policy isolates, as the API server defaults them: `policyTypes` when set, else Ingress
 * plus Egress when there are egress rules.
 */
export function effectivePolicyTypes(spec: NetworkPolicySpec | undefined): PolicyType[] {
  if (spec?.policyTypes && spec.policyTypes.length > 0) return [...spec.policyTypes];
  return spec?.egress && spec.egress.length > 0 ? ['Ingress', 'Egress'] : ['Ingress'];
}

// ----------------------------------------------------------------------------------------------------------
// Node (core v1), registry key K8sNode

export const K8sNodeSpec = z
  .looseObject({
    podCIDR: anyCidr.optional().describe('Pod range the node controller assigned (first family)'),
    podCIDRs: z.array(anyCidr).max(2).optional().describe('Pod ranges, at most one per family'),
  })
  .describe('The parts of a node spec Caracal reads');

export const K8sNodeAddress = z
  .looseObject({
    type: z.string().describe('InternalIP, ExternalIP, Hostname, ...'),
    address: z.string().describe('The address (or host name)'),
  })
  .describe('An address of the node');

export const K8sNodeStatus = z
  .looseObject({
    addresses: z.array(K8sNodeAddress).optional().describe('Addresses reported by the kubelet'),
  })
  .describe('The parts of a node status Caracal reads');

export const K8sNode = z
  .looseObject({
    ...typeMeta('v1', 'Node'),
    metadata: ObjectMeta,
    spec: K8sNodeSpec.optional(),
    status: K8sNodeStatus.optional(),
  })
  .superRefine(checkScope('Node', false))
  .describe('Kubernetes Node');
export type K8sNode = z.infer<typeof K8sNode>;
