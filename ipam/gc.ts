/**
 * Leak check and garbage collection (`caracalctl ipam check|gc`, ipam.md §8).
 *
 * `checkIpam()` reads everything once (blocks, affinities, handles, pools, WorkloadEndpoints, and Pods and
 * Nodes where the store has them) and reports, without changing anything:
 *   - leaks: addresses whose handle no longer corresponds to a live workload. An address is live when a
 *     WorkloadEndpoint of the pod named in its attributes lists it (the CNI plugin writes one on ADD).
 *     A candidate becomes a confirmed leak once it is older than the grace period (from the allocation's
 *     `timestamp` attribute), which covers the window between allocation and the endpoint write; an address
 *     whose node is known to be gone is confirmed at once. Addresses without a pod attribute (tunnel
 *     addresses, manual assignments) are only collected when their node is gone.
 *   - duplicates: one address in two blocks (overlapping blocks), listed by endpoints of two pods, or used by
 *     an endpoint while IPAM has it free or allocated to another pod;
 *   - inconsistent affinities: a confirmed affinity whose block is missing or owned by another node, a block
 *     naming an owner without a confirmed affinity, a pending affinity older than the grace period;
 *   - handles: an address whose handle is missing or counts fewer addresses than the blocks hold (the
 *     dangerous direction: release by handle would miss it); block bookkeeping errors.
 * Over-counting handles and handles with no address left are warnings: they are what a crash between the
 * handle write and the block write leaves, and `gcIpam()` removes the empty ones after the grace period.
 *
 * `gcIpam()` releases confirmed leaks through the allocator, with the sequence number observed, so an
 * address freed and reused between the scan and the release stays with its new owner. While any of a
 * handle's leak candidates is still inside its grace period, none of that handle's addresses is released
 * (an ADD may still be writing its endpoint); an address that a live endpoint lists is never a leak, so a
 * handle's confirmed leaks go even when another of its addresses is live (a dual-stack pod whose endpoint
 * lists one family only, say). It then releases the
 * block affinities of nodes that no longer exist (their empty blocks go; the others lose their owner and go
 * with their last address), deletes handles left empty, and finishes half-done claims.
 */
import { type Clock, systemClock } from '../common/clock.js';
import type { Datastore } from '../datastore/types.js';
import type { BlockAffinity } from '../model/block-affinity.js';
import { cidrContains, cidrContainsIp, cidrsOverlap, formatIp, parseCidr, parseIp } from '../model/ip.js';
import type { IPPool } from '../model/ip-pool.js';
import { blockName, type IPAMBlock } from '../model/ipam-block.js';
import type { IPAMHandle } from '../model/ipam-handle.js';
import type { WorkloadEndpoint } from '../model/workload-endpoint.js';
import { Ipam } from './allocator.js';
import {
  ATTR,
  affinityOf,
  allocatedAddresses,
  blockProblems,
  blockSize,
  borrowedAddresses,
  handleCounts,
  usedCount,
} from './block.js';

/** Default grace period before an address without a workload counts as leaked (Calico: 15 minutes). */
export const DEFAULT_LEAK_GRACE_MS = 15 * 60_000;

export type ProblemKind = 'leak' | 'duplicate' | 'affinity' | 'handle' | 'block';

export interface Problem {
  kind: ProblemKind;
  message: string;
  ip?: string;
  block?: string;
  handleId?: string;
  node?: string;
}

export interface LeakCandidate {
  ip: string;
  block: string;
  handleId: string | undefined;
  sequenceNumber: string | undefined;
  pod: string | undefined;
  namespace: string | undefined;
  node: string | undefined;
  reason: string;
  /** Past the grace period (or the node is gone): `gcIpam()` may release it. */
  confirmed: boolean;
  ageMs: number | undefined;
}

export interface PoolUsage {
  name: string;
  cidr: string;
  /** Addresses in the pool: 2^hostBits (a JS number, so inexact beyond 2^53: IPv6 pools). */
  size: number;
  hostBits: number;
  blocks: number;
  allocated: number;
  disabled: boolean;
}

export interface BlockUsage {
  cidr: string;
  node: string | undefined;
  size: number;
  allocated: number;
  borrowed: number;
}

export interface IpamCheck {
  pools: PoolUsage[];
  blocks: BlockUsage[];
  problems: Problem[];
  warnings: Problem[];
  leaks: LeakCandidate[];
  /** Handles with no address in any block (crash leftovers), older than the grace period. */
  emptyHandles: IPAMHandle[];
  /** Pending affinities older than the grace period (a claim that crashed or lost its race). */
  stalePendingAffinities: BlockAffinity[];
  /** Nodes that hold block affinities but no longer exist (only when the store keeps Node objects). */
  goneNodes: string[];
}

export interface CheckOptions {
  clock?: Clock;
  gracePeriodMs?: number;
  /**
   * Whether the store's node list names every node, so that a node missing from it is gone (its addresses
   * leaked at once, its affinities released). Default: on the kubernetes driver (the API server's Nodes);
   * off elsewhere, where Node objects may exist for some nodes only (made by hand, say) and a missing one
   * proves nothing.
   */
  nodeListAuthoritative?: boolean;
}

const NEVER = Number.POSITIVE_INFINITY;

function ageOf(ts: string | undefined, now: number): number {
  if (!ts) return NEVER;
  const t = Date.parse(ts);
  return Number.isNaN(t) ? NEVER : now - t;
}

async function listOrEmpty<T>(p: Promise<{ items: T[] }>): Promise<T[] | undefined> {
  try {
    return (await p).items;
  } catch {
    return undefined;
  }
}

/** Read the whole IPAM state and report (see the module header). Changes nothing. */
export async function checkIpam(ds: Datastore, opts: CheckOptions = {}): Promise<IpamCheck> {
  const now = (opts.clock ?? systemClock).now();
  const grace = opts.gracePeriodMs ?? DEFAULT_LEAK_GRACE_MS;
  const [blocksR, affsR, handlesR, poolsR, weps, pods, nodes, k8sNodes] = await Promise.all([
    ds.list('IPAMBlock'),
    ds.list('BlockAffinity'),
    ds.list('IPAMHandle'),
    ds.list('IPPool'),
    listOrEmpty(ds.list('WorkloadEndpoint')),
    ds.driver === 'kubernetes' ? listOrEmpty(ds.list('Pod')) : Promise.resolve(undefined),
    listOrEmpty(ds.list('Node')),
    listOrEmpty(ds.list('K8sNode')),
  ]);
  const blocks = blocksR.items.filter((b) => !b.spec.deleted);
  const affs = affsR.items.filter((a) => !a.spec.deleted);
  const handles = new Map(handlesR.items.filter((h) => !h.spec.deleted).map((h) => [h.spec.handleID, h]));
  const pools: IPPool[] = poolsR.items;
  const problems: Problem[] = [];
  const warnings: Problem[] = [];
  for (const bad of [...blocksR.invalid, ...affsR.invalid, ...handlesR.invalid]) {
    problems.push({ kind: 'block', message: `${bad.key} is invalid: ${bad.error.message}` });
  }

  // Nodes we know of; empty when the store keeps none (an etcd lab), and then no node counts as gone. Only an
  // authoritative list can say a node is gone (see CheckOptions.nodeListAuthoritative).
  const knownNodes = new Set([...(nodes ?? []), ...(k8sNodes ?? [])].map((n) => n.metadata.name));
  const authoritative = opts.nodeListAuthoritative ?? ds.driver === 'kubernetes';
  const nodeGone = (n: string | undefined) =>
    authoritative && n !== undefined && knownNodes.size > 0 && !knownNodes.has(n);

  // Which pod's endpoint lists which address.
  const wepByIp = new Map<string, WorkloadEndpoint[]>();
  for (const w of weps ?? []) {
    for (const net of w.spec.ipNetworks) {
      const ip = formatIp(parseIp(net.slice(0, net.indexOf('/'))));
      const list = wepByIp.get(ip) ?? [];
      list.push(w);
      wepByIp.set(ip, list);
    }
  }
  for (const [ip, ws] of wepByIp) {
    const owners = new Set(ws.map((w) => `${w.metadata.namespace}/${w.spec.pod ?? w.spec.workload ?? ''}`));
    if (owners.size > 1) {
      problems.push({ kind: 'duplicate', ip, message: `${ip} is used by endpoints of ${[...owners].join(' and ')}` });
    }
  }
  const podKeys = pods ? new Set(pods.map((p) => `${p.metadata.namespace}/${p.metadata.name}`)) : undefined;

  // Blocks: bookkeeping, overlaps, pools, usage.
  const sorted = [...blocks].sort((a, b) => (a.spec.cidr < b.spec.cidr ? -1 : 1));
  for (let i = 0; i < sorted.length; i++) {
    const b = sorted[i]!;
    for (const p of blockProblems(b.spec))
      problems.push({ kind: 'block', block: b.spec.cidr, message: `block ${b.spec.cidr} ${p}` });
    for (let j = i + 1; j < sorted.length; j++) {
      const o = sorted[j]!;
      if (cidrsOverlap(parseCidr(b.spec.cidr), parseCidr(o.spec.cidr))) {
        problems.push({
          kind: 'duplicate',
          block: b.spec.cidr,
          message: `blocks ${b.spec.cidr} and ${o.spec.cidr} overlap: their addresses can be handed out twice`,
        });
      }
    }
    if (!pools.some((p) => cidrContains(parseCidr(p.spec.cidr), parseCidr(b.spec.cidr)))) {
      warnings.push({
        kind: 'block',
        block: b.spec.cidr,
        message: `block ${b.spec.cidr} is in no pool (pool deleted?)`,
      });
    }
  }

  // Affinities against blocks.
  const blockByCidr = new Map(blocks.map((b) => [b.spec.cidr, b]));
  const confirmed = new Set<string>();
  const stalePendingAffinities: BlockAffinity[] = [];
  for (const a of affs) {
    const b = blockByCidr.get(a.spec.cidr);
    const owner = affinityOf(a.spec.node, a.spec.type);
    if (a.spec.state === 'confirmed') {
      confirmed.add(`${owner} ${a.spec.cidr}`);
      if (!b) {
        problems.push({
          kind: 'affinity',
          block: a.spec.cidr,
          node: a.spec.node,
          message: `affinity of ${a.spec.node} for ${a.spec.cidr} is confirmed but the block does not exist`,
        });
      } else if (b.spec.affinity !== owner) {
        problems.push({
          kind: 'affinity',
          block: a.spec.cidr,
          node: a.spec.node,
          message: `affinity of ${a.spec.node} for ${a.spec.cidr} is confirmed but the block belongs to ${b.spec.affinity ?? 'no node'}`,
        });
      }
    } else if (ageOf(a.metadata.creationTimestamp, now) >= grace) {
      stalePendingAffinities.push(a);
      warnings.push({
        kind: 'affinity',
        block: a.spec.cidr,
        node: a.spec.node,
        message: `affinity of ${a.spec.node} for ${a.spec.cidr} has been ${a.spec.state} for longer than the grace period`,
      });
    }
  }
  for (const b of blocks) {
    if (b.spec.affinity && !confirmed.has(`${b.spec.affinity} ${b.spec.cidr}`)) {
      const pending = affs.some(
        (a) => affinityOf(a.spec.node, a.spec.type) === b.spec.affinity && a.spec.cidr === b.spec.cidr,
      );
      (pending ? warnings : problems).push({
        kind: 'affinity',
        block: b.spec.cidr,
        message: `block ${b.spec.cidr} names ${b.spec.affinity} as owner, which has no confirmed affinity for it`,
      });
    }
  }

  // Addresses: handles, liveness.
  const heldByHandle = new Map<string, Map<string, number>>();
  const leaks: LeakCandidate[] = [];
  const seenIp = new Map<string, string>();
  for (const b of blocks) {
    for (const [h, n] of handleCounts(b.spec)) {
      const m = heldByHandle.get(h) ?? new Map<string, number>();
      m.set(b.spec.cidr, n);
      heldByHandle.set(h, m);
    }
    for (const a of allocatedAddresses(b.spec)) {
      const other = seenIp.get(a.ip);
      if (other)
        problems.push({
          kind: 'duplicate',
          ip: a.ip,
          message: `${a.ip} is allocated in blocks ${other} and ${b.spec.cidr}`,
        });
      seenIp.set(a.ip, b.spec.cidr);
      const pod = a.attrs[ATTR.pod];
      const namespace = a.attrs[ATTR.namespace];
      const node = a.attrs[ATTR.node];
      const age = ageOf(a.attrs[ATTR.timestamp], now);
      const leak = (reason: string, confirmedNow: boolean) =>
        leaks.push({
          ip: a.ip,
          block: b.spec.cidr,
          handleId: a.handleId,
          sequenceNumber: a.sequenceNumber,
          pod,
          namespace,
          node,
          reason,
          confirmed: confirmedNow,
          ageMs: Number.isFinite(age) ? age : undefined,
        });
      if (nodeGone(node)) {
        leak(`node ${node} no longer exists`, true);
        continue;
      }
      if (pod === undefined) continue; // tunnel or manual address: kept while its node exists
      const ws = wepByIp.get(a.ip) ?? [];
      // A non-Kubernetes endpoint names its workload in spec.workload (cni/endpoint.ts).
      if (
        ws.some(
          (w) =>
            (w.spec.pod ?? w.spec.workload) === pod && (namespace === undefined || w.metadata.namespace === namespace),
        )
      )
        continue;
      const podMissing = podKeys !== undefined && namespace !== undefined && !podKeys.has(`${namespace}/${pod}`);
      leak(
        podMissing
          ? `pod ${namespace}/${pod} no longer exists`
          : `no workload endpoint of ${namespace ?? '?'}/${pod} lists the address`,
        age >= grace,
      );
    }
  }
  // Endpoints whose address IPAM does not hold for them: IPAM could hand it out again.
  const allocByIp = new Map<string, { pod: string | undefined; handleId: string | undefined }>();
  for (const b of blocks) {
    for (const a of allocatedAddresses(b.spec)) allocByIp.set(a.ip, { pod: a.attrs[ATTR.pod], handleId: a.handleId });
  }
  const poolCidrs = pools.map((p) => parseCidr(p.spec.cidr));
  for (const [ip, ws] of wepByIp) {
    const addr = parseIp(ip);
    if (!poolCidrs.some((c) => cidrContainsIp(c, addr))) continue; // not an IPAM address
    const held = allocByIp.get(ip);
    for (const w of ws) {
      if (!held) {
        problems.push({
          kind: 'duplicate',
          ip,
          message: `${ip} is used by endpoint ${w.metadata.namespace}/${w.metadata.name} but is free in IPAM: it can be handed out again`,
        });
      } else if (held.pod !== undefined && w.spec.pod !== undefined && held.pod !== w.spec.pod) {
        problems.push({
          kind: 'duplicate',
          ip,
          message: `${ip} is used by endpoint ${w.metadata.namespace}/${w.metadata.name} but allocated to pod ${held.pod} (handle ${held.handleId ?? 'none'})`,
        });
      }
    }
  }
  for (const l of leaks.filter((x) => x.confirmed)) {
    problems.push({
      kind: 'leak',
      ip: l.ip,
      block: l.block,
      handleId: l.handleId,
      message: `${l.ip} (handle ${l.handleId ?? 'none'}) is leaked: ${l.reason}`,
    });
  }
  for (const [h, perBlock] of heldByHandle) {
    const handle = handles.get(h);
    for (const [cidr, n] of perBlock) {
      const counted = handle?.spec.block[cidr] ?? 0;
      if (!handle) {
        problems.push({
          kind: 'handle',
          handleId: h,
          block: cidr,
          message: `${n} address(es) in ${cidr} belong to handle "${h}", which does not exist`,
        });
      } else if (counted < n) {
        problems.push({
          kind: 'handle',
          handleId: h,
          block: cidr,
          message: `handle "${h}" counts ${counted} address(es) in ${cidr}, the block holds ${n}`,
        });
      }
    }
  }
  const emptyHandles: IPAMHandle[] = [];
  for (const [h, handle] of handles) {
    const held = heldByHandle.get(h);
    for (const [cidr, counted] of Object.entries(handle.spec.block)) {
      const n = held?.get(cidr) ?? 0;
      if (counted > n)
        warnings.push({
          kind: 'handle',
          handleId: h,
          block: cidr,
          message: `handle "${h}" counts ${counted} address(es) in ${cidr}, the block holds ${n}`,
        });
    }
    if (!held && ageOf(handle.metadata.creationTimestamp, now) >= grace) emptyHandles.push(handle);
  }

  const blockUsage: BlockUsage[] = sorted.map((b) => ({
    cidr: b.spec.cidr,
    node: b.spec.affinity?.replace(/^host:/, ''),
    size: blockSize(parseCidr(b.spec.cidr)),
    allocated: usedCount(b.spec),
    borrowed: borrowedAddresses(b.spec).length,
  }));
  const poolUsage: PoolUsage[] = pools.map((p) => {
    const pc = parseCidr(p.spec.cidr);
    const inPool = blockUsage.filter((b) => cidrContains(pc, parseCidr(b.cidr)));
    return {
      name: p.metadata.name,
      cidr: p.spec.cidr,
      size: 2 ** ((pc.family === 4 ? 32 : 128) - pc.prefixLen),
      hostBits: (pc.family === 4 ? 32 : 128) - pc.prefixLen,
      blocks: inPool.length,
      allocated: inPool.reduce((s, b) => s + b.allocated, 0),
      disabled: p.spec.disabled,
    };
  });
  const goneNodes = [
    ...new Set(affs.filter((a) => a.spec.type === 'host' && nodeGone(a.spec.node)).map((a) => a.spec.node)),
  ].sort();
  for (const n of goneNodes) {
    warnings.push({
      kind: 'affinity',
      node: n,
      message: `node ${n} no longer exists but still holds block affinities`,
    });
  }
  return {
    pools: poolUsage,
    blocks: blockUsage,
    problems,
    warnings,
    leaks,
    emptyHandles,
    stalePendingAffinities,
    goneNodes,
  };
}

export interface GcResult {
  /** Confirmed leaks considered (handles with a candidate still in its grace period left out). */
  candidates: LeakCandidate[];
  released: string[];
  /** Refused at release time: reused since the scan. */
  stale: string[];
  handlesDeleted: string[];
  affinitiesDeleted: string[];
  affinitiesConfirmed: string[];
  /** Block CIDRs given up because their node no longer exists. */
  blocksReleased: string[];
}

/**
 * Release confirmed leaks (see the module header). With `dryRun`, report what would be released and
 * change nothing.
 */
export async function gcIpam(
  ds: Datastore,
  opts: CheckOptions & { dryRun?: boolean; ipam?: Ipam; check?: IpamCheck } = {},
): Promise<GcResult> {
  const check = opts.check ?? (await checkIpam(ds, opts));
  // A handle with a leak candidate still inside the grace period keeps all its addresses for now.
  const blocked = new Set<string | undefined>();
  for (const l of check.leaks) {
    if (!l.confirmed) blocked.add(l.handleId);
  }
  const candidates = check.leaks.filter((l) => l.confirmed && (l.handleId === undefined || !blocked.has(l.handleId)));
  const result: GcResult = {
    candidates,
    released: [],
    stale: [],
    handlesDeleted: [],
    affinitiesDeleted: [],
    affinitiesConfirmed: [],
    blocksReleased: [],
  };
  if (opts.dryRun) return result;
  const ipam = opts.ipam ?? new Ipam(ds, opts.clock ? { clock: opts.clock } : {});
  const out = await ipam.releaseIpsDetailed(candidates.map((c) => ({ ip: c.ip, sequenceNumber: c.sequenceNumber })));
  result.released = out.released;
  result.stale = out.stale;
  for (const n of check.goneNodes) result.blocksReleased.push(...(await ipam.releaseNodeAffinities(n)));
  for (const h of check.emptyHandles) {
    try {
      await ds.delete('IPAMHandle', h.metadata.name, undefined, { revision: h.metadata.resourceVersion });
      result.handlesDeleted.push(h.spec.handleID);
    } catch {
      // changed since the scan: an assign is using it
    }
  }
  for (const a of check.stalePendingAffinities) {
    // A claim or a release that stopped half way: finish it towards what the block says.
    try {
      const b = await ds.get('IPAMBlock', blockName(a.spec.cidr));
      if (b && !b.spec.deleted && b.spec.affinity === affinityOf(a.spec.node, a.spec.type)) {
        await ds.update('BlockAffinity', { ...a, spec: { ...a.spec, state: 'confirmed' } });
        result.affinitiesConfirmed.push(a.metadata.name);
      } else {
        await ds.delete('BlockAffinity', a.metadata.name, undefined, { revision: a.metadata.resourceVersion });
        result.affinitiesDeleted.push(a.metadata.name);
      }
    } catch {
      // changed since the scan: a claim or release is working on it
    }
  }
  return result;
}

export type { IPAMBlock };
