/**
 * The config file of `caracal speaker --config FILE` (YAML or JSON): the BGP speaker on its own, for lab
 * routers and benchmarks. The field names below are a published interface (scripts are written against
 * them): extend, never rename. docs/speaker.md documents every field with an example.
 *
 *   asn: 64512
 *   routerId: 10.0.0.1
 *   listen: { address: 10.0.0.1, port: 179 }
 *   status: { address: 127.0.0.1, port: 9179 }
 *   peers:
 *     - { address: 10.0.0.2, asn: 64513, password: s3cret, passive: false, routeReflectorClient: false,
 *         gracefulRestart: true, import: accept-all, export: originated }
 *   originate: [10.244.1.0/26, "fd00:10:244:1::/122"]
 *
 * The policy shapes mirror speaker/policy/policy.ts (`Policy`, `Rule`): model/ may not import speaker/, so the
 * speaker side holds a type-level test that what this schema produces is assignable to its `Policy`.
 */
import { z } from 'zod';
import { addIssue, ipAddress, networkCidr } from './fields.js';
import { tryParseCidr } from './ip.js';

const asn = z.number().int().min(1).max(4_294_967_295);
const port = z.number().int().min(1).max(65_535);
const holdTime = z
  .number()
  .int()
  .min(0)
  .max(65_535)
  .refine((s) => s === 0 || s >= 3, 'must be 0 or at least 3 (RFC 4271 §4.2)');
const community = z.union([
  z.number().int().min(0).max(4_294_967_295),
  z
    .string()
    .regex(
      /^(\d{1,5}:\d{1,5}|no-export|no-advertise|no-export-subconfed|no-peer)$/,
      'must be "asn:value" or a well-known name',
    ),
]);

/** The built-in policy names; anything else must be defined under `policies`. */
export const BUILTIN_POLICY_NAMES = ['accept-all', 'reject-all', 'originated'] as const;

const PrefixMatch = z
  .strictObject({
    cidr: networkCidr(),
    ge: z.number().int().min(0).max(128).optional(),
    le: z.number().int().min(0).max(128).optional(),
  })
  .superRefine((m, ctx) => {
    const c = tryParseCidr(m.cidr);
    if (!c.ok) return;
    const max = c.value.family === 4 ? 32 : 128;
    for (const k of ['ge', 'le'] as const) {
      const v = m[k];
      if (v !== undefined && (v < c.value.prefixLen || v > max)) {
        addIssue(ctx, [k], `must be between the prefix length ${c.value.prefixLen} and ${max}`, v);
      }
    }
    if (m.ge !== undefined && m.le !== undefined && m.ge > m.le) addIssue(ctx, ['ge'], 'must not exceed le', m.ge);
  });

export const PolicyRuleSchema = z.strictObject({
  match: z
    .strictObject({
      prefix: z.array(PrefixMatch).optional().describe('Any of these prefixes (exact, or with a ge/le length range)'),
      community: z.array(community).optional().describe('Any of these RFC 1997 communities'),
      asPath: z
        .strictObject({
          contains: asn.optional(),
          originAs: asn.optional(),
          pattern: z
            .string()
            .regex(/^(\s*(\d+|\?|\*)\s*)+$/, 'must be AS numbers, "?" and "*" separated by spaces')
            .optional(),
        })
        .optional(),
      nextHop: z.array(ipAddress()).optional(),
      local: z.boolean().optional().describe('true: routes this speaker originates; false: learned routes'),
    })
    .default({}),
  actions: z
    .strictObject({
      action: z.enum(['accept', 'reject']).optional(),
      setLocalPref: z.number().int().min(0).max(4_294_967_295).optional(),
      setMed: z.number().int().min(0).max(4_294_967_295).optional(),
      addCommunities: z.array(community).optional(),
      removeCommunities: z.array(community).optional(),
      nextHopSelf: z.boolean().optional(),
      prependAs: z.strictObject({ asn, times: z.number().int().min(1).max(16) }).optional(),
    })
    .default({}),
});

export const PolicySchema = z.strictObject({
  rules: z.array(PolicyRuleSchema).default([]),
  default: z.enum(['accept', 'reject']).default('reject'),
});

const policyRef = z.string().min(1).describe('accept-all, reject-all, originated, or a name under `policies`');

export const SpeakerPeerConfig = z.strictObject({
  address: ipAddress().describe('The peer address'),
  asn: asn.describe('The peer AS (4-octet, RFC 6793); equal to ours makes the session iBGP'),
  port: port.default(179).describe('The peer TCP port to connect to'),
  localAddress: ipAddress().optional().describe('Source address for our connection; default: the kernel chooses'),
  password: z.string().min(1).max(80).optional().describe('TCP-MD5 key (RFC 2385), at most 80 bytes'),
  passive: z.boolean().default(false).describe('Never connect; wait for the peer to connect'),
  routeReflectorClient: z
    .boolean()
    .default(false)
    .describe('Treat this iBGP peer as a route-reflector client (RFC 4456)'),
  gracefulRestart: z.boolean().default(true).describe('Advertise and honour graceful restart (RFC 4724)'),
  holdTimeSec: holdTime.default(90).describe('Hold time we propose, in seconds (0 or at least 3)'),
  keepaliveSec: z.number().int().min(1).max(21_845).optional().describe('Keepalive interval; default hold/3'),
  connectRetrySec: z.number().int().min(1).max(3600).default(5).describe('Initial connect retry interval'),
  import: policyRef
    .optional()
    .describe('Import policy. Unset: iBGP accepts all; eBGP accepts nothing (RFC 8212) unless rfc8212 is false'),
  export: policyRef
    .optional()
    .describe('Export policy. Unset: our originated prefixes (all routes when reflecting); eBGP nothing (RFC 8212)'),
  families: z
    .array(z.enum(['ipv4-unicast', 'ipv6-unicast']))
    .min(1)
    .optional()
    .describe('Address families; default: the family of the peer address plus the families of `originate`'),
  addPath: z.enum(['none', 'receive', 'send', 'both']).default('none').describe('ADD-PATH (RFC 7911) for every family'),
});
export type SpeakerPeerConfig = z.infer<typeof SpeakerPeerConfig>;

export const SpeakerConfig = z
  .strictObject({
    asn: asn.describe('Our AS number (4-octet)'),
    routerId: ipAddress(4).describe('BGP identifier, written as an IPv4 address'),
    listen: z
      .strictObject({ address: ipAddress().default('0.0.0.0'), port: port.default(179) })
      .default({ address: '0.0.0.0', port: 179 })
      .describe('Where to accept BGP connections'),
    status: z
      .strictObject({ address: ipAddress().default('127.0.0.1'), port: port.default(9179) })
      .default({ address: '127.0.0.1', port: 9179 })
      .describe('The HTTP status API (GET /bgp/peers, GET /bgp/routes)'),
    clusterId: ipAddress(4).optional().describe('Route-reflector cluster id; default: the router id'),
    gracefulRestartTimeSec: z.number().int().min(1).max(4095).default(120).describe('Restart time we advertise'),
    rfc8212: z.boolean().default(true).describe('Refuse eBGP routes without an explicit policy (RFC 8212)'),
    peers: z.array(SpeakerPeerConfig).default([]),
    originate: z.array(networkCidr()).default([]).describe('Prefixes this speaker originates'),
    policies: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/), PolicySchema).default({}),
  })
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.peers.forEach((p, i) => {
      if (seen.has(p.address)) addIssue(ctx, ['peers', i, 'address'], 'is configured twice', p.address);
      seen.add(p.address);
      for (const dir of ['import', 'export'] as const) {
        const name = p[dir];
        if (
          name !== undefined &&
          !(BUILTIN_POLICY_NAMES as readonly string[]).includes(name) &&
          !Object.hasOwn(c.policies, name)
        ) {
          addIssue(
            ctx,
            ['peers', i, dir],
            `names no policy: define it under policies or use ${BUILTIN_POLICY_NAMES.join(', ')}`,
            name,
          );
        }
      }
    });
    for (const name of Object.keys(c.policies)) {
      if ((BUILTIN_POLICY_NAMES as readonly string[]).includes(name)) {
        addIssue(ctx, ['policies', name], 'must not redefine a built-in policy', name);
      }
    }
  });
export type SpeakerConfig = z.infer<typeof SpeakerConfig>;
export type SpeakerConfigInput = z.input<typeof SpeakerConfig>;
