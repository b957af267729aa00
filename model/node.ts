/**
 * Node: Caracal's own per-node resource (not the Kubernetes Node, which is `K8sNode` in k8s.ts): the node's
 * BGP addresses and AS, whether it is a route reflector, and its tunnel addresses (crds.md §5). The agent
 * writes it at start-up (address autodetection) and the tunnel-address allocator keeps the tunnel fields.
 * Its name is the Kubernetes node name.
 */
import { z } from 'zod';
import { addIssue, asNumber, interfaceCidr, ipAddress, macAddress, objectName } from './fields.js';
import { tryParseCidr, tryParseIp } from './ip.js';
import { ObjectMeta } from './meta.js';
import { CARACAL_API_VERSION, checkScope, typeMeta } from './resource.js';

export const NodeBgpSpec = z
  .object({
    ipv4Address: interfaceCidr(4)
      .optional()
      .describe('IPv4 address the node peers from, with its subnet, e.g. 10.0.0.5/24 (also the router ID)'),
    ipv6Address: interfaceCidr(6).optional().describe('IPv6 address the node peers from, with its subnet'),
    asNumber: asNumber
      .optional()
      .describe('AS of this node (4-octet, RFC 6793); unset: BGPConfiguration default asNumber'),
    ipv4IPIPTunnelAddr: ipAddress(4).optional().describe("Address of the node's IP-in-IP tunnel device"),
    routeReflectorClusterID: ipAddress(4)
      .optional()
      .describe(
        'Set to make this node a route reflector with this cluster ID (RFC 4456 §7), written as an IPv4 address',
      ),
  })
  .superRefine((bgp, ctx) => {
    if (bgp.ipv4Address === undefined && bgp.ipv6Address === undefined) {
      addIssue(ctx, [], 'must set ipv4Address or ipv6Address: a BGP speaker needs an address');
    }
  })
  .describe('BGP settings of the node');
export type NodeBgpSpec = z.infer<typeof NodeBgpSpec>;

export const NodeAddress = z
  .object({
    address: z
      .string()
      .max(48)
      .superRefine((s, ctx) => {
        if (!tryParseIp(s).ok && !tryParseCidr(s).ok)
          addIssue(ctx, [], 'must be an IP address, with or without prefix length', s);
      })
      .describe('An address of the node, with or without prefix length'),
    type: z
      .enum(['InternalIP', 'ExternalIP', 'CaracalNodeIP'])
      .optional()
      .describe('Where it came from: the Kubernetes Node (InternalIP, ExternalIP) or autodetection (CaracalNodeIP)'),
  })
  .describe('One address of the node');

export const NodeSpec = z
  .object({
    bgp: NodeBgpSpec.optional().describe('BGP settings; unset when the node runs no BGP speaker'),
    ipv4VXLANTunnelAddr: ipAddress(4).optional().describe("Address of the node's IPv4 VXLAN device"),
    vxlanTunnelMACAddr: macAddress.optional().describe("MAC address of the node's IPv4 VXLAN device"),
    ipv6VXLANTunnelAddr: ipAddress(6).optional().describe("Address of the node's IPv6 VXLAN device"),
    vxlanTunnelMACAddrV6: macAddress.optional().describe("MAC address of the node's IPv6 VXLAN device"),
    addresses: z.array(NodeAddress).max(64).optional().describe('Known addresses of the node'),
    orchRefs: z
      .array(
        z
          .object({
            orchestrator: z.string().min(1).max(64).describe('Orchestrator, e.g. k8s'),
            nodeName: objectName.describe("The node's name in that orchestrator"),
          })
          .describe('The node in an orchestrator'),
      )
      .max(8)
      .optional()
      .describe("The node's identity in orchestrators"),
  })
  .superRefine((spec, ctx) => {
    if ((spec.ipv4VXLANTunnelAddr === undefined) !== (spec.vxlanTunnelMACAddr === undefined)) {
      addIssue(ctx, ['vxlanTunnelMACAddr'], 'must be set together with ipv4VXLANTunnelAddr', spec.vxlanTunnelMACAddr);
    }
    if ((spec.ipv6VXLANTunnelAddr === undefined) !== (spec.vxlanTunnelMACAddrV6 === undefined)) {
      addIssue(
        ctx,
        ['vxlanTunnelMACAddrV6'],
        'must be set together with ipv6VXLANTunnelAddr',
        spec.vxlanTunnelMACAddrV6,
      );
    }
  })
  .prefault({})
  .describe('Networking facts of one node');
export type NodeSpec = z.infer<typeof NodeSpec>;

export const Node = z
  .object({
    ...typeMeta(CARACAL_API_VERSION, 'Node'),
    metadata: ObjectMeta,
    spec: NodeSpec,
  })
  .superRefine(checkScope('Node', false))
  .describe("Caracal's record of a node: BGP addresses and AS, route-reflector role, tunnel addresses");
export type Node = z.infer<typeof Node>;
export type NodeInput = z.input<typeof Node>;

/** Whether the node reflects routes (it has a cluster ID). */
export function isRouteReflector(node: Pick<Node, 'spec'>): boolean {
  return node.spec.bgp?.routeReflectorClusterID !== undefined;
}
