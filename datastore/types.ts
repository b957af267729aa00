/**
 * The datastore port (ARCHITECTURE.md "datastore/"): one interface, typed by model/, that every component
 * uses, and the smaller `Backend` interface that each driver (etcdv3, kubernetes, memory) implements.
 *
 * Layering:
 *   Datastore (datastore/store.ts)  validation on read, typed results, informer-style watch (initial list,
 *                                  in-sync marker, resume after a broken stream, relist on Gone with a diff)
 *   Backend   (datastore/<driver>/) raw JSON objects and raw events from one storage system
 *
 * Revisions are strings: etcd's int64 mod_revision in decimal, or Kubernetes' opaque resourceVersion.
 * Never parse them into JS numbers. Every object read carries its revision in metadata.resourceVersion.
 */
import type { CaracalError } from '../common/errors.js';
import type { KindInfo } from '../model/kind.js';
import type { KindName, ResourceInputOf, ResourceOf } from '../model/kinds.js';

export type Revision = string;
export type DatastoreDriver = 'etcdv3' | 'kubernetes' | 'memory';

export interface ListOptions {
  /** Only objects in this namespace (namespaced kinds); all namespaces when unset. */
  namespace?: string;
  /** Kubernetes label selector string (`app=web,tier in (a,b)`). */
  labelSelector?: string;
}

/** An object that failed validation on read: reported, skipped, never fatal. */
export interface InvalidObject {
  /** `<storeName>/<namespace>/<name>` or `<storeName>/<name>` */
  key: string;
  revision: Revision;
  error: CaracalError;
}

export interface ListResult<T> {
  items: T[];
  /** The store revision the list is consistent at; watch from it to see every later change once. */
  revision: Revision;
  invalid: InvalidObject[];
}

export type WatchEvent<T> =
  | { type: 'added' | 'modified'; object: T; revision: Revision }
  /** `object` is the last state the store knew (etcd prev_kv, Kubernetes DELETED body). */
  | { type: 'deleted'; object: T; revision: Revision }
  /** Everything up to `revision` has been delivered: the initial list, or the diff after a relist. */
  | { type: 'synced'; revision: Revision }
  /**
   * The watch had to relist and cannot express the gap as a diff (it was started from a revision, so it
   * does not know what the consumer holds): forget everything of this kind; a full list follows, then `synced`.
   */
  | { type: 'reset'; revision: Revision }
  /** A stored object failed validation: it is skipped (and, if it was known before, reported deleted first). */
  | { type: 'invalid'; invalid: InvalidObject }
  /** A transient problem (store unreachable, stream broken); the watch retries with backoff by itself. */
  | { type: 'error'; error: CaracalError };

export interface WatchOptions extends ListOptions {
  /**
   * Deliver changes strictly after this revision, with no initial list (`synced` comes once the stream is
   * established). Unset: list first (each item as `added`), then `synced`, then changes.
   */
  fromRevision?: Revision;
}

/** An async iterable of events; `close()` (or breaking out of `for await`) ends it and frees the stream. */
export interface Watch<T> extends AsyncIterable<WatchEvent<T>> {
  close(): void;
}

export interface DeleteOptions {
  /** Compare-and-swap delete: fail with DATASTORE_CONFLICT unless the stored revision is this one. */
  revision?: Revision;
}

export interface Datastore {
  readonly driver: DatastoreDriver;
  /** `undefined` when absent. Throws INVALID_RESOURCE when the stored object fails validation. */
  get<K extends KindName>(kind: K, name: string, namespace?: string): Promise<ResourceOf<K> | undefined>;
  list<K extends KindName>(kind: K, opts?: ListOptions): Promise<ListResult<ResourceOf<K>>>;
  watch<K extends KindName>(kind: K, opts?: WatchOptions): Watch<ResourceOf<K>>;
  /**
   * Validates (defaults applied, so a writer may leave defaulted fields out), then creates.
   * DATASTORE_ALREADY_EXISTS if the name is taken. Returns the stored object.
   */
  create<K extends KindName>(kind: K, obj: ResourceInputOf<K>): Promise<ResourceOf<K>>;
  /**
   * Compare-and-swap on `obj.metadata.resourceVersion` (required): DATASTORE_CONFLICT if the object changed
   * since that revision, DATASTORE_NOT_FOUND if it is gone. Returns the stored object with its new revision.
   */
  update<K extends KindName>(kind: K, obj: ResourceInputOf<K>): Promise<ResourceOf<K>>;
  /** DATASTORE_NOT_FOUND when absent. Returns the last state. */
  delete<K extends KindName>(kind: K, name: string, namespace?: string, opts?: DeleteOptions): Promise<ResourceOf<K>>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------
// Driver side

/** A stored object as JSON, with its revision (also written into value.metadata.resourceVersion). */
export interface RawObject {
  readonly value: Record<string, unknown>;
  readonly revision: Revision;
  /**
   * Set when the stored bytes are not a JSON object (etcd written by something else, a torn value): `value`
   * then holds only what the key tells (metadata.name/namespace) and the store layer reports the object as
   * invalid instead of failing the whole list or watch.
   */
  readonly decodeError?: string;
}

export type RawEvent =
  | { type: 'added' | 'modified'; object: RawObject }
  /** object.value is the last stored state; object.revision is the revision of the deletion. */
  | { type: 'deleted'; object: RawObject }
  /** Progress without a change (Kubernetes BOOKMARK, etcd progress notify): resume from here. */
  | { type: 'bookmark'; revision: Revision };

export interface RawWatchHandlers {
  /** If this throws, the backend ends the stream with `onEnd({ gone: false, error })`: never skips the event. */
  onEvent(e: RawEvent): void;
  /**
   * The stream ended. `gone` = fromRevision is no longer available (compacted / 410 Gone): relist.
   * Otherwise (store restart, network) the caller resumes from the last revision it saw.
   */
  onEnd(reason: { gone: boolean; error?: unknown }): void;
}

export interface Backend {
  readonly driver: DatastoreDriver;
  get(kind: KindInfo, name: string, namespace?: string): Promise<RawObject | undefined>;
  /** Consistent snapshot; backends may ignore labelSelector (the store layer filters again). */
  list(kind: KindInfo, opts: ListOptions): Promise<{ items: RawObject[]; revision: Revision }>;
  /** Events strictly after `fromRevision`, in revision order, each exactly once. */
  watch(kind: KindInfo, opts: ListOptions & { fromRevision: Revision }, h: RawWatchHandlers): { close(): void };
  /** DATASTORE_ALREADY_EXISTS when present. */
  create(kind: KindInfo, value: Record<string, unknown>): Promise<RawObject>;
  /** CAS: DATASTORE_CONFLICT when the stored revision differs from `expectedRevision`; DATASTORE_NOT_FOUND. */
  update(kind: KindInfo, value: Record<string, unknown>, expectedRevision: Revision): Promise<RawObject>;
  /** DATASTORE_NOT_FOUND; DATASTORE_CONFLICT when `expectedRevision` is given and differs. */
  delete(kind: KindInfo, name: string, namespace: string | undefined, expectedRevision?: Revision): Promise<RawObject>;
  close(): Promise<void>;
}
