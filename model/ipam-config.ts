/**
 * IPAMConfig: the IPAM singleton, named `default` (ipam.md §1.5). A missing object means the defaults; it is
 * not written on read (`defaultIpamConfigSpec()`).
 *
 * The two cross-field rules that Calico enforces only in its setter are checked here on every read and
 * write, and as CEL on the CRD, so a `kubectl apply` cannot store a combination the allocator refuses.
 */
import { z } from 'zod';
import { addIssue } from './fields.js';
import { ObjectMeta } from './meta.js';
import { CARACAL_API_VERSION, checkScope, typeMeta } from './resource.js';

/** Block cap per host when neither the config nor the request sets one (ipam.md §3 step 5). */
export const FALLBACK_MAX_BLOCKS_PER_HOST = 20;

export const IPAMConfigSpec = z
  .object({
    strictAffinity: z.boolean().default(false).describe('Never borrow addresses from blocks owned by other nodes'),
    autoAllocateBlocks: z
      .boolean()
      .default(true)
      .describe('Claim new blocks when a node runs out; when false only blocks already owned are filled'),
    maxBlocksPerHost: z
      .number()
      .int()
      .min(0)
      .max(1_000_000)
      .default(0)
      .describe(
        `Cap on blocks a node may claim; 0 = unset (the allocator then uses ${FALLBACK_MAX_BLOCKS_PER_HOST}). Requires strictAffinity.`,
      ),
    kubeVirtVMAddressPersistence: z
      .enum(['Enabled', 'Disabled'])
      .default('Enabled')
      .describe("Keep a KubeVirt VM's address across pod re-creation and migration"),
    ipCooldownSec: z
      .number()
      .int()
      .min(0)
      .max(1200)
      .default(0)
      .describe('Seconds a released address waits before it is handed out again'),
  })
  .superRefine((spec, ctx) => {
    if (!spec.strictAffinity && !spec.autoAllocateBlocks) {
      addIssue(ctx, ['autoAllocateBlocks'], 'cannot be false while strictAffinity is false', false);
    }
    if (spec.maxBlocksPerHost > 0 && !spec.strictAffinity) {
      addIssue(ctx, ['maxBlocksPerHost'], 'must be 0 unless strictAffinity is true', spec.maxBlocksPerHost);
    }
  })
  .meta({
    'x-kubernetes-validations': [
      {
        rule: 'self.strictAffinity || self.autoAllocateBlocks',
        message: 'autoAllocateBlocks cannot be false while strictAffinity is false',
      },
      {
        rule: 'self.maxBlocksPerHost == 0 || self.strictAffinity',
        message: 'maxBlocksPerHost must be 0 unless strictAffinity is true',
      },
    ],
  })
  .prefault({})
  .describe('Cluster-wide IPAM settings');
export type IPAMConfigSpec = z.infer<typeof IPAMConfigSpec>;

/** The name of the one IPAMConfig object. */
export const IPAM_CONFIG_NAME = 'default';

/** The spec in force when no IPAMConfig object exists. */
export function defaultIpamConfigSpec(): IPAMConfigSpec {
  return IPAMConfigSpec.parse(undefined);
}

/** Effective cap on blocks per host: min of the config and the request's limit, 20 when both are 0. */
export function effectiveMaxBlocksPerHost(spec: Pick<IPAMConfigSpec, 'maxBlocksPerHost'>, requestLimit = 0): number {
  const set = [spec.maxBlocksPerHost, requestLimit].filter((n) => n > 0);
  return set.length === 0 ? FALLBACK_MAX_BLOCKS_PER_HOST : Math.min(...set);
}

export const IPAMConfig = z
  .object({
    ...typeMeta(CARACAL_API_VERSION, 'IPAMConfig'),
    metadata: ObjectMeta,
    spec: IPAMConfigSpec,
  })
  .superRefine(checkScope('IPAMConfig', false))
  .superRefine((obj, ctx) => {
    if (obj.metadata.name !== IPAM_CONFIG_NAME) {
      addIssue(
        ctx,
        ['metadata', 'name'],
        `must be "${IPAM_CONFIG_NAME}": IPAMConfig is a singleton`,
        obj.metadata.name,
      );
    }
  })
  .meta({
    'x-kubernetes-validations': [
      { rule: "self.metadata.name == 'default'", message: 'the IPAMConfig must be named "default"' },
    ],
  })
  .describe('The IPAM singleton, named "default"');
export type IPAMConfig = z.infer<typeof IPAMConfig>;
export type IPAMConfigInput = z.input<typeof IPAMConfig>;
