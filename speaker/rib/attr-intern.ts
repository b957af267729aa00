/**
 * Attribute-set interning (STYLE §2.9): every distinct path attribute set exists once, frozen, so a million
 * prefixes share a handful of objects and equality is `===`.
 *
 * Two ways in, one table:
 *  - `intern(key, build)`: what the codec (speaker/wire/update.ts `UpdateContext.intern`) calls with the
 *    raw attribute bytes as `key`. On a miss it keeps the object `build` returned, and also files it under
 *    its canonical serialisation when that slot is free, so locally built equal sets find it.
 *  - `internAttrs(init)`: for sets we build (policy actions, export rewrites, origination). Derived fields
 *    (`asPathLength`, `neighborAs`) are computed here.
 *
 * Memory is reclaimed by reference counting plus a two-generation sweep: holders (`AdjRibIn` per prefix,
 * each RIB `Path`, `AdjRibOut` per advertised prefix) call `retain(a, n)` / `release(a, n)`; a set whose
 * count has been zero across two `sweep()` calls is dropped. Interned-but-never-retained sets (routes a
 * policy rejected, UPDATEs with only errors) count as zero from birth. The second generation exists because
 * the codec may intern the sets of several UPDATEs before the RIB applies the first: a sweep in between must
 * not free a set that is about to be retained. `retain` on a set the table no longer has re-registers it.
 *
 * Caches elsewhere that map attribute sets to derived sets (policy, export) must drop their entries when
 * `epoch` changes, since a swept set may be rebuilt as a different object.
 */
import type { AsPathSegment, PathAttributes, UnknownAttr } from '../wire/types.js';
import { AsPathSegmentType } from '../wire/types.js';

/** The fields a caller supplies to build a set; derived fields are computed by `internAttrs`. */
export type AttrInit = Omit<PathAttributes, 'asPathLength' | 'neighborAs'>;

interface Meta {
  /** Keys under which `#byKey` holds this object (raw wire keys and the canonical key). */
  keys: string[];
  refs: number;
  /** Sweep generation in which refs last reached 0; -1 while referenced. */
  zeroSince: number;
}

/** RFC 4271 §9.1.2.2 (a): an AS_SET counts as one AS; RFC 5065 confederation segments do not count. */
export function asPathLength(path: readonly AsPathSegment[]): number {
  let n = 0;
  for (const s of path) {
    if (s.type === AsPathSegmentType.AsSequence) n += s.asns.length;
    else if (s.type === AsPathSegmentType.AsSet) n += 1;
  }
  return n;
}

/** RFC 4271 §9.1.2.2 (c): the neighbour AS is the first AS of an AS_SEQUENCE leading the path; else 0. */
export function neighborAsOf(path: readonly AsPathSegment[]): number {
  for (const s of path) {
    if (s.type === AsPathSegmentType.ConfedSequence || s.type === AsPathSegmentType.ConfedSet) continue;
    return s.type === AsPathSegmentType.AsSequence ? (s.asns[0] ?? 0) : 0;
  }
  return 0;
}

const hexOf = (u: Uint8Array): string => Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString('hex');

/** A canonical text form of an attribute set: equal sets give equal strings. Not a wire format. */
export function canonicalKey(a: AttrInit): string {
  let s = `\u0101C${a.origin}|`; // \u0101 never starts a codec key (raw bytes are latin1)
  for (const seg of a.asPath) s += `${seg.type}:${seg.asns.join(',')};`;
  s += `|${a.nextHop}|${a.nextHopLinkLocal ?? ''}|${a.med ?? ''}|${a.localPref ?? ''}|${a.atomicAggregate ? 1 : 0}|`;
  s += a.aggregator ? `${a.aggregator.asn}@${a.aggregator.address}` : '';
  s += `|${a.communities.join(',')}|${a.extendedCommunities.join(',')}|`;
  for (const l of a.largeCommunities) s += `${l[0]}:${l[1]}:${l[2]},`;
  s += `|${a.originatorId ?? ''}|${a.clusterList.join(',')}|${a.onlyToCustomer ?? ''}|`;
  for (const u of a.unknown) s += `${u.flags}/${u.code}/${hexOf(u.value)},`;
  return s;
}

function freezeAttrs(a: AttrInit): PathAttributes {
  const asPath = Object.freeze(a.asPath.map((s) => Object.freeze({ type: s.type, asns: Object.freeze([...s.asns]) })));
  const out: PathAttributes = {
    origin: a.origin,
    asPath,
    nextHop: a.nextHop,
    nextHopLinkLocal: a.nextHopLinkLocal,
    med: a.med,
    localPref: a.localPref,
    atomicAggregate: a.atomicAggregate,
    aggregator: a.aggregator ? Object.freeze({ ...a.aggregator }) : undefined,
    communities: Object.freeze([...a.communities]),
    extendedCommunities: Object.freeze([...a.extendedCommunities]),
    largeCommunities: Object.freeze(a.largeCommunities.map((l) => Object.freeze([l[0], l[1], l[2]] as const))),
    originatorId: a.originatorId,
    clusterList: Object.freeze([...a.clusterList]),
    onlyToCustomer: a.onlyToCustomer,
    unknown: Object.freeze(a.unknown.map((u: UnknownAttr) => Object.freeze({ ...u }))),
    asPathLength: asPathLength(asPath),
    neighborAs: neighborAsOf(asPath),
  };
  return Object.freeze(out);
}

/** The attribute set of a locally originated route before any policy: ORIGIN IGP, empty AS path. */
export function baseAttrs(nextHop: string, extra: Partial<AttrInit> = {}): AttrInit {
  return {
    origin: 0,
    asPath: [],
    nextHop,
    atomicAggregate: false,
    communities: [],
    extendedCommunities: [],
    largeCommunities: [],
    clusterList: [],
    unknown: [],
    ...extra,
  };
}

export class AttrInterner {
  readonly #byKey = new Map<string, PathAttributes>();
  readonly #meta = new Map<PathAttributes, Meta>();
  #generation = 0;
  #zeroCount = 0;
  #epoch = 0;

  /** Distinct attribute sets held. */
  get size(): number {
    return this.#meta.size;
  }
  /** Changes whenever `sweep()` freed something; derived-set caches clear themselves when it moves. */
  get epoch(): number {
    return this.#epoch;
  }
  /** Sets currently unreferenced (candidates for the next sweeps). */
  get unreferenced(): number {
    return this.#zeroCount;
  }

  /**
   * The codec's entry point: `key` is any string that identifies the set exactly (the raw attribute bytes).
   * @example interner.intern(raw.toString('latin1'), () => decodeAttrs(raw))
   */
  intern(key: string, build: () => PathAttributes | AttrInit): PathAttributes {
    const hit = this.#byKey.get(key);
    if (hit !== undefined) return hit;
    const built = build();
    // The codec's object is returned as built (it keys its RFC 7606 outcome on that object), never swapped
    // for an equal set found under the canonical key: an attribute-discarded or treat-as-withdraw UPDATE
    // may decode to a set equal to a clean one. Locally built equal sets do alias to it.
    const a = 'asPathLength' in built ? Object.freeze(built) : freezeAttrs(built);
    const known = this.#meta.get(a);
    if (known !== undefined) {
      // `build` handed back a set we already hold (a shared constant, say): alias the key, keep its count.
      this.#byKey.set(key, a);
      known.keys.push(key);
      return a;
    }
    const canon = canonicalKey(a);
    const m: Meta = { keys: [key], refs: 0, zeroSince: this.#generation };
    if (!this.#byKey.has(canon)) {
      this.#byKey.set(canon, a);
      m.keys.push(canon);
    }
    this.#byKey.set(key, a);
    this.#meta.set(a, m);
    this.#zeroCount++;
    return a;
  }

  /** Interns a set built locally (origination, policy actions, export rewrites). */
  internAttrs(init: AttrInit): PathAttributes {
    const canon = canonicalKey(init);
    const hit = this.#byKey.get(canon);
    if (hit !== undefined) return hit;
    const a = freezeAttrs(init);
    this.#add(a, canon);
    return a;
  }

  /** Returns a copy of `a` with `changes` applied, interned. */
  with(a: PathAttributes, changes: Partial<AttrInit>): PathAttributes {
    return this.internAttrs({ ...a, ...changes });
  }

  #add(a: PathAttributes, canon: string): void {
    this.#byKey.set(canon, a);
    this.#meta.set(a, { keys: [canon], refs: 0, zeroSince: this.#generation });
    this.#zeroCount++;
  }

  retain(a: PathAttributes, n = 1): void {
    let m = this.#meta.get(a);
    if (m === undefined) {
      // Swept between the codec's intern and this retain: register it again (see the module header).
      const canon = canonicalKey(a);
      m = { keys: [], refs: 0, zeroSince: this.#generation };
      if (!this.#byKey.has(canon)) {
        this.#byKey.set(canon, a);
        m.keys.push(canon);
      }
      this.#meta.set(a, m);
      this.#zeroCount++;
    }
    if (m.refs === 0 && n > 0) {
      m.zeroSince = -1;
      this.#zeroCount--;
    }
    m.refs += n;
  }

  release(a: PathAttributes, n = 1): void {
    const m = this.#meta.get(a);
    if (m === undefined) return;
    m.refs -= n;
    if (m.refs <= 0) {
      m.refs = 0;
      m.zeroSince = this.#generation;
      this.#zeroCount++;
    }
  }

  refs(a: PathAttributes): number {
    return this.#meta.get(a)?.refs ?? 0;
  }

  /**
   * Frees sets that were unreferenced at the previous sweep and still are. Cheap when nothing is
   * unreferenced; O(sets) otherwise (sets are few). Returns how many were freed.
   */
  sweep(): number {
    const gen = this.#generation++;
    if (this.#zeroCount === 0) return 0;
    let freed = 0;
    for (const [a, m] of this.#meta) {
      if (m.refs !== 0 || m.zeroSince >= gen) continue;
      for (const k of m.keys) if (this.#byKey.get(k) === a) this.#byKey.delete(k);
      this.#meta.delete(a);
      this.#zeroCount--;
      freed++;
    }
    if (freed > 0) this.#epoch++;
    return freed;
  }

  /** Sweeps only when enough unreferenced sets have piled up; call at quiet points (end of an UPDATE). */
  maybeSweep(threshold = 256): number {
    return this.#zeroCount >= threshold ? this.sweep() : 0;
  }
}
