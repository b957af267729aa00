/**
 * The kubernetes datastore driver: a `Backend` (datastore/types.ts) on the Kubernetes API, through
 * @kubernetes/client-node. Our kinds are CRDs under crd.caracal.dev/v1; Pods, Namespaces, Nodes and
 * NetworkPolicies are the native resources. The revision is `metadata.resourceVersion`, passed through as an
 * opaque string.
 *
 *   get     GET item; 404 NotFound → undefined
 *   list    GET collection in pages (limit + continue); the list's resourceVersion is the revision. One
 *           consistent snapshot: every page is served at the first page's resourceVersion. A continue token
 *           that expires mid-list (410) restarts once as a single unpaginated list (client-go's pager does
 *           the same).
 *   watch   client-node's `Watch` (chunked newline-delimited JSON) from `resourceVersion=fromRevision` with
 *           `allowWatchBookmarks`; ADDED/MODIFIED/DELETED/BOOKMARK become RawEvents; an ERROR event with a
 *           410 Status (or an HTTP 410), or a 504 "Too large resource version", ends it with `gone`;
 *           anything else ending the stream ends it with `gone: false`. Each watch asks the server to end it after a randomised 5–10 minutes
 *           (`timeoutSeconds`, as client-go's reflector does), and ends it itself (error, not gone) if the server has
 *           not done so 30 s later: a silently dead connection never delivers the server's end.
 *   create  POST (resourceVersion stripped: the server refuses a create that carries one); 409 → ALREADY_EXISTS
 *   update  PUT with metadata.resourceVersion = expected revision: 409 Conflict → CONFLICT, 404 → NOT_FOUND
 *   delete  DELETE with DeleteOptions.preconditions.resourceVersion for compare-and-swap
 *
 * Kinds with a `/status` subresource (Pods, Nodes, Namespaces; CRDs that enable it) ignore `status` on the
 * main endpoint. When a create or update asks for a status different from what the server kept, the driver
 * writes it with a second request to `/status` (found through discovery), so the store gets what it wrote.
 * That is two writes and two revisions; a conflict on the second leaves the first in place.
 *
 * Retrying, relisting after `gone`, backoff and resume are the store layer's job (datastore/store.ts); this
 * driver makes each call once and reports what happened.
 *
 * Tested against test/k8s-api-server (a faithful test double; no Kubernetes API server can be installed on
 * the build machines): datastore/kubernetes/kubernetes.test.ts.
 *
 * @example
 * const ds = createDatastore(createKubernetesBackend({ kubeconfigPath: '/etc/caracal/kubeconfig' }));
 * const { items } = await ds.list('IPPool');
 */
import { isDeepStrictEqual } from 'node:util';
import { KubeConfig, Watch } from '@kubernetes/client-node';
import { CaracalError, describeError, type ErrorCode, ErrorCodes } from '../../common/errors.js';
import { apiVersionOf, type KindInfo } from '../../model/kind.js';
import { objectLabel } from '../errors.js';
import type { Backend, ListOptions, RawObject, RawWatchHandlers, Revision } from '../types.js';
import { ApiClient, type ApiResponse } from './api-client.js';

export interface KubernetesBackendOptions {
  /** A kubeconfig file. Without it and without `kubeConfig`: KUBECONFIG, ~/.kube/config or in-cluster. */
  kubeconfigPath?: string;
  /** An already-loaded config (takes precedence over `kubeconfigPath`). */
  kubeConfig?: KubeConfig;
  /** Items per list page (`limit`). Default 500, as client-go's pager. */
  pageSize?: number;
  /** Per-request timeout for everything but watches. Default 30 s. */
  requestTimeoutMs?: number;
  /** Fixed watch `timeoutSeconds`; default a random 300–599 s per watch, so watches do not end together. */
  watchTimeoutSec?: number;
}

type Json = Record<string, unknown>;

/**
 * Native kinds whose DELETE answers with a success `Status` instead of the deleted object (their registries
 * do not set ReturnDeletedObject). For these the driver reads the object first and deletes with that
 * revision as a precondition, so it can return the state it deleted.
 */
const DELETE_RETURNS_STATUS = new Set(['/nodes', 'networking.k8s.io/networkpolicies']);
/** How long past its timeoutSeconds a watch may stay open before the driver presumes the connection dead. */
const WATCH_DEADLINE_GRACE_MS = 30_000;
/** Bounded retries of read-then-delete when the object changes in between (unconditional deletes only). */
const DELETE_ATTEMPTS = 5;

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
const metaOf = (v: Json): Json => (isObject(v.metadata) ? v.metadata : {});

/** Create the kubernetes driver. It opens no connection until the first call. */
export function createKubernetesBackend(opts: KubernetesBackendOptions = {}): Backend {
  let kc = opts.kubeConfig;
  if (!kc) {
    kc = new KubeConfig();
    try {
      if (opts.kubeconfigPath !== undefined) kc.loadFromFile(opts.kubeconfigPath);
      else kc.loadFromDefault();
    } catch (e) {
      throw new CaracalError(
        ErrorCodes.InvalidConfig,
        `Cannot load kubeconfig "${opts.kubeconfigPath ?? '(default)'}": ${describeError(e)}`,
        {
          cause: e,
        },
      );
    }
  }
  return new KubernetesBackend(kc, opts);
}

class KubernetesBackend implements Backend {
  readonly driver = 'kubernetes' as const;
  readonly #kc: KubeConfig;
  readonly #api: ApiClient;
  readonly #opts: KubernetesBackendOptions;
  readonly #watches = new Set<{ close(): void }>();
  /** group/version → names of resources that have a /status subresource. */
  readonly #statusSubresources = new Map<string, Promise<Set<string>>>();
  #closed = false;

  constructor(kc: KubeConfig, opts: KubernetesBackendOptions) {
    this.#kc = kc;
    this.#opts = opts;
    try {
      this.#api = new ApiClient(kc, { requestTimeoutMs: opts.requestTimeoutMs ?? 30_000 });
    } catch (e) {
      throw new CaracalError(ErrorCodes.InvalidConfig, `Cannot use kubeconfig: ${describeError(e)}`, { cause: e });
    }
  }

  async get(kind: KindInfo, name: string, namespace?: string): Promise<RawObject | undefined> {
    const what = `get ${objectLabel(kind, name, namespace)}`;
    const res = await this.#call(what, 'GET', itemPath(kind, name, namespace));
    if (res.status === 200) return toRaw(kind, res.body, what);
    if (objectMissing(res, name)) return undefined;
    throw statusError(what, kind, name, namespace, res);
  }

  async list(kind: KindInfo, opts: ListOptions): Promise<{ items: RawObject[]; revision: Revision }> {
    const ns = kind.namespaced ? opts.namespace : undefined;
    const what = `list ${kind.kind}${ns === undefined ? '' : ` in namespace "${ns}"`}`;
    const path = collectionPath(kind, ns);
    const limit = this.#opts.pageSize ?? 500;
    let paged = true;
    for (;;) {
      const items: RawObject[] = [];
      let revision: Revision | undefined;
      let cont: string | undefined;
      let expired = false;
      do {
        const query = {
          labelSelector: opts.labelSelector || undefined,
          limit: paged ? limit : undefined,
          continue: cont,
        };
        const res = await this.#call(what, 'GET', path, { query });
        if (res.status === 410 && cont !== undefined && paged) {
          expired = true; // the snapshot the pages came from is compacted: start over, unpaginated
          break;
        }
        if (res.status !== 200 || !isObject(res.body)) throw statusError(what, kind, undefined, ns, res);
        const meta = metaOf(res.body);
        revision ??= String(meta.resourceVersion ?? '');
        for (const item of Array.isArray(res.body.items) ? res.body.items : []) items.push(toRaw(kind, item, what));
        cont = typeof meta.continue === 'string' && meta.continue !== '' ? meta.continue : undefined;
      } while (cont !== undefined);
      if (!expired) return { items, revision: revision ?? '' };
      paged = false;
    }
  }

  watch(kind: KindInfo, opts: ListOptions & { fromRevision: Revision }, h: RawWatchHandlers): { close(): void } {
    const ns = kind.namespaced ? opts.namespace : undefined;
    let closed = false;
    let ended = false;
    let controller: AbortController | undefined;
    let deadline: NodeJS.Timeout | undefined;
    const handle = {
      close: () => {
        closed = true;
        clearTimeout(deadline);
        controller?.abort();
        this.#watches.delete(handle);
      },
    };
    const end = (reason: { gone: boolean; error?: unknown }) => {
      if (ended || closed) return;
      ended = true;
      clearTimeout(deadline);
      controller?.abort();
      this.#watches.delete(handle);
      h.onEnd(reason);
    };
    if (this.#closed) {
      queueMicrotask(() => end({ gone: false, error: closedError('watch') }));
      return handle;
    }
    this.#watches.add(handle);
    const what = `watch ${kind.kind}`;
    const timeoutSeconds = this.#opts.watchTimeoutSec ?? 300 + Math.floor(Math.random() * 300);
    // timeoutSeconds asks the server to end the watch, but the server's end never arrives over a connection
    // that died silently (a NAT or load balancer dropped it): without a deadline of our own the watch would
    // hang forever. Past timeoutSeconds plus a grace, give up on the connection and let the store resume.
    const deadlineMs = timeoutSeconds * 1000 + Math.min(WATCH_DEADLINE_GRACE_MS, timeoutSeconds * 1000);
    deadline = setTimeout(
      () =>
        end({
          gone: false,
          error: new CaracalError(
            ErrorCodes.Unavailable,
            `Cannot ${what}: the API server did not end the watch ${deadlineMs / 1000} s after asking for timeoutSeconds=${timeoutSeconds}: connection presumed dead`,
            { details: { kind: kind.kind, namespace: ns, timeoutSeconds } },
          ),
        }),
      deadlineMs,
    );
    const query = {
      resourceVersion: opts.fromRevision,
      allowWatchBookmarks: true,
      timeoutSeconds,
      labelSelector: opts.labelSelector || undefined,
    };
    const onEvent = (type: string, obj: unknown) => {
      if (ended || closed) return;
      try {
        mapEvent(type, obj);
      } catch (e) {
        // client-node's Watch swallows whatever its callback throws (it takes it for a JSON parse error) and
        // goes on with the next line: this event would be lost while later ones advance the resume point.
        // End the stream instead, so the store resumes from before this event.
        end({ gone: false, error: e });
      }
    };
    const mapEvent = (type: string, obj: unknown) => {
      if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') {
        h.onEvent({
          type: type === 'ADDED' ? 'added' : type === 'MODIFIED' ? 'modified' : 'deleted',
          object: toRaw(kind, obj, what),
        });
      } else if (type === 'BOOKMARK') {
        const rv = isObject(obj) ? metaOf(obj).resourceVersion : undefined;
        if (typeof rv === 'string' && rv !== '') h.onEvent({ type: 'bookmark', revision: rv });
      } else if (type === 'ERROR') {
        const code = isObject(obj) ? obj.code : undefined;
        // 410 Expired/Gone: compacted. 504 "Too large resource version": the server is behind the revision we
        // hold (an API server restored from an older etcd, a lagging watch cache); resuming from it again
        // would fail forever, so relist, as client-go's reflector does.
        if (code === 410 || (code === 504 && isTooLargeResourceVersion(obj))) end({ gone: true });
        else
          end({
            gone: false,
            error: statusError(what, kind, undefined, ns, { status: Number(code ?? 500), body: obj }),
          });
      }
    };
    const onDone = (err: unknown) => {
      if (err === null || err === undefined) return end({ gone: false }); // the server ended the stream
      const status = isObject(err) ? (err as { statusCode?: unknown }).statusCode : undefined;
      if (status === 410) return end({ gone: true });
      // 400: the watch request can never succeed as it is, typically a resourceVersion the server cannot
      // parse (one from another store). client-node's Watch gives only the status text, so do not guess:
      // relist. The list either fixes it or fails with a typed error the store reports (a bad selector).
      if (status === 400) return end({ gone: true });
      end({
        gone: false,
        error: new CaracalError(
          typeof status === 'number' ? codeFor(status, '') : ErrorCodes.Unavailable,
          `Cannot ${what}: ${describeError(err)}`,
          { cause: err, details: { kind: kind.kind, namespace: ns, httpStatus: status } },
        ),
      });
    };
    new Watch(this.#kc).watch(collectionPath(kind, ns), query, onEvent, onDone).then(
      (c) => {
        controller = c;
        if (closed || ended) c.abort();
      },
      (e: unknown) => onDone(e ?? new Error('watch request failed')),
    );
    return handle;
  }

  async create(kind: KindInfo, value: Record<string, unknown>): Promise<RawObject> {
    const meta = metaOf(value);
    const name = String(meta.name ?? '');
    const ns = namespaceOf(kind, meta, `create ${kind.kind} "${name}"`);
    const what = `create ${objectLabel(kind, name, ns)}`;
    const { resourceVersion: _rv, ...rest } = meta;
    const body = { ...value, apiVersion: apiVersionOf(kind), kind: kind.kind, metadata: rest };
    const res = await this.#call(what, 'POST', collectionPath(kind, ns), { body });
    if (res.status !== 201 && res.status !== 200) throw statusError(what, kind, name, ns, res);
    return this.#writeStatus(kind, toRaw(kind, res.body, what), value, what);
  }

  async update(kind: KindInfo, value: Record<string, unknown>, expectedRevision: Revision): Promise<RawObject> {
    const meta = metaOf(value);
    const name = String(meta.name ?? '');
    const ns = namespaceOf(kind, meta, `update ${kind.kind} "${name}"`);
    const what = `update ${objectLabel(kind, name, ns)}`;
    const body = {
      ...value,
      apiVersion: apiVersionOf(kind),
      kind: kind.kind,
      metadata: { ...meta, resourceVersion: expectedRevision },
    };
    const res = await this.#call(what, 'PUT', itemPath(kind, name, ns), { body });
    if (res.status !== 200) throw statusError(what, kind, name, ns, res);
    return this.#writeStatus(kind, toRaw(kind, res.body, what), value, what);
  }

  async delete(
    kind: KindInfo,
    name: string,
    namespace: string | undefined,
    expectedRevision?: Revision,
  ): Promise<RawObject> {
    const ns = kind.namespaced ? namespace : undefined;
    const what = `delete ${objectLabel(kind, name, ns)}`;
    const path = itemPath(kind, name, ns);
    const options = (rv: Revision | undefined) =>
      rv === undefined
        ? undefined
        : { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { resourceVersion: rv } };
    if (!DELETE_RETURNS_STATUS.has(`${kind.group}/${kind.plural}`)) {
      const res = await this.#call(what, 'DELETE', path, { body: options(expectedRevision) });
      if (res.status !== 200 && res.status !== 202) throw statusError(what, kind, name, ns, res);
      if (!isObject(res.body) || res.body.kind === 'Status') {
        // Only the kinds listed in DELETE_RETURNS_STATUS should answer so; the object is gone and its last
        // state unknown to us: say so rather than invent one.
        throw new CaracalError(
          ErrorCodes.Internal,
          `Cannot ${what}: deleted, but the API server returned a Status instead of the object`,
          {
            details: { kind: kind.kind, name, namespace: ns },
          },
        );
      }
      return toRaw(kind, res.body, what);
    }
    for (let attempt = 1; ; attempt++) {
      const current = await this.get(kind, name, ns);
      if (!current) {
        throw new CaracalError(ErrorCodes.NotFound, `Cannot ${what}: ${kind.plural} "${name}" not found`, {
          details: { kind: kind.kind, name, namespace: ns, httpStatus: 404, reason: 'NotFound' },
        });
      }
      if (expectedRevision !== undefined && current.revision !== expectedRevision) {
        throw conflictError(
          what,
          kind,
          name,
          ns,
          `the object has been modified: revision ${current.revision}, expected ${expectedRevision}`,
        );
      }
      const res = await this.#call(what, 'DELETE', path, { body: options(current.revision) });
      if (res.status === 200 || res.status === 202) {
        // A Status means it is gone and `current` was its last state. An object means it was only marked
        // (finalizers pending: deletionTimestamp set, a new revision): that marked state is the last one.
        return isObject(res.body) && res.body.kind !== 'Status' ? toRaw(kind, res.body, what) : current;
      }
      const retry = res.status === 409 && expectedRevision === undefined && attempt < DELETE_ATTEMPTS;
      if (!retry) throw statusError(what, kind, name, ns, res);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const w of [...this.#watches]) w.close();
  }

  // -------------------------------------------------------------------------------------------------------

  async #call(
    what: string,
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    opts: Parameters<ApiClient['request']>[2] = {},
  ) {
    if (this.#closed) throw closedError(what);
    try {
      return await this.#api.request(method, path, opts);
    } catch (e) {
      throw new CaracalError(
        ErrorCodes.Unavailable,
        `Cannot ${what}: ${describeError(e)}: API server ${this.#api.server}`,
        { cause: e },
      );
    }
  }

  /** After a create/update: if the kind has a /status subresource and the status asked for was not kept, write it. */
  async #writeStatus(kind: KindInfo, stored: RawObject, wanted: Json, what: string): Promise<RawObject> {
    if (wanted.status === undefined || isDeepStrictEqual(wanted.status, stored.value.status)) return stored;
    if (!(await this.#hasStatusSubresource(kind, what))) return stored;
    const meta = metaOf(stored.value);
    const name = String(meta.name);
    const ns = kind.namespaced ? (meta.namespace as string | undefined) : undefined;
    const body = { ...stored.value, status: wanted.status };
    const res = await this.#call(`${what} (status)`, 'PUT', `${itemPath(kind, name, ns)}/status`, { body });
    if (res.status !== 200) throw statusError(`${what} (status)`, kind, name, ns, res);
    return toRaw(kind, res.body, what);
  }

  async #hasStatusSubresource(kind: KindInfo, what: string): Promise<boolean> {
    const gv = apiVersionOf(kind);
    let names = this.#statusSubresources.get(gv);
    if (!names) {
      names = (async () => {
        const res = await this.#call(
          `${what}: discover ${gv}`,
          'GET',
          kind.group === '' ? `/api/${kind.version}` : `/apis/${gv}`,
        );
        if (res.status !== 200 || !isObject(res.body))
          throw statusError(`discover ${gv}`, kind, undefined, undefined, res);
        const resources = Array.isArray(res.body.resources) ? res.body.resources : [];
        return new Set(resources.filter(isObject).map((r) => String(r.name)));
      })();
      this.#statusSubresources.set(gv, names);
      names.catch(() => this.#statusSubresources.delete(gv)); // try discovery again next time
    }
    return (await names).has(`${kind.plural}/status`);
  }
}

// ---------------------------------------------------------------------------------------------------------

function prefix(kind: KindInfo): string {
  return kind.group === '' ? `/api/${kind.version}` : `/apis/${kind.group}/${kind.version}`;
}

function collectionPath(kind: KindInfo, namespace: string | undefined): string {
  return kind.namespaced && namespace !== undefined
    ? `${prefix(kind)}/namespaces/${encodeURIComponent(namespace)}/${kind.plural}`
    : `${prefix(kind)}/${kind.plural}`;
}

function itemPath(kind: KindInfo, name: string, namespace: string | undefined): string {
  if (kind.namespaced && (namespace === undefined || namespace === '')) {
    throw new CaracalError(
      ErrorCodes.InvalidResource,
      `Cannot address ${kind.kind} "${name}": a namespace is required: ${kind.kind} is namespaced`,
      {
        details: { kind: kind.kind, name, field: 'metadata.namespace' },
      },
    );
  }
  return `${collectionPath(kind, namespace)}/${encodeURIComponent(name)}`;
}

function namespaceOf(kind: KindInfo, meta: Json, what: string): string | undefined {
  if (!kind.namespaced) return undefined;
  const ns = meta.namespace;
  if (typeof ns !== 'string' || ns === '') {
    throw new CaracalError(
      ErrorCodes.InvalidResource,
      `Cannot ${what}: metadata.namespace is required: ${kind.kind} is namespaced`,
      {
        details: { kind: kind.kind, field: 'metadata.namespace' },
      },
    );
  }
  return ns;
}

/** A JSON object from the server as a RawObject: apiVersion/kind filled in (list items of native kinds lack them). */
function toRaw(kind: KindInfo, body: unknown, what: string): RawObject {
  if (!isObject(body)) {
    throw new CaracalError(
      ErrorCodes.Internal,
      `Cannot ${what}: the API server answered with something that is not an object`,
      {
        details: { kind: kind.kind },
      },
    );
  }
  const value: Json = { apiVersion: apiVersionOf(kind), kind: kind.kind, ...body };
  const rv = metaOf(value).resourceVersion;
  return { value, revision: typeof rv === 'string' ? rv : '' };
}

/** A Status whose causes include ResourceVersionTooLarge (apimachinery errors.IsTooLargeResourceVersion). */
function isTooLargeResourceVersion(status: unknown): boolean {
  const details = isObject(status) && isObject(status.details) ? status.details : undefined;
  const causes = Array.isArray(details?.causes) ? details.causes : [];
  return causes.some((c) => isObject(c) && c.reason === 'ResourceVersionTooLarge');
}

interface StatusBody {
  reason?: string;
  message?: string;
  details?: { name?: string };
}

const statusOf = (body: unknown): StatusBody | undefined =>
  isObject(body) && body.kind === 'Status' ? (body as StatusBody) : undefined;

/**
 * A 404 for the object itself, as opposed to a 404 for the resource type (a CRD that is not installed),
 * which apiserver answers without the object's name in details.
 */
function objectMissing(res: ApiResponse, name: string): boolean {
  return res.status === 404 && statusOf(res.body)?.details?.name === name;
}

function codeFor(httpStatus: number, reason: string): ErrorCode {
  switch (httpStatus) {
    case 404:
      return ErrorCodes.NotFound;
    case 409:
      return reason === 'AlreadyExists' ? ErrorCodes.AlreadyExists : ErrorCodes.Conflict;
    case 410:
      return ErrorCodes.Gone;
    case 400:
    case 422:
      return ErrorCodes.InvalidResource;
    case 401:
    case 403:
      return ErrorCodes.InvalidConfig; // credentials or RBAC: retrying will not help
    default:
      return ErrorCodes.Unavailable; // 429, 5xx, 504 Timeout, and anything unexpected
  }
}

/** A non-success answer as a CaracalError with the Status's reason and message. */
function statusError(
  what: string,
  kind: KindInfo,
  name: string | undefined,
  namespace: string | undefined,
  res: ApiResponse,
): CaracalError {
  const st = statusOf(res.body);
  const reason = st?.reason ?? '';
  let code = codeFor(res.status, reason);
  let message =
    st?.message ?? (typeof res.body === 'string' && res.body !== '' ? res.body.slice(0, 200) : 'no details');
  if (res.status === 404 && st?.details?.name === undefined) {
    // Not an object's 404 (those name it): the resource type itself is not served.
    code = ErrorCodes.InvalidConfig;
    message = `the API server does not serve ${apiVersionOf(kind)} ${kind.plural} (is the CRD installed?): ${message}`;
  }
  return new CaracalError(code, `Cannot ${what}: ${message}: HTTP ${res.status}${reason === '' ? '' : ` ${reason}`}`, {
    details: { kind: kind.kind, name, namespace, httpStatus: res.status, reason },
  });
}

function conflictError(
  what: string,
  kind: KindInfo,
  name: string,
  namespace: string | undefined,
  why: string,
): CaracalError {
  return new CaracalError(ErrorCodes.Conflict, `Cannot ${what}: ${why}`, {
    details: { kind: kind.kind, name, namespace },
  });
}

function closedError(what: string): CaracalError {
  return new CaracalError(ErrorCodes.DatastoreClosed, `Cannot ${what}: the kubernetes backend is closed`);
}
