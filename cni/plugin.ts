/**
 * The CNI commands (spec 1.0.0 and 1.1.0): ADD, DEL, CHECK, VERSION, STATUS, GC. Input is the environment and
 * stdin; output is the text for stdout and the exit code (`main.ts` does the process I/O), so tests can call
 * `runPlugin` in-process as well as through the binary.
 *
 * ADD: addresses (ipam.ts) → veth, addresses, routes (dataplane.ts) → WorkloadEndpoint (endpoint.ts) →
 * optional wait for policy (policy-wait.ts) → result. A failure at any step undoes the steps before it, in
 * reverse, so a failed ADD holds nothing. DEL undoes all of it and is idempotent: a gone netns, a half-done
 * ADD and a second DEL all succeed. The datastore is opened only when a step needs it.
 */
import { withTimeout } from '../common/clock.js';
import type { Datastore } from '../datastore/types.js';
import { type AgentClient, AgentUnavailable, connectAgent } from './agent-client.js';
import {
  type CniEnv,
  type NetConf,
  type PodIdentity,
  parseNetConf,
  podIdentity,
  readEnv,
  SUPPORTED_VERSIONS,
} from './config.js';
import { check, GATEWAY_V4, GATEWAY_V6, HOST_VETH_MAC, hostVethName, setUp, tearDown } from './dataplane.js';
import {
  deleteEndpoint,
  type EndpointFacts,
  endpointName,
  NETWORK_LABEL,
  openDatastore,
  writeEndpoint,
} from './endpoint.js';
import { CniCode, CniError, toCniError } from './errors.js';
import { type Assigned, assign, execIpam, handleIdOf, release, releaseHandle } from './ipam.js';
import { waitForPolicy } from './policy-wait.js';
import { type CniIp, type CniRoute, interfacesOf, ipsOf, resultFor } from './result.js';

export interface PluginOutput {
  stdout: string;
  exitCode: number;
}

/** Opens the datastore once, on first use; `close()` closes it if it was opened. */
function lazyDatastore(conf: NetConf) {
  let p: Promise<Datastore> | undefined;
  return {
    get: () => {
      p ??= openDatastore(conf);
      return p;
    },
    close: async () => {
      if (p) await (await p.catch(() => undefined))?.close();
    },
  };
}

const hasDatastore = (conf: NetConf) => conf.datastore.type !== 'none';

/**
 * The IPAM and WorkloadEndpoint steps of ADD and DEL: through the node agent when it accepts a connection
 * (agent-client.ts; nothing of the datastore is loaded then), else in-process. When the agent goes away
 * mid-command, the idempotent steps (release, endpoint write and delete) run in-process instead; an assign
 * does not (it may have been done: the undo's release by handle covers it).
 */
async function podSteps(
  env: CniEnv,
  conf: NetConf,
  ds: ReturnType<typeof lazyDatastore>,
  inAgent: AgentClient | undefined,
) {
  const caracalIpam = conf.ipam.type === 'caracal';
  const agent: AgentClient | undefined =
    inAgent ?? (caracalIpam || hasDatastore(conf) ? await connectAgent(conf.agentSocket) : undefined);
  const orLocal = async <T>(viaAgent: (() => Promise<T>) | false | undefined, local: () => Promise<T>): Promise<T> => {
    if (!viaAgent) return local();
    try {
      return await viaAgent();
    } catch (e) {
      if (e instanceof AgentUnavailable) return local();
      throw e;
    }
  };
  const handleId = handleIdOf(conf, env);
  type Ref = { node: string; pod: PodIdentity; ifname: string; containerId: string };
  const deleteLocal = async (r: Ref) =>
    deleteEndpoint(await ds.get(), await endpointName(r), r.pod.namespace, r.containerId);
  return {
    assign: async (attrs: Record<string, string>): Promise<Assigned> => {
      if (!(agent && caracalIpam)) return assign(conf, env, attrs, ds.get);
      try {
        return await agent.call('assign', { handleId, node: conf.nodename, ipam: conf.ipam, attrs });
      } catch (e) {
        if (e instanceof AgentUnavailable) throw new CniError(CniCode.TryAgainLater, e.message);
        throw e;
      }
    },
    release: () =>
      orLocal(agent && caracalIpam && (() => agent.call('release', { handleId }).then(() => undefined)), () =>
        release(conf, env, ds.get),
      ),
    writeEndpoint: (f: EndpointFacts): Promise<string> =>
      orLocal(agent && (() => agent.call('writeEndpoint', f).then((r) => r.name)), async () =>
        writeEndpoint(await ds.get(), f),
      ),
    deleteEndpoint: (r: Ref): Promise<void> =>
      orLocal(agent && (() => agent.call('deleteEndpoint', r).then(() => undefined)), () => deleteLocal(r)),
    close: () => {
      if (agent !== inAgent) agent?.close();
    },
  };
}

async function add(env: CniEnv, conf: NetConf, inAgent?: AgentClient): Promise<Record<string, unknown>> {
  const pod = podIdentity(env, conf);
  const hostIfname = hostVethName(pod.namespace, pod.name, env.ifname);
  const ds = lazyDatastore(conf);
  const steps = await podSteps(env, conf, ds, inAgent);
  const undo: (() => Promise<unknown> | unknown)[] = [];
  try {
    undo.push(() => steps.release());
    const ips = await steps.assign({
      namespace: pod.namespace,
      pod: pod.name,
      node: conf.nodename,
      containerID: env.containerId,
    });
    undo.push(() => tearDown(env.containerId, hostIfname));
    const plumbed = setUp({
      containerId: env.containerId,
      netnsPath: env.netns,
      hostIfname,
      podIfname: env.ifname,
      mtu: conf.mtu,
      ipv4: ips.ipv4,
      ipv6: ips.ipv6,
    });
    const cniIps: CniIp[] = [];
    const routes: CniRoute[] = [];
    if (ips.ipv4) {
      cniIps.push({ address: `${ips.ipv4}/32`, gateway: GATEWAY_V4, interface: 1 });
      routes.push({ dst: '0.0.0.0/0', gw: GATEWAY_V4 });
    }
    if (ips.ipv6) {
      cniIps.push({ address: `${ips.ipv6}/128`, gateway: GATEWAY_V6, interface: 1 });
      routes.push({ dst: '::/0', gw: GATEWAY_V6 });
    }
    if (hasDatastore(conf)) {
      const facts = {
        node: conf.nodename,
        pod,
        ifname: env.ifname,
        containerId: env.containerId,
        hostIfname,
        podMac: plumbed.podMac,
        ipNetworks: cniIps.map((i) => i.address),
        network: conf.name,
      };
      undo.push(() => steps.deleteEndpoint(facts));
      const name = await steps.writeEndpoint(facts);
      if (conf.policyWait)
        await waitForPolicy(conf.policyWait, { namespace: pod.namespace, name, containerId: env.containerId });
    } else if (conf.policyWait) {
      const name = await endpointName({ node: conf.nodename, pod, ifname: env.ifname });
      await waitForPolicy(conf.policyWait, { namespace: pod.namespace, name, containerId: env.containerId });
    }
    return resultFor(conf.cniVersion, {
      interfaces: [
        { name: hostIfname, mac: HOST_VETH_MAC },
        { name: env.ifname, mac: plumbed.podMac, mtu: conf.mtu, sandbox: env.netns },
      ],
      ips: cniIps,
      routes,
    });
  } catch (e) {
    for (const step of undo.reverse()) {
      try {
        await step();
      } catch {
        // Best effort: the original error is what the runtime must see; DEL retries the rest.
      }
    }
    throw e;
  } finally {
    steps.close();
    await ds.close();
  }
}

async function del(env: CniEnv, conf: NetConf, inAgent?: AgentClient): Promise<void> {
  const pod = podIdentity(env, conf);
  const hostIfname = hostVethName(pod.namespace, pod.name, env.ifname);
  const ds = lazyDatastore(conf);
  const steps = await podSteps(env, conf, ds, inAgent);
  try {
    tearDown(env.containerId, hostIfname);
    // The name ADD used may differ when the runtime passes other CNI_ARGS on DEL: also try the previous
    // result's host interface.
    const prevHost = interfacesOf(conf.prevResult).find((i) => !i.sandbox && i.name !== hostIfname)?.name;
    if (prevHost?.startsWith('cali')) tearDown(env.containerId, prevHost);
    if (hasDatastore(conf))
      await steps.deleteEndpoint({ node: conf.nodename, pod, ifname: env.ifname, containerId: env.containerId });
    await steps.release();
  } finally {
    steps.close();
    await ds.close();
  }
}

async function checkCmd(env: CniEnv, conf: NetConf): Promise<void> {
  if (!conf.prevResult)
    throw new CniError(CniCode.InvalidConfig, 'Cannot run CHECK: the configuration has no prevResult');
  const pod = podIdentity(env, conf);
  const ips = ipsOf(conf.prevResult).map((i) => i.address.split('/')[0] ?? '');
  const podIf = interfacesOf(conf.prevResult).find((i) => i.sandbox !== undefined && i.name === env.ifname);
  if (conf.ipam.type !== 'caracal') await execIpam(conf, env, 'CHECK');
  check({
    containerId: env.containerId,
    netnsPath: env.netns,
    hostIfname: hostVethName(pod.namespace, pod.name, env.ifname),
    podIfname: env.ifname,
    podMac: podIf?.mac,
    mtu: conf.mtu,
    ipv4: ips.find((a) => !a.includes(':')),
    ipv6: ips.find((a) => a.includes(':')),
  });
}

/** STATUS (1.1.0): ready when the datastore answers (when one is configured). */
async function status(env: CniEnv, conf: NetConf): Promise<void> {
  if (conf.ipam.type !== 'caracal') await execIpamTolerant(conf, env, 'STATUS');
  if (!hasDatastore(conf)) return;
  const ds = lazyDatastore(conf);
  try {
    await withTimeout(
      (async () => (await ds.get()).list('IPPool'))(),
      3000,
      () => new Error('the datastore did not answer within 3000 ms'),
    );
  } catch (e) {
    throw new CniError(CniCode.PluginNotAvailable, `Caracal is not ready: ${(e as Error).message}`);
  } finally {
    await ds.close();
  }
}

/**
 * GC (1.1.0): `cni.dev/valid-attachments` lists what the runtime still uses. We remove this node's
 * WorkloadEndpoints of other containers, with their veths and their IPAM handles. Handles with no endpoint
 * at all (a crash between IPAM and the endpoint write) are IPAM's own leak check's job, not the node's.
 */
async function gc(env: CniEnv, conf: NetConf): Promise<void> {
  const valid = conf.raw['cni.dev/valid-attachments'];
  if (!Array.isArray(valid))
    throw new CniError(CniCode.InvalidConfig, 'Cannot run GC: cni.dev/valid-attachments is missing or not a list');
  const keep = new Set(
    valid.map((a) => `${(a as { containerID?: string }).containerID}/${(a as { ifname?: string }).ifname}`),
  );
  if (conf.ipam.type !== 'caracal') await execIpamTolerant(conf, env, 'GC');
  if (!hasDatastore(conf)) return;
  const ds = lazyDatastore(conf);
  try {
    const store = await ds.get();
    const { items } = await store.list('WorkloadEndpoint');
    for (const ep of items) {
      const s = ep.spec;
      if (s.node !== conf.nodename || !s.containerID) continue;
      // Another CNI network's endpoint (one written before the label existed counts as this network's).
      const network = ep.metadata.labels?.[NETWORK_LABEL];
      if (network !== undefined && network !== conf.name) continue;
      if (keep.has(`${s.containerID}/${s.endpoint}`)) continue;
      tearDown(s.containerID, s.interfaceName);
      if (conf.ipam.type === 'caracal') await releaseHandle(conf, `${conf.name}.${s.containerID}`, ds.get);
      await deleteEndpoint(store, ep.metadata.name, ep.metadata.namespace ?? 'default', s.containerID);
    }
  } finally {
    await ds.close();
  }
}

/** GC and STATUS of a delegate that predates CNI 1.1.0 (error 1, incompatible version): nothing to do. */
async function execIpamTolerant(conf: NetConf, env: CniEnv, command: string): Promise<void> {
  try {
    await execIpam(conf, env, command);
  } catch (e) {
    if (!(e instanceof CniError && e.code === CniCode.IncompatibleVersion)) throw e;
  }
}

function requestedVersion(stdin: string): string {
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    return typeof v === 'string' && v !== '' ? v : '1.1.0';
  } catch {
    return '1.1.0';
  }
}

/**
 * Run one CNI command. Never throws: failures become a CNI error object and a non-zero exit code.
 * @example const { stdout, exitCode } = await runPlugin({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.1.0"}');
 */
export async function runPlugin(
  envVars: Record<string, string | undefined>,
  stdin: string,
  /**
   * Set when the node agent runs the command itself (node/cni-service.ts): its IPAM and endpoint steps go
   * to this in-process client instead of a socket.
   */
  opts: { inAgent?: AgentClient } = {},
): Promise<PluginOutput> {
  let version = requestedVersion(stdin);
  try {
    const env = readEnv(envVars);
    if (env.command === 'VERSION') {
      return { stdout: JSON.stringify({ cniVersion: version, supportedVersions: SUPPORTED_VERSIONS }), exitCode: 0 };
    }
    const conf = parseNetConf(stdin, envVars);
    version = conf.cniVersion;
    const v11 = conf.cniVersion === '1.1.0';
    switch (env.command) {
      case 'ADD':
        return { stdout: JSON.stringify(await add(env, conf, opts.inAgent)), exitCode: 0 };
      case 'DEL':
        await del(env, conf, opts.inAgent);
        return { stdout: '', exitCode: 0 };
      case 'CHECK':
        if (conf.cniVersion.startsWith('0.3'))
          throw new CniError(
            CniCode.IncompatibleVersion,
            `Cannot run CHECK: it needs CNI 0.4.0 or later: configuration is ${conf.cniVersion}`,
          );
        await checkCmd(env, conf);
        return { stdout: '', exitCode: 0 };
      case 'STATUS':
      case 'GC':
        if (!v11)
          throw new CniError(
            CniCode.IncompatibleVersion,
            `Cannot run ${env.command}: it needs CNI 1.1.0: configuration is ${conf.cniVersion}`,
          );
        if (env.command === 'STATUS') await status(env, conf);
        else await gc(env, conf);
        return { stdout: '', exitCode: 0 };
    }
  } catch (e) {
    const err = toCniError(e);
    return { stdout: JSON.stringify(err.toJSON(version)), exitCode: 1 };
  }
  return { stdout: '', exitCode: 0 };
}
