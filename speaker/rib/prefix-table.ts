/**
 * A hash table from prefix key to a 32-bit integer, for the Loc-RIB. IPv4 keys (numbers below 2^38) live
 * in an open-addressing table on typed arrays (linear probing, backward-shift deletion, load ≤ 0.6);
 * IPv6 keys (17-char strings) in a plain Map.
 *
 * Why not `Map<number, …>`: measured on Node 20, 1M inserts of IPv4 prefix keys into a Map take
 * 380–660 ms (keys above 2^31 are heap numbers, and growth rehashes), which alone is more than the whole
 * receive-path budget (2× BIRD's ~0.28 s). This table takes ~70 ms presized and ~150 ms growing, and holds
 * a route in 12 bytes per slot (≈ 20 bytes per route at the load factor) instead of ~60–80.
 */
import type { PrefixKey } from '../wire/types.js';

/** What `get` returns for a missing key; never stored. */
export const NONE = -0x80000000;
const EMPTY = -1;

/**
 * Frees the memory of a typed array nobody else refers to at the next scavenge instead of the next full GC.
 * A table's arrays live long, so V8 has moved their owners to the old generation, and a dropped one kept
 * its backing store (12 MB at 1M slots) until a mark-compact, which a heap this small rarely gets: the old
 * table still counted in the peak RSS of a 1M-prefix ingest. Transferring the buffer into a throw-away clone
 * detaches it; the clone is young and dies at once, and its backing store with it.
 */
export function freeSoon(a: Float64Array | Int32Array): void {
  const buf = a.buffer as ArrayBuffer;
  structuredClone(buf, { transfer: [buf] });
}

export class PrefixTable {
  #keys: Float64Array;
  #vals: Int32Array;
  #mask: number;
  #size4 = 0;
  readonly #v6 = new Map<string, number>();

  constructor(capacity = 1024) {
    let cap = 16;
    while (cap * 0.6 < capacity) cap *= 2;
    this.#keys = new Float64Array(cap).fill(EMPTY);
    this.#vals = new Int32Array(cap);
    this.#mask = cap - 1;
  }

  get size(): number {
    return this.#size4 + this.#v6.size;
  }

  #slot(k: number): number {
    const lo = k >>> 0;
    const hi = (k / 4294967296) | 0;
    let h = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    const keys = this.#keys;
    const mask = this.#mask;
    let i = h & mask;
    for (;;) {
      const x = keys[i]!;
      if (x === k || x === EMPTY) return i;
      i = (i + 1) & mask;
    }
  }

  get(k: PrefixKey): number {
    if (typeof k !== 'number') return this.#v6.get(k) ?? NONE;
    const i = this.#slot(k);
    return this.#keys[i] === k ? this.#vals[i]! : NONE;
  }

  set(k: PrefixKey, v: number): void {
    if (typeof k !== 'number') {
      this.#v6.set(k, v);
      return;
    }
    let i = this.#slot(k);
    if (this.#keys[i] !== k) {
      if (this.#size4 + 1 > (this.#mask + 1) * 0.6) {
        this.#grow();
        i = this.#slot(k);
      }
      this.#keys[i] = k;
      this.#size4++;
    }
    this.#vals[i] = v;
  }

  delete(k: PrefixKey): boolean {
    if (typeof k !== 'number') return this.#v6.delete(k);
    let i = this.#slot(k);
    const keys = this.#keys;
    const vals = this.#vals;
    if (keys[i] !== k) return false;
    const mask = this.#mask;
    // Backward-shift deletion: move later members of the cluster into the hole when their home allows.
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const kj = keys[j]!;
      if (kj === EMPTY) break;
      const home = this.#home(kj);
      // kj may move to i when i lies cyclically in [home, j).
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        keys[i] = kj;
        vals[i] = vals[j]!;
        i = j;
      }
    }
    keys[i] = EMPTY;
    this.#size4--;
    return true;
  }

  #home(k: number): number {
    const lo = k >>> 0;
    const hi = (k / 4294967296) | 0;
    let h = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return h & this.#mask;
  }

  #grow(): void {
    const n = this.#keys.length;
    // 4× while small: fewer rehashes on the way to a full table (0.8M moves instead of 1.3M to reach 1M
    // routes, measured ~12 % of ingest profile at 2×); 2× once large, so memory never overshoots by more.
    this.#rehash(n * (n < 1 << 20 ? 4 : 2));
  }

  #rehash(cap: number): void {
    const ok = this.#keys;
    const ov = this.#vals;
    this.#keys = new Float64Array(cap).fill(EMPTY);
    this.#vals = new Int32Array(cap);
    this.#mask = cap - 1;
    for (let j = 0; j < ok.length; j++) {
      const k = ok[j]!;
      if (k === EMPTY) continue;
      const i = this.#slot(k);
      this.#keys[i] = k;
      this.#vals[i] = ov[j]!;
    }
    freeSoon(ok);
    freeSoon(ov);
  }

  /** Calls `fn` for every entry. `fn` may change values (`set` on an existing key) but not add or delete. */
  forEach(fn: (k: PrefixKey, v: number) => void): void {
    const keys = this.#keys;
    const vals = this.#vals;
    for (let j = 0; j < keys.length; j++) {
      const k = keys[j]!;
      if (k !== EMPTY) fn(k, vals[j]!);
    }
    for (const [k, v] of this.#v6) fn(k, v);
  }

  /**
   * Calls `fn` for every entry exactly once, in an order in which `fn` may delete the entry it is given or
   * change any entry's value, but not add one: a peer's routes are removed in one pass without first
   * copying 1M keys out. IPv4 slots are walked downwards, cyclically, starting below an empty slot:
   * backward-shift deletion only moves entries from later slots of the same cluster into the hole, the
   * cluster ends before that empty slot, and so everything that moves has been visited already.
   */
  forEachDeletable(fn: (k: PrefixKey, v: number) => void): void {
    const mask = this.#mask;
    let start = 0;
    while (this.#keys[start] !== EMPTY) start++; // the load factor keeps one free
    for (let c = 1; c <= mask; c++) {
      const i = (start - c) & mask;
      const k = this.#keys[i]!;
      if (k !== EMPTY) fn(k, this.#vals[i]!);
    }
    for (const [k, v] of this.#v6) fn(k, v); // a Map tolerates deleting the current entry
  }

  /**
   * Gives memory back after mass deletion (a full-table peer gone): when the IPv4 table is at most 1/8
   * full, rehashes it into the smallest capacity with room for twice its entries. Not while walking it.
   */
  compact(): void {
    const cap = this.#mask + 1;
    if (cap <= 1024 || this.#size4 * 8 > cap) return;
    let want = 1024;
    while (want * 0.6 < this.#size4 * 2) want *= 2;
    if (want >= cap) return;
    this.#rehash(want);
  }

  /** A snapshot of the keys (safe to delete while walking it). */
  keys(): PrefixKey[] {
    const out: PrefixKey[] = [];
    this.forEach((k) => {
      out.push(k);
    });
    return out;
  }
}
