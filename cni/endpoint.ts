/**
 * The datastore side of a pod: open the datastore the configuration names (loaded on demand: the datastore
 * pulls in etcd3 or client-node and the zod models), and write or delete the pod's WorkloadEndpoint
 * (model/workload-endpoint.ts), which is how felix learns about the interface.
 *
 * A WorkloadEndpoint records its container ID; DEL deletes it only when the ID matches, so a late DEL of an
 * old sandbox leaves the new sandbox's endpoint alone.
 */
import { isCaracalError } from '../common/errors.js';
import type { Datastore } from '../datastore/types.js';
import type { NetConf, PodIdentity } from './config.js';
import { CniCode, CniError } from './errors.js';

/** The datastore of `conf.datastore`, mapped onto datastoreFromEnv's variables. */
export async function openDatastore(conf: NetConf): Promise<Datastore> {
  const d = conf.datastore;
  if (d.type === 'none')
    throw new CniError(CniCode.InvalidConfig, 'Cannot open the datastore: datastore.type is "none"');
  const { datastoreFromEnv } = await import('../datastore/index.js');
  const env: Record<string, string | undefined> = { CARACAL_DATASTORE: d.type };
  if (d.etcdEndpoints) env.CARACAL_ETCD_ENDPOINTS = d.etcdEndpoints;
  if (d.etcdPrefix) env.CARACAL_ETCD_PREFIX = d.etcdPrefix;
  if (d.kubeconfig) env.KUBECONFIG = d.kubeconfig;
  return datastoreFromEnv(env);
}

/** The label naming the CNI network an endpoint belongs to. */
export const NETWORK_LABEL = 'caracal.io/network';

export interface EndpointFacts {
  node: string;
  pod: PodIdentity;
  ifname: string;
  containerId: string;
  hostIfname: string;
  podMac: string;
  ipNetworks: string[];
  /** The CNI network's name (the configuration's `name`): GC of one network leaves another's endpoints. */
  network?: string | undefined;
}

export async function endpointName(f: { node: string; pod: PodIdentity; ifname: string }): Promise<string> {
  const { workloadEndpointName } = await import('../model/workload-endpoint.js');
  return workloadEndpointName({
    node: f.node,
    pod: f.pod.name,
    orchestrator: f.pod.fromOrchestrator ? 'k8s' : 'cni',
    endpoint: f.ifname,
  });
}

/** Create (or overwrite, on a repeated ADD) the pod's WorkloadEndpoint; returns its name. */
export async function writeEndpoint(ds: Datastore, f: EndpointFacts): Promise<string> {
  const { CARACAL_API_VERSION } = await import('../model/resource.js');
  const name = await endpointName(f);
  let labels: Record<string, string> = {};
  let serviceAccountName: string | undefined;
  if (ds.driver === 'kubernetes' && f.pod.fromOrchestrator) {
    // Pod labels are what policy selectors match; only the Kubernetes API knows them.
    const pod = await ds.get('Pod', f.pod.name, f.pod.namespace);
    labels = { ...(pod?.metadata.labels ?? {}) };
    serviceAccountName = (pod?.spec as { serviceAccountName?: string } | undefined)?.serviceAccountName;
  }
  labels['caracal.io/namespace'] = f.pod.namespace;
  labels['caracal.io/orchestrator'] = f.pod.fromOrchestrator ? 'k8s' : 'cni';
  if (f.network) labels[NETWORK_LABEL] = f.network;
  const obj = {
    apiVersion: CARACAL_API_VERSION,
    kind: 'WorkloadEndpoint' as const,
    metadata: { name, namespace: f.pod.namespace, labels },
    spec: {
      orchestrator: f.pod.fromOrchestrator ? 'k8s' : 'cni',
      node: f.node,
      ...(f.pod.fromOrchestrator ? { pod: f.pod.name } : { workload: f.pod.name }),
      containerID: f.containerId,
      endpoint: f.ifname,
      interfaceName: f.hostIfname,
      mac: f.podMac,
      ipNetworks: f.ipNetworks,
      profiles: [`kns.${f.pod.namespace}`],
      ...(serviceAccountName ? { serviceAccountName } : {}),
    },
  };
  try {
    await ds.create('WorkloadEndpoint', obj);
  } catch (e) {
    if (!isCaracalError(e, 'DATASTORE_ALREADY_EXISTS')) throw e;
    const cur = await ds.get('WorkloadEndpoint', name, f.pod.namespace);
    await ds.update('WorkloadEndpoint', {
      ...obj,
      metadata: { ...obj.metadata, resourceVersion: cur?.metadata.resourceVersion },
    } as typeof obj);
  }
  return name;
}

/** Delete the endpoint if it is this container's. Idempotent. */
export async function deleteEndpoint(
  ds: Datastore,
  name: string,
  namespace: string,
  containerId: string,
): Promise<void> {
  const cur = await ds.get('WorkloadEndpoint', name, namespace);
  if (!cur) return;
  if (cur.spec.containerID !== undefined && cur.spec.containerID !== containerId) return;
  try {
    await ds.delete('WorkloadEndpoint', name, namespace, { revision: cur.metadata.resourceVersion });
  } catch (e) {
    if (!isCaracalError(e, 'DATASTORE_NOT_FOUND')) throw e;
  }
}
