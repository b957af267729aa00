/**
 * IPAMBlock: one block-sized slice of a pool and the unit of compare-and-swap for allocation (ipam.md §1.2).
 *
 * Invariants checked on every read and write (the allocator's own "free + used = size"):
 * - `allocations` has one slot per address (64 for a /26); slot i is `base + i`, `null` = free, k = in use
 *   with `attributes[k]`;
 * - `unallocated` lists every free ordinal exactly once, in reuse order (front first; freed ordinals go to
 *   the back: calico#12638), and no allocated one;
 * - `metadata.name` is `blockName(spec.cidr)`, because lookups are by computed name.
 * Sequence numbers are decimal strings (see `decimalUint64` in fields.ts: they start at Unix nanoseconds,
 * beyond JSON's safe integers).
 */
import { z } from 'zod';
import { addIssue, BLOCK_PREFIX_LENS, decimalUint64, networkCidr, timestamp } from './fields.js';
import { cidrSize, tryParseCidr } from './ip.js';
import { ObjectMeta } from './meta.js';
import { CARACAL_API_VERSION, checkScope, typeMeta } from './resource.js';

/** Largest block: a /20 (IPv4) or /116 (IPv6) holds 4096 addresses. */
export const MAX_BLOCK_ADDRESSES = 4096;

export const AFFINITY_PATTERN = /^(host|virtual):[a-zA-Z0-9.\-_]+$/;

export const AllocationAttribute = z
  .object({
    handle_id: z.string().max(512).optional().describe('IPAM handle that owns the addresses pointing at this entry'),
    secondary: z
      .record(z.string(), z.string())
      .optional()
      .describe('Owner attributes: pod, namespace, node, type (e.g. ipipTunnelAddress), service, timestamp'),
    alternateOwnerAttrs: z
      .record(z.string(), z.string())
      .optional()
      .describe('Attributes of a second owner during a live migration'),
    releasedAt: timestamp.optional().describe('When the address was released (cooldown before reuse)'),
  })
  .describe('Attributes shared by one or more allocated ordinals');
export type AllocationAttribute = z.infer<typeof AllocationAttribute>;

const IPAMBlockSpecFields = z.object({
  cidr: networkCidr(BLOCK_PREFIX_LENS).describe(
    'The block\'s addresses, e.g. "10.244.3.64/26"; prefix length 20-32 (IPv4) or 116-128 (IPv6), canonical form',
  ),
  affinity: z
    .string()
    .max(260)
    .regex(AFFINITY_PATTERN, 'must be "host:<nodeName>" or "virtual:<name>"')
    .optional()
    .describe('Owner of the block: "host:<nodeName>" or "virtual:<name>"; unset when no node owns it'),
  affinityClaimTime: timestamp.optional().describe('When the current owner claimed the block'),
  allocations: z
    .array(z.number().int().min(0).nullable())
    .max(MAX_BLOCK_ADDRESSES)
    .describe('One slot per address: null = free, k = allocated with attributes[k]; slot i is the block base + i'),
  unallocated: z
    .array(z.number().int().min(0))
    .max(MAX_BLOCK_ADDRESSES)
    .describe('Every free ordinal once, in reuse order: allocate from the front, append released ordinals'),
  attributes: z
    .array(AllocationAttribute)
    .max(MAX_BLOCK_ADDRESSES)
    .default([])
    .describe('Attribute entries referenced from allocations'),
  sequenceNumber: decimalUint64
    .default('0')
    .describe(
      'Block write counter, bumped on every write; a decimal string because it starts at Unix nanoseconds, beyond the 2^53 that JSON numbers carry safely',
    ),
  sequenceNumberForAllocation: z
    .record(z.string(), decimalUint64)
    .default({})
    .describe('Ordinal (decimal string) -> block sequence number when it was allocated; stale releases are refused'),
  deleted: z
    .boolean()
    .default(false)
    .describe('Soft-delete mark: readers treat the block as absent; the hard delete follows'),
});

function checkBlock(spec: z.output<typeof IPAMBlockSpecFields>, ctx: z.RefinementCtx): void {
  const parsed = tryParseCidr(spec.cidr);
  if (!parsed.ok) return;
  const size = Number(cidrSize(parsed.value));
  if (spec.allocations.length !== size) {
    addIssue(
      ctx,
      ['allocations'],
      `must have one entry per address of the /${parsed.value.prefixLen} block (${size}): current length is ${spec.allocations.length}`,
    );
    return; // ordinals cannot be checked against a slot array of the wrong length
  }
  spec.allocations.forEach((a, i) => {
    if (a !== null && a >= spec.attributes.length) {
      addIssue(ctx, ['allocations', i], `must index an entry of attributes (there are ${spec.attributes.length})`, a);
    }
  });
  const listed = new Set<number>();
  spec.unallocated.forEach((o, j) => {
    if (o >= size) addIssue(ctx, ['unallocated', j], `must be an ordinal below the block size ${size}`, o);
    else if (listed.has(o)) addIssue(ctx, ['unallocated', j], 'lists a free ordinal twice', o);
    else if (spec.allocations[o] !== null)
      addIssue(ctx, ['unallocated', j], `lists ordinal ${o}, which is allocated`, o);
    listed.add(o);
  });
  spec.allocations.forEach((a, i) => {
    if (a === null && !listed.has(i)) {
      addIssue(ctx, ['allocations', i], `is free but ordinal ${i} is missing from unallocated`);
    }
  });
  for (const key of Object.keys(spec.sequenceNumberForAllocation)) {
    if (!/^(0|[1-9][0-9]*)$/.test(key) || Number(key) >= size) {
      addIssue(ctx, ['sequenceNumberForAllocation', key], `key must be an ordinal below the block size ${size}`, key);
    }
  }
}

export const IPAMBlockSpec = IPAMBlockSpecFields.superRefine(checkBlock).describe('Allocation state of the block');
export type IPAMBlockSpec = z.infer<typeof IPAMBlockSpec>;

/**
 * The object name of the block with this CIDR: the CIDR text with '.', ':' and '/' turned into '-'
 * (ipam.md §1.7; frozen, since lookups are by computed name).
 * @example blockName('10.244.3.64/26') // '10-244-3-64-26'
 */
export function blockName(cidr: string): string {
  return cidr.replace(/[.:/]/g, '-');
}

/** `blockName()` in CEL (Kubernetes' strings extension), for the CRD's root. */
export const BLOCK_NAME_CEL_EXPR = "self.spec.cidr.replace('.', '-').replace(':', '-').replace('/', '-')";
const BLOCK_NAME_CEL = {
  rule: `self.metadata.name == ${BLOCK_NAME_CEL_EXPR}`,
  message: 'name must be spec.cidr with ".", ":" and "/" replaced by "-"',
};

export type Affinity = { readonly type: 'host' | 'virtual'; readonly name: string };

/** `"host:worker-1"` → `{ type: 'host', name: 'worker-1' }`; undefined when unset or malformed. */
export function parseAffinity(affinity: string | undefined): Affinity | undefined {
  if (affinity === undefined || !AFFINITY_PATTERN.test(affinity)) return undefined;
  const colon = affinity.indexOf(':');
  return { type: affinity.slice(0, colon) as Affinity['type'], name: affinity.slice(colon + 1) };
}

export function formatAffinity(a: Affinity): string {
  return `${a.type}:${a.name}`;
}

/** The sequence number after `s` (decimal uint64 strings, see `sequenceNumber`). */
export function nextSequenceNumber(s: string): string {
  return (BigInt(s) + 1n).toString();
}

export const IPAMBlock = z
  .object({
    ...typeMeta(CARACAL_API_VERSION, 'IPAMBlock'),
    metadata: ObjectMeta,
    spec: IPAMBlockSpec,
  })
  .superRefine(checkScope('IPAMBlock', false))
  .superRefine((obj, ctx) => {
    const want = blockName(obj.spec.cidr);
    if (obj.metadata.name !== want) {
      addIssue(ctx, ['metadata', 'name'], `must be "${want}", derived from spec.cidr`, obj.metadata.name);
    }
  })
  .meta({ 'x-kubernetes-validations': [BLOCK_NAME_CEL] })
  .describe('A block of addresses from a pool, with its per-address allocation state');
export type IPAMBlock = z.infer<typeof IPAMBlock>;
export type IPAMBlockInput = z.input<typeof IPAMBlock>;
