/**
 * IPPool: a range of pod addresses, carved into blocks of `blockSize` that nodes claim (ipam.md §1.1).
 *
 * `blockSize` defaults by family (26 for IPv4, 122 for IPv6), which a per-field default cannot say: the input
 * may omit it and the parsed spec always has it (`effectiveBlockSize()` is the same rule for raw input).
 * `cidr` and `blockSize` are immutable (CEL on the CRD): changing them would strand existing blocks
 * (calico#10778).
 */
import { z } from 'zod';
import { addIssue, BLOCK_PREFIX_LENS, checkUnique, condition, networkCidr, selector } from './fields.js';
import { type IpFamily, tryParseCidr } from './ip.js';
import { ObjectMeta } from './meta.js';
import { CARACAL_API_VERSION, checkScope, typeMeta } from './resource.js';

/** Block prefix length when the pool does not say, per family. */
export const DEFAULT_BLOCK_SIZE = { 4: 26, 6: 122 } as const satisfies Record<IpFamily, number>;
/** Allowed block prefix lengths per family (the same bounds IPAMBlock checks on its CIDR). */
export const BLOCK_SIZE_RANGE = BLOCK_PREFIX_LENS;

export const EncapMode = z.enum(['Never', 'Always', 'CrossSubnet']);
export type EncapMode = z.infer<typeof EncapMode>;
export const AllowedUse = z.enum(['Workload', 'Tunnel', 'LoadBalancer']);
export type AllowedUse = z.infer<typeof AllowedUse>;
/** What an empty or absent `allowedUses` means (Calico's back-compatible default). */
export const DEFAULT_ALLOWED_USES: readonly AllowedUse[] = ['Workload', 'Tunnel'];

const IMMUTABLE = (field: string) => ({ rule: 'self == oldSelf', message: `${field} is immutable` });

const IPPoolSpecFields = z
  .object({
    cidr: networkCidr()
      .describe(
        'The pool\'s address range, e.g. "10.244.0.0/16" or "fd00:10:244::/48". Canonical form, host bits clear. Immutable.',
      )
      .meta({ 'x-kubernetes-validations': [IMMUTABLE('cidr')] }),
    blockSize: z
      .number()
      .int()
      .optional()
      .meta({ minimum: 20, maximum: 128, 'x-kubernetes-validations': [IMMUTABLE('blockSize')] })
      .describe(
        'Prefix length of the blocks nodes claim from this pool. Defaults to 26 for IPv4 and 122 for IPv6; ' +
          "20-32 for IPv4, 116-128 for IPv6, and at least the pool's own prefix length. Immutable: existing blocks are not re-sliced.",
      ),
    ipipMode: EncapMode.default('Never').describe(
      'IP-in-IP encapsulation to other nodes: Never, Always, or CrossSubnet (only to nodes in another subnet). IPv4 pools only.',
    ),
    vxlanMode: EncapMode.default('Never').describe(
      'VXLAN encapsulation to other nodes: Never, Always, or CrossSubnet. A pool uses at most one of IPIP and VXLAN.',
    ),
    natOutgoing: z
      .boolean()
      .default(false)
      .describe('Masquerade traffic from this pool to destinations outside every pool'),
    disabled: z
      .boolean()
      .default(false)
      .describe('Stop handing out addresses from this pool; existing allocations stay'),
    disableBGPExport: z.boolean().default(false).describe("Do not advertise this pool's routes to BGP peers"),
    nodeSelector: selector
      .default('all()')
      .describe('Selector over node labels: the pool is used only for matching nodes'),
    namespaceSelector: selector
      .optional()
      .describe('Selector over namespace labels: when set, both this and nodeSelector must match; unset matches all'),
    allowedUses: z
      .array(AllowedUse)
      .max(3)
      .default([...DEFAULT_ALLOWED_USES])
      .meta({ 'x-kubernetes-list-type': 'set' })
      .describe(
        'What addresses from this pool may be used for: Workload, Tunnel, LoadBalancer. Empty means Workload and Tunnel.',
      ),
    assignmentMode: z
      .enum(['Automatic', 'Manual'])
      .default('Automatic')
      .describe('Automatic pools are chosen by the allocator; Manual pools only when a pod or config names them'),
  })
  .meta({
    'x-kubernetes-validations': [
      {
        rule: "!self.cidr.contains(':') || self.ipipMode == 'Never'",
        message: 'ipipMode must be Never for an IPv6 pool',
      },
      {
        rule: "self.ipipMode == 'Never' || self.vxlanMode == 'Never'",
        message: 'a pool may not enable both IPIP and VXLAN',
      },
      {
        rule: "!has(self.blockSize) || (self.cidr.contains(':') ? (self.blockSize >= 116 && self.blockSize <= 128) : (self.blockSize >= 20 && self.blockSize <= 32))",
        message: 'blockSize must be 20-32 for IPv4 and 116-128 for IPv6',
      },
    ],
  });

/** The block prefix length a pool uses: its `blockSize`, or the family default (26 / 122). */
export function effectiveBlockSize(spec: { readonly cidr: string; readonly blockSize?: number | undefined }): number {
  if (spec.blockSize !== undefined) return spec.blockSize;
  const c = tryParseCidr(spec.cidr);
  return DEFAULT_BLOCK_SIZE[c.ok ? c.value.family : 4];
}

function checkPool(spec: z.output<typeof IPPoolSpecFields>, ctx: z.RefinementCtx): void {
  const parsed = tryParseCidr(spec.cidr);
  if (!parsed.ok) return; // already reported on cidr
  const { family, prefixLen } = parsed.value;
  const fam = family === 4 ? 'IPv4' : 'IPv6';
  const [lo, hi] = BLOCK_SIZE_RANGE[family];
  const size = effectiveBlockSize(spec);
  if (spec.blockSize !== undefined && (spec.blockSize < lo || spec.blockSize > hi)) {
    addIssue(ctx, ['blockSize'], `must be between ${lo} and ${hi} for ${fam}`, spec.blockSize);
  } else if (size < prefixLen) {
    addIssue(
      ctx,
      ['blockSize'],
      spec.blockSize === undefined
        ? `defaults to ${size} for ${fam}, and a /${size} block does not fit in the /${prefixLen} pool: set blockSize to at least ${prefixLen}`
        : `must be at least the pool's prefix length ${prefixLen}, so that a block fits in the pool`,
      spec.blockSize,
    );
  }
  if (family === 6 && spec.ipipMode !== 'Never') {
    addIssue(ctx, ['ipipMode'], 'must be Never for an IPv6 pool (IP-in-IP carries IPv4 only)', spec.ipipMode);
  }
  if (spec.ipipMode !== 'Never' && spec.vxlanMode !== 'Never') {
    addIssue(
      ctx,
      ['vxlanMode'],
      `must be Never when ipipMode is ${spec.ipipMode}: a pool uses one encapsulation`,
      spec.vxlanMode,
    );
  }
  checkUnique(ctx, 'allowedUses', spec.allowedUses, (u) => u, 'the use');
}

export const IPPoolSpec = IPPoolSpecFields.superRefine(checkPool)
  .transform((spec) => ({
    ...spec,
    blockSize: effectiveBlockSize(spec),
    allowedUses: spec.allowedUses.length === 0 ? [...DEFAULT_ALLOWED_USES] : spec.allowedUses,
  }))
  .describe('Desired state of the pool');
export type IPPoolSpec = z.infer<typeof IPPoolSpec>;

export const IPPoolStatus = z
  .object({
    conditions: z
      .array(condition)
      .optional()
      .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] })
      .describe('Allocatable (reasons CIDROverlap, Terminating, PoolDisabled, OK)'),
  })
  .describe('Observed state of the pool, written by the controller');
export type IPPoolStatus = z.infer<typeof IPPoolStatus>;

export const IPPool = z
  .object({
    ...typeMeta(CARACAL_API_VERSION, 'IPPool'),
    metadata: ObjectMeta,
    spec: IPPoolSpec,
    status: IPPoolStatus.optional(),
  })
  .superRefine(checkScope('IPPool', false))
  .describe('A range of pod addresses, handed out in blocks to nodes');
export type IPPool = z.infer<typeof IPPool>;
export type IPPoolInput = z.input<typeof IPPool>;
