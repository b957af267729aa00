/**
 * The in-memory storage behind the test API server (TEST DOUBLE, see server.ts), shaped like the etcd3 store
 * that backs a real kube-apiserver: one global revision counter shared by every resource (so resourceVersions
 * of different kinds interleave, and a bookmark on one kind can move past writes to another), keys ordered
 * lexicographically per resource (`<namespace>/<name>` or `<name>`), and a bounded history of changes that
 * watches replay from and that point-in-time (Exact / continue) lists are rebuilt from.
 *
 * Compaction drops history: any resourceVersion older than the compacted one is then "too old" (410 Expired).
 * Nothing here knows HTTP; server.ts turns this into the REST protocol.
 */
import type { Obj } from './resources.js';

export type StoredEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoredEvent {
  readonly rv: number;
  /** Registry key of the resource (ApiResource.info.key). */
  readonly resource: string;
  readonly key: string;
  readonly type: StoredEventType;
  /** New state; for DELETED, the last state with metadata.resourceVersion set to the deletion's rv. */
  readonly object: Obj;
  /** State before the change (MODIFIED, DELETED). */
  readonly prev?: Obj;
}

export function objectKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

const withRv = (o: Obj, rv: number): Obj => ({
  ...o,
  metadata: { ...(o.metadata as Obj), resourceVersion: String(rv) },
});

export class MemoryStorage {
  #rv: number;
  /** Every rv <= this is no longer in #history; a watch or Exact list from an older rv is Expired. */
  #compactedRv: number;
  readonly #historyLimit: number;
  readonly #data = new Map<string, Map<string, Obj>>();
  #history: StoredEvent[] = [];
  readonly #listeners = new Set<(e: StoredEvent) => void>();

  constructor(opts: { historyLimit: number; initialRv?: number }) {
    this.#historyLimit = opts.historyLimit;
    this.#rv = opts.initialRv ?? 1;
    this.#compactedRv = this.#rv;
  }

  get currentRv(): number {
    return this.#rv;
  }

  /** The oldest rv a watch may start from (events strictly after it are all retained). */
  get oldestRv(): number {
    return this.#compactedRv;
  }

  get(resource: string, key: string): Obj | undefined {
    return this.#data.get(resource)?.get(key);
  }

  /** Current objects of a resource in key order. */
  entries(resource: string): [string, Obj][] {
    return [...(this.#data.get(resource) ?? new Map<string, Obj>()).entries()].sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
  }

  /**
   * The objects of a resource as they were at `rv` (rv >= oldestRv), rebuilt by undoing later history.
   * This is what etcd gives apiserver for a list at a past revision.
   */
  entriesAt(resource: string, rv: number): [string, Obj][] {
    if (rv < this.#compactedRv) throw new RangeError(`revision ${rv} is compacted (oldest ${this.#compactedRv})`);
    const state = new Map(this.#data.get(resource) ?? []);
    for (let i = this.#history.length - 1; i >= 0; i--) {
      const e = this.#history[i]!;
      if (e.rv <= rv) break;
      if (e.resource !== resource) continue;
      if (e.type === 'ADDED') state.delete(e.key);
      else if (e.prev) state.set(e.key, e.prev);
    }
    return [...state.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** Retained events of a resource strictly after `rv` (rv >= oldestRv), in order. */
  eventsAfter(resource: string, rv: number): StoredEvent[] {
    if (rv < this.#compactedRv) throw new RangeError(`revision ${rv} is compacted (oldest ${this.#compactedRv})`);
    return this.#history.filter((e) => e.rv > rv && e.resource === resource);
  }

  /** Writes (object) or deletes (undefined) one key at a new global revision, records and publishes the event. */
  commit(resource: string, key: string, object: Obj | undefined): StoredEvent {
    let objects = this.#data.get(resource);
    if (!objects) {
      objects = new Map();
      this.#data.set(resource, objects);
    }
    const prev = objects.get(key);
    const rv = ++this.#rv;
    let event: StoredEvent;
    if (object === undefined) {
      if (!prev) throw new Error(`Cannot delete ${resource} ${key}: not stored`);
      objects.delete(key);
      event = { rv, resource, key, type: 'DELETED', object: withRv(prev, rv), prev };
    } else {
      const stored = withRv(object, rv);
      objects.set(key, stored);
      event = prev
        ? { rv, resource, key, type: 'MODIFIED', object: stored, prev }
        : { rv, resource, key, type: 'ADDED', object: stored };
    }
    this.#history.push(event);
    if (this.#history.length > this.#historyLimit) {
      const dropped = this.#history.splice(0, this.#history.length - this.#historyLimit);
      this.#compactedRv = dropped[dropped.length - 1]!.rv;
    }
    for (const l of this.#listeners) l(event);
    return event;
  }

  /** Forget all history: only the current revision remains watchable. */
  compact(): void {
    this.#history = [];
    this.#compactedRv = this.#rv;
  }

  subscribe(listener: (e: StoredEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
