/**
 * The etcd v3 `Backend` (npm etcd3 on gRPC), for clusterless labs and anywhere a Kubernetes API is not wanted.
 *
 * Key layout (docs/design/datastore.md): `<prefix>/<storeName>/<name>` for cluster-scoped kinds and
 * `<prefix>/<storeName>/<namespace>/<name>` for namespaced ones; prefix `/caracal/v1` unless configured
 * (tests use a unique one each). Values are the object's JSON without `metadata.resourceVersion`, which is
 * always the key's mod_revision on read. Every write is one transaction:
 *   create  if create_revision(key) == 0 then put                     else → ALREADY_EXISTS
 *   update  if mod_revision(key) == expected and it exists then put   else get → NOT_FOUND or CONFLICT
 *   delete  if [mod_revision(key) == expected and] it exists then delete (prev_kv) else get → likewise
 * A list is a range read pinned to one revision (paged; the first page fixes it); a watch is one gRPC watch
 * stream from fromRevision + 1 with prev_kv, so a delete carries the last state.
 *
 * We bypass the etcd3 package's own watch manager: it reconnects silently (hiding both breaks and
 * compaction from us, and resuming from a revision it took from the *creation* header, which can skip
 * events), and it surfaces compaction only as an untyped error. Here a broken stream is reported as
 * `onEnd({ gone: false })` and compaction as `onEnd({ gone: true })`, and the store layer decides. Its default
 * circuit breaker is replaced too: after three failures it refused every call for 5 s, long after etcd was
 * back; the store layer already backs off.
 */
import { randomUUID } from 'node:crypto';
import {
  type CallContext,
  Etcd3,
  type ICompare,
  type IKeyValue,
  type IOptions,
  type IWatchResponse,
  isRecoverableError,
} from 'etcd3';
import { CaracalError, describeError, ErrorCodes, isCaracalError } from '../../common/errors.js';
import type { KindInfo } from '../../model/kind.js';
import { alreadyExistsError, conflictError, notFoundError, objectLabel } from '../errors.js';
import type { Backend, ListOptions, RawEvent, RawObject, RawWatchHandlers, Revision } from '../types.js';

export const DEFAULT_ETCD_PREFIX = '/caracal/v1';
const LIST_PAGE_SIZE = 500;
const DECIMAL = /^[1-9][0-9]*$/;

export interface EtcdV3BackendOptions {
  /** Client URLs, e.g. `http://127.0.0.1:2379`; `https://` switches to TLS with the system roots. */
  endpoints: string[];
  /** Key prefix without a trailing slash; default `/caracal/v1`. */
  prefix?: string;
  /** Deadline for each unary call (get, list page, txn); default 10 s. Watches have none. */
  requestTimeoutMs?: number;
}

type FaultPolicy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;

/** A cockatiel-shaped policy (etcd3 calls only `execute`) that runs the call once, or once per endpoint. */
function attempts(n: number): FaultPolicy {
  return {
    async execute<T>(fn: (ctx: { signal: AbortSignal }) => PromiseLike<T> | T): Promise<T> {
      const signal = new AbortController().signal;
      for (let i = 1; ; i++) {
        try {
          return await fn({ signal });
        } catch (e) {
          // Another endpoint may answer; with one endpoint the store layer's backoff takes over.
          if (i >= n || !(e instanceof Error) || !isRecoverableError(e)) throw e;
        }
      }
    },
  } as unknown as FaultPolicy;
}

function rangeEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]); // all keys
}

function metaOf(value: Record<string, unknown>): Record<string, unknown> {
  const m = value.metadata;
  return typeof m === 'object' && m !== null && !Array.isArray(m) ? (m as Record<string, unknown>) : {};
}

export class EtcdV3Backend implements Backend {
  readonly driver = 'etcdv3' as const;
  readonly prefix: string;
  readonly #client: Etcd3;

  constructor(opts: EtcdV3BackendOptions) {
    this.prefix = (opts.prefix ?? DEFAULT_ETCD_PREFIX).replace(/\/+$/, '');
    const timeoutMs = opts.requestTimeoutMs ?? 10_000;
    this.#client = new Etcd3({
      hosts: opts.endpoints,
      defaultCallOptions: (ctx: CallContext) => (ctx.isStream ? {} : { deadline: Date.now() + timeoutMs }),
      faultHandling: { host: () => attempts(1), global: attempts(opts.endpoints.length) },
      grpcOptions: {
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 2_000,
        // Notice a dead peer on an idle watch stream (etcd allows pings every 5 s and more).
        'grpc.keepalive_time_ms': 30_000,
        'grpc.keepalive_timeout_ms': 10_000,
      },
    });
  }

  /** The underlying client, for test harnesses (compaction, raw puts). */
  get client(): Etcd3 {
    return this.#client;
  }

  /** `<prefix>/<storeName>/[<namespace>/]<name>` */
  keyOf(kind: KindInfo, name: string, namespace: string | undefined): string {
    return kind.namespaced
      ? `${this.prefix}/${kind.storeName}/${namespace ?? ''}/${name}`
      : `${this.prefix}/${kind.storeName}/${name}`;
  }

  #kindPrefix(kind: KindInfo, namespace: string | undefined): Buffer {
    const ns = kind.namespaced && namespace !== undefined ? `${namespace}/` : '';
    return Buffer.from(`${this.prefix}/${kind.storeName}/${ns}`);
  }

  async get(kind: KindInfo, name: string, namespace?: string): Promise<RawObject | undefined> {
    const key = this.keyOf(kind, name, namespace);
    const res = await this.#call(`get ${objectLabel(kind, name, namespace)}`, () =>
      this.#client.kv.range({ key: Buffer.from(key) }),
    );
    const kv = res.kvs[0];
    return kv === undefined ? undefined : this.#decode(kind, kv, kv.mod_revision);
  }

  async list(kind: KindInfo, opts: ListOptions): Promise<{ items: RawObject[]; revision: Revision }> {
    const start = this.#kindPrefix(kind, opts.namespace);
    const end = rangeEnd(start);
    const what = `list ${kind.kind}`;
    for (let attempt = 0; ; attempt++) {
      const items: RawObject[] = [];
      let revision: Revision | undefined;
      let from = start;
      try {
        for (;;) {
          const res = await this.#call(what, () =>
            this.#client.kv.range({ key: from, range_end: end, limit: LIST_PAGE_SIZE, revision: revision ?? 0 }),
          );
          revision ??= res.header.revision;
          for (const kv of res.kvs) items.push(this.#decode(kind, kv, kv.mod_revision));
          const lastKey = res.kvs[res.kvs.length - 1]?.key;
          if (!res.more || lastKey === undefined) return { items, revision };
          from = Buffer.concat([lastKey, Buffer.from([0])]);
        }
      } catch (e) {
        // The revision the first page pinned was compacted under us: start over at a newer one.
        if (attempt < 3 && /compacted/.test(describeError((e as { cause?: unknown }).cause ?? e))) continue;
        throw e;
      }
    }
  }

  watch(kind: KindInfo, opts: ListOptions & { fromRevision: Revision }, h: RawWatchHandlers): { close(): void } {
    let closed = false;
    let ended = false;
    let stream: { cancel(): void } | undefined;
    const end = (reason: { gone: boolean; error?: unknown }) => {
      if (closed || ended) return;
      ended = true;
      stream?.cancel();
      h.onEnd(reason);
    };
    if (!/^(0|[1-9][0-9]*)$/.test(opts.fromRevision)) {
      // Not an etcd revision (a Kubernetes one, or garbage): nothing to resume from, so relist.
      queueMicrotask(() => end({ gone: true }));
      return {
        close: () => {
          closed = true;
        },
      };
    }
    const start = this.#kindPrefix(kind, opts.namespace);
    const onData = (res: IWatchResponse) => {
      if (closed || ended) return;
      if (res.compact_revision !== '0' && res.compact_revision !== undefined && res.compact_revision !== '') {
        end({ gone: true });
        return;
      }
      if (res.canceled) {
        end({ gone: false, error: new Error(`etcd cancelled the watch: ${res.cancel_reason || 'no reason given'}`) });
        return;
      }
      if (res.created) {
        // etcd accepts a start revision from its future and waits for it, so a store that is behind the
        // revision we hold (restored from an older snapshot) would send nothing until it caught up, and the
        // store layer would drop what it then sends as already seen. Relist instead.
        if (BigInt(res.header.revision) < BigInt(opts.fromRevision)) end({ gone: true });
        return;
      }
      if (res.events.length === 0) {
        h.onEvent({ type: 'bookmark', revision: res.header.revision }); // progress notification
        return;
      }
      try {
        for (const ev of res.events) {
          if (closed || ended) return;
          h.onEvent(this.#event(kind, ev.type, ev.kv, ev.prev_kv));
        }
      } catch (e) {
        // Thrown out of a 'data' listener, this would escape into grpc-js and take the process down: end the
        // stream with the error instead (the store resumes from the last event it took).
        end({ gone: false, error: e });
      }
    };
    this.#client.watchClient.watch().then(
      (s) => {
        if (closed || ended) {
          s.cancel();
          return;
        }
        stream = s;
        s.on('data', onData);
        s.on('error', (err) => end({ gone: false, error: err }));
        s.on('end', () => end({ gone: false }));
        s.write({
          create_request: {
            key: start,
            range_end: rangeEnd(start),
            start_revision: (BigInt(opts.fromRevision) + 1n).toString(),
            prev_kv: true,
            progress_notify: true,
          },
        });
      },
      (err: unknown) => end({ gone: false, error: err }),
    );
    return {
      close: () => {
        closed = true;
        stream?.cancel();
      },
    };
  }

  async create(kind: KindInfo, value: Record<string, unknown>): Promise<RawObject> {
    const { name, ns } = nameOf(value);
    const key = Buffer.from(this.keyOf(kind, name, ns));
    const { resourceVersion: _rv, ...meta } = metaOf(value);
    const stored = {
      ...value,
      metadata: { ...meta, uid: randomUUID(), creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z') },
    };
    const bytes = Buffer.from(JSON.stringify(stored));
    const res = await this.#call(`create ${objectLabel(kind, name, ns)}`, () =>
      this.#client.kv.txn({
        compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
        success: [{ request_put: { key, value: bytes } }],
      }),
    );
    if (!res.succeeded) throw alreadyExistsError('create', kind, name, ns);
    return this.#withRevision(stored, res.header.revision);
  }

  async update(kind: KindInfo, value: Record<string, unknown>, expectedRevision: Revision): Promise<RawObject> {
    const { name, ns } = nameOf(value);
    const key = Buffer.from(this.keyOf(kind, name, ns));
    const { resourceVersion: _rv, ...meta } = metaOf(value);
    const stored = { ...value, metadata: meta };
    const what = `update ${objectLabel(kind, name, ns)}`;
    if (!DECIMAL.test(expectedRevision)) throw conflictError('update', kind, name, ns, expectedRevision, undefined);
    const res = await this.#call(what, () =>
      this.#client.kv.txn({
        compare: this.#cas(key, expectedRevision),
        success: [{ request_put: { key, value: Buffer.from(JSON.stringify(stored)) } }],
        failure: [{ request_range: { key } }],
      }),
    );
    if (!res.succeeded)
      throw casFailure(res.responses[0]?.response_range?.kvs[0], 'update', expectedRevision, kind, name, ns);
    return this.#withRevision(stored, res.header.revision);
  }

  async delete(
    kind: KindInfo,
    name: string,
    namespace: string | undefined,
    expectedRevision?: Revision,
  ): Promise<RawObject> {
    const key = Buffer.from(this.keyOf(kind, name, namespace));
    const what = `delete ${objectLabel(kind, name, namespace)}`;
    if (expectedRevision !== undefined && !DECIMAL.test(expectedRevision)) {
      throw conflictError('delete', kind, name, namespace, expectedRevision, undefined);
    }
    const compare: ICompare[] =
      expectedRevision === undefined
        ? [{ key, target: 'Create', result: 'Greater', create_revision: 0 }]
        : this.#cas(key, expectedRevision);
    const res = await this.#call(what, () =>
      this.#client.kv.txn({
        compare,
        success: [{ request_delete_range: { key, prev_kv: true } }],
        failure: [{ request_range: { key } }],
      }),
    );
    if (!res.succeeded) {
      throw casFailure(res.responses[0]?.response_range?.kvs[0], 'delete', expectedRevision, kind, name, namespace);
    }
    const prev = res.responses[0]?.response_delete_range?.prev_kvs[0];
    if (prev === undefined) throw notFoundError('delete', kind, name, namespace); // cannot happen: the txn saw it
    return this.#decode(kind, prev, res.header.revision);
  }

  async close(): Promise<void> {
    this.#client.close();
  }

  // -------------------------------------------------------------------------------------------------------

  /** mod_revision == expected, and the key exists (an absent key has mod_revision 0). */
  #cas(key: Buffer, expected: Revision): ICompare[] {
    return [
      { key, target: 'Mod', result: 'Equal', mod_revision: expected },
      { key, target: 'Create', result: 'Greater', create_revision: 0 },
    ];
  }

  async #call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (isCaracalError(e)) throw e;
      const transient = e instanceof Error && (isRecoverableError(e) || /closed|unavailable|deadline/i.test(e.message));
      throw new CaracalError(
        transient ? ErrorCodes.Unavailable : ErrorCodes.Internal,
        `Cannot ${what}: etcd ${transient ? 'unreachable' : 'failed'}: ${describeError(e)}`,
        { cause: e },
      );
    }
  }

  #event(kind: KindInfo, type: string, kv: IKeyValue, prev: IKeyValue | undefined): RawEvent {
    if (type === 'Delete') {
      // prev_kv is missing when it was compacted away: keep at least the name the key tells.
      const object = prev ? this.#decode(kind, prev, kv.mod_revision) : this.#decode(kind, kv, kv.mod_revision);
      return { type: 'deleted', object };
    }
    // version counts puts since creation: 1 is the create (also after a delete and re-create).
    return { type: kv.version === '1' ? 'added' : 'modified', object: this.#decode(kind, kv, kv.mod_revision) };
  }

  /** Bytes → RawObject. Name and namespace come from the key, which is what get and delete address. */
  #decode(kind: KindInfo, kv: IKeyValue, revision: Revision): RawObject {
    const rest = kv.key.toString('utf8').slice(`${this.prefix}/${kind.storeName}/`.length).split('/');
    const name = rest[rest.length - 1] ?? '';
    const namespace = kind.namespaced ? rest[0] : undefined;
    const fromKey = namespace === undefined ? { name } : { name, namespace };
    let parsed: unknown;
    let decodeError: string | undefined;
    try {
      parsed = kv.value.length === 0 ? undefined : JSON.parse(kv.value.toString('utf8'));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
        decodeError = 'value is not a JSON object';
    } catch (e) {
      decodeError = `value is not JSON: ${describeError(e)}`;
    }
    if (decodeError !== undefined)
      return { value: { metadata: { ...fromKey, resourceVersion: revision } }, revision, decodeError };
    const value = parsed as Record<string, unknown>;
    const m = value.metadata;
    if (typeof m === 'object' && m !== null && !Array.isArray(m))
      value.metadata = { ...m, ...fromKey, resourceVersion: revision };
    return { value, revision };
  }

  #withRevision(stored: Record<string, unknown>, revision: Revision): RawObject {
    return { value: { ...stored, metadata: { ...metaOf(stored), resourceVersion: revision } }, revision };
  }
}

function nameOf(value: Record<string, unknown>): { name: string; ns: string | undefined } {
  const meta = metaOf(value);
  return { name: String(meta.name), ns: typeof meta.namespace === 'string' ? meta.namespace : undefined };
}

/** Why a CAS transaction failed, from the current key its failure branch read: gone, or changed. */
function casFailure(
  current: IKeyValue | undefined,
  op: string,
  expected: Revision | undefined,
  kind: KindInfo,
  name: string,
  ns: string | undefined,
): CaracalError {
  if (current === undefined) return notFoundError(op, kind, name, ns);
  return conflictError(op, kind, name, ns, expected ?? '', current.mod_revision);
}

/**
 * Build an etcd v3 backend.
 *
 * @example
 * const ds = createDatastore(createEtcdV3Backend({ endpoints: ['http://127.0.0.1:2379'] }));
 */
export function createEtcdV3Backend(opts: EtcdV3BackendOptions): EtcdV3Backend {
  return new EtcdV3Backend(opts);
}
