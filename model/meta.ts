/**
 * The Kubernetes object envelope shared by every kind: apiVersion, kind, metadata, spec, status.
 * `ObjectMeta` keeps unknown metadata fields (managedFields, ownerReferences, ...) so that a read-modify-write
 * through our datastore never drops what another writer put there.
 */
import { z } from 'zod';

/** RFC 1123 subdomain, as Kubernetes requires for most object names. */
export const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** RFC 1123 label (namespaces). */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export const ObjectMeta = z
  .looseObject({
    name: z.string().min(1).max(253).regex(DNS_SUBDOMAIN, 'must be a lowercase RFC 1123 subdomain'),
    namespace: z.string().max(63).regex(DNS_LABEL, 'must be a lowercase RFC 1123 label').optional(),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
    /** Set by the datastore: etcd mod_revision or Kubernetes resourceVersion. Opaque; compare for equality only. */
    resourceVersion: z.string().optional(),
    uid: z.string().optional(),
    generation: z.number().int().optional(),
    creationTimestamp: z.string().optional(),
    deletionTimestamp: z.string().optional(),
    finalizers: z.array(z.string()).optional(),
  })
  .describe('Standard object metadata');
export type ObjectMeta = z.infer<typeof ObjectMeta>;

/** Every stored object has at least this shape. */
export interface Resource {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: unknown;
  status?: unknown;
}
