/**
 * BGPConfiguration: `default` holds the cluster's BGP settings; `node.<nodeName>` objects override
 * logSeverityScreen, listenPort, bindMode, prefixAdvertisements and ignoredInterfaces for one node
 * (crds.md §2). Fields marked "default object only" are read from `default` alone; their schema defaults
 * also fill per-node objects, where nothing reads them.
 *
 * The per-node fields have no schema default on purpose: with one, every `node.<name>` object would carry
 * listenPort 179 and override the cluster's value. Their defaults live in `BGP_NODE_DEFAULTS` and are applied
 * by `effectiveBgpConfiguration()`, the one place that merges the two objects.
 *
 * Durations are whole seconds with a `Sec` suffix (STYLE §2.3) rather than Calico's "120s" strings.
 * Left out: Calico's BIRD-specific fields (programClusterRoutes, route priorities, local workload peering).
 */
import { z } from 'zod';
import { addIssue, asNumber, checkUnique, networkCidr, portNumber, seconds, secretKeyRef } from './fields.js';
import { ObjectMeta } from './meta.js';
import { CARACAL_API_VERSION, CONFIG_NAME_CEL, checkConfigName, checkScope, typeMeta } from './resource.js';

export const LogSeverity = z.enum(['Debug', 'Info', 'Warning', 'Error', 'Fatal']);
export type LogSeverity = z.infer<typeof LogSeverity>;

/** Calico's default AS for nodes without their own (a private AS, RFC 6996). */
export const DEFAULT_AS_NUMBER = 64512;

/** `aa:nn` (RFC 1997 standard community, 16-bit parts) or `aa:nn:mm` (RFC 8092 large community, 32-bit). */
const COMMUNITY = /^(\d+):(\d+)(?::(\d+))?$/;

/** Why `value` is not a community literal, or undefined when it is one. */
export function communityProblem(value: string): string | undefined {
  const m = COMMUNITY.exec(value);
  if (!m) return 'must be aa:nn (standard) or aa:nn:mm (large)';
  const large = m[3] !== undefined;
  const max = large ? 4_294_967_295 : 65_535;
  const parts = [m[1], m[2], m[3]].filter((p): p is string => p !== undefined);
  if (parts.some((p) => Number(p) > max)) {
    return large
      ? 'each part of a large community must fit in 32 bits'
      : 'each part of a standard community must fit in 16 bits';
  }
  return undefined;
}

const cidrBlock = (what: string) =>
  z.object({ cidr: networkCidr().describe(`CIDR of ${what}`) }).describe(`A CIDR of ${what}`);

export const Community = z
  .object({
    name: z
      .string()
      .min(1)
      .max(253)
      .regex(
        /^[a-zA-Z0-9][a-zA-Z0-9._-]*$/,
        'must start with a letter or digit and use only letters, digits, ".", "_" and "-"',
      )
      .describe('Name that prefixAdvertisements can refer to'),
    value: z
      .string()
      .max(32)
      .superRefine((v, ctx) => {
        const p = communityProblem(v);
        if (p) addIssue(ctx, [], p, v);
      })
      .describe('aa:nn (standard community, 16-bit parts) or aa:nn:mm (large community, 32-bit parts)'),
  })
  .describe('A named BGP community value');

export const PrefixAdvertisement = z
  .object({
    cidr: networkCidr().describe('Routes within this CIDR are tagged'),
    communities: z
      .array(z.string().max(253))
      .min(1)
      .describe('Names from spec.communities, or literal aa:nn / aa:nn:mm values'),
  })
  .describe('Communities to attach to routes within a CIDR');

export const BGPConfigurationSpec = z
  .object({
    logSeverityScreen: LogSeverity.optional().describe('Least severe BGP log level written to stdout. Default: Info.'),
    nodeToNodeMeshEnabled: z.boolean().default(true).describe('Full iBGP mesh between all nodes. Default object only.'),
    asNumber: asNumber
      .default(DEFAULT_AS_NUMBER)
      .describe('AS of nodes that do not set spec.bgp.asNumber. Default object only.'),
    serviceClusterIPs: z
      .array(cidrBlock('Service cluster IPs'))
      .max(500)
      .optional()
      .describe('Advertise these CIDRs from every node. Default object only.'),
    serviceExternalIPs: z
      .array(cidrBlock('Service external IPs'))
      .max(500)
      .optional()
      .describe('Advertise Service externalIPs that fall in these CIDRs. Default object only.'),
    serviceLoadBalancerIPs: z
      .array(cidrBlock('Service load-balancer IPs'))
      .max(500)
      .optional()
      .describe('Advertise Service load-balancer ingress IPs that fall in these CIDRs. Default object only.'),
    serviceLoadBalancerAggregation: z
      .enum(['Enabled', 'Disabled'])
      .default('Enabled')
      .describe('Disabled advertises each load-balancer IP as a /32 (/128) instead of the CIDR. Default object only.'),
    communities: z.array(Community).max(500).optional().describe('Named community values'),
    prefixAdvertisements: z
      .array(PrefixAdvertisement)
      .max(500)
      .optional()
      .describe('Per-prefix communities to attach to advertised routes'),
    listenPort: portNumber.optional().describe('TCP port the BGP speaker listens on. Default: 179.'),
    bindMode: z
      .enum(['None', 'NodeIP'])
      .optional()
      .describe("NodeIP: listen only on the node's BGP address; None: on all addresses. Default: None."),
    nodeMeshPassword: secretKeyRef.optional().describe('TCP-MD5 password for mesh sessions. Default object only.'),
    nodeMeshMaxRestartTimeSec: seconds(4095)
      .default(120)
      .describe('Graceful-restart time advertised on mesh sessions, 0-4095 s (RFC 4724 §3). Default object only.'),
    ignoredInterfaces: z
      .array(z.string().min(1).max(15))
      .optional()
      .describe('Interfaces whose routes are never exported (besides the pod veths)'),
  })
  .superRefine((spec, ctx) => {
    checkUnique(ctx, 'communities', spec.communities, (c) => c.name, 'the community name');
    const names = new Set((spec.communities ?? []).map((c) => c.name));
    spec.prefixAdvertisements?.forEach((pa, i) => {
      pa.communities.forEach((c, j) => {
        if (!names.has(c) && communityProblem(c) !== undefined) {
          addIssue(
            ctx,
            ['prefixAdvertisements', i, 'communities', j],
            'must name an entry of spec.communities or be a literal aa:nn or aa:nn:mm',
            c,
          );
        }
      });
    });
  })
  .prefault({})
  .describe('BGP settings: cluster-wide in "default", per-node overrides in "node.<nodeName>"');
export type BGPConfigurationSpec = z.infer<typeof BGPConfigurationSpec>;

export const BGPConfiguration = z
  .object({
    ...typeMeta(CARACAL_API_VERSION, 'BGPConfiguration'),
    metadata: ObjectMeta,
    spec: BGPConfigurationSpec,
  })
  .superRefine(checkScope('BGPConfiguration', false))
  .superRefine(checkConfigName('BGPConfiguration'))
  .meta({ 'x-kubernetes-validations': [CONFIG_NAME_CEL] })
  .describe('BGP settings, cluster-wide ("default") or for one node ("node.<nodeName>")');
export type BGPConfiguration = z.infer<typeof BGPConfiguration>;
export type BGPConfigurationInput = z.input<typeof BGPConfiguration>;

/** Defaults of the fields a `node.<name>` object may override (see the module comment). */
export const BGP_NODE_DEFAULTS = {
  logSeverityScreen: 'Info',
  listenPort: 179,
  bindMode: 'None',
} as const satisfies Partial<BGPConfigurationSpec>;

/** Fields a `node.<name>` object overrides; the rest come from `default`. */
export const PER_NODE_BGP_FIELDS = [
  'logSeverityScreen',
  'listenPort',
  'bindMode',
  'prefixAdvertisements',
  'ignoredInterfaces',
] as const satisfies readonly (keyof BGPConfigurationSpec)[];

export type EffectiveBgpConfiguration = BGPConfigurationSpec & {
  -readonly [K in keyof typeof BGP_NODE_DEFAULTS]-?: NonNullable<BGPConfigurationSpec[K]>;
};

/**
 * The BGP settings one node runs with: `global` (the `default` object's spec, or the defaults when it is
 * missing), then the per-node fields set in `perNode`, then `BGP_NODE_DEFAULTS` for whatever is still unset.
 * @example effectiveBgpConfiguration(undefined).listenPort // 179
 */
export function effectiveBgpConfiguration(
  global: BGPConfigurationSpec | undefined,
  perNode?: BGPConfigurationSpec,
): EffectiveBgpConfiguration {
  const out: BGPConfigurationSpec = { ...(global ?? BGPConfigurationSpec.parse(undefined)) };
  for (const k of PER_NODE_BGP_FIELDS) {
    if (perNode?.[k] !== undefined) Object.assign(out, { [k]: perNode[k] });
  }
  return {
    ...out,
    logSeverityScreen: out.logSeverityScreen ?? BGP_NODE_DEFAULTS.logSeverityScreen,
    listenPort: out.listenPort ?? BGP_NODE_DEFAULTS.listenPort,
    bindMode: out.bindMode ?? BGP_NODE_DEFAULTS.bindMode,
  };
}
