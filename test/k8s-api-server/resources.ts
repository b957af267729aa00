/**
 * The resource table of the test API server (TEST DOUBLE, see server.ts): one row per kind in the model
 * registry, carrying what the real API server knows about that resource — its URL names, scope, whether it
 * has a `/status` subresource, which field selectors it supports, whether DELETE returns the object or a
 * Status, whether PUT may omit resourceVersion — plus the discovery documents client libraries read.
 *
 * Native rows follow kube-apiserver's registries (pkg/registry/core/{pod,namespace,node},
 * networking/networkpolicy); CRD rows follow apiextensions-apiserver's customresource registry.
 */
import { apiVersionOf, type KindInfo } from '../../model/kind.js';
import { DNS_LABEL, DNS_SUBDOMAIN } from '../../model/meta.js';
import type { ResourceNames } from './status.js';

export type Obj = Record<string, unknown>;

export interface ApiResource extends ResourceNames {
  readonly info: KindInfo;
  readonly version: string;
  readonly apiVersion: string;
  readonly listKind: string;
  readonly namespaced: boolean;
  readonly native: boolean;
  /** Has a `/status` subresource: the main endpoint ignores status, `/status` ignores everything else. */
  readonly statusSubresource: boolean;
  /** DELETE answers with the deleted object (CRDs, pods, namespaces) rather than a success Status. */
  readonly returnsDeletedObject: boolean;
  /** PUT without metadata.resourceVersion is allowed (AllowUnconditionalUpdate). False for CRDs. */
  readonly unconditionalUpdate: boolean;
  /** metadata.generation is set to 1 on create and bumped on spec changes. */
  readonly tracksGeneration: boolean;
  /** Field selectors beyond metadata.name and metadata.namespace. */
  readonly fieldLabels: Readonly<Record<string, (o: Obj) => string>>;
  /** Name rule: RFC 1123 subdomain for most, label for namespaces. */
  readonly nameRegex: RegExp;
  /** Strategy PrepareForCreate: what the registry resets on create (status, usually). */
  prepareForCreate(o: Obj): void;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));
const at = (o: Obj, ...path: string[]): unknown => {
  let cur: unknown = o;
  for (const p of path) cur = cur !== null && typeof cur === 'object' ? (cur as Obj)[p] : undefined;
  return cur;
};

interface NativeTraits {
  statusSubresource: boolean;
  returnsDeletedObject: boolean;
  tracksGeneration: boolean;
  fieldLabels: Record<string, (o: Obj) => string>;
  nameRegex: RegExp;
  prepareForCreate(o: Obj): void;
}

/** Keyed by `<group>/<plural>` (core group is ""). */
const NATIVE: Record<string, NativeTraits> = {
  '/pods': {
    statusSubresource: true,
    returnsDeletedObject: true,
    tracksGeneration: true, // PodObservedGenerationTracking (1.33+)
    fieldLabels: {
      'spec.nodeName': (o) => str(at(o, 'spec', 'nodeName')),
      'spec.restartPolicy': (o) => str(at(o, 'spec', 'restartPolicy')),
      'spec.schedulerName': (o) => str(at(o, 'spec', 'schedulerName')),
      'spec.serviceAccountName': (o) => str(at(o, 'spec', 'serviceAccountName')),
      'status.phase': (o) => str(at(o, 'status', 'phase')),
      'status.podIP': (o) => str(at(o, 'status', 'podIP')),
      'status.nominatedNodeName': (o) => str(at(o, 'status', 'nominatedNodeName')),
    },
    nameRegex: DNS_SUBDOMAIN,
    // podStrategy.PrepareForCreate: status is reset; the QoS class is not computed here.
    prepareForCreate: (o) => {
      o.status = { phase: 'Pending' };
    },
  },
  '/namespaces': {
    statusSubresource: true,
    returnsDeletedObject: true,
    tracksGeneration: false,
    fieldLabels: { 'status.phase': (o) => str(at(o, 'status', 'phase')) },
    nameRegex: DNS_LABEL,
    prepareForCreate: (o) => {
      o.status = { phase: 'Active' };
    },
  },
  '/nodes': {
    statusSubresource: true,
    returnsDeletedObject: false,
    tracksGeneration: false,
    fieldLabels: { 'spec.unschedulable': (o) => str(at(o, 'spec', 'unschedulable') ?? false) },
    nameRegex: DNS_SUBDOMAIN,
    prepareForCreate: () => {}, // nodeStrategy: "Nodes allow *all* fields, including status, to be set on create"
  },
  'networking.k8s.io/networkpolicies': {
    statusSubresource: false, // networkpolicies/status was removed in 1.28
    returnsDeletedObject: false,
    tracksGeneration: true,
    fieldLabels: {},
    nameRegex: DNS_SUBDOMAIN,
    prepareForCreate: (o) => {
      delete o.status;
    },
  },
};

export interface ResourceTableOptions {
  /**
   * Which CRD kinds (registry keys) are served with a `/status` subresource. Calico's CRDs have none, and
   * Caracal's generated CRDs have none today; set this when crds/ enables `subresources.status`.
   */
  crdStatusSubresource?: readonly string[];
}

export function buildResources(
  kinds: Readonly<Record<string, KindInfo>>,
  opts: ResourceTableOptions = {},
): ApiResource[] {
  const out: ApiResource[] = [];
  for (const info of Object.values(kinds)) {
    const base = {
      info,
      group: info.group,
      version: info.version,
      plural: info.plural,
      kind: info.kind,
      apiVersion: apiVersionOf(info),
      listKind: `${info.kind}List`,
      qualified: info.group === '' ? info.plural : `${info.plural}.${info.group}`,
      namespaced: info.namespaced,
      native: info.native,
    };
    const traits = info.native ? NATIVE[`${info.group}/${info.plural}`] : undefined;
    if (traits) {
      out.push({ ...base, ...traits, unconditionalUpdate: true });
      continue;
    }
    const statusSubresource = opts.crdStatusSubresource?.includes(info.key) ?? false;
    out.push({
      ...base,
      statusSubresource,
      returnsDeletedObject: true,
      unconditionalUpdate: false,
      tracksGeneration: true,
      fieldLabels: {},
      nameRegex: DNS_SUBDOMAIN,
      prepareForCreate: (o) => {
        if (statusSubresource) delete o.status;
      },
    });
  }
  return out;
}

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

/** `APIResourceList` for one group-version, as `/api/v1` and `/apis/<group>/<version>` serve it. */
export function apiResourceList(groupVersion: string, resources: readonly ApiResource[]): Obj {
  const list: Obj[] = [];
  for (const r of resources) {
    const entry: Obj = {
      name: r.plural,
      singularName: r.info.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: VERBS,
    };
    if (r.info.shortNames?.length) entry.shortNames = [...r.info.shortNames];
    list.push(entry);
    if (r.statusSubresource) {
      list.push({
        name: `${r.plural}/status`,
        singularName: '',
        namespaced: r.namespaced,
        kind: r.kind,
        verbs: ['get', 'patch', 'update'],
      });
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion, resources: list };
}

export function apiGroup(name: string, versions: readonly string[]): Obj {
  const gvs = versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v }));
  return { kind: 'APIGroup', apiVersion: 'v1', name, versions: gvs, preferredVersion: gvs[0] };
}

/** Group → versions, core group excluded, in first-seen order. */
export function groupVersions(resources: readonly ApiResource[]): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const r of resources) {
    if (r.group === '') continue;
    const vs = groups.get(r.group) ?? [];
    if (!vs.includes(r.version)) vs.push(r.version);
    groups.set(r.group, vs);
  }
  return groups;
}
