/**
 * The pure block logic (STYLE §2.4): an IPAMBlock spec in, a new spec out. Nothing here does I/O, reads a
 * clock or mutates its argument, so the allocator can compute a write, try it as a compare-and-swap, and
 * throw the result away on conflict without anything in memory having changed (Calico PR #12697).
 *
 * Layout (model/ipam-block.ts): `allocations[i]` is null (free) or an index into `attributes`; `unallocated`
 * lists the free ordinals in reuse order: allocate from the front, append released ordinals at the back, so
 * the longest-free address is reused first (calico#12638). Every write bumps `sequenceNumber`; an ordinal
 * records the block's sequence number of the write that allocated it, and a release naming another number
 * is refused (ABA guard: the address was freed and handed out again in between).
 *
 * Left out: reservations (IPReservation) and the release cooldown (`ipCooldownSec`); both would slot into
 * `allocate()`'s walk of `unallocated`.
 */
import { addressAt, type Cidr, formatIp, type IpAddress, ordinalOf, parseCidr } from '../model/ip.js';
import type { AllocationAttribute, IPAMBlockSpec } from '../model/ipam-block.js';

/** Attribute keys the allocator writes on every allocation (GC reads them back). */
export const ATTR = {
  pod: 'pod',
  namespace: 'namespace',
  node: 'node',
  containerID: 'containerID',
  type: 'type',
  /** ISO time of the allocation: the GC's grace period runs from it. */
  timestamp: 'timestamp',
} as const;

/** A new, empty block. `sequenceNumber` should come from `initialSequenceNumber()`. */
export function newBlockSpec(
  cidr: string,
  affinity: string | undefined,
  claimTime: string,
  sequenceNumber: string,
): IPAMBlockSpec {
  const size = blockSize(parseCidr(cidr));
  const spec: IPAMBlockSpec = {
    cidr,
    allocations: new Array<number | null>(size).fill(null),
    unallocated: Array.from({ length: size }, (_, i) => i),
    attributes: [],
    sequenceNumber,
    sequenceNumberForAllocation: {},
    deleted: false,
  };
  if (affinity !== undefined) {
    spec.affinity = affinity;
    spec.affinityClaimTime = claimTime;
  }
  return spec;
}

/**
 * The first sequence number of a new block: the Unix time in microseconds. Calico starts at nanoseconds so a
 * deleted and re-created block never reuses a number; microseconds keep that property (a block would need a
 * million writes a second to catch up with the clock) and stay below 2^53 until the year 2255, so the
 * `AssignedIp.sequenceNumber` the CNI plugin holds is an exact JavaScript number.
 */
export function initialSequenceNumber(nowMs: number): string {
  return String(Math.floor(nowMs) * 1000);
}

export function blockSize(c: Cidr): number {
  return 2 ** ((c.family === 4 ? 32 : 128) - c.prefixLen);
}

function clone(spec: IPAMBlockSpec): IPAMBlockSpec {
  return {
    ...spec,
    allocations: spec.allocations.slice(),
    unallocated: spec.unallocated.slice(),
    attributes: spec.attributes.slice(),
    sequenceNumberForAllocation: { ...spec.sequenceNumberForAllocation },
  };
}

function sameRecord(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  const ka = Object.keys(a ?? {});
  const kb = Object.keys(b ?? {});
  if (ka.length !== kb.length) return false;
  for (const k of ka) if (a?.[k] !== b?.[k]) return false;
  return true;
}

/** Index of an attribute entry equal to (handle, attrs), appending one when there is none. Mutates `spec`. */
function attributeIndex(spec: IPAMBlockSpec, handleId: string, attrs: Record<string, string>): number {
  const i = spec.attributes.findIndex(
    (a) => a.handle_id === handleId && a.releasedAt === undefined && sameRecord(a.secondary, attrs),
  );
  if (i >= 0) return i;
  const entry: AllocationAttribute = { handle_id: handleId, secondary: { ...attrs } };
  spec.attributes.push(entry);
  return spec.attributes.length - 1;
}

/** Drop attribute entries no ordinal points at, and renumber the allocations. Mutates `spec`. */
function compactAttributes(spec: IPAMBlockSpec): void {
  const used = new Set<number>();
  for (const a of spec.allocations) if (a !== null) used.add(a);
  if (used.size === spec.attributes.length) return;
  const remap = new Map<number, number>();
  const kept: AllocationAttribute[] = [];
  spec.attributes.forEach((attr, i) => {
    if (used.has(i)) {
      remap.set(i, kept.length);
      kept.push(attr);
    }
  });
  spec.attributes = kept;
  spec.allocations = spec.allocations.map((a) => (a === null ? null : remap.get(a)!));
}

function bump(spec: IPAMBlockSpec): string {
  spec.sequenceNumber = (BigInt(spec.sequenceNumber) + 1n).toString();
  return spec.sequenceNumber;
}

export interface Allocation {
  readonly spec: IPAMBlockSpec;
  /** Allocated ordinals, in the order taken. Empty when the block is full (and then `spec` is the input). */
  readonly ordinals: number[];
  /** The sequence number every allocated ordinal records (the block's number after this write). */
  readonly sequenceNumber: string;
}

/**
 * Take up to `n` free ordinals from the front of `unallocated` for `handleId`.
 * @example allocate(spec, 1, 'k8s-pod-network.abc', { pod: 'web-0' }).ordinals // [0]
 */
export function allocate(spec: IPAMBlockSpec, n: number, handleId: string, attrs: Record<string, string>): Allocation {
  const take = Math.min(n, spec.unallocated.length);
  if (take <= 0) return { spec, ordinals: [], sequenceNumber: spec.sequenceNumber };
  const next = clone(spec);
  const seq = bump(next);
  const idx = attributeIndex(next, handleId, attrs);
  const ordinals = next.unallocated.splice(0, take);
  for (const o of ordinals) {
    next.allocations[o] = idx;
    next.sequenceNumberForAllocation[String(o)] = seq;
  }
  return { spec: next, ordinals, sequenceNumber: seq };
}

/** Allocate exactly `ordinal`; undefined when it is taken. */
export function allocateOrdinal(
  spec: IPAMBlockSpec,
  ordinal: number,
  handleId: string,
  attrs: Record<string, string>,
): Allocation | undefined {
  if (ordinal < 0 || ordinal >= spec.allocations.length || spec.allocations[ordinal] !== null) return undefined;
  const next = clone(spec);
  const seq = bump(next);
  const idx = attributeIndex(next, handleId, attrs);
  next.unallocated = next.unallocated.filter((o) => o !== ordinal);
  next.allocations[ordinal] = idx;
  next.sequenceNumberForAllocation[String(ordinal)] = seq;
  return { spec: next, ordinals: [ordinal], sequenceNumber: seq };
}

export interface ReleaseRequest {
  readonly ordinal: number;
  /** When given, the release happens only if the ordinal's allocation sequence number is this one. */
  readonly sequenceNumber?: string | undefined;
  /** When given, the release happens only if the ordinal belongs to this handle. */
  readonly handleId?: string | undefined;
}

export interface Release {
  readonly spec: IPAMBlockSpec;
  /** Freed ordinals with the handle each belonged to. Empty when nothing changed (`spec` is the input). */
  readonly released: { ordinal: number; handleId: string | undefined }[];
  /** Ordinals refused because the sequence number or handle did not match (reused since). */
  readonly stale: number[];
}

/**
 * Free the requested ordinals. Already-free ordinals are ignored (release is idempotent); a sequence number
 * or handle that does not match refuses that ordinal only.
 */
export function release(spec: IPAMBlockSpec, reqs: readonly ReleaseRequest[]): Release {
  const next = clone(spec);
  const released: { ordinal: number; handleId: string | undefined }[] = [];
  const stale: number[] = [];
  const seen = new Set<number>();
  for (const r of reqs) {
    if (seen.has(r.ordinal)) continue;
    seen.add(r.ordinal);
    const a = next.allocations[r.ordinal];
    if (a === null || a === undefined) continue;
    const handleId = next.attributes[a]?.handle_id;
    const seq = next.sequenceNumberForAllocation[String(r.ordinal)];
    if (
      (r.sequenceNumber !== undefined && seq !== r.sequenceNumber) ||
      (r.handleId !== undefined && handleId !== r.handleId)
    ) {
      stale.push(r.ordinal);
      continue;
    }
    next.allocations[r.ordinal] = null;
    next.unallocated.push(r.ordinal);
    delete next.sequenceNumberForAllocation[String(r.ordinal)];
    released.push({ ordinal: r.ordinal, handleId });
  }
  if (released.length === 0) return { spec, released, stale };
  compactAttributes(next);
  bump(next);
  return { spec: next, released, stale };
}

/** Free every ordinal held by `handleId`. */
export function releaseHandle(spec: IPAMBlockSpec, handleId: string): Release {
  return release(
    spec,
    ordinalsOf(spec, handleId).map((ordinal) => ({ ordinal })),
  );
}

/** Ordinals allocated to `handleId`, ascending. */
export function ordinalsOf(spec: IPAMBlockSpec, handleId: string): number[] {
  const out: number[] = [];
  spec.allocations.forEach((a, i) => {
    if (a !== null && spec.attributes[a]?.handle_id === handleId) out.push(i);
  });
  return out;
}

/** Handle → number of ordinals it holds in this block. */
export function handleCounts(spec: IPAMBlockSpec): Map<string, number> {
  const m = new Map<string, number>();
  for (const a of spec.allocations) {
    if (a === null) continue;
    const h = spec.attributes[a]?.handle_id ?? '';
    m.set(h, (m.get(h) ?? 0) + 1);
  }
  return m;
}

export function usedCount(spec: IPAMBlockSpec): number {
  return spec.allocations.length - spec.unallocated.length;
}

export function isEmpty(spec: IPAMBlockSpec): boolean {
  return spec.unallocated.length === spec.allocations.length;
}

/** One allocated address of a block, as `ipam check`, GC and routing see it. */
export interface AllocatedAddress {
  readonly ip: string;
  readonly ordinal: number;
  readonly handleId: string | undefined;
  readonly attrs: Readonly<Record<string, string>>;
  readonly sequenceNumber: string | undefined;
}

/** Every allocated address of the block, ascending by ordinal. */
export function allocatedAddresses(spec: IPAMBlockSpec): AllocatedAddress[] {
  const c = parseCidr(spec.cidr);
  const out: AllocatedAddress[] = [];
  spec.allocations.forEach((a, i) => {
    if (a === null) return;
    const attr = spec.attributes[a];
    out.push({
      ip: formatIp(addressAt(c, i)),
      ordinal: i,
      handleId: attr?.handle_id,
      attrs: attr?.secondary ?? {},
      sequenceNumber: spec.sequenceNumberForAllocation[String(i)],
    });
  });
  return out;
}

/** A block's `affinity` for an affinity of `type` (Calico: "host") to `node`: `host:worker-1`. */
export const affinityOf = (node: string, type = 'host'): string => `${type}:${node}`;

/** The node a block's `affinity` names when it is a host affinity, else undefined. */
export const affinityNode = (affinity: string | undefined): string | undefined =>
  affinity?.startsWith('host:') ? affinity.slice(5) : undefined;

/**
 * Addresses of the block allocated to a node other than the block's owner: borrowed addresses, which routing
 * must advertise as /32 (/128) routes, since the block's route leads to its owner (calico#3246). A block
 * with no owner (its node was deleted) lends every address it still holds.
 */
export function borrowedAddresses(spec: IPAMBlockSpec): AllocatedAddress[] {
  const owner = affinityNode(spec.affinity);
  return allocatedAddresses(spec).filter((a) => a.attrs[ATTR.node] !== owner);
}

/** The ordinal of `ip` in the block, or undefined when outside. */
export function ordinalIn(spec: IPAMBlockSpec, ip: IpAddress): number | undefined {
  const o = ordinalOf(parseCidr(spec.cidr), ip);
  return o === undefined ? undefined : Number(o);
}

/**
 * Why the block's bookkeeping is inconsistent, or [] (what the schema checks plus attribute references and
 * sequence numbers). The allocator's invariant "free + used = size" is `unallocated` and `allocations` agreeing.
 */
export function blockProblems(spec: IPAMBlockSpec): string[] {
  const problems: string[] = [];
  const size = blockSize(parseCidr(spec.cidr));
  if (spec.allocations.length !== size) problems.push(`has ${spec.allocations.length} slots for ${size} addresses`);
  const free = new Set(spec.unallocated);
  if (free.size !== spec.unallocated.length) problems.push('lists a free ordinal twice');
  spec.allocations.forEach((a, i) => {
    if ((a === null) !== free.has(i))
      problems.push(`ordinal ${i} is ${a === null ? 'free but not listed' : 'allocated but listed free'}`);
    if (a !== null && spec.attributes[a] === undefined)
      problems.push(`ordinal ${i} points at a missing attribute entry`);
    if (a !== null && spec.sequenceNumberForAllocation[String(i)] === undefined)
      problems.push(`ordinal ${i} has no allocation sequence number`);
  });
  return problems;
}
