/**
 * FelixConfiguration: settings of the dataplane agent, cluster-wide in `default` and per node in
 * `node.<nodeName>`, where any field set overrides the cluster value (crds.md §6).
 *
 * Because of that override rule no field has a schema default (a default would make every per-node object
 * override everything). The defaults live in `FELIX_DEFAULTS`, the single table (calico#9462: keep defaults in
 * one place), are written into each field's description, and are applied by `effectiveFelixConfiguration()`.
 * Durations are whole seconds (`…Sec`). Only the fields Caracal's nftables dataplane uses are here:
 * no iptables, BPF or WireGuard settings.
 */
import { z } from 'zod';
import { LogSeverity } from './bgp-configuration.js';
import { addIssue, ipAddress, networkCidr, portNumber, protocol, seconds } from './fields.js';
import { ObjectMeta } from './meta.js';
import { CARACAL_API_VERSION, CONFIG_NAME_CEL, checkConfigName, checkScope, typeMeta } from './resource.js';

export const ProtoPort = z
  .object({
    protocol: protocol.describe('TCP, UDP or SCTP'),
    port: portNumber.describe('Port number'),
    net: networkCidr().optional().describe('Only traffic to/from this CIDR; all addresses when unset'),
  })
  .describe('A protocol and port, optionally limited to a network');
export type ProtoPort = z.infer<typeof ProtoPort>;

const port = (p: 'TCP' | 'UDP', n: number): ProtoPort => ({ protocol: p, port: n });

/** Every default in one table: what a node runs with when neither `default` nor its own object sets a field. */
export const FELIX_DEFAULTS = {
  logSeverityScreen: 'Info',
  routeRefreshIntervalSec: 90,
  nftablesRefreshIntervalSec: 180,
  interfaceRefreshIntervalSec: 90,
  ipipMTU: 0,
  vxlanMTU: 0,
  vxlanMTUV6: 0,
  vxlanPort: 4789,
  vxlanVNI: 4096,
  allowIPIPPacketsFromWorkloads: false,
  allowVXLANPacketsFromWorkloads: false,
  removeExternalRoutes: true,
  routeSource: 'IPAM',
  natOutgoingExclusions: 'IPPoolsOnly',
  defaultEndpointToHostAction: 'Drop',
  nftablesFilterAllowAction: 'Accept',
  nftablesFilterDenyAction: 'Drop',
  nftablesMarkMask: 0xffff0000,
  failsafeInboundHostPorts: [
    port('TCP', 22),
    port('UDP', 68),
    port('TCP', 179),
    port('TCP', 2379),
    port('TCP', 2380),
    port('TCP', 5473),
    port('TCP', 6443),
    port('TCP', 6666),
    port('TCP', 6667),
  ],
  failsafeOutboundHostPorts: [
    port('UDP', 53),
    port('UDP', 67),
    port('TCP', 179),
    port('TCP', 2379),
    port('TCP', 2380),
    port('TCP', 5473),
    port('TCP', 6443),
    port('TCP', 6666),
    port('TCP', 6667),
  ],
  disableConntrackInvalidCheck: false,
  logPrefix: 'caracal-packet',
  interfacePrefix: 'cali',
  interfaceExclude: ['kube-ipvs0'],
  maxSetSize: 1_048_576,
  serviceLoopPrevention: 'Drop',
  kubeNodePortRanges: ['30000:32767'],
  healthEnabled: false,
  healthHost: 'localhost',
  healthPort: 9099,
  prometheusMetricsEnabled: false,
  prometheusMetricsPort: 9091,
  endpointStatusPathPrefix: '/var/run/caracal',
  reportingIntervalSec: 30,
  ipForwarding: 'Enabled',
  mtuIfacePattern: '^((en|wl|ww|sl|ib)[Pcopsvx].*|(eth|wlan|wwan).*)',
} as const;

type DefaultKey = keyof typeof FELIX_DEFAULTS;
/** The description with the default appended, so `kubectl explain` shows it. */
const d = (key: DefaultKey, text: string) => `${text}. Default: ${JSON.stringify(FELIX_DEFAULTS[key])}.`;

/** `lo:hi` port range with 1 ≤ lo ≤ hi ≤ 65535. */
const portRange = z
  .string()
  .max(11)
  .superRefine((s, ctx) => {
    const m = /^(\d{1,5}):(\d{1,5})$/.exec(s);
    const lo = Number(m?.[1]);
    const hi = Number(m?.[2]);
    if (!m || lo < 1 || hi > 65_535 || lo > hi) addIssue(ctx, [], 'must be "lo:hi" with 1 <= lo <= hi <= 65535', s);
  });

const regexText = z
  .string()
  .max(1024)
  .superRefine((s, ctx) => {
    try {
      new RegExp(s);
    } catch (e) {
      addIssue(ctx, [], `must be a regular expression (${(e as Error).message})`, s);
    }
  });

const interval = (key: DefaultKey, text: string) => seconds(86_400).optional().describe(d(key, text));

export const FelixConfigurationSpec = z
  .object({
    logSeverityScreen: LogSeverity.optional().describe(
      d('logSeverityScreen', 'Least severe log level written to stdout'),
    ),
    routeRefreshIntervalSec: interval(
      'routeRefreshIntervalSec',
      'Seconds between full resyncs of the routes we own; 0 disables',
    ),
    nftablesRefreshIntervalSec: interval(
      'nftablesRefreshIntervalSec',
      'Seconds between full resyncs of the nftables table; 0 disables',
    ),
    interfaceRefreshIntervalSec: interval(
      'interfaceRefreshIntervalSec',
      'Seconds between full rescans of interfaces; 0 disables',
    ),
    ipipEnabled: z
      .boolean()
      .optional()
      .describe('Set up the IP-in-IP tunnel device; unset: when an IPv4 pool uses IPIP'),
    vxlanEnabled: z.boolean().optional().describe('Set up the VXLAN device; unset: when a pool uses VXLAN'),
    ipipMTU: z
      .number()
      .int()
      .min(0)
      .max(65_535)
      .optional()
      .describe(d('ipipMTU', 'MTU of the IPIP device; 0 = host MTU - 20')),
    vxlanMTU: z
      .number()
      .int()
      .min(0)
      .max(65_535)
      .optional()
      .describe(d('vxlanMTU', 'MTU of the IPv4 VXLAN device; 0 = host MTU - 50')),
    vxlanMTUV6: z
      .number()
      .int()
      .min(0)
      .max(65_535)
      .optional()
      .describe(d('vxlanMTUV6', 'MTU of the IPv6 VXLAN device; 0 = host MTU - 70')),
    vxlanPort: portNumber.optional().describe(d('vxlanPort', 'UDP port of VXLAN')),
    vxlanVNI: z
      .number()
      .int()
      .min(1)
      .max(16_777_215)
      .optional()
      .describe(d('vxlanVNI', 'VXLAN network identifier (24 bits, RFC 7348)')),
    allowIPIPPacketsFromWorkloads: z
      .boolean()
      .optional()
      .describe(d('allowIPIPPacketsFromWorkloads', 'Accept IPIP packets sent by pods (otherwise dropped)')),
    allowVXLANPacketsFromWorkloads: z
      .boolean()
      .optional()
      .describe(d('allowVXLANPacketsFromWorkloads', 'Accept VXLAN packets sent by pods (otherwise dropped)')),
    removeExternalRoutes: z
      .boolean()
      .optional()
      .describe(d('removeExternalRoutes', 'Delete routes to pod interfaces that we did not program')),
    routeSource: z
      .enum(['IPAM', 'WorkloadIPs'])
      .optional()
      .describe(d('routeSource', "Where local pod routes come from: IPAM blocks, or the endpoints' addresses")),
    natOutgoingAddress: ipAddress(4).optional().describe('Source address for natOutgoing traffic; unset = masquerade'),
    natPortRange: portRange.optional().describe('Source port range for natOutgoing traffic, "lo:hi"; unset = any'),
    natOutgoingExclusions: z
      .enum(['IPPoolsOnly', 'IPPoolsAndHostIPs'])
      .optional()
      .describe(d('natOutgoingExclusions', 'Destinations natOutgoing never applies to')),
    defaultEndpointToHostAction: z
      .enum(['Drop', 'Accept', 'Return'])
      .optional()
      .describe(d('defaultEndpointToHostAction', 'What happens to pod traffic to the host itself after policy')),
    nftablesFilterAllowAction: z
      .enum(['Accept', 'Return'])
      .optional()
      .describe(d('nftablesFilterAllowAction', 'Verdict of allowed traffic')),
    nftablesFilterDenyAction: z
      .enum(['Drop', 'Reject'])
      .optional()
      .describe(d('nftablesFilterDenyAction', 'Verdict of denied traffic')),
    nftablesMarkMask: z
      .number()
      .int()
      .min(0)
      .max(0xffff_ffff)
      .optional()
      .describe(d('nftablesMarkMask', 'Packet-mark bits we may use')),
    failsafeInboundHostPorts: z
      .array(ProtoPort)
      .max(256)
      .optional()
      .describe(d('failsafeInboundHostPorts', 'Inbound host ports always open, whatever the policy')),
    failsafeOutboundHostPorts: z
      .array(ProtoPort)
      .max(256)
      .optional()
      .describe(d('failsafeOutboundHostPorts', 'Outbound host ports always open, whatever the policy')),
    disableConntrackInvalidCheck: z
      .boolean()
      .optional()
      .describe(d('disableConntrackInvalidCheck', 'Do not drop packets conntrack marks invalid')),
    logPrefix: z.string().max(32).optional().describe(d('logPrefix', 'Prefix of packet-log lines')),
    interfacePrefix: z
      .string()
      .min(1)
      .max(12)
      .optional()
      .describe(d('interfacePrefix', 'Name prefix of host-side pod interfaces')),
    interfaceExclude: z
      .array(z.string().min(1).max(256))
      .optional()
      .describe(d('interfaceExclude', 'Interfaces to ignore (names, or /regex/)')),
    maxSetSize: z
      .number()
      .int()
      .min(1)
      .max(16_777_216)
      .optional()
      .describe(d('maxSetSize', 'Largest nftables set we create')),
    serviceLoopPrevention: z
      .enum(['Drop', 'Reject', 'Disabled'])
      .optional()
      .describe(d('serviceLoopPrevention', 'What to do with traffic to a service CIDR address no service uses')),
    kubeNodePortRanges: z
      .array(portRange)
      .max(7)
      .optional()
      .describe(d('kubeNodePortRanges', 'NodePort ranges, "lo:hi"')),
    healthEnabled: z.boolean().optional().describe(d('healthEnabled', 'Serve /livez and /readyz')),
    healthHost: z.string().min(1).max(253).optional().describe(d('healthHost', 'Address the health endpoint binds')),
    healthPort: portNumber.optional().describe(d('healthPort', 'Port of the health endpoint')),
    prometheusMetricsEnabled: z.boolean().optional().describe(d('prometheusMetricsEnabled', 'Serve /metrics')),
    prometheusMetricsPort: portNumber.optional().describe(d('prometheusMetricsPort', 'Port of /metrics')),
    endpointStatusPathPrefix: z
      .string()
      .min(1)
      .max(1024)
      .optional()
      .describe(d('endpointStatusPathPrefix', 'Directory of per-endpoint status files the CNI plugin waits on')),
    reportingIntervalSec: interval('reportingIntervalSec', 'Seconds between status reports; 0 disables'),
    ipForwarding: z
      .enum(['Enabled', 'Disabled'])
      .optional()
      .describe(d('ipForwarding', "Turn on the kernel's IP forwarding at start")),
    mtuIfacePattern: regexText
      .optional()
      .describe(d('mtuIfacePattern', 'Regular expression of host interfaces considered for MTU detection')),
  })
  .prefault({})
  .describe('Dataplane agent settings; a field set in "node.<nodeName>" overrides the one in "default"');
export type FelixConfigurationSpec = z.infer<typeof FelixConfigurationSpec>;

export const FelixConfiguration = z
  .object({
    ...typeMeta(CARACAL_API_VERSION, 'FelixConfiguration'),
    metadata: ObjectMeta,
    spec: FelixConfigurationSpec,
  })
  .superRefine(checkScope('FelixConfiguration', false))
  .superRefine(checkConfigName('FelixConfiguration'))
  .meta({ 'x-kubernetes-validations': [CONFIG_NAME_CEL] })
  .describe('Dataplane agent settings, cluster-wide ("default") or for one node ("node.<nodeName>")');
export type FelixConfiguration = z.infer<typeof FelixConfiguration>;
export type FelixConfigurationInput = z.input<typeof FelixConfiguration>;

/** Every field with a default is set; the rest (ipipEnabled, natOutgoingAddress, ...) stay optional. */
export type EffectiveFelixConfiguration = FelixConfigurationSpec & {
  [K in DefaultKey]-?: NonNullable<FelixConfigurationSpec[K]>;
};

/**
 * The settings one node runs with: defaults, then the fields set in `global` (`default`), then those set in
 * `perNode` (`node.<nodeName>`).
 * @example effectiveFelixConfiguration(undefined, { vxlanPort: 8472 }).vxlanPort // 8472
 */
export function effectiveFelixConfiguration(
  global: FelixConfigurationSpec | undefined,
  perNode?: FelixConfigurationSpec,
): EffectiveFelixConfiguration {
  const out: Record<string, unknown> = structuredClone(FELIX_DEFAULTS);
  for (const layer of [global, perNode]) {
    for (const [k, v] of Object.entries(layer ?? {})) if (v !== undefined) out[k] = v;
  }
  return out as EffectiveFelixConfiguration;
}
