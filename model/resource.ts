/**
 * Building blocks of a whole-object schema: the `apiVersion`/`kind` literals and the scope rule on
 * `metadata.namespace`. Each kind file spells out its own `z.object({...})` with these, so the object's shape
 * stays readable in one place.
 */
import { z } from 'zod';
import { addIssue } from './fields.js';
import { CARACAL_GROUP, CARACAL_VERSION } from './kind.js';
import type { ObjectMeta } from './meta.js';

export const CARACAL_API_VERSION = `${CARACAL_GROUP}/${CARACAL_VERSION}` as const;

/** `apiVersion` and `kind` fields that accept exactly these values. */
export function typeMeta<A extends string, K extends string>(apiVersion: A, kind: K) {
  return {
    apiVersion: z.literal(apiVersion).describe(`API version of this object: ${apiVersion}`),
    kind: z.literal(kind).describe(`Kind of this object: ${kind}`),
  };
}

/**
 * Namespaced kinds need `metadata.namespace`; cluster-scoped ones must not carry one (the API server drops
 * it, etcd would store it and make two names for one object).
 */
export function checkScope(kind: string, namespaced: boolean) {
  return (obj: { metadata: ObjectMeta }, ctx: z.RefinementCtx): void => {
    const ns = obj.metadata.namespace;
    if (namespaced && (ns === undefined || ns === '')) {
      addIssue(ctx, ['metadata', 'namespace'], `is required: ${kind} is namespaced`);
    } else if (!namespaced && ns !== undefined) {
      addIssue(ctx, ['metadata', 'namespace'], `must be unset: ${kind} is cluster-scoped`, ns);
    }
  };
}

/**
 * For `default` + `node.<nodeName>` configuration kinds (BGPConfiguration, FelixConfiguration): the name
 * must be one of those two forms.
 */
export function checkConfigName(kind: string) {
  return (obj: { metadata: ObjectMeta }, ctx: z.RefinementCtx): void => {
    const name = obj.metadata.name;
    if (name !== 'default' && !(name.startsWith('node.') && name.length > 'node.'.length)) {
      addIssue(ctx, ['metadata', 'name'], `must be "default" or "node.<nodeName>" for ${kind}`, name);
    }
  };
}

/** CEL for the same rule, on the CRD's root schema. */
export const CONFIG_NAME_CEL = {
  rule: "self.metadata.name == 'default' || self.metadata.name.startsWith('node.')",
  message: 'name must be "default" or "node.<nodeName>"',
} as const;

/** Per-node configuration object name for `nodeName`. */
export function perNodeConfigName(nodeName: string): string {
  return `node.${nodeName}`;
}
