/**
 * The plugin's input: the CNI_* environment and the network configuration on stdin, checked by hand (no zod:
 * this runs on every pod start, and the datastore is only loaded on the paths that need it). Every problem is
 * a CniError with the spec's code (4 invalid environment, 6 decode failure, 7 invalid configuration) and a
 * message that names the key. docs/cni.md documents every key.
 */
import { statSync } from 'node:fs';
import { hostname } from 'node:os';
import { CniCode, CniError } from './errors.js';

export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export const DEFAULT_MTU = 1500;
export const DEFAULT_POLICY_TIMEOUT_MS = 10_000;
export const DEFAULT_POLICY_STATUS_DIR = '/run/caracal/endpoint-status';
/** Where `caracal node` serves the plugin (node/cni-service.ts); `"agentSocket": ""` turns it off. */
export const DEFAULT_AGENT_SOCKET = '/run/caracal/cni.sock';

/**
 * The inode of this process's network namespace (what `ip netns identify` compares), if readable: the plugin
 * sends it with a whole command, and the agent takes only commands from its own namespace.
 */
export function netnsInode(): number | undefined {
  try {
    return statSync('/proc/self/ns/net').ino;
  } catch {
    return undefined;
  }
}

export type Command = 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | 'STATUS' | 'GC';
const COMMANDS: readonly Command[] = ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC'];

export interface CniEnv {
  command: Command;
  containerId: string;
  netns: string;
  ifname: string;
  /** CNI_ARGS as key/value pairs. */
  args: Record<string, string>;
  path: string[];
  /** The whole environment, passed on to a delegated IPAM plugin. */
  raw: Record<string, string | undefined>;
}

export interface DatastoreConf {
  type: 'etcdv3' | 'kubernetes' | 'none';
  etcdEndpoints?: string | undefined;
  etcdPrefix?: string | undefined;
  kubeconfig?: string | undefined;
}

export interface IpamConf {
  type: string;
  assignIpv4: boolean;
  assignIpv6: boolean;
  ipv4Pools: string[];
  ipv6Pools: string[];
}

export interface PolicyWaitConf {
  statusDir: string;
  timeoutMs: number;
}

export interface NetConf {
  cniVersion: string;
  name: string;
  type: string;
  nodename: string;
  mtu: number;
  datastore: DatastoreConf;
  ipam: IpamConf;
  /** The node agent's CNI socket (agent-client.ts); "" when disabled. */
  agentSocket: string;
  /** Set when ADD must wait for the node agent to report the endpoint's policy programmed. */
  policyWait?: PolicyWaitConf | undefined;
  prevResult?: Record<string, unknown> | undefined;
  runtimeConfig: Record<string, unknown>;
  /** The configuration object exactly as read, for delegation to another IPAM plugin. */
  raw: Record<string, unknown>;
}

/** Who the pod is: CNI_ARGS (K8S_POD_*) first, then runtimeConfig.pod, else the container ID. */
export interface PodIdentity {
  namespace: string;
  name: string;
  uid?: string | undefined;
  /** False when neither CNI_ARGS nor runtimeConfig named the pod (a plain container runtime). */
  fromOrchestrator: boolean;
}

const bad = (msg: string) => new CniError(CniCode.InvalidConfig, msg);

export function parseCniArgs(s: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (s ?? '').split(';')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw new CniError(CniCode.InvalidEnv, `Cannot parse CNI_ARGS: "${part}" is not KEY=VALUE`);
    out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

/** CNI_COMMAND and the variables it requires (spec §"Parameters"). */
export function readEnv(env: Record<string, string | undefined>): CniEnv {
  const command = env.CNI_COMMAND as Command;
  if (!COMMANDS.includes(command))
    throw new CniError(
      CniCode.InvalidEnv,
      `Cannot run: CNI_COMMAND must be one of ${COMMANDS.join(', ')}: current value is "${env.CNI_COMMAND ?? ''}"`,
    );
  const need = (k: string): string => {
    const v = env[k];
    if (v === undefined || v === '') throw new CniError(CniCode.InvalidEnv, `Cannot run ${command}: ${k} is not set`);
    return v;
  };
  const needsContainer = command === 'ADD' || command === 'DEL' || command === 'CHECK';
  const containerId = needsContainer ? need('CNI_CONTAINERID') : (env.CNI_CONTAINERID ?? '');
  // CNI spec §"Parameters": alphanumeric, plus underscore, dot and hyphen (not first).
  if (containerId !== '' && !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(containerId))
    throw new CniError(
      CniCode.InvalidEnv,
      `Cannot run ${command}: CNI_CONTAINERID must be alphanumeric with "_", "." or "-": current value is "${containerId}"`,
    );
  return {
    command,
    containerId,
    // DEL may come without a netns (the spec allows it when the namespace is gone).
    netns: command === 'ADD' || command === 'CHECK' ? need('CNI_NETNS') : (env.CNI_NETNS ?? ''),
    ifname: needsContainer ? need('CNI_IFNAME') : (env.CNI_IFNAME ?? ''),
    args: parseCniArgs(env.CNI_ARGS),
    path: (env.CNI_PATH ?? '').split(':').filter(Boolean),
    raw: env,
  };
}

function str(o: Record<string, unknown>, key: string, where: string): string | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string')
    throw bad(
      `Cannot read the network configuration: ${where}${key} must be a string: current value is ${JSON.stringify(v)}`,
    );
  return v;
}
function bool(o: Record<string, unknown>, key: string, where: string, dflt: boolean): boolean {
  const v = o[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean')
    throw bad(
      `Cannot read the network configuration: ${where}${key} must be true or false: current value is ${JSON.stringify(v)}`,
    );
  return v;
}
function strList(o: Record<string, unknown>, key: string, where: string): string[] {
  const v = o[key];
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
    throw bad(
      `Cannot read the network configuration: ${where}${key} must be a list of strings: current value is ${JSON.stringify(v)}`,
    );
  return v as string[];
}
function obj(o: Record<string, unknown>, key: string, where: string): Record<string, unknown> | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v))
    throw bad(`Cannot read the network configuration: ${where}${key} must be an object`);
  return v as Record<string, unknown>;
}

/** Parse stdin. `env` supplies defaults (node name, datastore variables) the configuration leaves out. */
export function parseNetConf(stdin: string, env: Record<string, string | undefined> = {}): NetConf {
  let raw: unknown;
  try {
    raw = JSON.parse(stdin);
  } catch (e) {
    throw new CniError(CniCode.DecodeFailure, `Cannot decode the network configuration: ${(e as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new CniError(CniCode.DecodeFailure, 'Cannot decode the network configuration: it is not a JSON object');
  const o = raw as Record<string, unknown>;
  const cniVersion = str(o, 'cniVersion', '') ?? '';
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(cniVersion))
    throw new CniError(
      CniCode.IncompatibleVersion,
      `Cannot use CNI version "${cniVersion}": supported are ${SUPPORTED_VERSIONS.join(', ')}`,
    );
  const name = str(o, 'name', '') ?? '';
  if (name === '') throw bad('Cannot read the network configuration: name is missing');
  const mtu = o.mtu === undefined ? DEFAULT_MTU : o.mtu;
  if (typeof mtu !== 'number' || !Number.isInteger(mtu) || mtu < 68 || mtu > 65535)
    throw bad(
      `Cannot read the network configuration: mtu must be an integer from 68 to 65535: current value is ${JSON.stringify(o.mtu)}`,
    );

  const ds = obj(o, 'datastore', '');
  const k8s = obj(o, 'kubernetes', '');
  let datastore: DatastoreConf;
  if (ds) {
    const type = str(ds, 'type', 'datastore.') ?? 'etcdv3';
    if (type !== 'etcdv3' && type !== 'kubernetes' && type !== 'none')
      throw bad(
        `Cannot read the network configuration: datastore.type must be etcdv3, kubernetes or none: current value is "${type}"`,
      );
    datastore = {
      type,
      etcdEndpoints: str(ds, 'etcdEndpoints', 'datastore.'),
      etcdPrefix: str(ds, 'etcdPrefix', 'datastore.'),
      kubeconfig: str(ds, 'kubeconfig', 'datastore.') ?? (k8s ? str(k8s, 'kubeconfig', 'kubernetes.') : undefined),
    };
  } else {
    // In a cluster: the Kubernetes API with the kubeconfig from the usual places, unless the node's
    // environment names a datastore.
    const envType = env.CARACAL_DATASTORE?.trim();
    datastore = {
      type: envType === 'etcdv3' ? 'etcdv3' : 'kubernetes',
      etcdEndpoints: env.CARACAL_ETCD_ENDPOINTS,
      etcdPrefix: env.CARACAL_ETCD_PREFIX,
      kubeconfig: (k8s ? str(k8s, 'kubeconfig', 'kubernetes.') : undefined) ?? env.KUBECONFIG,
    };
  }

  const ip = obj(o, 'ipam', '');
  if (!ip) throw bad('Cannot read the network configuration: ipam is missing');
  const ipam: IpamConf = {
    type: str(ip, 'type', 'ipam.') ?? '',
    assignIpv4: bool(ip, 'assignIpv4', 'ipam.', true),
    assignIpv6: bool(ip, 'assignIpv6', 'ipam.', false),
    ipv4Pools: strList(ip, 'ipv4Pools', 'ipam.'),
    ipv6Pools: strList(ip, 'ipv6Pools', 'ipam.'),
  };
  if (ipam.type === '') throw bad('Cannot read the network configuration: ipam.type is missing');
  if (ipam.type === 'caracal' && !ipam.assignIpv4 && !ipam.assignIpv6)
    throw bad('Cannot read the network configuration: ipam assigns no address: set assignIpv4 or assignIpv6');
  if (ipam.type === 'caracal' && datastore.type === 'none')
    throw bad('Cannot read the network configuration: ipam.type "caracal" needs a datastore: datastore.type is "none"');

  let policyWait: PolicyWaitConf | undefined;
  const pw = obj(o, 'policyWait', '');
  if (pw && bool(pw, 'enabled', 'policyWait.', true)) {
    const t = pw.timeoutMs ?? DEFAULT_POLICY_TIMEOUT_MS;
    if (typeof t !== 'number' || !Number.isFinite(t) || t < 0)
      throw bad(
        `Cannot read the network configuration: policyWait.timeoutMs must be a number of milliseconds: current value is ${JSON.stringify(pw.timeoutMs)}`,
      );
    policyWait = { statusDir: str(pw, 'statusDir', 'policyWait.') ?? DEFAULT_POLICY_STATUS_DIR, timeoutMs: t };
  }

  return {
    cniVersion,
    name,
    type: str(o, 'type', '') ?? 'caracal',
    nodename: str(o, 'nodename', '') || env.CARACAL_NODENAME || env.NODENAME || hostname(),
    mtu,
    datastore,
    ipam,
    agentSocket: str(o, 'agentSocket', '') ?? DEFAULT_AGENT_SOCKET,
    policyWait,
    prevResult: obj(o, 'prevResult', ''),
    runtimeConfig: obj(o, 'runtimeConfig', '') ?? {},
    raw: o,
  };
}

export function podIdentity(env: CniEnv, conf: NetConf): PodIdentity {
  const a = env.args;
  if (a.K8S_POD_NAME) {
    return {
      namespace: a.K8S_POD_NAMESPACE || 'default',
      name: a.K8S_POD_NAME,
      uid: a.K8S_POD_UID,
      fromOrchestrator: true,
    };
  }
  const pod = conf.runtimeConfig.pod as { name?: unknown; namespace?: unknown; uid?: unknown } | undefined;
  if (pod && typeof pod.name === 'string' && pod.name !== '') {
    return {
      namespace: typeof pod.namespace === 'string' && pod.namespace !== '' ? pod.namespace : 'default',
      name: pod.name,
      uid: typeof pod.uid === 'string' ? pod.uid : undefined,
      fromOrchestrator: true,
    };
  }
  return { namespace: 'default', name: env.containerId.slice(0, 63), fromOrchestrator: false };
}
