/**
 * BlockAffinity: "node X claims block Y", written in two phases (ipam.md §1.3):
 *   (none) → pending → confirmed (block written with our affinity) → pendingDeletion → (deleted)
 * A `pending` affinity counts as absent, for ownership and for route advertisement (calico#6867).
 *
 * `state` has no default: every writer takes part in the claim protocol and must say which step it is at
 * (Calico reads an empty state as confirmed, for data written before states existed; we have no such data).
 * `metadata.name` is `blockAffinityName(node, cidr)`; list-by-node goes through `blockAffinityLabels()`.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { addIssue, BLOCK_PREFIX_LENS, networkCidr, objectName } from './fields.js';
import { tryParseCidr } from './ip.js';
import { BLOCK_NAME_CEL_EXPR, blockName } from './ipam-block.js';
import { ObjectMeta } from './meta.js';
import { CARACAL_API_VERSION, checkScope, typeMeta } from './resource.js';

export const AffinityState = z.enum(['pending', 'confirmed', 'pendingDeletion']);
export type AffinityState = z.infer<typeof AffinityState>;

export const BlockAffinitySpec = z
  .object({
    state: AffinityState.describe(
      'Claim protocol step: pending (counts as absent), confirmed, or pendingDeletion (others must not claim yet)',
    ),
    node: objectName.describe('Node (or virtual owner, e.g. load-balancer) that claims the block'),
    type: z
      .enum(['host', 'virtual'])
      .default('host')
      .describe('host: a node claims the block; virtual: a pseudo-owner such as load-balancer'),
    cidr: networkCidr(BLOCK_PREFIX_LENS).describe('CIDR of the claimed block, canonical form'),
    deleted: z
      .boolean()
      .default(false)
      .describe('Soft-delete mark: readers treat the affinity as absent; the hard delete follows'),
  })
  .describe('Which node claims which block, and how far the claim has got');
export type BlockAffinitySpec = z.infer<typeof BlockAffinitySpec>;

/** Kubernetes' limit on object names. */
const MAX_NAME = 253;

/**
 * The object name of the affinity of `node` for the block `cidr`: `<node>-<blockName>`. Names that would
 * reach 253 characters keep a shortened node part and get `-<11 hex chars of sha256("<node>+<blockName>")>`
 * (Calico's rule, ipam.md §1.7), so the name is not a reliable way back to the node: read `spec.node`.
 * @example blockAffinityName('worker-1', '10.244.3.64/26') // 'worker-1-10-244-3-64-26'
 */
export function blockAffinityName(node: string, cidr: string): string {
  const block = blockName(cidr);
  const name = `${node}-${block}`;
  if (name.length < MAX_NAME) return name;
  const hash = createHash('sha256').update(`${node}+${block}`).digest('hex').slice(0, 11);
  return `${node.slice(0, MAX_NAME - 1 - block.length - 13)}-${block}-${hash}`;
}

/** Label keys stamped on every BlockAffinity so "affinities of node N" is a label-selector query. */
export const AFFINITY_LABELS = {
  hostnameHash: 'caracal.dev/hostname-hash',
  affinityType: 'caracal.dev/affinity-type',
  ipVersion: 'caracal.dev/ip-version',
} as const;

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 §6 base32, without the '=' padding. */
export function base32NoPad(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let acc = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(acc >>> (bits - 5)) & 31];
      bits -= 5;
      acc &= (1 << bits) - 1;
    }
  }
  if (bits > 0) out += BASE32[(acc << (5 - bits)) & 31];
  return out;
}

/**
 * A label value standing for a node name of any length: base32 (no padding) of SHA3-256, 52 characters,
 * inside the 63-character label limit.
 */
export function hostnameHash(node: string): string {
  return base32NoPad(createHash('sha3-256').update(node).digest());
}

/** The labels a BlockAffinity carries (see AFFINITY_LABELS). */
export function blockAffinityLabels(spec: Pick<BlockAffinitySpec, 'node' | 'type' | 'cidr'>): Record<string, string> {
  const c = tryParseCidr(spec.cidr);
  return {
    [AFFINITY_LABELS.hostnameHash]: hostnameHash(spec.node),
    [AFFINITY_LABELS.affinityType]: spec.type,
    [AFFINITY_LABELS.ipVersion]: String(c.ok ? c.value.family : 4),
  };
}

export const BlockAffinity = z
  .object({
    ...typeMeta(CARACAL_API_VERSION, 'BlockAffinity'),
    metadata: ObjectMeta,
    spec: BlockAffinitySpec,
  })
  .superRefine(checkScope('BlockAffinity', false))
  .superRefine((obj, ctx) => {
    const want = blockAffinityName(obj.spec.node, obj.spec.cidr);
    if (obj.metadata.name !== want) {
      addIssue(ctx, ['metadata', 'name'], `must be "${want}", derived from spec.node and spec.cidr`, obj.metadata.name);
    }
  })
  .meta({
    'x-kubernetes-validations': [
      {
        // Names that reach the length limit carry a hash CEL cannot compute; those are checked by zod only.
        rule: `size(self.metadata.name) == 252 || self.metadata.name == self.spec.node + '-' + ${BLOCK_NAME_CEL_EXPR}`,
        message: 'name must be "<spec.node>-<block name>"',
      },
    ],
  })
  .describe("A node's claim on an IPAM block");
export type BlockAffinity = z.infer<typeof BlockAffinity>;
export type BlockAffinityInput = z.input<typeof BlockAffinity>;
