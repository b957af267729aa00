/**
 * `Lab`: builds a topology (lab/topology.ts) out of real network namespaces, veths, a bridge per LAN,
 * BGP daemons (lab/routers.ts) and an etcd (lab/etcd.ts), and tears all of it down again.
 *
 * Build order (each step batched per namespace and run in parallel across namespaces):
 *   1. `netns`     one `ip -batch` adds every namespace
 *   2. `setup`     per namespace: sysctls (forwarding, no DAD), lo up, the LAN bridges
 *   3. `veths`     per creating namespace: every veth, created with its peer directly in the other namespace
 *                  (so nothing ever appears in the host namespace, and names only need to be unique per netns)
 *   4. `addresses` per namespace: addresses, links up, pod wiring, routes, proxy ARP
 *   5. `routers` and `etcd`, in parallel
 *
 * Ownership (STYLE §2.3, mark and sweep): every namespace is named `caracal.<lab>.<entity>`; names never
 * contain dots, so the prefix `caracal.<lab>.` belongs to exactly one lab. Before anything is made, it is
 * written to `<stateRoot>/<lab>/state.json` (namespaces before `ip netns add`, pids right after spawn), so a
 * `down` from another process, or after a crash, finds everything; `downByName` also sweeps namespaces with
 * the prefix and the processes inside them.
 *
 * Teardown guarantees: `down()` is idempotent and never stops half-way (it collects problems, carries on, and
 * reports them at the end). A failed `up` tears down what it built before it throws. Labs brought up in-process
 * without `detach` are also torn down on process exit, SIGINT and SIGTERM (synchronously: SIGKILL, then
 * `ip netns del`), which covers test files that fail or are interrupted.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CaracalError, describeError, isCaracalError } from '../common/errors.js';
import { EtcdServer } from './etcd.js';
import {
  addNetns,
  configureNetns,
  deleteNetns,
  deleteNetnsSync,
  type ExecResult,
  hostVethName,
  ifName,
  ipNetnsExec,
  isAlive,
  killProcessesSync,
  listNetns,
  netnsPids,
  netnsPidsSync,
  type ProcessRef,
  processStartTime,
  run,
  shortHash,
  stopProcesses,
} from './netns.js';
import {
  type RouteEntry,
  type RouterRuntime,
  routerRoutes,
  routerStatus,
  type SessionStatus,
  startRouter,
} from './routers.js';
import {
  endpointAddresses,
  ipValue,
  NAME_MAX,
  NAME_RE,
  parseCidr,
  parseTopology,
  parseTopologyYaml,
  routerIdOf,
  type Topology,
} from './topology.js';

export const NETNS_PREFIX = 'caracal';
export const DEFAULT_STATE_ROOT = '/run/caracal/labs';
/** Calico's host-side veth MAC: every pod sees the same gateway MAC, whatever node it is on. */
export const HOST_VETH_MAC = 'ee:ee:ee:ee:ee:ee';
/** Calico's pod gateway (IPv4) and the link-local address derived from HOST_VETH_MAC (IPv6). */
export const POD_GATEWAY_V4 = '169.254.1.1';
export const POD_GATEWAY_V6 = 'fe80::ecee:eeff:feee:eeee';

export function netnsPrefix(lab: string): string {
  return `${NETNS_PREFIX}.${lab}.`;
}
export function netnsName(lab: string, entity: string): string {
  return `${netnsPrefix(lab)}${entity}`;
}
/** The lab id that goes into pod veth names: short, and the same for the same lab name. */
export function labId(lab: string): string {
  return shortHash(lab, 8);
}
export function stateRootOf(opts: { stateRoot?: string | undefined } = {}): string {
  return opts.stateRoot ?? process.env.CARACAL_LAB_STATE_ROOT ?? DEFAULT_STATE_ROOT;
}

// ---------------------------------------------------------------------------------------------------------
// Plan (pure): what each namespace gets in each phase

export type Role = 'node' | 'router' | 'pod' | 'lan';
type Sysctl = readonly [string, string];

export interface VethRecord {
  readonly netns: string;
  readonly name: string;
  readonly peerNetns: string;
  readonly peerName: string;
  /** What it is for: `link[2]`, `pod pod1a`, `lan fabric`. */
  readonly purpose: string;
}

export interface NetnsPlan {
  readonly ns: string;
  readonly role: Role;
  readonly entity: string;
  /** Phase 2. */
  setupSysctls: Sysctl[];
  setupIp: string[];
  /** Phase 3: veth creation (peer moved straight into the other namespace). */
  createIp: string[];
  /** Phase 4. */
  configureIp: string[];
  configureSysctls: Sysctl[];
}

export interface LabPlan {
  readonly name: string;
  readonly id: string;
  readonly namespaces: NetnsPlan[];
  readonly veths: VethRecord[];
}

const isV6 = (cidr: string) => parseCidr(cidr)?.family === 6;
const addrLine = (cidr: string, dev: string) => `addr add ${cidr} dev ${dev}${isV6(cidr) ? ' nodad' : ''}`;

/** Everything `up` will do to the kernel, as `ip` batch lines and sysctls per namespace. Pure. */
export function planLab(t: Topology, name: string): LabPlan {
  const id = labId(name);
  const plans = new Map<string, NetnsPlan>();
  const add = (entity: string, role: Role) => {
    const p: NetnsPlan = {
      ns: netnsName(name, entity),
      role,
      entity,
      setupSysctls: [
        ['net/ipv6/conf/all/accept_dad', '0'],
        ['net/ipv6/conf/default/accept_dad', '0'],
      ],
      setupIp: ['link set lo up'],
      createIp: [],
      configureIp: [],
      configureSysctls: [],
    };
    if (role === 'node' || role === 'router')
      p.setupSysctls.push(
        ['net/ipv4/ip_forward', '1'],
        ['net/ipv6/conf/all/forwarding', '1'],
        ['net/ipv4/conf/all/rp_filter', '0'],
        ['net/ipv4/conf/default/rp_filter', '0'],
      );
    plans.set(entity, p);
    return p;
  };
  for (const n of t.nodes) add(n.name, 'node');
  for (const r of t.routers) add(r.name, 'router');
  for (const l of t.links)
    if (l.kind === 'lan')
      add(l.lan, 'lan').setupIp.push('link add br0 type bridge mcast_snooping 0', 'link set br0 up');
  for (const p of t.pods) add(p.name, 'pod');
  const get = (e: string) => plans.get(e)!;
  const veths: VethRecord[] = [];
  const up = (dev: string, mtu?: number) => `link set ${dev}${mtu ? ` mtu ${mtu}` : ''} up`;

  t.links.forEach((l, i) => {
    if (l.kind === 'p2p') {
      const a = get(l.a);
      const b = get(l.b);
      const ifA = ifName(`l${i}-`, l.b);
      const ifB = ifName(`l${i}-`, l.a);
      a.createIp.push(`link add ${ifA} type veth peer name ${ifB} netns ${b.ns}`);
      veths.push({ netns: a.ns, name: ifA, peerNetns: b.ns, peerName: ifB, purpose: `links[${i}]` });
      a.configureIp.push(...l.addresses.a.map((c) => addrLine(c, ifA)), up(ifA, l.mtu));
      b.configureIp.push(...l.addresses.b.map((c) => addrLine(c, ifB)), up(ifB, l.mtu));
    } else {
      const lan = get(l.lan);
      Object.entries(l.members).forEach(([member, addrs], k) => {
        const m = get(member);
        const ifM = ifName(`l${i}-`, l.lan);
        const port = ifName(`p${k}-`, member);
        m.createIp.push(`link add ${ifM} type veth peer name ${port} netns ${lan.ns}`);
        veths.push({ netns: m.ns, name: ifM, peerNetns: lan.ns, peerName: port, purpose: `links[${i}] lan ${l.lan}` });
        m.configureIp.push(...addrs.map((c) => addrLine(c, ifM)), up(ifM, l.mtu));
        lan.configureIp.push(`link set ${port} master br0`, up(port, l.mtu));
      });
    }
  });

  for (const e of [...t.nodes, ...t.routers]) get(e.name).configureIp.push(...e.loopback.map((c) => addrLine(c, 'lo')));

  // Pods, wired as Calico's CNI plugin does: eth0 with a /32 (/128), default route via 169.254.1.1 onlink
  // (fe80::ecee:eeff:feee:eeee for IPv6), host side `cali…` with proxy ARP and a host route per address.
  // We also pin the gateway's neighbour entry: proxy ARP only answers when the node has some *other* route
  // to 169.254.1.1 (a default route), which an isolated lab node may not have.
  for (const p of t.pods) {
    const node = get(p.node);
    const pod = get(p.name);
    const cali = hostVethName(id, p.name);
    node.createIp.push(`link add ${cali} address ${HOST_VETH_MAC} type veth peer name eth0 netns ${pod.ns}`);
    veths.push({ netns: node.ns, name: cali, peerNetns: pod.ns, peerName: 'eth0', purpose: `pod ${p.name}` });
    node.configureIp.push(`link set ${cali} up`, ...p.ip.map((ip) => `route add ${ip} dev ${cali}`));
    node.configureSysctls.push([`net/ipv4/conf/${cali}/proxy_arp`, '1'], [`net/ipv4/neigh/${cali}/proxy_delay`, '0']);
    pod.configureIp.push(...p.ip.map((c) => addrLine(c, 'eth0')), 'link set eth0 up');
    if (p.ip.some((c) => !isV6(c)))
      pod.configureIp.push(
        `neigh add ${POD_GATEWAY_V4} lladdr ${HOST_VETH_MAC} dev eth0 nud permanent`,
        `route add default via ${POD_GATEWAY_V4} dev eth0 onlink`,
      );
    if (p.ip.some(isV6))
      pod.configureIp.push(
        `neigh add ${POD_GATEWAY_V6} lladdr ${HOST_VETH_MAC} dev eth0 nud permanent`,
        `route add ::/0 via ${POD_GATEWAY_V6} dev eth0`,
      );
  }

  for (const r of t.routes) {
    const fam = ipValue(r.via)?.family ?? 4;
    const dst = r.dst === 'default' ? (fam === 6 ? '::/0' : '0.0.0.0/0') : r.dst;
    get(r.on).configureIp.push(`route add ${dst} via ${r.via}${r.onlink ? ' onlink' : ''}`);
  }
  return { name, id, namespaces: [...plans.values()], veths };
}

// ---------------------------------------------------------------------------------------------------------
// State file

export type LabPhase = 'building' | 'up' | 'tearing-down';

export interface ProcessRecord extends ProcessRef {
  readonly kind: 'router' | 'etcd';
  readonly name: string;
  readonly netns?: string | undefined;
}

export interface EtcdRecord {
  readonly endpoints: string[];
  readonly netns?: string | undefined;
  readonly dataDir: string;
  readonly pid?: number | undefined;
}

export interface LabState {
  readonly version: 1;
  readonly name: string;
  readonly id: string;
  readonly createdAt: string;
  readonly ownerPid: number;
  detached: boolean;
  phase: LabPhase;
  readonly stateDir: string;
  readonly topology: Topology;
  netns: string[];
  veths: VethRecord[];
  processes: ProcessRecord[];
  routers: RouterRuntime[];
  etcd?: EtcdRecord;
  dirs: string[];
  timingsMs: Record<string, number>;
}

function writeState(s: LabState): void {
  const file = join(s.stateDir, 'state.json');
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(s, null, 2)}\n`);
  renameSync(tmp, file);
}

function readState(stateDir: string): LabState | undefined {
  try {
    return JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as LabState;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Exit and signal hooks for in-process labs

const live = new Set<Lab>();
let hooksInstalled = false;

function tearDownAllSync(): void {
  for (const lab of [...live]) lab.downSync();
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', tearDownAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      tearDownAllSync();
      process.removeListener(sig, onSignal);
      // Keep the default action (terminate) unless someone else handles the signal.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

/** Waits for every promise, then throws the first failure: nothing is still running when teardown starts. */
async function settleAll<T>(ps: readonly Promise<T>[]): Promise<T[]> {
  const rs = await Promise.allSettled(ps);
  const bad = rs.find((r) => r.status === 'rejected');
  if (bad) throw (bad as PromiseRejectedResult).reason;
  return rs.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/** Polls `fn` until it returns a value other than undefined/false, or throws after `timeoutMs`. */
export async function pollUntil<T>(
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  opts: { timeoutMs: number; intervalMs?: number; what: string; last?: () => string },
): Promise<T> {
  const until = Date.now() + opts.timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > until) {
      const extra = opts.last?.() ?? (lastError ? describeError(lastError) : undefined);
      throw new CaracalError(
        'LAB_COMMAND_FAILED',
        `Cannot wait for ${opts.what}: still not true after ${opts.timeoutMs} ms${extra ? `: ${extra}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
  }
}

// ---------------------------------------------------------------------------------------------------------
// Lab

export interface LabOptions {
  /** Where state directories live; default $CARACAL_LAB_STATE_ROOT or /run/caracal/labs. */
  stateRoot?: string;
  /** Run under this name instead of the topology's (two copies of one topology side by side). */
  name?: string;
  /**
   * Leave the lab running when this process exits (what `caracal lab up` does). By default a lab brought up
   * in-process is torn down on exit, SIGINT and SIGTERM.
   */
  detach?: boolean;
  /** Progress lines ("routers: 412 ms"). */
  onProgress?: (line: string) => void;
}

export interface RouterStatus {
  readonly name: string;
  readonly daemon: RouterRuntime['daemon'];
  readonly asNumber: number;
  readonly routerId: string;
  readonly netns: string;
  readonly pid: number;
  readonly alive: boolean;
  readonly sessions: readonly SessionStatus[];
  readonly error?: string;
}

export interface LabStatus {
  readonly name: string;
  readonly id: string;
  readonly phase: LabPhase;
  readonly createdAt: string;
  readonly stateDir: string;
  readonly detached: boolean;
  readonly timingsMs: Readonly<Record<string, number>>;
  readonly nodes: readonly { name: string; netns: string; addresses: string[] }[];
  readonly pods: readonly { name: string; node: string; netns: string; ips: readonly string[]; hostVeth: string }[];
  readonly routers: readonly RouterStatus[];
  readonly lans: readonly { name: string; netns: string; members: string[] }[];
  readonly etcd?: EtcdRecord;
  /** Namespaces the state lists that are missing, and namespaces with the lab's prefix it does not list. */
  readonly missingNetns: readonly string[];
  readonly strayNetns: readonly string[];
}

export class Lab {
  readonly name: string;
  readonly stateDir: string;
  readonly #state: LabState;
  #etcd: EtcdServer | undefined;
  #down: Promise<void> | undefined;
  #downSync = false;

  private constructor(state: LabState) {
    this.name = state.name;
    this.stateDir = state.stateDir;
    this.#state = state;
  }

  get topology(): Topology {
    return this.#state.topology;
  }
  /** A copy of the state file's content. */
  get state(): LabState {
    return structuredClone(this.#state);
  }
  get timingsMs(): Readonly<Record<string, number>> {
    return { ...this.#state.timingsMs };
  }
  /** etcd client URLs, when the topology asks for an etcd. */
  get etcdEndpoints(): string[] | undefined {
    return this.#state.etcd?.endpoints;
  }

  /** The namespace of a node, pod, router or LAN. Throws LAB_NOT_FOUND. */
  netnsOf(entity: string): string {
    const ns = netnsName(this.name, entity);
    if (!this.#state.netns.includes(ns))
      throw new CaracalError(
        'LAB_NOT_FOUND',
        `Cannot find "${entity}" in lab "${this.name}": no such node, pod, router or lan`,
      );
    return ns;
  }

  /**
   * Builds the topology. On any failure, tears down what was built, then throws (LAB_INVALID, LAB_EXISTS
   * or LAB_COMMAND_FAILED naming the command).
   */
  static async up(topology: unknown, opts: LabOptions = {}): Promise<Lab> {
    const t0 = performance.now();
    const t = parseTopology(topology);
    const name = opts.name ?? t.name;
    if (name.length > NAME_MAX || !NAME_RE.test(name))
      throw new CaracalError(
        'LAB_INVALID',
        `Cannot use lab name "${name}": must match ${NAME_RE} and be at most ${NAME_MAX} characters`,
      );
    const root = stateRootOf(opts);
    mkdirSync(root, { recursive: true });
    const stateDir = join(root, name);
    try {
      mkdirSync(stateDir); // atomic: two `up`s of one name cannot both get here
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST')
        throw new CaracalError('LAB_EXISTS', `Cannot bring up lab "${name}": it is already up (state in ${stateDir})`);
      throw e;
    }
    const stray = listNetns().filter((n) => n.startsWith(netnsPrefix(name)));
    if (stray.length) {
      rmSync(stateDir, { recursive: true, force: true });
      throw new CaracalError(
        'LAB_EXISTS',
        `Cannot bring up lab "${name}": namespaces with its prefix exist without a state file (${stray.join(', ')}): run "caracal lab down ${name}"`,
      );
    }
    const state: LabState = {
      version: 1,
      name,
      id: labId(name),
      createdAt: new Date().toISOString(),
      ownerPid: process.pid,
      detached: opts.detach === true,
      phase: 'building',
      stateDir,
      topology: t,
      netns: [],
      veths: [],
      processes: [],
      routers: [],
      dirs: [stateDir],
      timingsMs: { validate: Math.round(performance.now() - t0) },
    };
    const lab = new Lab(state);
    writeState(state);
    live.add(lab);
    installHooks();
    try {
      await lab.#build(opts);
    } catch (e) {
      let teardown = '';
      try {
        await lab.down();
      } catch (te) {
        teardown = `; teardown also failed: ${describeError(te)}`;
      }
      if (isCaracalError(e) && !teardown) throw e;
      throw new CaracalError(
        isCaracalError(e) ? e.code : 'LAB_COMMAND_FAILED',
        `Cannot bring up lab "${name}": ${describeError(e)}${teardown}`,
        { cause: e },
      );
    }
    state.timingsMs.total = Math.round(performance.now() - t0);
    state.phase = 'up';
    writeState(state);
    if (opts.detach) live.delete(lab);
    return lab;
  }

  /** Reads a YAML file and brings the lab up. */
  static async upFile(path: string, opts: LabOptions = {}): Promise<Lab> {
    return Lab.up(loadTopologyFile(path), opts);
  }

  async #build(opts: LabOptions): Promise<void> {
    const s = this.#state;
    const plan = planLab(s.topology, s.name);
    const phase = async (label: string, fn: () => Promise<unknown>) => {
      const t = performance.now();
      await fn();
      s.timingsMs[label] = Math.round(performance.now() - t);
      opts.onProgress?.(`${label}: ${s.timingsMs[label]} ms`);
    };
    const ifAny = (lines: string[]) => lines.length > 0;

    s.netns = plan.namespaces.map((p) => p.ns);
    s.veths = plan.veths;
    writeState(s); // recorded before they exist: teardown of a missing namespace is a no-op
    await phase('netns', () => addNetns(s.netns));
    await phase('setup', () =>
      settleAll(plan.namespaces.map((p) => configureNetns(p.ns, { sysctlsBefore: p.setupSysctls, ip: p.setupIp }))),
    );
    await phase('veths', () =>
      settleAll(plan.namespaces.filter((p) => ifAny(p.createIp)).map((p) => configureNetns(p.ns, { ip: p.createIp }))),
    );
    await phase('addresses', () =>
      settleAll(
        plan.namespaces.map((p) => configureNetns(p.ns, { ip: p.configureIp, sysctlsAfter: p.configureSysctls })),
      ),
    );
    // Routers and etcd record their own timings (they run side by side).
    await settleAll([this.#startRouters(), this.#startEtcd()]);
    opts.onProgress?.(`routers: ${s.timingsMs.routers ?? 0} ms, etcd: ${s.timingsMs.etcd ?? 0} ms`);
  }

  #record(p: ProcessRecord): void {
    this.#state.processes.push(p);
    writeState(this.#state);
  }

  async #startRouters(): Promise<void> {
    const s = this.#state;
    const t = performance.now();
    const runtimes = await settleAll(
      s.topology.routers.map((r) =>
        startRouter(r, {
          netns: netnsName(s.name, r.name),
          dir: join(s.stateDir, 'routers', r.name),
          ctx: {
            routerId: routerIdOf(s.topology, r),
            addresses: endpointAddresses(s.topology, r.name),
            labName: s.name,
          },
          onSpawn: (ref) => this.#record({ ...ref, kind: 'router', name: r.name, netns: netnsName(s.name, r.name) }),
          dieWithParent: !s.detached,
        }).then((rt) => {
          s.routers.push(rt);
          writeState(s);
          return rt;
        }),
      ),
    );
    s.routers.sort(
      (a, b) =>
        s.topology.routers.findIndex((r) => r.name === a.name) - s.topology.routers.findIndex((r) => r.name === b.name),
    );
    if (runtimes.length) s.timingsMs.routers = Math.round(performance.now() - t);
  }

  async #startEtcd(): Promise<void> {
    const s = this.#state;
    const spec = s.topology.etcd;
    if (!spec) return;
    const t = performance.now();
    const netns = spec.on ? netnsName(s.name, spec.on) : undefined;
    const firstV4 = spec.on
      ? endpointAddresses(s.topology, spec.on)
          .map((c) => parseCidr(c))
          .find((c) => c?.family === 4)?.address
      : undefined;
    const host = firstV4 ?? '127.0.0.1';
    const dataDir = join(s.stateDir, 'etcd');
    // In-process labs get an etcd that dies with this process (pdeathsig, exit hooks); a detached lab's etcd
    // outlives it (`caracal lab up` returns at once), logs to the state directory, and is stopped by pid on
    // `down`, like the routers. Either way its pid is recorded as soon as it is spawned.
    const server = await EtcdServer.start({
      dataDir,
      host,
      name: s.name,
      ...(netns ? { netns } : {}),
      ...(spec.clientPort ? { clientPort: spec.clientPort, peerPort: spec.clientPort + 1 } : {}),
      ...(s.detached ? { detached: true, logPath: join(s.stateDir, 'etcd.log') } : {}),
      onSpawn: (pid) => this.#record({ pid, startTime: processStartTime(pid), kind: 'etcd', name: 'etcd', netns }),
    });
    this.#etcd = server;
    s.etcd = { endpoints: server.endpoints, netns, dataDir, pid: server.pid };
    writeState(s);
    s.timingsMs.etcd = Math.round(performance.now() - t);
  }

  // -------------------------------------------------------------------------------------------------------
  // Using a lab

  /** Opens a lab that is up (possibly brought up by another process) from its state file. */
  static open(name: string, opts: { stateRoot?: string } = {}): Lab {
    const state = readState(join(stateRootOf(opts), name));
    if (!state)
      throw new CaracalError(
        'LAB_NOT_FOUND',
        `Cannot find lab "${name}": no state in ${join(stateRootOf(opts), name)}`,
      );
    return new Lab(state);
  }

  /**
   * Labs with a state directory, plus (with `orphans`) names found only as namespaces, left by a crash.
   * Orphans are included by default only for the default state root: namespaces do not say which root
   * their lab was recorded in, so with a private root (tests) every other lab would look orphaned.
   */
  static list(
    opts: { stateRoot?: string; orphans?: boolean } = {},
  ): { name: string; phase: LabPhase | 'orphaned'; stateDir?: string }[] {
    const root = stateRootOf(opts);
    const orphans = opts.orphans ?? root === DEFAULT_STATE_ROOT;
    const out = new Map<string, { name: string; phase: LabPhase | 'orphaned'; stateDir?: string }>();
    let dirs: string[] = [];
    try {
      dirs = readdirSync(root);
    } catch {
      // no root yet: no labs
    }
    for (const d of dirs) {
      const st = readState(join(root, d));
      out.set(d, { name: d, phase: st?.phase ?? 'orphaned', stateDir: join(root, d) });
    }
    for (const ns of orphans ? listNetns() : []) {
      const m = /^caracal\.([^.]+)\./.exec(ns);
      if (m?.[1] && !out.has(m[1])) out.set(m[1], { name: m[1], phase: 'orphaned' });
    }
    return [...out.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Runs `argv` in the namespace of a node, pod, router or LAN. Returns the exit code; never throws for it. */
  async exec(
    entity: string,
    argv: readonly string[],
    opts: { input?: string; timeoutMs?: number; check?: boolean } = {},
  ): Promise<ExecResult> {
    return run(this.execArgv(entity, argv), { check: false, ...opts });
  }

  /** The argv that `exec` runs (`ip netns exec <ns> …`), for callers that want their own stdio. */
  execArgv(entity: string, argv: readonly string[]): string[] {
    return ipNetnsExec(this.netnsOf(entity), argv);
  }

  #router(name: string): RouterRuntime {
    const rt = this.#state.routers.find((r) => r.name === name);
    if (!rt) throw new CaracalError('LAB_NOT_FOUND', `Cannot find router "${name}" in lab "${this.name}"`);
    return rt;
  }

  /** The router's BGP sessions, normalised. */
  sessions(router: string): Promise<SessionStatus[]> {
    return routerStatus(this.#router(router));
  }

  /** The router's BGP table, normalised. */
  routes(router: string): Promise<RouteEntry[]> {
    return routerRoutes(this.#router(router));
  }

  /**
   * Sessions between two routers of this lab: both ends are real daemons, so these must reach Established.
   * (Sessions to nodes wait for the node's speaker, which labs do not run yet.)
   */
  expectedSessions(): { router: string; peer: string }[] {
    const t = this.#state.topology;
    const owner = new Map<string, string>();
    for (const r of t.routers)
      for (const c of endpointAddresses(t, r.name)) {
        const p = parseCidr(c);
        if (p) owner.set(`${p.family}/${p.value}`, r.name);
      }
    const out: { router: string; peer: string }[] = [];
    for (const r of t.routers)
      for (const p of r.peers) {
        const v = ipValue(p.address);
        const other = v && owner.get(`${v.family}/${v.value}`);
        if (other && other !== r.name) out.push({ router: r.name, peer: p.address });
      }
    return out;
  }

  /** Waits until every expected session (or the ones given) is Established. */
  async waitForSessions(
    opts: { timeoutMs?: number; sessions?: { router: string; peer: string }[] } = {},
  ): Promise<void> {
    const want = opts.sessions ?? this.expectedSessions();
    if (want.length === 0) return;
    const routers = [...new Set(want.map((w) => w.router))];
    let missing: string[] = [];
    await pollUntil(
      async () => {
        const all = await Promise.all(routers.map(async (r) => [r, await this.sessions(r)] as const));
        const byRouter = new Map(all);
        missing = want
          .filter((w) => byRouter.get(w.router)?.find((s) => s.peer === w.peer)?.state !== 'Established')
          .map(
            (w) =>
              `${w.router}→${w.peer} is ${byRouter.get(w.router)?.find((s) => s.peer === w.peer)?.state ?? 'unknown'}`,
          );
        return missing.length === 0;
      },
      {
        timeoutMs: opts.timeoutMs ?? 15_000,
        intervalMs: 100,
        what: 'BGP sessions to be Established',
        last: () => missing.join(', '),
      },
    );
  }

  async status(): Promise<LabStatus> {
    const s = this.#state;
    const t = s.topology;
    const present = new Set(listNetns());
    const routers = await Promise.all(
      t.routers.map(async (spec): Promise<RouterStatus> => {
        const rt = s.routers.find((r) => r.name === spec.name);
        const base = {
          name: spec.name,
          daemon: spec.daemon,
          asNumber: spec.asNumber,
          routerId: routerIdOf(t, spec),
          netns: netnsName(s.name, spec.name),
          pid: rt?.pid ?? 0,
          alive: rt ? isAlive(rt) : false,
        };
        if (!rt || !base.alive) return { ...base, sessions: [], error: rt ? 'daemon is not running' : 'not started' };
        try {
          return { ...base, sessions: await routerStatus(rt) };
        } catch (e) {
          return { ...base, sessions: [], error: describeError(e) };
        }
      }),
    );
    return {
      name: s.name,
      id: s.id,
      phase: s.phase,
      createdAt: s.createdAt,
      stateDir: s.stateDir,
      detached: s.detached,
      timingsMs: s.timingsMs,
      nodes: t.nodes.map((n) => ({
        name: n.name,
        netns: netnsName(s.name, n.name),
        addresses: endpointAddresses(t, n.name),
      })),
      pods: t.pods.map((p) => ({
        name: p.name,
        node: p.node,
        netns: netnsName(s.name, p.name),
        ips: p.ip,
        hostVeth: hostVethName(s.id, p.name),
      })),
      routers,
      lans: t.links.flatMap((l) =>
        l.kind === 'lan' ? [{ name: l.lan, netns: netnsName(s.name, l.lan), members: Object.keys(l.members) }] : [],
      ),
      ...(s.etcd ? { etcd: s.etcd } : {}),
      missingNetns: s.netns.filter((n) => !present.has(n)),
      strayNetns: [...present].filter((n) => n.startsWith(netnsPrefix(s.name)) && !s.netns.includes(n)),
    };
  }

  // -------------------------------------------------------------------------------------------------------
  // Teardown

  /** Tears everything down. Idempotent; carries on past failures and reports them all at the end. */
  down(): Promise<void> {
    this.#down ??= this.#teardown();
    return this.#down;
  }

  async #teardown(): Promise<void> {
    live.delete(this);
    const s = this.#state;
    const problems: string[] = [];
    const attempt = async (what: string, fn: () => Promise<void> | void) => {
      try {
        await fn();
      } catch (e) {
        problems.push(`${what}: ${describeError(e)}`);
      }
    };
    await attempt('state file', () => {
      s.phase = 'tearing-down';
      writeState(s);
    });
    if (this.#etcd) {
      const etcd = this.#etcd;
      await attempt('etcd', () => etcd.stop(1000));
    }
    await attempt('processes', async () => {
      const left = await stopProcesses(s.processes, 1000);
      if (left.length) throw new Error(`still alive after SIGKILL: pids ${left.join(', ')}`);
    });
    const namespaces = [...new Set([...s.netns, ...listNetns().filter((n) => n.startsWith(netnsPrefix(s.name)))])];
    await attempt('processes inside the namespaces', () => killInNamespaces(namespaces));
    await attempt('namespaces', async () => {
      const { left, error } = await deleteNetns(namespaces);
      if (left.length) throw new Error(`still present: ${left.join(', ')}${error ? ` (${error})` : ''}`);
    });
    if (problems.length === 0) {
      await attempt('state directory', () => rmSync(s.stateDir, { recursive: true, force: true }));
    }
    if (problems.length)
      throw new CaracalError(
        'LAB_COMMAND_FAILED',
        `Cannot tear down lab "${s.name}" completely (state kept in ${s.stateDir}): ${problems.join('; ')}`,
        { details: { problems } },
      );
  }

  /** For the exit hook: SIGKILL everything, delete the namespaces and the state. Never throws. */
  downSync(): void {
    if (this.#downSync) return;
    this.#downSync = true;
    live.delete(this);
    const s = this.#state;
    try {
      killProcessesSync(s.processes);
      const namespaces = [...new Set([...s.netns, ...listNetns().filter((n) => n.startsWith(netnsPrefix(s.name)))])];
      for (const ns of namespaces) killProcessesSync(netnsPidsSync(ns).map((pid) => ({ pid })));
      const left = deleteNetnsSync(namespaces);
      if (left.length === 0) rmSync(s.stateDir, { recursive: true, force: true });
    } catch {
      // nothing more we can do on the way out; `caracal lab down --all` sweeps what is left
    }
  }

  /**
   * Tears down a lab by name: through its state file when there is one, else by sweeping the namespaces with
   * its prefix and the processes in them. Throws LAB_NOT_FOUND when there is nothing of that name.
   */
  static async downByName(name: string, opts: { stateRoot?: string } = {}): Promise<void> {
    const stateDir = join(stateRootOf(opts), name);
    const state = readState(stateDir);
    if (state) return new Lab(state).down();
    const namespaces = listNetns().filter((n) => n.startsWith(netnsPrefix(name)));
    let dirExists = false;
    try {
      readdirSync(stateDir);
      dirExists = true;
    } catch {
      // none
    }
    if (namespaces.length === 0 && !dirExists)
      throw new CaracalError(
        'LAB_NOT_FOUND',
        `Cannot tear down lab "${name}": no state in ${stateDir} and no namespace named ${netnsPrefix(name)}*`,
      );
    await killInNamespaces(namespaces);
    const { left, error } = await deleteNetns(namespaces);
    if (left.length)
      throw new CaracalError(
        'LAB_COMMAND_FAILED',
        `Cannot tear down lab "${name}": namespaces still present: ${left.join(', ')}${error ? ` (${error})` : ''}`,
      );
    rmSync(stateDir, { recursive: true, force: true });
  }

  /**
   * Tears down every lab of the state root (and orphaned namespaces, see `list`). Returns the names; throws
   * once at the end.
   */
  static async downAll(opts: { stateRoot?: string; orphans?: boolean } = {}): Promise<string[]> {
    const names = Lab.list(opts).map((l) => l.name);
    const problems: string[] = [];
    await Promise.all(
      names.map((n) =>
        Lab.downByName(n, opts).catch((e) => {
          if (!isCaracalError(e, 'LAB_NOT_FOUND')) problems.push(describeError(e));
        }),
      ),
    );
    if (problems.length)
      throw new CaracalError('LAB_COMMAND_FAILED', `Cannot tear down every lab: ${problems.join('; ')}`, {
        details: { problems },
      });
    return names;
  }
}

/**
 * SIGKILLs every process whose network namespace is one of `namespaces` (daemons we lost track of, commands
 * someone started with `lab exec … &`). These namespaces belong to the lab, so whatever runs in them does too.
 */
async function killInNamespaces(namespaces: readonly string[]): Promise<void> {
  const present = new Set(listNetns());
  const pids = (await Promise.all(namespaces.filter((n) => present.has(n)).map(netnsPids))).flat();
  if (pids.length === 0) return;
  const refs = pids.map((pid) => ({ pid, startTime: processStartTime(pid) }));
  const left = await stopProcesses(refs, 0, 2000);
  if (left.length) throw new Error(`still alive after SIGKILL: pids ${left.join(', ')}`);
}

/** Reads and validates a topology file. */
export function loadTopologyFile(path: string): Topology {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CaracalError('LAB_INVALID', `Cannot read lab topology "${path}": ${describeError(e)}`, { cause: e });
  }
  return parseTopologyYaml(text, `topology "${path}"`);
}
