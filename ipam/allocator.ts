/**
 * The allocator: the CAS loops around the pure block logic (block.ts), the two-phase affinity claim, borrowing
 * and release. Every write is a compare-and-swap on the revision last read; on conflict the object is read
 * again and the pure step recomputed, at most `maxRetries` times; any other error stops and is reported.
 * Nothing held in memory changes before a write succeeds: the caches below only ever take objects the store
 * returned.
 *
 * Write order (Calico's, ipam.md §2.1): the handle's count for a block goes up before the block is written
 * and comes down after a release, so a crash in between leaves a handle that over-counts (harmless: release
 * treats "no address for this handle here" as done) and never an address the handle does not know of.
 *
 * Round trips on the common path (the node's cached block has room, new handle): create the handle, CAS the
 * block, 2 in all. A per-node in-process lock keeps the cached revision fresh for concurrent calls of one
 * process; separate processes on one node meet in the CAS and pay a re-read.
 *
 * The allocation path never lists blocks: the node's own blocks are found from its affinities (a label
 * query) and read by their CIDR-derived names; a claim probes candidate blocks by name in the node's seeded
 * order. Only borrowing, when nothing is left to claim, lists the blocks once.
 */

import { type Clock, sleep, systemClock } from '../common/clock.js';
import { CaracalError, describeError, ErrorCodes, isCaracalError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { Datastore } from '../datastore/types.js';
import {
  AFFINITY_LABELS,
  type BlockAffinity,
  blockAffinityLabels,
  blockAffinityName,
  hostnameHash,
} from '../model/block-affinity.js';
import { addressAt, cidrContains, formatIp, type IpFamily, parseCidr, parseIp, tryParseIp } from '../model/ip.js';
import type { IPPool } from '../model/ip-pool.js';
import { blockName, type IPAMBlock, type IPAMBlockSpec } from '../model/ipam-block.js';
import {
  defaultIpamConfigSpec,
  effectiveMaxBlocksPerHost,
  IPAM_CONFIG_NAME,
  type IPAMConfigSpec,
} from '../model/ipam-config.js';
import { handleName, type IPAMHandle } from '../model/ipam-handle.js';
import { CARACAL_API_VERSION } from '../model/resource.js';
import {
  type Allocation,
  ATTR,
  affinityOf,
  allocate,
  allocateOrdinal,
  initialSequenceNumber,
  isEmpty,
  newBlockSpec,
  ordinalIn,
  ordinalsOf,
  type Release,
  type ReleaseRequest,
  release,
  releaseHandle,
} from './block.js';
import { blockCidrFor, candidateBlocks, type IntendedUse, poolFamily, poolFor, selectPools } from './pools.js';

export interface AssignedIp {
  ip: string;
  blockCidr: string;
  pool: string;
  /** The block's sequence number for this allocation: pass it back to `releaseIps` to release safely. */
  sequenceNumber: number;
  /** Taken from another node's block (strictAffinity off): routing must advertise it as a /32 or /128. */
  borrowed: boolean;
}

export interface IpamOptions {
  /** Default node for calls that do not name one (release paths log it). */
  node?: string;
  clock?: Clock;
  /** Bound on every CAS loop; default 100, as Calico's datastoreRetries. */
  maxRetries?: number;
  log?: Logger;
  /** How long pools, IPAMConfig and node labels are cached; default 5000 ms, 0 = read every time. */
  cacheTtlMs?: number;
}

export interface AutoAssignRequest {
  handleId: string;
  node: string;
  num4: number;
  num6: number;
  attrs: Record<string, string>;
  pools4?: string[];
  pools6?: string[];
  /** What the addresses are for (pool allowedUses); default Workload. */
  use?: IntendedUse;
}

export interface AssignIpRequest {
  ip: string;
  handleId: string;
  node: string;
  attrs: Record<string, string>;
}

export interface ReleaseIpRequest {
  ip: string;
  sequenceNumber?: number | string;
}

/** What `releaseIpsDetailed` did with each address. */
export interface ReleaseOutcome {
  released: string[];
  /** Refused: the sequence number no longer matches (the address was reused since). */
  stale: string[];
  /** Already free, or outside every known block: nothing to do. */
  notAllocated: string[];
}

/** One allocated address as `describeIp` reports it. */
export interface IpInfo {
  ip: string;
  blockCidr: string;
  blockOwner: string | undefined;
  handleId: string | undefined;
  attrs: Record<string, string>;
  /** Decimal string: pass it to a release to release only this allocation. */
  sequenceNumber: string | undefined;
  borrowed: boolean;
}

type Block = IPAMBlock;
const BLOCK_LIST_BATCH = 8;

/** A FIFO async mutex, one per node, so concurrent calls of one process do not race each other's CAS. */
class Mutex {
  #tail: Promise<void> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(fn);
    this.#tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

interface NodeState {
  /** Blocks whose affinity is this node's (confirmed), by CIDR, as last read or written. */
  blocks: Map<string, Block> | undefined;
  lock: Mutex;
  labels?: { at: number; value: Record<string, string> };
}

const code = (e: unknown) => (isCaracalError(e) ? e.code : undefined);
const isConflict = (e: unknown) => code(e) === ErrorCodes.Conflict;
const isNotFound = (e: unknown) => code(e) === ErrorCodes.NotFound;
const isExists = (e: unknown) => code(e) === ErrorCodes.AlreadyExists;
const live = <T extends { spec: { deleted?: boolean } }>(o: T | undefined): T | undefined =>
  o && !o.spec.deleted ? o : undefined;

function blockObject(spec: IPAMBlockSpec): Block {
  return {
    apiVersion: CARACAL_API_VERSION,
    kind: 'IPAMBlock',
    metadata: { name: blockName(spec.cidr) },
    spec,
  } as Block;
}

/**
 * The block allocator. One instance per process; safe for concurrent calls.
 *
 * @example
 * const ipam = new Ipam(store);
 * const { ipv4 } = await ipam.autoAssign({ handleId: 'k8s-pod-network.abc', node: 'worker-1', num4: 1, num6: 0,
 *   attrs: { pod: 'web-0', namespace: 'default' } });
 * await ipam.releaseByHandle('k8s-pod-network.abc');
 */
export class Ipam {
  readonly #ds: Datastore;
  readonly #clock: Clock;
  readonly #maxRetries: number;
  readonly #log: Logger | undefined;
  readonly #ttl: number;
  readonly #defaultNode: string | undefined;
  #pools: { at: number; items: IPPool[] } | undefined;
  #config: { at: number; spec: IPAMConfigSpec } | undefined;
  readonly #nodes = new Map<string, NodeState>();
  /** Handles this process wrote last, so the next write of the same handle is one CAS, not a read and a CAS. */
  readonly #handles = new Map<string, IPAMHandle>();

  constructor(ds: Datastore, opts: IpamOptions = {}) {
    this.#ds = ds;
    this.#clock = opts.clock ?? systemClock;
    this.#maxRetries = opts.maxRetries ?? 100;
    this.#log = opts.log;
    this.#ttl = opts.cacheTtlMs ?? 5000;
    this.#defaultNode = opts.node;
  }

  // ------------------------------------------------------------------------------------------------------
  // Assign

  /**
   * `num4` IPv4 and `num6` IPv6 addresses for `handleId` on `node`: from the node's blocks first, then a newly
   * claimed block, then (strictAffinity off) borrowed from another node's block. All or nothing: when it
   * throws, every address it took has been given back.
   */
  async autoAssign(req: AutoAssignRequest): Promise<{ ipv4: AssignedIp[]; ipv6: AssignedIp[] }> {
    for (const [k, v] of [
      ['num4', req.num4],
      ['num6', req.num6],
    ] as const) {
      if (!Number.isInteger(v) || v < 0) {
        throw new CaracalError(
          ErrorCodes.Usage,
          `Cannot assign addresses: ${k} must be a whole number: current value is ${v}`,
        );
      }
    }
    checkHandle(req.handleId);
    const held: AssignedIp[] = [];
    return this.#state(req.node).lock.run(async () => {
      try {
        const ipv4 = req.num4 > 0 ? await this.#assignFamily(4, req.num4, req, held) : [];
        const ipv6 = req.num6 > 0 ? await this.#assignFamily(6, req.num6, req, held) : [];
        return { ipv4, ipv6 };
      } catch (e) {
        if (held.length > 0) await this.#rollback(req.handleId, held);
        throw e;
      }
    });
  }

  /**
   * Exactly `req.ip` for `handleId`. Claims the address's block for `req.node` when nobody holds it; an address
   * in another node's block is borrowed unless strictAffinity is on (IPAM_STRICT_AFFINITY).
   */
  async assignIp(req: AssignIpRequest): Promise<AssignedIp> {
    checkHandle(req.handleId);
    const parsed = tryParseIp(req.ip);
    if (!parsed.ok) throw new CaracalError(ErrorCodes.Usage, `Cannot assign "${req.ip}": ${parsed.reason}`);
    const ip = parsed.value;
    let pool = poolFor(await this.#poolList(), ip);
    if (!pool) pool = poolFor(await this.#poolList(true), ip);
    if (!pool) {
      throw new CaracalError(ErrorCodes.IpamNotInPool, `Cannot assign ${req.ip}: the address is in no IP pool`, {
        details: { ip: req.ip },
      });
    }
    const cidr = blockCidrFor(pool, ip);
    const attrs = this.#attrs(req.node, req.attrs);
    const st = this.#state(req.node);
    return st.lock.run(async () => {
      for (let attempt = 0; attempt < this.#maxRetries; attempt++) {
        let blk = (await this.#ownBlocks(req.node)).get(cidr) ?? live(await this.#ds.get('IPAMBlock', blockName(cidr)));
        if (!blk) {
          await this.#claim(cidr, req.node);
          continue; // claimed by us or by someone else: read it again
        }
        const mine = blk.spec.affinity === affinityOf(req.node);
        if (!mine && (await this.#configSpec()).strictAffinity) {
          throw new CaracalError(
            ErrorCodes.IpamStrictAffinity,
            `Cannot assign ${req.ip} on node "${req.node}": block ${cidr} belongs to ${blk.spec.affinity ?? 'no node'} and strictAffinity is on`,
            { details: { ip: req.ip, block: cidr } },
          );
        }
        const ord = ordinalIn(blk.spec, ip)!;
        let inUse = false;
        const got = await this.#allocIn(
          blk,
          (spec) => {
            const a = allocateOrdinal(spec, ord, req.handleId, attrs);
            inUse = a === undefined;
            return a ?? { spec, ordinals: [], sequenceNumber: spec.sequenceNumber };
          },
          req.handleId,
          pool,
          mine ? req.node : undefined,
        );
        if (got.length === 1) return got[0]!;
        if (inUse) {
          throw new CaracalError(
            ErrorCodes.IpamAddressInUse,
            `Cannot assign ${req.ip}: the address is already allocated`,
            {
              details: { ip: req.ip, block: cidr },
            },
          );
        }
        blk = undefined;
      }
      throw this.#retriesExhausted(`assign ${req.ip}`);
    });
  }

  async #assignFamily(family: IpFamily, n: number, req: AutoAssignRequest, held: AssignedIp[]): Promise<AssignedIp[]> {
    const pools = await this.#poolsFor(family, req);
    const attrs = this.#attrs(req.node, req.attrs);
    const out: AssignedIp[] = [];
    const inPools = (cidr: string) => pools.find((p) => cidrContains(parseCidr(p.spec.cidr), parseCidr(cidr)));
    // A cache loaded by this call is as fresh as a reload would be.
    let reloaded = this.#state(req.node).blocks === undefined;
    for (let round = 0; out.length < n; round++) {
      if (round > this.#maxRetries) throw this.#retriesExhausted(`assign IPv${family} addresses for ${req.handleId}`);
      const own = await this.#ownBlocks(req.node);
      let target: Block | undefined;
      for (const b of own.values()) {
        if (b.spec.unallocated.length > 0 && inPools(b.spec.cidr)) {
          target = b;
          break;
        }
      }
      if (target) {
        const pool = inPools(target.spec.cidr)!;
        const got = await this.#allocIn(
          target,
          (spec) => allocate(spec, n - out.length, req.handleId, attrs),
          req.handleId,
          pool,
          req.node,
        );
        out.push(...got);
        held.push(...got);
        continue;
      }
      if (!reloaded) {
        // Another process on this node may have claimed a block since we looked: one label query finds it.
        reloaded = true;
        await this.#loadOwnBlocks(req.node);
        continue;
      }
      const cfg = await this.#configSpec();
      const cap = effectiveMaxBlocksPerHost(cfg);
      const ownOfFamily = [...own.values()].filter((b) => parseCidr(b.spec.cidr).family === family).length;
      if (cfg.autoAllocateBlocks && ownOfFamily < cap && (await this.#claimAny(pools, req.node))) continue;
      if (!cfg.strictAffinity) {
        const got = await this.#borrow(pools, n - out.length, req, attrs, held);
        if (got.length > 0) {
          out.push(...got);
          continue;
        }
      }
      if (cfg.autoAllocateBlocks && ownOfFamily >= cap) {
        throw new CaracalError(
          ErrorCodes.IpamBlockLimit,
          `Cannot assign ${n} IPv${family} address(es) on node "${req.node}": the node holds ${ownOfFamily} blocks, the limit is ${cap}, and they are full`,
          { details: { node: req.node, blocks: ownOfFamily, limit: cap } },
        );
      }
      throw new CaracalError(
        ErrorCodes.IpamPoolExhausted,
        `Cannot assign ${n} IPv${family} address(es) on node "${req.node}": pools ${pools.map((p) => p.metadata.name).join(', ')} have no free address for it (got ${out.length})`,
        { details: { node: req.node, family, wanted: n, got: out.length } },
      );
    }
    return out;
  }

  /**
   * Allocate in one block: raise the handle's count, then CAS the block, re-reading on conflict. `owner` is
   * the node whose affine block this is (kept in its cache), or undefined when borrowing. Returns [] when the
   * block has no room (or is no longer the node's); the handle's count is then put back.
   */
  async #allocIn(
    start: Block,
    plan: (spec: IPAMBlockSpec) => Allocation,
    handleId: string,
    pool: IPPool,
    owner: string | undefined,
  ): Promise<AssignedIp[]> {
    const cidr = start.spec.cidr;
    let cur: Block | undefined = start;
    let counted = 0;
    let written = 0;
    let fresh = false;
    try {
      for (let attempt = 0; attempt < this.#maxRetries; attempt++) {
        if (!cur) return [];
        const a = plan(cur.spec);
        if (a.ordinals.length === 0) {
          if (!fresh) {
            // Only a write is validated by the CAS: "no room" is decided on a fresh read.
            cur = live(await this.#ds.get('IPAMBlock', blockName(cidr)));
            fresh = true;
            if (owner && cur?.spec.affinity !== affinityOf(owner)) {
              this.#uncacheBlock(owner, cidr);
              return [];
            }
            continue;
          }
          if (owner) this.#cacheBlock(owner, cur);
          return [];
        }
        if (counted < a.ordinals.length) {
          await this.#adjustHandle(handleId, cidr, a.ordinals.length - counted);
          counted = a.ordinals.length;
        }
        try {
          const stored = await this.#ds.update('IPAMBlock', { ...cur, spec: a.spec });
          written = a.ordinals.length;
          if (owner) this.#cacheBlock(owner, stored);
          const c = parseCidr(cidr);
          return a.ordinals.map((o) => ({
            ip: formatIp(addressAt(c, o)),
            blockCidr: cidr,
            pool: pool.metadata.name,
            sequenceNumber: Number(a.sequenceNumber),
            borrowed: owner === undefined,
          }));
        } catch (e) {
          if (isNotFound(e)) {
            if (owner) this.#uncacheBlock(owner, cidr);
            return [];
          }
          if (!isConflict(e)) throw e;
        }
        cur = live(await this.#ds.get('IPAMBlock', blockName(cidr)));
        fresh = true;
        if (owner && cur?.spec.affinity !== affinityOf(owner)) {
          this.#uncacheBlock(owner, cidr);
          return [];
        }
        await this.#pause(attempt);
      }
      throw this.#retriesExhausted(`write block ${cidr}`);
    } finally {
      if (counted > written) {
        await this.#adjustHandle(handleId, cidr, written - counted).catch((e) =>
          this.#log?.warn(
            { event: 'handleOvercount', handleId, cidr, err: describeError(e) },
            'handle left over-counting',
          ),
        );
      }
    }
  }

  async #borrow(
    pools: IPPool[],
    n: number,
    req: AutoAssignRequest,
    attrs: Record<string, string>,
    /** Every address taken is added here at once, so a later block's failure still rolls it back. */
    held: AssignedIp[],
  ): Promise<AssignedIp[]> {
    // The slow path of an exhausted node: one list of all blocks (never on the common path).
    const all = (await this.#ds.list('IPAMBlock')).items;
    const out: AssignedIp[] = [];
    for (const pool of pools) {
      const pc = parseCidr(pool.spec.cidr);
      for (const b of all) {
        if (out.length >= n) return out;
        if (b.spec.deleted || b.spec.unallocated.length === 0 || b.spec.affinity === affinityOf(req.node)) continue;
        if (!cidrContains(pc, parseCidr(b.spec.cidr))) continue;
        const got = await this.#allocIn(
          b,
          (spec) => allocate(spec, n - out.length, req.handleId, attrs),
          req.handleId,
          pool,
          undefined,
        );
        out.push(...got);
        held.push(...got);
      }
    }
    if (out.length > 0) {
      this.#log?.info(
        { event: 'addressesBorrowed', node: req.node, handleId: req.handleId, ips: out.map((a) => a.ip) },
        'borrowed addresses',
      );
    }
    return out;
  }

  async #rollback(handleId: string, held: AssignedIp[]): Promise<void> {
    try {
      await this.releaseIps(held.map((a) => ({ ip: a.ip, sequenceNumber: a.sequenceNumber })));
    } catch (e) {
      // The handle still lists these blocks: a DEL by handle or the GC frees them.
      this.#log?.error(
        { event: 'rollbackFailed', handleId, ips: held.map((a) => a.ip), err: describeError(e) },
        'rollback failed',
      );
    }
  }

  // ------------------------------------------------------------------------------------------------------
  // Claim (two phases: pending affinity → block → confirmed affinity)

  async #claimAny(pools: IPPool[], node: string): Promise<boolean> {
    const own = await this.#ownBlocks(node);
    for (const pool of pools) {
      const gen = candidateBlocks(pool, node);
      for (;;) {
        const batch: string[] = [];
        for (const c of gen) {
          if (own.has(c)) continue;
          batch.push(c);
          if (batch.length === BLOCK_LIST_BATCH) break;
        }
        if (batch.length === 0) break;
        const found = await Promise.all(batch.map((c) => this.#ds.get('IPAMBlock', blockName(c))));
        for (let i = 0; i < batch.length; i++) {
          const b = live(found[i]);
          if (b?.spec.affinity === affinityOf(node)) {
            await this.#adopt(b, node);
            return true;
          }
          if (!b && (await this.#claim(batch[i]!, node))) return true;
        }
      }
    }
    return false;
  }

  /** Claim `cidr` for `node`. True when the block is now the node's (and cached). */
  async #claim(cidr: string, node: string): Promise<boolean> {
    const spec = { state: 'pending' as const, node, type: 'host' as const, cidr };
    let aff: BlockAffinity | undefined;
    try {
      aff = await this.#ds.create('BlockAffinity', {
        apiVersion: CARACAL_API_VERSION,
        kind: 'BlockAffinity',
        metadata: { name: blockAffinityName(node, cidr), labels: blockAffinityLabels(spec) },
        spec,
      });
    } catch (e) {
      if (!isExists(e)) throw e;
      aff = await this.#ds.get('BlockAffinity', blockAffinityName(node, cidr));
      if (!aff || aff.spec.state === 'pendingDeletion') return false; // being released: not now
    }
    let blk: Block | undefined;
    const now = this.#clock.now();
    try {
      blk = await this.#ds.create(
        'IPAMBlock',
        blockObject(newBlockSpec(cidr, affinityOf(node), new Date(now).toISOString(), initialSequenceNumber(now))),
      );
    } catch (e) {
      if (!isExists(e)) throw e;
      blk = live(await this.#ds.get('IPAMBlock', blockName(cidr)));
      if (blk?.spec.affinity !== affinityOf(node)) {
        // Lost the race (or the block is someone else's): our pending affinity counts as absent; drop it.
        if (aff.spec.state === 'pending')
          await this.#ds
            .delete('BlockAffinity', aff.metadata.name, undefined, { revision: aff.metadata.resourceVersion })
            .catch(() => undefined);
        return false;
      }
    }
    if (!(await this.#setAffinityState(aff, 'confirmed'))) {
      // The pending affinity was removed under us (a node-affinity release ran meanwhile): the block names us,
      // so record the affinity again rather than leave an owned block without one.
      await this.#adopt(blk, node);
    }
    this.#cacheBlock(node, blk);
    this.#log?.info({ event: 'blockClaimed', node, cidr }, 'block claimed');
    return true;
  }

  /** A block that names us as owner but that we did not know of: make sure its affinity is confirmed. */
  async #adopt(b: Block, node: string): Promise<void> {
    const aff = await this.#ds.get('BlockAffinity', blockAffinityName(node, b.spec.cidr));
    if (aff?.spec.state === 'pendingDeletion') return;
    if (!aff) {
      const spec = { state: 'confirmed' as const, node, type: 'host' as const, cidr: b.spec.cidr };
      await this.#ds
        .create('BlockAffinity', {
          apiVersion: CARACAL_API_VERSION,
          kind: 'BlockAffinity',
          metadata: { name: blockAffinityName(node, b.spec.cidr), labels: blockAffinityLabels(spec) },
          spec,
        })
        .catch((e) => {
          if (!isExists(e)) throw e;
        });
    } else if (aff.spec.state !== 'confirmed') await this.#setAffinityState(aff, 'confirmed');
    this.#cacheBlock(node, b);
  }

  /** CAS the affinity's state; a re-read that already shows the state is success. */
  async #setAffinityState(
    start: BlockAffinity,
    state: BlockAffinity['spec']['state'],
  ): Promise<BlockAffinity | undefined> {
    let aff: BlockAffinity | undefined = start;
    for (let attempt = 0; attempt < this.#maxRetries; attempt++) {
      if (!aff) return undefined;
      if (aff.spec.state === state) return aff;
      try {
        return await this.#ds.update('BlockAffinity', { ...aff, spec: { ...aff.spec, state } });
      } catch (e) {
        if (isNotFound(e)) return undefined;
        if (!isConflict(e)) throw e;
      }
      aff = await this.#ds.get('BlockAffinity', start.metadata.name);
    }
    throw this.#retriesExhausted(`set affinity ${start.metadata.name} ${state}`);
  }

  /**
   * The addresses `handleId` holds now (for CNI CHECK, or an ADD retried for the same container), from the
   * blocks its handle lists. [] when it holds none.
   */
  async addressesOf(handleId: string): Promise<AssignedIp[]> {
    const h = live(await this.#ds.get('IPAMHandle', handleName(handleId)));
    if (!h) return [];
    const pools = await this.#poolList();
    const out: AssignedIp[] = [];
    for (const cidr of Object.keys(h.spec.block)) {
      const b = live(await this.#ds.get('IPAMBlock', blockName(cidr)));
      if (!b) continue;
      const c = parseCidr(cidr);
      const pool = pools.find((p) => cidrContains(parseCidr(p.spec.cidr), c));
      for (const ord of ordinalsOf(b.spec, h.spec.handleID)) {
        const idx = b.spec.allocations[ord]!;
        out.push({
          ip: formatIp(addressAt(c, ord)),
          blockCidr: cidr,
          pool: pool?.metadata.name ?? '',
          sequenceNumber: Number(b.spec.sequenceNumberForAllocation[String(ord)] ?? 0),
          borrowed: b.spec.affinity !== affinityOf(b.spec.attributes[idx]?.secondary?.[ATTR.node] ?? ''),
        });
      }
    }
    return out;
  }

  /** Who holds `ip`: its block, handle, attributes and allocation sequence number; undefined when free. */
  async describeIp(ip: string): Promise<IpInfo | undefined> {
    const addr = parseIp(ip);
    const cidr = await this.#blockOf(addr);
    if (!cidr) return undefined;
    const b = live(await this.#ds.get('IPAMBlock', blockName(cidr)));
    const ord = b && ordinalIn(b.spec, addr);
    if (!b || ord === undefined) return undefined;
    const idx = b.spec.allocations[ord];
    if (idx === null || idx === undefined) return undefined;
    const attr = b.spec.attributes[idx];
    const attrs = attr?.secondary ?? {};
    return {
      ip: formatIp(addr),
      blockCidr: cidr,
      blockOwner: b.spec.affinity,
      handleId: attr?.handle_id,
      attrs,
      sequenceNumber: b.spec.sequenceNumberForAllocation[String(ord)],
      borrowed: b.spec.affinity !== affinityOf(attrs[ATTR.node] ?? ''),
    };
  }

  // ------------------------------------------------------------------------------------------------------
  // Release

  /** Release addresses; a sequence number that no longer matches leaves that address alone. */
  async releaseIps(ips: readonly { ip: string; sequenceNumber?: number }[]): Promise<string[]> {
    return (await this.releaseIpsDetailed(ips)).released;
  }

  async releaseIpsDetailed(ips: readonly ReleaseIpRequest[]): Promise<ReleaseOutcome> {
    const outcome: ReleaseOutcome = { released: [], stale: [], notAllocated: [] };
    const byBlock = new Map<string, { reqs: ReleaseRequest[]; ips: Map<number, string> }>();
    for (const r of ips) {
      const ip = parseIp(r.ip);
      const cidr = await this.#blockOf(ip);
      if (!cidr) {
        outcome.notAllocated.push(r.ip);
        continue;
      }
      let g = byBlock.get(cidr);
      if (!g) {
        g = { reqs: [], ips: new Map() };
        byBlock.set(cidr, g);
      }
      const ordinal = Number(ip.value - parseCidr(cidr).address);
      g.ips.set(ordinal, formatIp(ip));
      g.reqs.push({
        ordinal,
        sequenceNumber: r.sequenceNumber === undefined ? undefined : String(r.sequenceNumber),
      });
    }
    const perHandle = new Map<string, Map<string, number>>();
    await Promise.all(
      [...byBlock].map(async ([cidr, g]) => {
        const rel = await this.#releaseIn(cidr, (spec) => release(spec, g.reqs));
        const done = new Set<number>();
        for (const { ordinal, handleId } of rel?.released ?? []) {
          done.add(ordinal);
          outcome.released.push(g.ips.get(ordinal)!);
          if (handleId === undefined) continue;
          let m = perHandle.get(handleId);
          if (!m) {
            m = new Map();
            perHandle.set(handleId, m);
          }
          m.set(cidr, (m.get(cidr) ?? 0) + 1);
        }
        for (const o of rel?.stale ?? []) {
          done.add(o);
          outcome.stale.push(g.ips.get(o)!);
        }
        for (const [o, ip] of g.ips) if (!done.has(o)) outcome.notAllocated.push(ip);
      }),
    );
    for (const [h, m] of perHandle) for (const [cidr, n] of m) await this.#adjustHandle(h, cidr, -n);
    if (outcome.stale.length > 0) {
      this.#log?.info({ event: 'staleRelease', ips: outcome.stale }, 'release refused: sequence number changed');
    }
    return outcome;
  }

  /** Release every address of the handle, then the handle. Idempotent: [] when there is nothing. */
  async releaseByHandle(handleId: string): Promise<string[]> {
    const released: string[] = [];
    for (let attempt = 0; attempt < this.#maxRetries; attempt++) {
      const h = live(await this.#ds.get('IPAMHandle', handleName(handleId)));
      this.#handles.delete(handleId);
      if (!h) return released;
      for (const cidr of Object.keys(h.spec.block)) {
        const rel = await this.#releaseIn(cidr, (spec) => releaseHandle(spec, h.spec.handleID));
        const c = parseCidr(cidr);
        for (const r of rel?.released ?? []) released.push(formatIp(addressAt(c, r.ordinal)));
      }
      try {
        await this.#ds.delete('IPAMHandle', h.metadata.name, undefined, { revision: h.metadata.resourceVersion });
        return released;
      } catch (e) {
        if (isNotFound(e)) return released;
        if (!isConflict(e)) throw e; // changed meanwhile (an assign for the same handle): go round again
      }
    }
    throw this.#retriesExhausted(`release handle ${handleId}`);
  }

  /** CAS loop on one block: apply the pure release; an emptied block without owner is deleted. */
  async #releaseIn(cidr: string, plan: (spec: IPAMBlockSpec) => Release): Promise<Release | undefined> {
    // The cached copy only saves a read when it leads to a write (which the CAS validates); a decision to do
    // nothing is taken on a fresh read, since another process may have allocated since we cached it.
    let cur = this.#cachedBlock(cidr);
    let fresh = false;
    if (!cur) {
      cur = live(await this.#ds.get('IPAMBlock', blockName(cidr)));
      fresh = true;
    }
    for (let attempt = 0; attempt < this.#maxRetries; attempt++) {
      if (!cur) return undefined;
      const r = plan(cur.spec);
      if (r.released.length === 0 && !fresh) {
        cur = live(await this.#ds.get('IPAMBlock', blockName(cidr)));
        fresh = true;
        continue;
      }
      if (r.released.length === 0) return r;
      try {
        if (isEmpty(r.spec) && r.spec.affinity === undefined) {
          await this.#ds.delete('IPAMBlock', cur.metadata.name, undefined, { revision: cur.metadata.resourceVersion });
          this.#uncacheEverywhere(cidr);
        } else {
          const stored = await this.#ds.update('IPAMBlock', { ...cur, spec: r.spec });
          this.#recache(stored);
        }
        return r;
      } catch (e) {
        if (!isConflict(e) && !isNotFound(e)) throw e;
      }
      cur = live(await this.#ds.get('IPAMBlock', blockName(cidr)));
      fresh = true;
      await this.#pause(attempt);
    }
    throw this.#retriesExhausted(`release in block ${cidr}`);
  }

  /** The block CIDR holding `ip`: from the pool's block size, or (pool gone) by probing block sizes. */
  async #blockOf(ip: ReturnType<typeof parseIp>): Promise<string | undefined> {
    let pool = poolFor(await this.#poolList(), ip);
    if (!pool) pool = poolFor(await this.#poolList(true), ip);
    if (pool) return blockCidrFor(pool, ip);
    for (const st of this.#nodes.values()) {
      for (const c of st.blocks?.keys() ?? []) if (ordinalIn({ cidr: c } as IPAMBlockSpec, ip) !== undefined) return c;
    }
    const [lo, hi] = ip.family === 4 ? [20, 32] : [116, 128];
    for (let len = hi; len >= lo; len--) {
      const fake = { spec: { blockSize: len } } as IPPool;
      const cidr = blockCidrFor(fake, ip);
      if (live(await this.#ds.get('IPAMBlock', blockName(cidr)))) return cidr;
    }
    return undefined;
  }

  // ------------------------------------------------------------------------------------------------------
  // Node lifecycle

  /**
   * Give up `node`'s empty blocks, keeping at least `keep` (default 1: never the node's last block, Calico's
   * rule). A block that gains an address meanwhile is kept. Returns the CIDRs released.
   */
  async releaseEmptyBlocks(node: string, opts: { keep?: number } = {}): Promise<string[]> {
    const keep = opts.keep ?? 1;
    return this.#state(node).lock.run(async () => {
      const own = await this.#loadOwnBlocks(node);
      const empty = [...own.values()].filter((b) => isEmpty(b.spec)).map((b) => b.spec.cidr);
      const spare = Math.max(0, own.size - keep);
      const out: string[] = [];
      for (const cidr of empty.slice(0, spare)) {
        const aff = await this.#ds.get('BlockAffinity', blockAffinityName(node, cidr));
        if (aff && (await this.#releaseAffinity(aff, true))) out.push(cidr);
      }
      return out;
    });
  }

  /** Drop every affinity of a deleted node: empty blocks go, others lose their owner and keep their addresses. */
  async releaseNodeAffinities(node: string): Promise<string[]> {
    return this.#state(node).lock.run(async () => {
      const out: string[] = [];
      for (const aff of await this.#affinitiesOf(node)) {
        if (await this.#releaseAffinity(aff, false)) out.push(aff.spec.cidr);
      }
      this.#state(node).blocks = new Map();
      return out;
    });
  }

  /** pendingDeletion → block deleted (empty) or de-owned → affinity deleted. False when kept (mustBeEmpty). */
  async #releaseAffinity(start: BlockAffinity, mustBeEmpty: boolean): Promise<boolean> {
    const node = start.spec.node;
    const cidr = start.spec.cidr;
    const aff = await this.#setAffinityState(start, 'pendingDeletion');
    if (!aff) return false;
    let blk = live(await this.#ds.get('IPAMBlock', blockName(cidr)));
    for (let attempt = 0; blk && blk.spec.affinity === affinityOf(node); attempt++) {
      if (attempt >= this.#maxRetries) throw this.#retriesExhausted(`release block ${cidr}`);
      try {
        if (isEmpty(blk.spec)) {
          await this.#ds.delete('IPAMBlock', blk.metadata.name, undefined, { revision: blk.metadata.resourceVersion });
        } else if (mustBeEmpty) {
          await this.#setAffinityState(aff, 'confirmed');
          return false;
        } else {
          const { affinity: _a, affinityClaimTime: _t, ...rest } = blk.spec;
          await this.#ds.update('IPAMBlock', { ...blk, spec: rest });
        }
        break;
      } catch (e) {
        if (!isConflict(e) && !isNotFound(e)) throw e;
      }
      blk = live(await this.#ds.get('IPAMBlock', blockName(cidr)));
    }
    this.#uncacheBlock(node, cidr);
    await this.#ds.delete('BlockAffinity', aff.metadata.name).catch((e) => {
      if (!isNotFound(e)) throw e;
    });
    this.#log?.info({ event: 'blockReleased', node, cidr }, 'block affinity released');
    return true;
  }

  // ------------------------------------------------------------------------------------------------------
  // Handles

  /** Add `delta` to the handle's count for `cidr` (create it; delete it when every count reaches 0). */
  async #adjustHandle(handleId: string, cidr: string, delta: number): Promise<void> {
    if (delta === 0) return;
    const name = handleName(handleId);
    let h: IPAMHandle | undefined = this.#handles.get(handleId);
    let fresh = false;
    for (let attempt = 0; attempt < this.#maxRetries; attempt++) {
      if (!h) {
        if (delta < 0 && fresh) return; // gone: nothing to count down
        if (delta > 0) {
          try {
            const created = await this.#ds.create('IPAMHandle', {
              apiVersion: CARACAL_API_VERSION,
              kind: 'IPAMHandle',
              metadata: { name },
              spec: { handleID: handleId, block: { [cidr]: delta } },
            });
            this.#remember(handleId, created);
            return;
          } catch (e) {
            if (!isExists(e)) throw e;
          }
        }
        h = live(await this.#ds.get('IPAMHandle', name));
        fresh = true;
        continue;
      }
      const block = { ...h.spec.block };
      const n = (block[cidr] ?? 0) + delta;
      if (n > 0) block[cidr] = n;
      else delete block[cidr];
      try {
        if (Object.keys(block).length === 0) {
          await this.#ds.delete('IPAMHandle', name, undefined, { revision: h.metadata.resourceVersion });
          this.#handles.delete(handleId);
        } else {
          this.#remember(handleId, await this.#ds.update('IPAMHandle', { ...h, spec: { ...h.spec, block } }));
        }
        return;
      } catch (e) {
        if (!isConflict(e) && !isNotFound(e)) throw e;
      }
      this.#handles.delete(handleId);
      h = live(await this.#ds.get('IPAMHandle', name));
      fresh = true;
    }
    throw this.#retriesExhausted(`update handle ${handleId}`);
  }

  #remember(handleId: string, h: IPAMHandle): void {
    this.#handles.delete(handleId);
    this.#handles.set(handleId, h);
    if (this.#handles.size > 1024) this.#handles.delete(this.#handles.keys().next().value!);
  }

  // ------------------------------------------------------------------------------------------------------
  // Caches

  #state(node: string): NodeState {
    let st = this.#nodes.get(node);
    if (!st) {
      st = { blocks: undefined, lock: new Mutex() };
      this.#nodes.set(node, st);
    }
    return st;
  }

  async #ownBlocks(node: string): Promise<Map<string, Block>> {
    return this.#state(node).blocks ?? (await this.#loadOwnBlocks(node));
  }

  async #affinitiesOf(node: string): Promise<BlockAffinity[]> {
    const r = await this.#ds.list('BlockAffinity', {
      labelSelector: `${AFFINITY_LABELS.hostnameHash}=${hostnameHash(node)}`,
    });
    return r.items.filter((a) => a.spec.node === node && a.spec.type === 'host' && !a.spec.deleted);
  }

  /**
   * Read the node's blocks from its affinities. Repairs what a crash mid-claim left: a block that names the
   * node while its affinity is still pending gets the affinity confirmed; a pending affinity with no block
   * counts as absent (a later claim of the same CIDR reuses it; `ipam gc` removes it when stale).
   */
  async #loadOwnBlocks(node: string): Promise<Map<string, Block>> {
    const affs = await this.#affinitiesOf(node);
    const blocks = new Map<string, Block>();
    await Promise.all(
      affs.map(async (a) => {
        if (a.spec.state === 'pendingDeletion') return;
        const b = live(await this.#ds.get('IPAMBlock', blockName(a.spec.cidr)));
        if (b?.spec.affinity !== affinityOf(node)) return;
        if (a.spec.state === 'pending') await this.#setAffinityState(a, 'confirmed');
        blocks.set(a.spec.cidr, b);
      }),
    );
    const sorted = new Map([...blocks].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
    this.#state(node).blocks = sorted;
    return sorted;
  }

  #cacheBlock(node: string, b: Block): void {
    const st = this.#state(node);
    if (!st.blocks) st.blocks = new Map();
    st.blocks.set(b.spec.cidr, b);
  }

  #uncacheBlock(node: string, cidr: string): void {
    this.#nodes.get(node)?.blocks?.delete(cidr);
  }

  #uncacheEverywhere(cidr: string): void {
    for (const st of this.#nodes.values()) st.blocks?.delete(cidr);
  }

  #cachedBlock(cidr: string): Block | undefined {
    for (const st of this.#nodes.values()) {
      const b = st.blocks?.get(cidr);
      if (b) return b;
    }
    return undefined;
  }

  /** A block we just wrote: refresh it wherever it is cached (an owner change evicts it). */
  #recache(b: Block): void {
    for (const [node, st] of this.#nodes) {
      if (!st.blocks?.has(b.spec.cidr)) continue;
      if (b.spec.affinity === affinityOf(node)) st.blocks.set(b.spec.cidr, b);
      else st.blocks.delete(b.spec.cidr);
    }
  }

  async #poolList(refresh = false): Promise<IPPool[]> {
    const now = this.#clock.now();
    if (refresh || !this.#pools || now - this.#pools.at >= this.#ttl) {
      this.#pools = { at: now, items: (await this.#ds.list('IPPool')).items };
    }
    return this.#pools.items;
  }

  async #poolsFor(family: IpFamily, req: AutoAssignRequest): Promise<IPPool[]> {
    const named = family === 4 ? req.pools4 : req.pools6;
    const pick = async (refresh: boolean) => {
      const pools = await this.#poolList(refresh);
      const needLabels = !named?.length && pools.some((p) => poolFamily(p) === family && !isAll(p.spec.nodeSelector));
      const nodeLabels = needLabels ? await this.#nodeLabels(req.node) : {};
      return selectPools(pools, family, { node: req.node, nodeLabels, named, use: req.use ?? 'Workload' });
    };
    try {
      return await pick(false);
    } catch (e) {
      if (code(e) !== ErrorCodes.IpamNoPool) throw e;
      return pick(true);
    }
  }

  async #nodeLabels(node: string): Promise<Record<string, string>> {
    const st = this.#state(node);
    const now = this.#clock.now();
    if (st.labels && now - st.labels.at < this.#ttl) return st.labels.value;
    const n = (await this.#ds.get('Node', node)) ?? (await this.#ds.get('K8sNode', node).catch(() => undefined));
    const value = { ...(n?.metadata.labels ?? {}) };
    st.labels = { at: now, value };
    return value;
  }

  async #configSpec(): Promise<IPAMConfigSpec> {
    const now = this.#clock.now();
    if (!this.#config || now - this.#config.at >= this.#ttl) {
      const c = await this.#ds.get('IPAMConfig', IPAM_CONFIG_NAME);
      this.#config = { at: now, spec: c?.spec ?? defaultIpamConfigSpec() };
    }
    return this.#config.spec;
  }

  #attrs(node: string, attrs: Record<string, string>): Record<string, string> {
    return { ...attrs, [ATTR.node]: node, [ATTR.timestamp]: new Date(this.#clock.now()).toISOString() };
  }

  async #pause(attempt: number): Promise<void> {
    if (attempt < 2) return;
    const ms = Math.floor(Math.random() * Math.min(50, 2 ** attempt));
    // A plain (ref'd) timer: the system clock's timers are unref'd and would let a lone caller's process exit.
    await sleep(ms);
  }

  #retriesExhausted(what: string): CaracalError {
    return new CaracalError(
      ErrorCodes.IpamRetriesExhausted,
      `Cannot ${what}: still conflicting after ${this.#maxRetries} attempts`,
      { details: { retries: this.#maxRetries } },
    );
  }

  /** The node this instance was made for, if any (for callers that log it). */
  get node(): string | undefined {
    return this.#defaultNode;
  }
}

const isAll = (s: string | undefined) => s === undefined || s.trim() === '' || s.trim() === 'all()';

function checkHandle(handleId: string): void {
  if (typeof handleId !== 'string' || handleId.length === 0 || handleId.length > 253) {
    throw new CaracalError(ErrorCodes.Usage, `Cannot use handle "${handleId}": a handle ID has 1 to 253 characters`);
  }
}
