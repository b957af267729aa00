/**
 * The datastore's entry for processes (`caracal node`, `caracalctl`): pick and configure a driver from the
 * environment and wrap it in the typed store layer. Components take a `Datastore` (./types.ts) as a
 * parameter and never import a driver; only wiring code calls `datastoreFromEnv`.
 *
 *   CARACAL_DATASTORE        etcdv3 (default) | kubernetes
 *   CARACAL_ETCD_ENDPOINTS   comma-separated client URLs; default http://127.0.0.1:2379
 *   CARACAL_ETCD_PREFIX      key prefix; default /caracal/v1
 *   KUBECONFIG               kubeconfig file for kubernetes; in-cluster or ~/.kube/config when unset
 *
 * The kubernetes driver is loaded only when chosen: it pulls in @kubernetes/client-node, which a CNI
 * invocation or an etcd lab should not pay for.
 */
import { CaracalError, describeError, ErrorCodes, isCaracalError } from '../common/errors.js';
import { DEFAULT_ETCD_PREFIX, EtcdV3Backend } from './etcdv3/backend.js';
import { createDatastore, type DatastoreOptions } from './store.js';
import type { Backend, Datastore } from './types.js';

export { createDatastore, type DatastoreOptions, WATCH_QUEUE_HIGH_WATER } from './store.js';
export type * from './types.js';

export const DEFAULT_ETCD_ENDPOINTS = ['http://127.0.0.1:2379'];

function badEnv(variable: string, why: string, value: string | undefined): CaracalError {
  return new CaracalError(
    ErrorCodes.InvalidConfig,
    `Cannot configure the datastore: ${variable} ${why}: current value is "${value ?? ''}"`,
    { details: { variable, value } },
  );
}

/** Parse CARACAL_ETCD_ENDPOINTS: every entry an http(s) URL with a host (a missing port means 2379). */
export function parseEtcdEndpoints(value: string | undefined): string[] {
  if (value === undefined || value.trim() === '') return [...DEFAULT_ETCD_ENDPOINTS];
  const out: string[] = [];
  for (const raw of value.split(',')) {
    const entry = raw.trim();
    if (entry === '') throw badEnv('CARACAL_ETCD_ENDPOINTS', 'has an empty entry', value);
    if (!entry.includes('://')) {
      throw badEnv('CARACAL_ETCD_ENDPOINTS', `has "${entry}" without a scheme: write http://${entry}`, value);
    }
    let url: URL;
    try {
      url = new URL(entry);
    } catch {
      throw badEnv('CARACAL_ETCD_ENDPOINTS', `has "${entry}", which is not a URL (want http://host:port)`, value);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw badEnv('CARACAL_ETCD_ENDPOINTS', `has "${entry}": the scheme must be http or https`, value);
    }
    if (
      url.hostname === '' ||
      (url.pathname !== '/' && url.pathname !== '') ||
      url.search !== '' ||
      url.hash !== '' ||
      url.username !== '' ||
      url.password !== ''
    ) {
      throw badEnv('CARACAL_ETCD_ENDPOINTS', `has "${entry}": want only scheme, host and port`, value);
    }
    out.push(`${url.protocol}//${url.host}${url.port === '' ? ':2379' : ''}`);
  }
  return out;
}

/**
 * The datastore the environment asks for. Throws INVALID_CONFIG naming the variable for a bad value.
 *
 * @example
 * const store = await datastoreFromEnv(); // etcd at http://127.0.0.1:2379 unless told otherwise
 */
export async function datastoreFromEnv(
  env: Record<string, string | undefined> = process.env,
  opts: DatastoreOptions = {},
): Promise<Datastore> {
  const driver = (env.CARACAL_DATASTORE ?? '').trim() || 'etcdv3';
  let backend: Backend;
  if (driver === 'etcdv3') {
    const endpoints = parseEtcdEndpoints(env.CARACAL_ETCD_ENDPOINTS);
    const prefix = env.CARACAL_ETCD_PREFIX?.trim() || DEFAULT_ETCD_PREFIX;
    if (!prefix.startsWith('/')) throw badEnv('CARACAL_ETCD_PREFIX', 'must start with "/"', prefix);
    backend = new EtcdV3Backend({ endpoints, prefix });
  } else if (driver === 'kubernetes') {
    const kubeconfigPath = env.KUBECONFIG?.trim() || undefined;
    backend = await loadKubernetesBackend(kubeconfigPath);
  } else {
    throw badEnv('CARACAL_DATASTORE', 'must be etcdv3 or kubernetes', env.CARACAL_DATASTORE);
  }
  return createDatastore(backend, opts);
}

interface KubernetesDriverModule {
  createKubernetesBackend(opts: { kubeconfigPath?: string }): Backend | Promise<Backend>;
}

async function loadKubernetesBackend(kubeconfigPath: string | undefined): Promise<Backend> {
  // A variable, not a literal: the driver is loaded only when chosen, and type-checking this file does not
  // depend on it.
  const specifier = './kubernetes/backend.js';
  let mod: KubernetesDriverModule;
  try {
    mod = (await import(specifier)) as KubernetesDriverModule;
  } catch (e) {
    throw new CaracalError(
      ErrorCodes.InvalidConfig,
      `Cannot load the kubernetes datastore driver: ${describeError(e)}`,
      {
        details: { variable: 'CARACAL_DATASTORE', value: 'kubernetes' },
        cause: e,
      },
    );
  }
  try {
    return await mod.createKubernetesBackend(kubeconfigPath === undefined ? {} : { kubeconfigPath });
  } catch (e) {
    if (isCaracalError(e)) throw e;
    throw new CaracalError(
      ErrorCodes.InvalidConfig,
      `Cannot configure the kubernetes datastore: KUBECONFIG "${kubeconfigPath ?? '(unset: in-cluster or ~/.kube/config)'}": ${describeError(e)}`,
      { details: { variable: 'KUBECONFIG', value: kubeconfigPath }, cause: e },
    );
  }
}
