/**
 * The generic datastore layer: turns a driver's `Backend` (raw JSON, raw events) into the typed `Datastore`
 * port that every component uses (docs/design/datastore.md).
 *
 * What it adds on top of a backend:
 *   - validation with the kind's zod schema on write (create/update reject with INVALID_RESOURCE naming the
 *     field path) and on read (get throws, list reports `invalid`, watch emits `invalid` and carries on);
 *     `apiVersion`/`kind` are filled in (Kubernetes list items omit them), resourceVersion from the revision;
 *   - label-selector and namespace filtering on the client side (backends may also filter, need not);
 *   - the informer-style watch: initial list → `added` per item → `synced` → live events; resume from the
 *     last revision seen when a stream breaks (deduplicated by revision, so a store restart neither loses
 *     nor repeats an event); relist on Gone and deliver only the difference against what the consumer holds;
 *     retries with exponential backoff and jitter, reporting `error` events while the store is unreachable;
 *     a bounded queue that pauses the backend stream for a slow consumer and resumes from its revision.
 *
 * Deliberately not here: anything driver-specific (keys, CAS mechanics, 410 handling live in the drivers),
 * caching for get/list (each call reads the store), and retrying writes (callers own their CAS loops).
 */
import { backoffMs, type Clock } from '../common/clock.js';
import { CaracalError, describeError, ErrorCodes, isCaracalError } from '../common/errors.js';
import { type Logger, logger as makeLogger } from '../common/logger.js';
import { apiVersionOf, type KindInfo } from '../model/kind.js';
import { isKindName, KINDS, type KindName, type ResourceInputOf, type ResourceOf } from '../model/kinds.js';
import { matchesLabels, parseLabelSelector, type Requirement } from '../model/label-selector.js';
import type { Resource } from '../model/meta.js';
import { parseResource as parseModelResource } from '../model/validate.js';
import { compareRevisions } from './revision.js';
import type {
  Backend,
  Datastore,
  DeleteOptions,
  InvalidObject,
  ListOptions,
  ListResult,
  RawEvent,
  RawObject,
  Revision,
  Watch,
  WatchEvent,
  WatchOptions,
} from './types.js';

/** A watch whose consumer has this many undelivered events stops reading its backend stream until it catches up. */
export const WATCH_QUEUE_HIGH_WATER = 500;
/** A stream that lived this long counts as healthy: the backoff starts again from the bottom. */
const STREAM_HEALTHY_MS = 10_000;

export interface DatastoreOptions {
  /** Timers for watch retries; the default keeps the process alive while a watch waits to retry. */
  clock?: Clock;
  logger?: Logger;
  watch?: {
    /** Pause the backend stream at this many queued events; resume at half. Default WATCH_QUEUE_HIGH_WATER. */
    highWater?: number;
    /** Backoff between retries: full jitter in [0, min(max, base·2^attempt)). Defaults 200 ms and 30 s. */
    backoffBaseMs?: number;
    backoffMaxMs?: number;
    random?: () => number;
  };
}

interface WatchTuning {
  highWater: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  random: () => number;
}

/** Like common/clock's systemClock, but its timers are ref'd: an open watch waiting to retry keeps Node alive. */
const refClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
};

/**
 * Wrap a backend in the typed, validating, informer-style `Datastore`.
 *
 * @example
 * const ds = createDatastore(new MemoryBackend());
 * await ds.create('IPPool', pool);
 * for await (const ev of ds.watch('IPPool')) if (ev.type === 'synced') break;
 * await ds.close();
 */
export function createDatastore(backend: Backend, opts: DatastoreOptions = {}): Datastore {
  return new Store(backend, opts);
}

// ---------------------------------------------------------------------------------------------------------
// Validation

/**
 * model/validate.ts `parseResource`, plus `details.field` (the first failing path) so that every
 * INVALID_RESOURCE the datastore throws names its field the same way (label selectors already do).
 */
function parseResource(kindKey: KindName, value: unknown): Resource {
  try {
    return parseModelResource(kindKey, value) as Resource;
  } catch (e) {
    if (!isCaracalError(e, ErrorCodes.InvalidResource) || e.details.field !== undefined) throw e;
    const issues = e.details.issues as readonly { path: string }[] | undefined;
    throw new CaracalError(e.code, e.message, {
      details: { ...e.details, field: issues?.[0]?.path ?? '' },
      cause: e.cause,
    });
  }
}

function fail(message: string, details: Record<string, unknown>): never {
  throw new CaracalError(ErrorCodes.InvalidResource, message, { details });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function kindOf(name: KindName): KindInfo {
  if (!isKindName(name)) {
    throw new CaracalError(ErrorCodes.UnknownKind, `Cannot use kind "${String(name)}": not in the registry`, {
      details: { kind: name },
    });
  }
  return KINDS[name] as KindInfo;
}

/** `<storeName>/<namespace>/<name>` or `<storeName>/<name>` (InvalidObject.key). */
function objectKey(kind: KindInfo, meta: Record<string, unknown> | undefined): string {
  const name = typeof meta?.name === 'string' ? meta.name : '?';
  const ns = typeof meta?.namespace === 'string' ? meta.namespace : undefined;
  return kind.namespaced && ns !== undefined ? `${kind.storeName}/${ns}/${name}` : `${kind.storeName}/${name}`;
}

type Decoded =
  | { ok: true; key: string; object: Resource; raw: Record<string, unknown> }
  | { ok: false; key: string; invalid: InvalidObject; raw: Record<string, unknown> };

/** Raw → typed: fill apiVersion/kind and resourceVersion, then validate. Never throws for bad data. */
function decode(kindName: KindName, kind: KindInfo, raw: RawObject): Decoded {
  const value: Record<string, unknown> = { ...raw.value };
  value.apiVersion ??= apiVersionOf(kind);
  value.kind ??= kind.kind;
  const meta = isRecord(value.metadata) ? { ...value.metadata, resourceVersion: raw.revision } : undefined;
  if (meta) value.metadata = meta;
  const key = objectKey(kind, meta);
  const invalid = (error: CaracalError): Decoded => ({
    ok: false,
    key,
    raw: value,
    invalid: { key, revision: raw.revision, error },
  });
  if (raw.decodeError !== undefined) {
    return invalid(
      new CaracalError(ErrorCodes.InvalidResource, `Cannot decode ${kind.kind} "${key}": ${raw.decodeError}`, {
        details: { kind: kind.kind, key, field: '' },
      }),
    );
  }
  try {
    return { ok: true, key, object: parseResource(kindName, value), raw: value };
  } catch (e) {
    if (isCaracalError(e)) return invalid(e);
    throw e;
  }
}

/** For an object that failed validation: could it be one the caller selected? (When unsure: yes.) */
function rawMaySelect(
  kind: KindInfo,
  raw: Record<string, unknown>,
  namespace: string | undefined,
  reqs: Requirement[],
) {
  const meta = isRecord(raw.metadata) ? raw.metadata : undefined;
  if (
    kind.namespaced &&
    namespace !== undefined &&
    typeof meta?.namespace === 'string' &&
    meta.namespace !== namespace
  ) {
    return false;
  }
  const labels = meta?.labels;
  if (reqs.length === 0 || !isRecord(labels) || !Object.values(labels).every((v) => typeof v === 'string')) return true;
  return matchesLabels(reqs, labels as Record<string, string>);
}

function selects(kind: KindInfo, obj: Resource, namespace: string | undefined, reqs: Requirement[]): boolean {
  if (kind.namespaced && namespace !== undefined && obj.metadata.namespace !== namespace) return false;
  return matchesLabels(reqs, obj.metadata.labels);
}

/** Cluster-scoped kinds ignore a namespace (as kubectl does); namespaced kinds need one for one object. */
function scopeArg(kind: KindInfo, namespace: string | undefined, op: string, name: string): string | undefined {
  if (!kind.namespaced) return undefined;
  if (namespace === undefined || namespace === '') {
    fail(`Cannot ${op} ${kind.kind} "${name}": a namespace is required: ${kind.kind} is namespaced`, {
      kind: kind.kind,
      name,
      field: 'metadata.namespace',
    });
  }
  return namespace;
}

function asUnavailable(e: unknown, what: string): CaracalError {
  if (isCaracalError(e)) return e;
  return new CaracalError(ErrorCodes.Unavailable, `Cannot ${what}: ${describeError(e)}`, { cause: e });
}

// ---------------------------------------------------------------------------------------------------------

class Store implements Datastore {
  readonly driver: Datastore['driver'];
  readonly #backend: Backend;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #tuning: WatchTuning;
  readonly #watches = new Set<StoreWatch>();
  #closed = false;

  constructor(backend: Backend, opts: DatastoreOptions) {
    this.driver = backend.driver;
    this.#backend = backend;
    this.#clock = opts.clock ?? refClock;
    this.#log = opts.logger ?? makeLogger('datastore', { driver: backend.driver });
    this.#tuning = {
      highWater: Math.max(2, opts.watch?.highWater ?? WATCH_QUEUE_HIGH_WATER),
      backoffBaseMs: opts.watch?.backoffBaseMs ?? 200,
      backoffMaxMs: opts.watch?.backoffMaxMs ?? 30_000,
      random: opts.watch?.random ?? Math.random,
    };
  }

  #checkOpen(op: string): void {
    if (this.#closed) {
      throw new CaracalError(ErrorCodes.DatastoreClosed, `Cannot ${op}: the datastore is closed`);
    }
  }

  async get<K extends KindName>(kindName: K, name: string, namespace?: string): Promise<ResourceOf<K> | undefined> {
    this.#checkOpen('get');
    const kind = kindOf(kindName);
    const ns = scopeArg(kind, namespace, 'get', name);
    const raw = await this.#backend.get(kind, name, ns);
    if (raw === undefined) return undefined;
    const d = decode(kindName, kind, raw);
    if (!d.ok) throw d.invalid.error;
    return d.object as unknown as ResourceOf<K>;
  }

  async list<K extends KindName>(kindName: K, opts: ListOptions = {}): Promise<ListResult<ResourceOf<K>>> {
    this.#checkOpen('list');
    const kind = kindOf(kindName);
    const reqs = opts.labelSelector ? parseLabelSelector(opts.labelSelector) : [];
    const namespace = kind.namespaced ? opts.namespace : undefined;
    const res = await this.#backend.list(kind, { namespace, labelSelector: opts.labelSelector });
    const items: Resource[] = [];
    const invalid: InvalidObject[] = [];
    for (const raw of res.items) {
      const d = decode(kindName, kind, raw);
      if (d.ok) {
        if (selects(kind, d.object, namespace, reqs)) items.push(d.object);
      } else if (rawMaySelect(kind, d.raw, namespace, reqs)) {
        invalid.push(d.invalid);
      }
    }
    return { items: items as unknown as ResourceOf<K>[], revision: res.revision, invalid };
  }

  watch<K extends KindName>(kindName: K, opts: WatchOptions = {}): Watch<ResourceOf<K>> {
    this.#checkOpen('watch');
    const kind = kindOf(kindName);
    const reqs = opts.labelSelector ? parseLabelSelector(opts.labelSelector) : [];
    const w = new StoreWatch({
      kindName,
      kind,
      backend: this.#backend,
      clock: this.#clock,
      log: this.#log,
      tuning: this.#tuning,
      namespace: kind.namespaced ? opts.namespace : undefined,
      labelSelector: opts.labelSelector,
      reqs,
      fromRevision: opts.fromRevision,
      onClose: (x) => this.#watches.delete(x),
    });
    this.#watches.add(w);
    w.start();
    return w as unknown as Watch<ResourceOf<K>>;
  }

  async create<K extends KindName>(kindName: K, obj: ResourceInputOf<K>): Promise<ResourceOf<K>> {
    this.#checkOpen('create');
    const kind = kindOf(kindName);
    const { value } = prepareWrite(kindName, kind, obj, 'create');
    const raw = await this.#backend.create(kind, value);
    return this.#decodeWritten(kindName, kind, raw) as ResourceOf<K>;
  }

  async update<K extends KindName>(kindName: K, obj: ResourceInputOf<K>): Promise<ResourceOf<K>> {
    this.#checkOpen('update');
    const kind = kindOf(kindName);
    const { value, expected } = prepareWrite(kindName, kind, obj, 'update');
    const raw = await this.#backend.update(kind, value, expected!);
    return this.#decodeWritten(kindName, kind, raw) as ResourceOf<K>;
  }

  async delete<K extends KindName>(
    kindName: K,
    name: string,
    namespace?: string,
    opts: DeleteOptions = {},
  ): Promise<ResourceOf<K>> {
    this.#checkOpen('delete');
    const kind = kindOf(kindName);
    const ns = scopeArg(kind, namespace, 'delete', name);
    const raw = await this.#backend.delete(kind, name, ns, opts.revision);
    const d = decode(kindName, kind, raw);
    // Deleting an invalid object is how one gets rid of it: the delete happened, so hand back the raw last
    // state (apiVersion, kind and resourceVersion filled in) rather than throwing.
    return (d.ok ? d.object : d.raw) as unknown as ResourceOf<K>;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of [...this.#watches]) w.close();
    await this.#backend.close();
  }

  #decodeWritten(kindName: KindName, kind: KindInfo, raw: RawObject): unknown {
    const d = decode(kindName, kind, raw);
    if (!d.ok) throw d.invalid.error; // the backend changed what we validated: a driver bug, say so
    return d.object;
  }
}

/** Validate an object for writing; returns the value to store (no resourceVersion on create). */
function prepareWrite(
  kindName: KindName,
  kind: KindInfo,
  obj: unknown,
  op: 'create' | 'update',
): { value: Record<string, unknown>; expected: Revision | undefined } {
  if (!isRecord(obj)) fail(`Cannot ${op} ${kind.kind}: expected an object`, { kind: kind.kind, field: '' });
  const input = { ...obj, apiVersion: obj.apiVersion ?? apiVersionOf(kind), kind: obj.kind ?? kind.kind };
  const parsed = parseResource(kindName, input);
  const { resourceVersion, ...metadata } = parsed.metadata;
  const name = metadata.name;
  const ns = metadata.namespace;
  // The real schemas check scope themselves (model/resource.ts checkScope); this guards the others.
  if (kind.namespaced && (ns === undefined || ns === '')) {
    fail(`Cannot ${op} ${kind.kind} "${name}": metadata.namespace: is required: ${kind.kind} is namespaced`, {
      kind: kind.kind,
      name,
      field: 'metadata.namespace',
    });
  }
  if (!kind.namespaced && ns !== undefined) {
    fail(`Cannot ${op} ${kind.kind} "${name}": metadata.namespace: must be unset: ${kind.kind} is cluster-scoped`, {
      kind: kind.kind,
      name,
      field: 'metadata.namespace',
    });
  }
  if (op === 'update' && (resourceVersion === undefined || resourceVersion === '')) {
    fail(
      `Cannot update ${kind.kind} "${name}": metadata.resourceVersion: is required: updates are compare-and-swap on the revision read`,
      { kind: kind.kind, name, field: 'metadata.resourceVersion' },
    );
  }
  // On update the revision travels in the body too (Kubernetes wants it there); etcd strips it.
  const meta = op === 'update' ? { ...metadata, resourceVersion } : metadata;
  return { value: { ...parsed, metadata: meta } as Record<string, unknown>, expected: resourceVersion };
}

// ---------------------------------------------------------------------------------------------------------
// The informer-style watch

interface CacheEntry {
  object: Resource;
  revision: Revision;
}

interface WatchSetup {
  kindName: KindName;
  kind: KindInfo;
  backend: Backend;
  clock: Clock;
  log: Logger;
  tuning: WatchTuning;
  namespace: string | undefined;
  labelSelector: string | undefined;
  reqs: Requirement[];
  fromRevision: Revision | undefined;
  onClose: (w: StoreWatch) => void;
}

type Phase = 'idle' | 'listing' | 'streaming' | 'backoff' | 'paused';
type Ev = WatchEvent<Resource>;

/**
 * One watch: an async iterator over an internal queue, fed by (re)lists and backend streams.
 *
 * State the consumer holds is mirrored in `#cache` (key → last object delivered). While `#complete`, any key
 * not in the cache is known to be absent for the consumer; a watch started from a revision is incomplete
 * until its first relist (`reset`), and then keeps `#absent` for keys it has told the consumer about.
 */
class StoreWatch implements Watch<Resource>, AsyncIterator<Ev> {
  readonly #s: WatchSetup;
  // consumer side
  #queue: Ev[] = [];
  #head = 0;
  #waiters: ((r: IteratorResult<Ev>) => void)[] = [];
  #closed = false;
  // producer side
  #complete: boolean;
  readonly #cache = new Map<string, CacheEntry>();
  readonly #absent = new Set<string>();
  /** Everything up to this revision has been queued; streams resume strictly after it. */
  #last: Revision | undefined;
  /** Keys already queued at revision `#last` (one etcd revision can change several keys). */
  #keysAtLast = new Set<string>();
  #phase: Phase = 'idle';
  #stream: { close(): void } | undefined;
  /** Bumped whenever a stream is dropped, so late callbacks from it are ignored. */
  #gen = 0;
  #streamStartedAt = 0;
  #timer: { cancel(): void } | undefined;
  #attempt = 0;

  constructor(setup: WatchSetup) {
    this.#s = setup;
    this.#complete = setup.fromRevision === undefined;
    this.#last = setup.fromRevision;
  }

  start(): void {
    if (this.#s.fromRevision !== undefined) {
      // The consumer holds the state at fromRevision; nothing to list.
      this.#push({ type: 'synced', revision: this.#s.fromRevision });
      this.#connect();
    } else {
      void this.#relist();
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<Ev> {
    return this;
  }

  next(): Promise<IteratorResult<Ev>> {
    if (this.#head < this.#queue.length) {
      const value = this.#queue[this.#head]!;
      this.#queue[this.#head++] = undefined as unknown as Ev; // let it be collected
      if (this.#head >= 1024 && this.#head * 2 >= this.#queue.length) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
      this.#maybeResume();
      return Promise.resolve({ value, done: false });
    }
    if (this.#closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  return(): Promise<IteratorResult<Ev>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#dropStream();
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#phase = 'idle';
    this.#queue = [];
    this.#head = 0;
    for (const w of this.#waiters.splice(0)) w({ value: undefined, done: true });
    this.#s.onClose(this);
  }

  #pending(): number {
    return this.#queue.length - this.#head;
  }

  #push(ev: Ev): void {
    const w = this.#waiters.shift();
    if (w) w({ value: ev, done: false });
    else this.#queue.push(ev);
  }

  #maybeResume(): void {
    if (this.#phase === 'paused' && this.#pending() <= this.#s.tuning.highWater / 2) this.#connect();
  }

  #dropStream(): void {
    this.#gen++;
    const s = this.#stream;
    this.#stream = undefined;
    s?.close();
  }

  #schedule(fn: () => void): void {
    this.#phase = 'backoff';
    const t = this.#s.tuning;
    const delayMs = backoffMs(this.#attempt++, t.backoffBaseMs, t.backoffMaxMs, t.random);
    this.#timer = this.#s.clock.setTimeout(() => {
      this.#timer = undefined;
      if (!this.#closed) fn();
    }, delayMs);
  }

  #error(e: unknown, what: string): void {
    const err = asUnavailable(e, `${what} ${this.#s.kind.kind}`);
    if (this.#attempt === 0)
      this.#s.log.warn({ event: 'watchError', kind: this.#s.kind.kind, err: err.message }, 'watch broken, retrying');
    this.#push({ type: 'error', error: err });
  }

  async #relist(): Promise<void> {
    this.#phase = 'listing';
    const { backend, kind, kindName, namespace, labelSelector, reqs } = this.#s;
    let res: { items: RawObject[]; revision: Revision };
    try {
      res = await backend.list(kind, { namespace, labelSelector });
    } catch (e) {
      if (this.#closed) return;
      this.#error(e, 'list');
      this.#schedule(() => void this.#relist());
      return;
    }
    if (this.#closed) return;

    const fresh = new Map<string, CacheEntry>();
    const invalid: InvalidObject[] = [];
    for (const raw of res.items) {
      const d = decode(kindName, kind, raw);
      if (d.ok) {
        if (selects(kind, d.object, namespace, reqs)) fresh.set(d.key, { object: d.object, revision: raw.revision });
      } else if (rawMaySelect(kind, d.raw, namespace, reqs)) {
        invalid.push(d.invalid);
      }
    }
    if (!this.#complete) {
      // Started from a revision: we cannot know what the consumer holds, so it starts over.
      this.#push({ type: 'reset', revision: res.revision });
      this.#cache.clear();
      this.#absent.clear();
      this.#complete = true;
    }
    for (const [key, held] of this.#cache) {
      if (!fresh.has(key)) {
        this.#push({ type: 'deleted', object: held.object, revision: res.revision });
        this.#cache.delete(key);
      }
    }
    for (const [key, e] of fresh) {
      const held = this.#cache.get(key);
      if (held === undefined) this.#push({ type: 'added', object: e.object, revision: e.revision });
      else if (held.revision !== e.revision) this.#push({ type: 'modified', object: e.object, revision: e.revision });
      this.#cache.set(key, e);
    }
    for (const inv of invalid) this.#push({ type: 'invalid', invalid: inv });
    this.#push({ type: 'synced', revision: res.revision });
    this.#last = res.revision;
    this.#keysAtLast.clear();
    this.#connect();
  }

  #connect(): void {
    if (this.#closed) return;
    if (this.#pending() >= this.#s.tuning.highWater) {
      this.#phase = 'paused'; // #maybeResume() picks up from #last once the consumer has caught up
      return;
    }
    this.#phase = 'streaming';
    const gen = ++this.#gen;
    this.#streamStartedAt = this.#s.clock.now();
    const { backend, kind, namespace, labelSelector } = this.#s;
    let stream: { close(): void } | undefined;
    try {
      stream = backend.watch(
        kind,
        { namespace, labelSelector, fromRevision: this.#last! },
        {
          onEvent: (e) => {
            if (gen === this.#gen && !this.#closed) this.#onRawEvent(e);
          },
          onEnd: (r) => {
            if (gen !== this.#gen || this.#closed) return;
            this.#gen++;
            this.#stream = undefined;
            this.#onEnd(r);
          },
        },
      );
    } catch (e) {
      if (gen === this.#gen) {
        this.#gen++;
        this.#onEnd({ gone: false, error: e });
      }
      return;
    }
    if (gen === this.#gen) this.#stream = stream;
    else stream.close(); // it ended (or we paused) before watch() even returned
  }

  #onEnd(r: { gone: boolean; error?: unknown }): void {
    if (this.#s.clock.now() - this.#streamStartedAt >= STREAM_HEALTHY_MS) this.#attempt = 0;
    if (r.gone) {
      this.#s.log.info(
        { event: 'watchRelist', kind: this.#s.kind.kind, revision: this.#last },
        'watch revision gone, relisting',
      );
      this.#schedule(() => void this.#relist());
      return;
    }
    if (r.error !== undefined) this.#error(r.error, 'watch');
    this.#schedule(() => this.#connect());
  }

  #onRawEvent(e: RawEvent): void {
    if (e.type === 'bookmark') {
      const c = this.#last === undefined ? 1 : compareRevisions(e.revision, this.#last);
      if (c === undefined || c > 0) {
        this.#last = e.revision;
        this.#keysAtLast.clear();
      }
      return;
    }
    const rev = e.object.revision;
    const d = decode(this.#s.kindName, this.#s.kind, e.object);
    const c = this.#last === undefined ? 1 : compareRevisions(rev, this.#last);
    if (c !== undefined && (c < 0 || (c === 0 && this.#keysAtLast.has(d.key)))) return; // replayed after resume
    this.#attempt = 0;
    if (c !== 0 && this.#phase === 'streaming' && this.#pending() >= this.#s.tuning.highWater) {
      // Pause only where a new revision starts: the stream resumes strictly after #last, so dropping it in
      // the middle of one revision (an etcd txn or `del --prefix` changes many keys at one revision) would
      // lose that revision's remaining keys. This event is not queued; the resumed stream delivers it again.
      this.#dropStream();
      this.#phase = 'paused';
      return;
    }
    if (c !== 0) {
      this.#last = rev;
      this.#keysAtLast.clear();
    }
    this.#keysAtLast.add(d.key);
    this.#apply(e.type, d, rev);
  }

  /** Turn one store change into what the consumer must be told, from what it holds. */
  #apply(type: 'added' | 'modified' | 'deleted', d: Decoded, rev: Revision): void {
    const { kind, namespace, reqs } = this.#s;
    const held = this.#cache.get(d.key);
    // Only before the first relist of a fromRevision watch: the consumer may or may not hold this key.
    const unknown = !this.#complete && held === undefined && !this.#absent.has(d.key);
    const forget = () => {
      this.#cache.delete(d.key);
      if (!this.#complete) this.#absent.add(d.key);
    };
    if (type === 'deleted') {
      if (held !== undefined || (unknown && d.ok)) {
        this.#push({ type: 'deleted', object: d.ok ? d.object : held!.object, revision: rev });
      }
      forget();
      return;
    }
    if (!d.ok) {
      if (held !== undefined) this.#push({ type: 'deleted', object: held.object, revision: rev });
      forget();
      if (held !== undefined || rawMaySelect(kind, d.raw, namespace, reqs))
        this.#push({ type: 'invalid', invalid: d.invalid });
      return;
    }
    if (selects(kind, d.object, namespace, reqs)) {
      const t = held !== undefined ? 'modified' : unknown ? type : 'added';
      this.#push({ type: t, object: d.object, revision: rev });
      this.#cache.set(d.key, { object: d.object, revision: rev });
      this.#absent.delete(d.key);
    } else if (held !== undefined || unknown) {
      // It no longer matches the selector (or, unknown, may have matched at fromRevision): tell the consumer
      // to drop it. A spurious delete of something it never had is harmless; a missed one is not.
      this.#push({ type: 'deleted', object: d.object, revision: rev });
      forget();
    }
  }
}
