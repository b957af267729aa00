/**
 * A kind's descriptor: how it is named on the API, how it is stored, and the zod schema of the whole
 * object (the single source of its TS type, its validation and, for our own kinds, its CRD schema).
 */
import type { z } from 'zod';
import type { Resource } from './meta.js';

export const CARACAL_GROUP = 'crd.caracal.dev';
export const CARACAL_VERSION = 'v1';

/** One `kubectl get` column of a CRD (apiextensions.k8s.io/v1 additionalPrinterColumns). */
export interface PrinterColumn {
  readonly name: string;
  readonly type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  /** JSONPath into the object, e.g. `.spec.cidr`. */
  readonly jsonPath: string;
  readonly description?: string;
  /** 0 shows in the default view, higher only with `-o wide`. */
  readonly priority?: number;
}

export interface KindInfo<S extends z.ZodType<Resource> = z.ZodType<Resource>> {
  /** Registry key: unique across the registry (e.g. "Node" is ours, "K8sNode" the native Kubernetes Node). */
  readonly key: string;
  /** `kind` on the wire. */
  readonly kind: string;
  /** API group; "" for the core group (Pod, Namespace, Node). */
  readonly group: string;
  readonly version: string;
  /** Lowercase plural resource name on the API (`ippools`). */
  readonly plural: string;
  readonly singular: string;
  readonly shortNames?: readonly string[];
  readonly namespaced: boolean;
  /** Native Kubernetes kind: read from the API server, no CRD generated. */
  readonly native: boolean;
  /** Path segment under the etcd prefix (`/caracal/v1/<storeName>/...`); unique across the registry. */
  readonly storeName: string;
  readonly schema: S;
  /** Extra `kubectl get` columns of the CRD (our kinds only); an Age column is always added. */
  readonly printerColumns?: readonly PrinterColumn[];
}

export function apiVersionOf(k: Pick<KindInfo, 'group' | 'version'>): string {
  return k.group === '' ? k.version : `${k.group}/${k.version}`;
}
