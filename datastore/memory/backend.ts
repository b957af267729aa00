/**
 * An in-memory `Backend` with etcd's semantics, for unit tests of other components (and the contract suite):
 * one monotonic revision counter for the whole store, CAS on mod revision, a history of events so a watch can
 * start from any revision not yet compacted, and knobs a test needs:
 *   - `compact()`: drop history, so watches from older revisions end with `gone` (etcd compaction, HTTP 410);
 *   - `restart()`: end every stream without `gone` (a store restart: the store layer resumes);
 *   - `setAvailable(false)`: every call fails with DATASTORE_UNAVAILABLE and streams end with an error;
 *   - `putRaw()`: store any JSON, valid or not (to plant an invalid object).
 *
 * Values are kept as JSON text, so nothing a caller holds aliases the store. Events reach handlers
 * asynchronously (a microtask per batch), never from inside the write that caused them.
 *
 * @example
 * const backend = new MemoryBackend();
 * const ds = createDatastore(backend);
 */
import { randomUUID } from 'node:crypto';
import { CaracalError, ErrorCodes } from '../../common/errors.js';
import type { KindInfo } from '../../model/kind.js';
import { alreadyExistsError, conflictError, notFoundError } from '../errors.js';
import type { Backend, ListOptions, RawEvent, RawObject, RawWatchHandlers, Revision } from '../types.js';

interface Stored {
  json: string;
  modRev: bigint;
}

interface HistoryEntry {
  rev: bigint;
  /** `<storeName>/` or `<storeName>/<namespace>/` prefix match is done on this key. */
  key: string;
  type: 'added' | 'modified' | 'deleted';
  json: string;
}

interface MemWatch {
  prefix: string;
  h: RawWatchHandlers;
  pending: RawEvent[];
  scheduled: boolean;
  ended: boolean;
}

export interface MemoryBackendOptions {
  /** Keep at most this many events of history; older ones are compacted away. Default 100 000. */
  historyLimit?: number;
}

function keyPrefix(kind: KindInfo, namespace: string | undefined): string {
  return kind.namespaced && namespace !== undefined ? `${kind.storeName}/${namespace}/` : `${kind.storeName}/`;
}

function objectKey(kind: KindInfo, name: string, namespace: string | undefined): string {
  return kind.namespaced ? `${kind.storeName}/${namespace ?? ''}/${name}` : `${kind.storeName}/${name}`;
}

function metaOf(value: Record<string, unknown>): Record<string, unknown> {
  const m = value.metadata;
  return typeof m === 'object' && m !== null && !Array.isArray(m) ? (m as Record<string, unknown>) : {};
}

export class MemoryBackend implements Backend {
  readonly driver = 'memory' as const;
  #rev = 1n; // etcd starts at 1 too
  /** Revisions below this are gone: a watch needs fromRevision + 1 >= #compacted. */
  #compacted = 0n;
  readonly #objects = new Map<string, Stored>();
  #history: HistoryEntry[] = [];
  readonly #historyLimit: number;
  readonly #watches = new Set<MemWatch>();
  #available = true;
  #closed = false;

  constructor(opts: MemoryBackendOptions = {}) {
    this.#historyLimit = opts.historyLimit ?? 100_000;
  }

  /** The current store revision. */
  get revision(): Revision {
    return this.#rev.toString();
  }

  /** Number of open watch streams (tests check that closing a Watch frees its stream). */
  get watchCount(): number {
    return this.#watches.size;
  }

  /** Forget all history before the current revision; returns the compaction revision. */
  compact(): Revision {
    this.#compacted = this.#rev;
    this.#history = this.#history.filter((h) => h.rev >= this.#compacted);
    return this.#rev.toString();
  }

  /** End every open stream without `gone`, as a store restart does. */
  restart(): void {
    for (const w of [...this.#watches]) this.#end(w, { gone: false });
  }

  /** While unavailable, calls reject with DATASTORE_UNAVAILABLE and streams end with an error. */
  setAvailable(up: boolean): void {
    this.#available = up;
    if (!up) for (const w of [...this.#watches]) this.#end(w, { gone: false, error: this.#unavailable('watch') });
  }

  /** Store `value` under the key its metadata names, bypassing every check. Returns the new revision. */
  putRaw(kind: KindInfo, value: Record<string, unknown>): Revision {
    const meta = metaOf(value);
    const key = objectKey(kind, String(meta.name), typeof meta.namespace === 'string' ? meta.namespace : undefined);
    const existed = this.#objects.has(key);
    const { resourceVersion: _rv, ...rest } = meta;
    return this.#write(key, existed ? 'modified' : 'added', JSON.stringify({ ...value, metadata: rest })).toString();
  }

  async get(kind: KindInfo, name: string, namespace?: string): Promise<RawObject | undefined> {
    this.#check('get');
    const s = this.#objects.get(objectKey(kind, name, namespace));
    return s === undefined ? undefined : this.#raw(s.json, s.modRev);
  }

  async list(kind: KindInfo, opts: ListOptions): Promise<{ items: RawObject[]; revision: Revision }> {
    this.#check('list');
    const prefix = keyPrefix(kind, opts.namespace);
    const keys = [...this.#objects.keys()].filter((k) => k.startsWith(prefix)).sort();
    const items = keys.map((k) => {
      const s = this.#objects.get(k)!;
      return this.#raw(s.json, s.modRev);
    });
    return { items, revision: this.#rev.toString() };
  }

  watch(kind: KindInfo, opts: ListOptions & { fromRevision: Revision }, h: RawWatchHandlers): { close(): void } {
    const w: MemWatch = { prefix: keyPrefix(kind, opts.namespace), h, pending: [], scheduled: false, ended: false };
    this.#watches.add(w);
    const close = { close: () => this.#drop(w) };
    if (this.#closed || !this.#available) {
      this.#end(w, { gone: false, error: this.#unavailable('watch') });
      return close;
    }
    let from: bigint;
    try {
      from = BigInt(opts.fromRevision);
    } catch {
      this.#end(w, { gone: true });
      return close;
    }
    if (from + 1n < this.#compacted || from > this.#rev) {
      // Compacted, or from the store's future (etcd restored from an older snapshot): relist.
      this.#end(w, { gone: true });
      return close;
    }
    for (const e of this.#history) if (e.rev > from && e.key.startsWith(w.prefix)) this.#enqueue(w, e);
    return close;
  }

  async create(kind: KindInfo, value: Record<string, unknown>): Promise<RawObject> {
    this.#check('create');
    const meta = metaOf(value);
    const name = String(meta.name);
    const ns = typeof meta.namespace === 'string' ? meta.namespace : undefined;
    const key = objectKey(kind, name, ns);
    if (this.#objects.has(key)) throw alreadyExistsError('create', kind, name, ns);
    const { resourceVersion: _rv, ...rest } = meta;
    const stored = {
      ...value,
      metadata: { ...rest, uid: randomUUID(), creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z') },
    };
    const json = JSON.stringify(stored);
    const rev = this.#write(key, 'added', json);
    return this.#raw(json, rev);
  }

  async update(kind: KindInfo, value: Record<string, unknown>, expectedRevision: Revision): Promise<RawObject> {
    this.#check('update');
    const meta = metaOf(value);
    const name = String(meta.name);
    const ns = typeof meta.namespace === 'string' ? meta.namespace : undefined;
    const key = objectKey(kind, name, ns);
    const cur = this.#objects.get(key);
    if (cur === undefined) throw notFoundError('update', kind, name, ns);
    if (cur.modRev.toString() !== expectedRevision)
      throw conflictError('update', kind, name, ns, expectedRevision, cur.modRev.toString());
    const { resourceVersion: _rv, ...rest } = meta;
    const json = JSON.stringify({ ...value, metadata: rest });
    const rev = this.#write(key, 'modified', json);
    return this.#raw(json, rev);
  }

  async delete(
    kind: KindInfo,
    name: string,
    namespace: string | undefined,
    expectedRevision?: Revision,
  ): Promise<RawObject> {
    this.#check('delete');
    const key = objectKey(kind, name, namespace);
    const cur = this.#objects.get(key);
    if (cur === undefined) throw notFoundError('delete', kind, name, namespace);
    if (expectedRevision !== undefined && cur.modRev.toString() !== expectedRevision) {
      throw conflictError('delete', kind, name, namespace, expectedRevision, cur.modRev.toString());
    }
    const rev = this.#write(key, 'deleted', cur.json);
    return this.#raw(cur.json, rev);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const w of [...this.#watches]) this.#drop(w);
  }

  // -------------------------------------------------------------------------------------------------------

  #check(op: string): void {
    if (this.#closed) throw new CaracalError(ErrorCodes.DatastoreClosed, `Cannot ${op}: the memory backend is closed`);
    if (!this.#available) throw this.#unavailable(op);
  }

  #unavailable(op: string): CaracalError {
    return new CaracalError(ErrorCodes.Unavailable, `Cannot ${op}: the memory store is unavailable (test outage)`);
  }

  /** Apply one change at a new revision, record it, and tell the watches. */
  #write(key: string, type: HistoryEntry['type'], json: string): bigint {
    const rev = ++this.#rev;
    if (type === 'deleted') this.#objects.delete(key);
    else this.#objects.set(key, { json, modRev: rev });
    const entry: HistoryEntry = { rev, key, type, json };
    this.#history.push(entry);
    if (this.#history.length > this.#historyLimit) {
      const drop = this.#history.length - this.#historyLimit;
      this.#compacted = this.#history[drop]!.rev;
      this.#history = this.#history.slice(drop);
    }
    for (const w of this.#watches) if (key.startsWith(w.prefix)) this.#enqueue(w, entry);
    return rev;
  }

  #raw(json: string, rev: bigint): RawObject {
    const value = JSON.parse(json) as Record<string, unknown>;
    const revision = rev.toString();
    value.metadata = { ...metaOf(value), resourceVersion: revision };
    return { value, revision };
  }

  #enqueue(w: MemWatch, e: HistoryEntry): void {
    w.pending.push({ type: e.type, object: this.#raw(e.json, e.rev) });
    this.#flushSoon(w);
  }

  #flushSoon(w: MemWatch): void {
    if (w.scheduled) return;
    w.scheduled = true;
    queueMicrotask(() => {
      w.scheduled = false;
      try {
        for (const ev of w.pending.splice(0)) {
          if (w.ended) return;
          w.h.onEvent(ev);
        }
      } catch (e) {
        // As the real drivers do: a handler that throws ends its stream (the store resumes before the event)
        // rather than escaping from a microtask and taking the process down.
        this.#end(w, { gone: false, error: e });
      }
    });
  }

  /** End a stream: queued events first (they happened before the end), then onEnd, asynchronously. */
  #end(w: MemWatch, reason: { gone: boolean; error?: unknown }): void {
    this.#watches.delete(w);
    queueMicrotask(() => {
      if (w.ended) return;
      for (const ev of w.pending.splice(0)) {
        if (w.ended) return;
        w.h.onEvent(ev);
      }
      w.ended = true;
      w.h.onEnd(reason);
    });
  }

  /** Closed by the consumer: no more callbacks at all. */
  #drop(w: MemWatch): void {
    w.ended = true;
    w.pending.length = 0;
    this.#watches.delete(w);
  }
}
