/**
 * Addresses for a pod: Caracal's own IPAM (ipam/, over the datastore) when `ipam.type` is "caracal",
 * otherwise the named IPAM plugin exec'd from CNI_PATH with the same environment and stdin, as runtimes do
 * (CNI spec §"Delegated plugins"). Caracal's IPAM is loaded on first use only: it pulls in the datastore.
 *
 * Every assignment is tracked by the handle `<network name>.<containerID>`, so a release (DEL, or a failed
 * ADD undoing itself) frees exactly what ADD took, and releasing twice is harmless.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import type { Datastore } from '../datastore/types.js';
import type { AutoAssignRequest } from '../ipam/allocator.js';
import type { CniEnv, IpamConf, NetConf } from './config.js';
import { CniCode, CniError } from './errors.js';
import { ipsOf } from './result.js';

export interface Assigned {
  ipv4?: string | undefined;
  ipv6?: string | undefined;
}

/**
 * The part of ipam/index.ts the plugin uses (ipam.md); the module is loaded by a computed specifier, on demand
 * (a type-only import loads nothing at run time).
 */
interface IpamModule {
  Ipam: new (
    ds: Datastore,
    opts?: { node?: string },
  ) => {
    autoAssign(req: AutoAssignRequest): Promise<{ ipv4: { ip: string }[]; ipv6: { ip: string }[] }>;
    releaseByHandle(handleId: string): Promise<string[]>;
  };
}

/** An Ipam instance as the plugin (and the node agent's CNI service, which keeps one warm) uses it. */
export type CaracalIpam = InstanceType<IpamModule['Ipam']>;

async function loadIpam(ds: Datastore, node: string) {
  const specifier = '../ipam/index.js';
  const mod = (await import(specifier)) as IpamModule;
  return new mod.Ipam(ds, { node });
}

const bare = (ip: string) => ip.split('/')[0] ?? ip;

export const handleIdOf = (conf: NetConf, env: CniEnv) => `${conf.name}.${env.containerId}`;

export async function assign(
  conf: NetConf,
  env: CniEnv,
  attrs: Record<string, string>,
  ds: () => Promise<Datastore>,
): Promise<Assigned> {
  if (conf.ipam.type !== 'caracal') {
    const result = await execIpam(conf, env, 'ADD');
    const out: Assigned = {};
    for (const ip of ipsOf(result)) {
      const a = bare(ip.address);
      if (a.includes(':')) out.ipv6 ??= a;
      else out.ipv4 ??= a;
    }
    if (!out.ipv4 && !out.ipv6)
      throw new CniError(CniCode.Ipam, `Cannot assign an address: IPAM plugin "${conf.ipam.type}" returned no IPs`);
    return out;
  }
  const ipam = await loadIpam(await ds(), conf.nodename);
  return assignWith(ipam, conf.ipam, conf.nodename, handleIdOf(conf, env), attrs);
}

/** Caracal IPAM's part of `assign`, on a given Ipam (the node agent calls it with its long-lived one). */
export async function assignWith(
  ipam: CaracalIpam,
  conf: Pick<IpamConf, 'assignIpv4' | 'assignIpv6' | 'ipv4Pools' | 'ipv6Pools'>,
  node: string,
  handleId: string,
  attrs: Record<string, string>,
): Promise<Assigned> {
  const r = await ipam.autoAssign({
    handleId,
    node,
    num4: conf.assignIpv4 ? 1 : 0,
    num6: conf.assignIpv6 ? 1 : 0,
    attrs,
    ...(conf.ipv4Pools.length ? { pools4: conf.ipv4Pools } : {}),
    ...(conf.ipv6Pools.length ? { pools6: conf.ipv6Pools } : {}),
  });
  const out: Assigned = { ipv4: r.ipv4[0] && bare(r.ipv4[0].ip), ipv6: r.ipv6[0] && bare(r.ipv6[0].ip) };
  if ((conf.assignIpv4 && !out.ipv4) || (conf.assignIpv6 && !out.ipv6))
    throw new CniError(CniCode.Ipam, `Cannot assign an address for ${handleId}: IPAM returned too few addresses`);
  return out;
}

/** Free what `assign` took for this container. Idempotent. */
export async function release(conf: NetConf, env: CniEnv, ds: () => Promise<Datastore>): Promise<void> {
  if (conf.ipam.type !== 'caracal') {
    await execIpam(conf, env, 'DEL');
    return;
  }
  const ipam = await loadIpam(await ds(), conf.nodename);
  await ipam.releaseByHandle(handleIdOf(conf, env));
}

/** Release by handle alone (GC, where there is no CNI environment for the container). */
export async function releaseHandle(conf: NetConf, handleId: string, ds: () => Promise<Datastore>): Promise<void> {
  const ipam = await loadIpam(await ds(), conf.nodename);
  await ipam.releaseByHandle(handleId);
}

/**
 * What the delegate reads on stdin: our configuration as is, except that a 1.1.0 configuration is passed as
 * 1.0.0 for ADD, DEL and CHECK (their results are the same; Debian's host-local 1.1.1 stops at 1.0.0).
 */
function delegateConf(conf: NetConf, command: string): Record<string, unknown> {
  if (conf.cniVersion === '1.1.0' && (command === 'ADD' || command === 'DEL' || command === 'CHECK')) {
    const out: Record<string, unknown> = { ...conf.raw, cniVersion: '1.0.0' };
    if (out.prevResult && typeof out.prevResult === 'object')
      out.prevResult = { ...out.prevResult, cniVersion: '1.0.0' };
    return out;
  }
  return conf.raw;
}

function findPlugin(type: string, path: readonly string[]): string {
  if (type.includes('/') || type.includes('\0'))
    throw new CniError(CniCode.InvalidConfig, `Cannot run IPAM plugin "${type}": the name must not contain "/"`);
  for (const dir of path) {
    const p = join(dir, type);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {}
  }
  throw new CniError(
    CniCode.InvalidConfig,
    `Cannot run IPAM plugin "${type}": not found in CNI_PATH: current value is "${path.join(':')}"`,
  );
}

/**
 * Run the delegated IPAM plugin for `command` with our environment and stdin; returns its parsed result
 * (ADD) or undefined. Its CNI error becomes ours, with the spec code it reported.
 */
export async function execIpam(
  conf: NetConf,
  env: CniEnv,
  command: string,
): Promise<Record<string, unknown> | undefined> {
  const file = findPlugin(conf.ipam.type, env.path);
  const childEnv = { ...env.raw, CNI_COMMAND: command };
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>(
    (resolve, reject) => {
      const child = spawn(file, [], { env: childEnv, stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      child.on('error', reject);
      child.on('close', (c) =>
        resolve({
          code: c ?? 1,
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
        }),
      );
      child.stdin.on('error', () => {});
      child.stdin.end(JSON.stringify(delegateConf(conf, command)));
    },
  );
  let parsed: Record<string, unknown> | undefined;
  try {
    parsed = stdout.trim() ? (JSON.parse(stdout) as Record<string, unknown>) : undefined;
  } catch {
    parsed = undefined;
  }
  if (code !== 0) {
    const msg = typeof parsed?.msg === 'string' ? parsed.msg : stderr.trim() || stdout.trim() || `exit code ${code}`;
    const c = typeof parsed?.code === 'number' ? parsed.code : CniCode.Ipam;
    throw new CniError(c, `IPAM plugin "${conf.ipam.type}" ${command} failed: ${msg}`, String(parsed?.details ?? ''));
  }
  return parsed;
}
