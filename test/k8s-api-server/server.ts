/**
 * TestApiServer — a TEST DOUBLE of kube-apiserver, backed by memory. It is not Kubernetes.
 *
 * No Kubernetes API server can be installed on the machines this project is built on, so the kubernetes
 * datastore driver (datastore/kubernetes) is tested against this server instead. It speaks real HTTP/1.1 and
 * the real REST protocol, following the Kubernetes API conventions closely enough that a client written for
 * kube-apiserver (here @kubernetes/client-node) runs unchanged against it:
 *
 *   - discovery: /version, /api, /api/v1, /apis, /apis/<group>, /apis/<group>/<version> (APIResourceList)
 *   - every kind of model/kinds.ts at its real path: native kinds under /api/v1 and
 *     /apis/networking.k8s.io/v1, our CRDs under /apis/crd.caracal.dev/v1; namespaced and cluster scope;
 *     the all-namespaces collection path for namespaced kinds (list/watch only)
 *   - GET, LIST (limit + continue tokens, consistent snapshots, labelSelector, fieldSelector,
 *     resourceVersion + resourceVersionMatch), WATCH (chunked newline-delimited JSON events, start
 *     resourceVersion, BOOKMARK, sendInitialEvents, timeoutSeconds, 410 Expired as an ERROR event),
 *     POST, PUT (optimistic concurrency → 409 Conflict), PATCH (merge and JSON patch), DELETE (preconditions,
 *     finalizers), deletecollection, the /status subresource
 *   - one global, monotonically increasing resourceVersion; a bounded history; compaction
 *   - every error as a `Status` object with the right HTTP code and reason
 *
 * It deliberately has no admission (no NamespaceLifecycle, no quota, no webhooks), no defaulting beyond
 * what each registry's PrepareForCreate does, no managed fields or server-side apply, no RBAC (one optional
 * bearer token), no graceful pod deletion, no protobuf/CBOR, and no TLS. docs/design/k8s-test-api-server.md
 * lists what is faithful and what is not.
 *
 * Test hooks: restart() (listener and watches go away, data stays), compact(), putRaw() (no validation),
 * sendBookmarks(), dropWatches(), requestLog (what the client did), onRequest (act between requests).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { stringify as toYaml } from 'yaml';
import type { KindInfo } from '../../model/kind.js';
import { KINDS } from '../../model/kinds.js';
import { jsonPatch, mergePatch } from './patch.js';
import {
  and,
  decodeContinue,
  encodeContinue,
  fieldPredicate,
  labelPredicate,
  type Predicate,
  parseResourceVersion,
} from './query.js';
import {
  type ApiResource,
  apiGroup,
  apiResourceList,
  buildResources,
  groupVersions,
  type Obj,
  type ResourceTableOptions,
} from './resources.js';
import { ApiError, Errors, type Status, success } from './status.js';
import { MemoryStorage, objectKey, type StoredEvent } from './storage.js';

export interface TestApiServerOptions extends ResourceTableOptions {
  /** Port to listen on (127.0.0.1); 0 picks a free one. restart() keeps the port. */
  port?: number;
  /** Events of history kept for watches and consistent lists; older resourceVersions become 410 Expired. */
  historyLimit?: number;
  /** Require `Authorization: Bearer <token>` on every request (401 Unauthorized otherwise). */
  token?: string;
  /** How often an idle watch with allowWatchBookmarks gets a BOOKMARK (kube-apiserver: about a minute). */
  bookmarkIntervalMs?: number;
  /** Validate CRD objects against the kind's schema (the CRD's OpenAPI schema is generated from it). */
  validate?: boolean;
  /** The registry to serve; defaults to model/kinds.ts KINDS. */
  kinds?: Readonly<Record<string, KindInfo>>;
}

export interface LoggedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly watch: boolean;
  /** HTTP status of the response (0 while the response has not started). */
  status: number;
}

const MAX_BODY_BYTES = 3 * 1024 * 1024; // apiserver's default request body limit
const TRUE_VALUES = new Set(['1', 't', 'T', 'true', 'TRUE', 'True']); // Go's strconv.ParseBool
const INITIAL_EVENTS_END = 'k8s.io/initial-events-end';

const isObject = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const metaOf = (o: Obj): Obj => (isObject(o.metadata) ? o.metadata : {});
const rfc3339 = (ms: number) => `${new Date(ms).toISOString().slice(0, 19)}Z`;
/** apiserver's names.SimpleNameGenerator: 5 random lowercase alphanumerics. */
const nameSuffix = () => [...randomBytes(5)].map((b) => 'bcdfghjklmnpqrstvwxz2456789'[b % 27]).join('');

/**
 * The test double of kube-apiserver (see the module header for what it does and does not do).
 *
 * @example
 * const server = await TestApiServer.start({ bookmarkIntervalMs: 200 });
 * const backend = createKubernetesBackend({ kubeconfigPath: await server.writeKubeconfig(dir) });
 * await server.compact(); // a watch from an older resourceVersion now ends with 410 Expired
 * await server.stop();
 */
export class TestApiServer {
  readonly #opts: TestApiServerOptions;
  readonly #storage: MemoryStorage;
  readonly #resources: ApiResource[];
  readonly #groups: Map<string, string[]>;
  readonly #watches = new Set<WatchStream>();
  readonly #log: LoggedRequest[] = [];
  #server: Server | undefined;
  #port = 0;
  /**
   * Fault injection: called with each request (already in requestLog) before it is handled; may be async.
   * A test uses it to act between two requests of a client, e.g. to compact between two list pages.
   */
  onRequest: ((req: LoggedRequest) => void | Promise<void>) | undefined;

  private constructor(opts: TestApiServerOptions) {
    this.#opts = opts;
    this.#storage = new MemoryStorage({ historyLimit: opts.historyLimit ?? 10_000 });
    this.#resources = buildResources(opts.kinds ?? KINDS, opts);
    this.#groups = groupVersions(this.#resources);
  }

  static async start(opts: TestApiServerOptions = {}): Promise<TestApiServer> {
    const s = new TestApiServer(opts);
    await s.#listen(opts.port ?? 0);
    return s;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  get port(): number {
    return this.#port;
  }

  /** The current global resourceVersion. */
  get resourceVersion(): string {
    return String(this.#storage.currentRv);
  }

  /** Every request received since start (or clearRequestLog), in arrival order. */
  get requestLog(): readonly LoggedRequest[] {
    return this.#log;
  }

  clearRequestLog(): void {
    this.#log.length = 0;
  }

  /** Open watch streams. */
  get watchCount(): number {
    return this.#watches.size;
  }

  /** Stop listening and end every connection and watch. The data is dropped with the object. */
  async stop(): Promise<void> {
    await this.#closeListener();
  }

  /**
   * Simulate an API server restart: close the listener, every watch stream and every connection, then listen
   * again on the same port with the same data. By default history survives (as it does in etcd, which
   * serves watches from a revision after a restart); `dropHistory` also compacts, which is what a restarted
   * apiserver's fresh watch cache looks like to a client that resumes from an older resourceVersion.
   */
  async restart(opts: { dropHistory?: boolean } = {}): Promise<void> {
    await this.#closeListener();
    if (opts.dropHistory) this.#storage.compact();
    await this.#listen(this.#port);
  }

  /** Drop all watch history: a watch or Exact list from any older resourceVersion gets 410 Expired. */
  async compact(): Promise<void> {
    this.#storage.compact();
  }

  /** End every open watch stream cleanly (as a load balancer's idle timeout or a watch timeout would). */
  dropWatches(): void {
    for (const w of [...this.#watches]) w.end();
  }

  /** Send a BOOKMARK at the current resourceVersion to every watch that allowed bookmarks. */
  sendBookmarks(): void {
    for (const w of this.#watches) w.bookmark(this.#storage.currentRv);
  }

  /**
   * Write a kubeconfig for this server (plain http, so `insecure-skip-tls-verify: true`, which
   * @kubernetes/client-node requires for http). Uses the server's token, if any. Returns its path.
   */
  async writeKubeconfig(dir: string, opts: { token?: string; namespace?: string } = {}): Promise<string> {
    const token = opts.token ?? this.#opts.token;
    const doc = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'caracal-test', cluster: { server: this.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'caracal-test', user: token ? { token } : {} }],
      contexts: [
        {
          name: 'caracal-test',
          context: { cluster: 'caracal-test', user: 'caracal-test', namespace: opts.namespace ?? 'default' },
        },
      ],
      'current-context': 'caracal-test',
    };
    const path = join(dir, 'kubeconfig');
    await writeFile(path, toYaml(doc), { mode: 0o600 });
    return path;
  }

  /**
   * Store an object as-is, bypassing validation and every server-side field except resourceVersion (to plant
   * an invalid object). Creates or replaces; watches see ADDED or MODIFIED. Returns the new resourceVersion.
   */
  async putRaw(kind: KindInfo | string, value: Record<string, unknown>): Promise<string> {
    const r = this.#resourceFor(kind);
    const meta = metaOf(value);
    if (typeof meta.name !== 'string' || meta.name === '') throw new Error('Cannot putRaw: metadata.name is required');
    const ns = r.namespaced ? String(meta.namespace ?? 'default') : undefined;
    const obj = structuredClone(value);
    if (ns !== undefined) (obj.metadata as Obj).namespace = ns;
    return String(this.#storage.commit(r.info.key, objectKey(ns, meta.name), obj).rv);
  }

  /** The stored object, for assertions (a copy). */
  peek(kind: KindInfo | string, name: string, namespace?: string): Obj | undefined {
    const r = this.#resourceFor(kind);
    const o = this.#storage.get(r.info.key, objectKey(r.namespaced ? namespace : undefined, name));
    return o && structuredClone(o);
  }

  #resourceFor(kind: KindInfo | string): ApiResource {
    const key = typeof kind === 'string' ? kind : kind.key;
    const r = this.#resources.find((x) => x.info.key === key);
    if (!r) throw new Error(`Unknown kind "${key}"`);
    return r;
  }

  // ---------------------------------------------------------------------------------------------------
  // Lifecycle

  async #listen(port: number): Promise<void> {
    const server = createServer((req, res) => {
      this.#handle(req, res).catch((e: unknown) => {
        if (!res.headersSent) this.#send(res, undefined, 500, Errors.internal(String(e)).status);
        else res.destroy();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#server = server;
    this.#port = (server.address() as AddressInfo).port;
  }

  async #closeListener(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const w of [...this.#watches]) w.end();
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  // ---------------------------------------------------------------------------------------------------
  // HTTP

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) query[k] ??= v;
    const segs = url.pathname
      .split('/')
      .filter((s) => s !== '')
      .map((s) => decodeURIComponent(s));
    const watchPath = (segs[0] === 'api' && segs[2] === 'watch') || (segs[0] === 'apis' && segs[3] === 'watch');
    const entry: LoggedRequest = {
      method,
      path: url.pathname,
      query,
      watch: method === 'GET' && (TRUE_VALUES.has(query.watch ?? '') || watchPath),
      status: 0,
    };
    this.#log.push(entry);
    try {
      await this.onRequest?.(entry);
      if (this.#opts.token !== undefined && req.headers.authorization !== `Bearer ${this.#opts.token}`) {
        throw Errors.unauthorized();
      }
      const body = method === 'GET' || method === 'HEAD' ? '' : await readBody(req);
      if (query.dryRun !== undefined && method !== 'GET') {
        throw Errors.badRequest('dryRun is not supported by the Caracal test API server');
      }
      const discovery = this.#discovery(segs);
      if (discovery !== undefined) {
        if (method !== 'GET') throw Errors.methodNotAllowed();
        return this.#send(res, entry, 200, discovery);
      }
      const route = this.#route(segs);
      if (entry.watch) return this.#watch(res, entry, route, query);
      const [code, out] = this.#dispatch(method, route, query, body, req.headers['content-type'] ?? '');
      this.#send(res, entry, code, out);
    } catch (e) {
      if (e instanceof ApiError) return this.#send(res, entry, e.code, e.status);
      throw e;
    }
  }

  #send(res: ServerResponse, entry: LoggedRequest | undefined, code: number, body: unknown): void {
    if (entry) entry.status = code;
    const text = JSON.stringify(body);
    res.writeHead(code, {
      'Content-Type': 'application/json',
      'Cache-Control': 'no-cache, private',
      'Content-Length': Buffer.byteLength(text),
    });
    res.end(text);
  }

  #discovery(segs: string[]): Obj | undefined {
    const [root, a, b, ...rest] = segs;
    if (root === 'version' && a === undefined) {
      return { major: '1', minor: '31', gitVersion: 'v1.31.0-caracal-test-double', platform: 'linux/amd64' };
    }
    if (root === 'api' && a === undefined) {
      return {
        kind: 'APIVersions',
        versions: ['v1'],
        serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `127.0.0.1:${this.#port}` }],
      };
    }
    if (root === 'api' && a === 'v1' && b === undefined) {
      return apiResourceList(
        'v1',
        this.#resources.filter((r) => r.group === ''),
      );
    }
    if (root !== 'apis') return undefined;
    if (a === undefined) {
      return { kind: 'APIGroupList', apiVersion: 'v1', groups: [...this.#groups].map(([g, vs]) => apiGroup(g, vs)) };
    }
    const versions = this.#groups.get(a);
    if (versions && b === undefined) return apiGroup(a, versions);
    if (versions && b !== undefined && versions.includes(b) && rest.length === 0) {
      return apiResourceList(
        `${a}/${b}`,
        this.#resources.filter((r) => r.group === a && r.version === b),
      );
    }
    return undefined;
  }

  #route(segs: string[]): Route {
    let group: string;
    let version: string;
    let rest: string[];
    if (segs[0] === 'api' && segs[1] === 'v1') {
      group = '';
      version = 'v1';
      rest = segs.slice(2);
    } else if (segs[0] === 'apis' && segs.length >= 3) {
      group = segs[1]!;
      version = segs[2]!;
      rest = segs.slice(3);
    } else throw Errors.routeNotFound();
    if (rest[0] === 'watch') rest = rest.slice(1); // the deprecated /watch/ path prefix
    const find = (plural: string | undefined) =>
      this.#resources.find((r) => r.group === group && r.version === version && r.plural === plural);
    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3 && find(rest[2])?.namespaced) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const r = find(rest[0]);
    if (!r || rest.length > 3) throw Errors.routeNotFound();
    const name = rest[1];
    const sub = rest[2];
    if (namespace !== undefined && !r.namespaced) throw Errors.routeNotFound();
    if (name !== undefined && r.namespaced && namespace === undefined) throw Errors.routeNotFound();
    if (sub !== undefined && (sub !== 'status' || !r.statusSubresource)) throw Errors.routeNotFound();
    return { r, namespace, name, status: sub === 'status' };
  }

  #dispatch(
    method: string,
    route: Route,
    q: Record<string, string>,
    body: string,
    contentType: string,
  ): [number, unknown] {
    const { r, namespace, name, status } = route;
    if (name === undefined) {
      if (method === 'GET') return [200, this.#list(r, namespace, q)];
      if (r.namespaced && namespace === undefined) throw Errors.methodNotAllowed();
      if (method === 'POST') return this.#create(r, namespace, parseJson(body));
      if (method === 'DELETE') return [200, this.#deleteCollection(r, namespace, q)];
      throw Errors.methodNotAllowed();
    }
    switch (method) {
      case 'GET':
        return [200, this.#get(r, namespace, name, q)];
      case 'PUT':
        return this.#update(r, namespace, name, parseJson(body), status);
      case 'PATCH':
        return this.#patch(r, namespace, name, body, contentType, status);
      case 'DELETE':
        if (status) throw Errors.methodNotAllowed();
        return this.#delete(r, namespace, name, body === '' ? {} : parseJson(body));
      default:
        throw Errors.methodNotAllowed();
    }
  }

  // ---------------------------------------------------------------------------------------------------
  // Verbs

  #get(r: ApiResource, ns: string | undefined, name: string, q: Record<string, string>): Obj {
    this.#checkNotFromFuture(q.resourceVersion);
    const o = this.#storage.get(r.info.key, objectKey(ns, name));
    if (!o) throw Errors.notFound(r, name);
    return o;
  }

  #checkNotFromFuture(rv: string | undefined): void {
    if (rv === undefined || rv === '' || rv === '0') return;
    const want = parseResourceVersion(rv);
    if (want > this.#storage.currentRv) throw Errors.tooLargeResourceVersion(want, this.#storage.currentRv);
  }

  #list(r: ApiResource, ns: string | undefined, q: Record<string, string>): Obj {
    const rv = q.resourceVersion ?? '';
    const match = q.resourceVersionMatch ?? '';
    const cont = q.continue ?? '';
    if (match !== '' && match !== 'Exact' && match !== 'NotOlderThan') {
      throw Errors.invalidOptions('ListOptions', [
        { reason: 'FieldValueNotSupported', field: 'resourceVersionMatch', message: `Unsupported value: "${match}"` },
      ]);
    }
    if (match !== '' && rv === '') {
      throw Errors.invalidOptions('ListOptions', [
        {
          reason: 'FieldValueForbidden',
          field: 'resourceVersionMatch',
          message: 'Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided',
        },
      ]);
    }
    if (match === 'Exact' && rv === '0') {
      throw Errors.invalidOptions('ListOptions', [
        {
          reason: 'FieldValueForbidden',
          field: 'resourceVersionMatch',
          message: 'Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
        },
      ]);
    }
    if (cont !== '' && rv !== '' && rv !== '0') {
      throw Errors.badRequest('specifying resource version is not allowed when using continue');
    }
    const limit = /^[0-9]+$/.test(q.limit ?? '') ? Number(q.limit) : 0;
    const selected = and(labelPredicate(q.labelSelector), fieldPredicate(q.fieldSelector, r));
    const filtered = Boolean(q.labelSelector) || Boolean(q.fieldSelector);

    // Which snapshot: the continue token's, an exact past one, or the latest (rv "", "0", NotOlderThan).
    const current = this.#storage.currentRv;
    let snapshotRv = current;
    let start = '';
    if (cont !== '') {
      const token = decodeContinue(cont);
      start = token.start;
      if (token.rv > 0) {
        if (token.rv < this.#storage.oldestRv) {
          throw this.#expiredContinue(token.start);
        }
        snapshotRv = token.rv;
      }
    } else if (rv !== '' && rv !== '0') {
      const want = parseResourceVersion(rv);
      if (want > current) throw Errors.tooLargeResourceVersion(want, current);
      if (match === 'Exact') {
        if (want < this.#storage.oldestRv)
          throw Errors.expired('The resourceVersion for the provided list is too old.');
        snapshotRv = want;
      }
    }
    const all =
      snapshotRv === current ? this.#storage.entries(r.info.key) : this.#storage.entriesAt(r.info.key, snapshotRv);
    const prefix = ns !== undefined ? `${ns}/` : '';
    const items: Obj[] = [];
    let lastRel = '';
    let remaining = 0;
    for (const [key, obj] of all) {
      if (!key.startsWith(prefix)) continue;
      const rel = key.slice(prefix.length);
      if (start !== '' && rel < start) continue;
      if (!selected(obj)) continue;
      if (limit > 0 && items.length >= limit) {
        remaining++;
        continue;
      }
      items.push(obj);
      lastRel = rel;
    }
    // The next page starts just after the last key returned (apiserver appends "\x00" to it).
    const nextKey = remaining > 0 ? `${lastRel}\u0000` : undefined;
    const metadata: Obj = { resourceVersion: String(snapshotRv) };
    if (nextKey !== undefined) {
      metadata.continue = encodeContinue(snapshotRv, nextKey);
      if (!filtered) metadata.remainingItemCount = remaining;
    }
    // Lists of built-in types carry no apiVersion/kind on their items (typed Go lists); CRD lists do.
    const out = r.native ? items.map(({ apiVersion: _a, kind: _k, ...rest }) => rest) : items;
    return { kind: r.listKind, apiVersion: r.apiVersion, metadata, items: out };
  }

  #expiredContinue(start: string): ApiError {
    const e = Errors.expired(
      'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
    );
    // The inconsistent-continue token (rv -1) that apiserver hands back with this error.
    (e.status as Status & { metadata: Obj }).metadata = { continue: encodeContinue(-1, start) };
    return e;
  }

  #create(r: ApiResource, ns: string | undefined, body: unknown): [number, Obj] {
    const obj = this.#decodeObject(r, body);
    const meta = obj.metadata as Obj;
    this.#ensureNamespace(r, ns, meta);
    if (
      (meta.name === undefined || meta.name === '') &&
      typeof meta.generateName === 'string' &&
      meta.generateName !== ''
    ) {
      meta.name = `${meta.generateName}${nameSuffix()}`;
    }
    if (typeof meta.name !== 'string' || meta.name === '') {
      throw Errors.invalid(r, '', [
        {
          reason: 'FieldValueRequired',
          field: 'metadata.name',
          message: 'Required value: name or generateName is required',
        },
      ]);
    }
    const name = meta.name;
    // rest.BeforeCreate: system fields are the server's, status is reset by the registry's strategy.
    meta.uid = randomUUID();
    meta.creationTimestamp = rfc3339(Date.now());
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    if (r.tracksGeneration) meta.generation = 1;
    else delete meta.generation;
    r.prepareForCreate(obj);
    this.#validate(r, obj, name);
    // The etcd3 store rejects a create carrying a resourceVersion with a plain error, which apiserver
    // reports as a 500 with reason Unknown.
    if (meta.resourceVersion !== undefined && meta.resourceVersion !== '') {
      throw Errors.internal('resourceVersion should not be set on objects to be created');
    }
    const key = objectKey(ns, name);
    if (this.#storage.get(r.info.key, key)) throw Errors.alreadyExists(r, name);
    return [201, this.#storage.commit(r.info.key, key, obj).object];
  }

  #update(r: ApiResource, ns: string | undefined, name: string, body: unknown, statusOnly: boolean): [number, Obj] {
    const obj = this.#decodeObject(r, body);
    const meta = obj.metadata as Obj;
    if (meta.name !== name) {
      throw Errors.badRequest(
        `the name of the object (${String(meta.name ?? '')}) does not match the name on the URL (${name})`,
      );
    }
    this.#ensureNamespace(r, ns, meta);
    const key = objectKey(ns, name);
    const existing = this.#storage.get(r.info.key, key);
    if (!existing) throw Errors.notFound(r, name);
    const old = metaOf(existing);
    const rv = meta.resourceVersion;
    if (rv === undefined || rv === '') {
      if (!r.unconditionalUpdate) {
        throw Errors.invalid(r, name, [
          {
            reason: 'FieldValueInvalid',
            field: 'metadata.resourceVersion',
            message: 'Invalid value: 0x0: must be specified for an update',
          },
        ]);
      }
    } else if (rv !== old.resourceVersion) {
      throw Errors.conflict(
        r,
        name,
        'the object has been modified; please apply your changes to the latest version and try again',
      );
    }
    if (meta.uid !== undefined && meta.uid !== '' && meta.uid !== old.uid) {
      throw Errors.conflict(
        r,
        name,
        `Precondition failed: UID in precondition: ${String(meta.uid)}, UID in object meta: ${String(old.uid)}`,
      );
    }

    let next: Obj;
    if (statusOnly) {
      next = structuredClone(existing);
      if ('status' in obj) next.status = obj.status;
      else delete next.status;
    } else {
      next = obj;
      if (r.statusSubresource) {
        if ('status' in existing) next.status = structuredClone(existing.status);
        else delete next.status;
      }
    }
    const nm = next.metadata as Obj;
    for (const f of [
      'uid',
      'creationTimestamp',
      'deletionTimestamp',
      'deletionGracePeriodSeconds',
      'resourceVersion',
    ]) {
      if (old[f] === undefined) delete nm[f];
      else nm[f] = old[f];
    }
    if (r.tracksGeneration) {
      nm.generation = old.generation;
      if (!statusOnly && specChanged(existing, next, r.statusSubresource))
        nm.generation = Number(old.generation ?? 0) + 1;
    } else delete nm.generation;
    this.#validate(r, next, name);
    // etcd3 GuaranteedUpdate: an update that changes nothing is not written and keeps its resourceVersion.
    if (isDeepStrictEqual(next, existing)) return [200, existing];
    // A terminating object whose last finalizer is removed is deleted by this update (Store.Update).
    if (nm.deletionTimestamp !== undefined && !(Array.isArray(nm.finalizers) && nm.finalizers.length > 0)) {
      const ev = this.#storage.commit(r.info.key, key, undefined);
      return [200, { ...next, metadata: { ...nm, resourceVersion: String(ev.rv) } }];
    }
    return [200, this.#storage.commit(r.info.key, key, next).object];
  }

  #patch(
    r: ApiResource,
    ns: string | undefined,
    name: string,
    body: string,
    contentType: string,
    statusOnly: boolean,
  ): [number, Obj] {
    const type = contentType.split(';')[0]!.trim().toLowerCase();
    const existing = this.#storage.get(r.info.key, objectKey(ns, name));
    if (!existing) throw Errors.notFound(r, name);
    let patched: unknown;
    if (type === 'application/merge-patch+json' || (type === 'application/strategic-merge-patch+json' && r.native)) {
      patched = mergePatch(existing, parseJson(body));
    } else if (type === 'application/json-patch+json') {
      patched = jsonPatch(existing, parseJson(body));
    } else throw Errors.unsupportedMediaType(type);
    if (!isObject(patched)) throw Errors.badRequest('the patch did not produce an object');
    // A resourceVersion in the patch is a precondition (compared with the stored one by #update).
    return this.#update(r, ns, name, patched, statusOnly);
  }

  #delete(r: ApiResource, ns: string | undefined, name: string, options: unknown): [number, Obj] {
    const key = objectKey(ns, name);
    const existing = this.#storage.get(r.info.key, key);
    if (!existing) throw Errors.notFound(r, name);
    const old = metaOf(existing);
    const pre = isObject(options) && isObject(options.preconditions) ? options.preconditions : {};
    if (pre.uid !== undefined && pre.uid !== null && pre.uid !== old.uid) {
      throw Errors.conflict(
        r,
        name,
        `Precondition failed: UID in precondition: ${String(pre.uid)}, UID in object meta: ${String(old.uid)}`,
      );
    }
    if (
      pre.resourceVersion !== undefined &&
      pre.resourceVersion !== null &&
      pre.resourceVersion !== old.resourceVersion
    ) {
      throw Errors.conflict(
        r,
        name,
        `Precondition failed: ResourceVersion in precondition: ${String(pre.resourceVersion)}, ResourceVersion in object meta: ${String(old.resourceVersion)}`,
      );
    }
    // Finalizers: the object stays, marked for deletion, until an update removes the last one.
    if (Array.isArray(old.finalizers) && old.finalizers.length > 0) {
      if (old.deletionTimestamp !== undefined) return [200, existing];
      const marked = structuredClone(existing);
      Object.assign(marked.metadata as Obj, { deletionTimestamp: rfc3339(Date.now()), deletionGracePeriodSeconds: 0 });
      return [200, this.#storage.commit(r.info.key, key, marked).object];
    }
    this.#storage.commit(r.info.key, key, undefined);
    // The etcd3 store returns the last state with its own (pre-delete) resourceVersion.
    return [
      200,
      r.returnsDeletedObject ? existing : (success(r, name, old.uid as string | undefined) as unknown as Obj),
    ];
  }

  #deleteCollection(r: ApiResource, ns: string | undefined, q: Record<string, string>): Obj {
    const selected = and(labelPredicate(q.labelSelector), fieldPredicate(q.fieldSelector, r));
    const prefix = ns !== undefined ? `${ns}/` : '';
    const deleted: Obj[] = [];
    for (const [key, obj] of this.#storage.entries(r.info.key)) {
      if (!key.startsWith(prefix) || !selected(obj)) continue;
      const m = metaOf(obj);
      deleted.push(this.#delete(r, m.namespace as string | undefined, String(m.name), {})[1]);
    }
    return {
      kind: r.listKind,
      apiVersion: r.apiVersion,
      metadata: { resourceVersion: this.resourceVersion },
      items: deleted,
    };
  }

  /** Body → object of this resource: apiVersion/kind must match the endpoint when given (filled in when not). */
  #decodeObject(r: ApiResource, body: unknown): Obj {
    if (!isObject(body)) throw Errors.badRequest('the body of the request must be a JSON object');
    const obj = structuredClone(body);
    if (obj.apiVersion !== undefined && obj.apiVersion !== r.apiVersion) {
      throw Errors.badRequest(
        `the API version in the data (${String(obj.apiVersion)}) does not match the expected API version (${r.apiVersion})`,
      );
    }
    if (obj.kind !== undefined && obj.kind !== r.kind) {
      throw Errors.badRequest(`${r.qualified} in version "${r.version}" cannot be handled as a ${String(obj.kind)}`);
    }
    if (obj.metadata !== undefined && !isObject(obj.metadata)) throw Errors.badRequest('metadata must be an object');
    return { apiVersion: r.apiVersion, kind: r.kind, ...obj, metadata: { ...(obj.metadata ?? {}) } };
  }

  /** rest.EnsureObjectNamespaceMatchesRequestNamespace. */
  #ensureNamespace(r: ApiResource, ns: string | undefined, meta: Obj): void {
    if (!r.namespaced) {
      delete meta.namespace; // cluster-scoped: a namespace in the body is cleared
      return;
    }
    if (meta.namespace === undefined || meta.namespace === '') meta.namespace = ns;
    else if (meta.namespace !== ns) {
      throw Errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
  }

  #validate(r: ApiResource, obj: Obj, name: string): void {
    const meta = obj.metadata as Obj;
    if (typeof meta.name === 'string' && !r.nameRegex.test(meta.name)) {
      const rule = r.plural === 'namespaces' ? 'RFC 1123 label' : 'RFC 1123 subdomain';
      throw Errors.invalid(r, name, [
        {
          reason: 'FieldValueInvalid',
          field: 'metadata.name',
          message: `Invalid value: "${meta.name}": a lowercase ${rule} must consist of lower case alphanumeric characters, '-' or '.'`,
        },
      ]);
    }
    if (r.native || this.#opts.validate === false) return;
    const result = r.info.schema.safeParse(obj);
    if (!result.success) {
      throw Errors.invalid(
        r,
        name,
        result.error.issues.map((i) => ({
          reason: 'FieldValueInvalid',
          field: i.path.map(String).join('.'),
          message: i.message,
        })),
      );
    }
  }

  // ---------------------------------------------------------------------------------------------------
  // Watch

  #watch(res: ServerResponse, entry: LoggedRequest, route: Route, q: Record<string, string>): void {
    const { r, namespace, name } = route;
    const bookmarks = TRUE_VALUES.has(q.allowWatchBookmarks ?? '');
    const sendInitial = q.sendInitialEvents === undefined ? undefined : TRUE_VALUES.has(q.sendInitialEvents);
    const match = q.resourceVersionMatch ?? '';
    if (sendInitial === undefined && match !== '') {
      throw Errors.invalidOptions('ListOptions', [
        {
          reason: 'FieldValueForbidden',
          field: 'resourceVersionMatch',
          message: 'Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided',
        },
      ]);
    }
    if (sendInitial === true && (match !== 'NotOlderThan' || !bookmarks)) {
      throw Errors.invalidOptions('ListOptions', [
        {
          reason: 'FieldValueForbidden',
          field: 'sendInitialEvents',
          message:
            'Forbidden: sendInitialEvents requires resourceVersionMatch=NotOlderThan and allowWatchBookmarks=true',
        },
      ]);
    }
    const selected = and(
      namespace === undefined ? undefined : (o) => metaOf(o).namespace === namespace,
      name === undefined ? undefined : (o) => metaOf(o).name === name,
      labelPredicate(q.labelSelector),
      fieldPredicate(q.fieldSelector, r),
    );
    const rv = q.resourceVersion ?? '';
    // "" or "0": start with the current state as synthetic ADDED events. Otherwise events strictly after rv.
    const from = sendInitial === true || rv === '' || rv === '0' ? undefined : parseResourceVersion(rv);
    const timeoutSec = /^[0-9]+$/.test(q.timeoutSeconds ?? '') ? Number(q.timeoutSeconds) : 0;

    entry.status = 200;
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Cache-Control': 'no-cache, private',
      'Transfer-Encoding': 'chunked',
    });
    res.flushHeaders();
    const stream = new WatchStream(res, r, bookmarks, selected);
    if (from !== undefined && from < this.#storage.oldestRv) {
      // Cacher.Watch: once the request is accepted, a too-old resourceVersion is reported in-stream.
      stream.send(
        'ERROR',
        Errors.expired(`too old resource version: ${from} (${this.#storage.oldestRv})`).status as unknown as Obj,
      );
      stream.end();
      return;
    }
    if (from !== undefined && from > this.#storage.currentRv) {
      // Cacher.Watch waits (3 s) for its cache to reach a future resourceVersion, then reports "Too large
      // resource version" in-stream; never the events at or before it, which the client says it has seen.
      stream.send('ERROR', Errors.tooLargeResourceVersion(from, this.#storage.currentRv).status as unknown as Obj);
      stream.end();
      return;
    }
    this.#watches.add(stream);
    if (from === undefined) {
      for (const [, obj] of this.#storage.entries(r.info.key)) if (selected(obj)) stream.send('ADDED', obj);
      stream.lastRv = this.#storage.currentRv;
      if (sendInitial === true) stream.bookmark(this.#storage.currentRv, { [INITIAL_EVENTS_END]: 'true' }, true);
    } else {
      stream.lastRv = from;
      for (const e of this.#storage.eventsAfter(r.info.key, from)) stream.deliver(e);
    }
    const unsubscribe = this.#storage.subscribe((e) => {
      if (e.resource === r.info.key) stream.deliver(e);
    });
    const timers: NodeJS.Timeout[] = [];
    if (bookmarks) {
      timers.push(setInterval(() => stream.bookmark(this.#storage.currentRv), this.#opts.bookmarkIntervalMs ?? 60_000));
    }
    if (timeoutSec > 0) timers.push(setTimeout(() => stream.end(), timeoutSec * 1000));
    for (const t of timers) t.unref();
    const cleanup = () => {
      unsubscribe();
      for (const t of timers) clearTimeout(t);
      this.#watches.delete(stream);
    };
    stream.onEnd = cleanup;
    res.once('close', () => stream.end()); // the client went away (or we ended the response)
  }
}

interface Route {
  r: ApiResource;
  namespace: string | undefined;
  name: string | undefined;
  status: boolean;
}

/** One open watch response: newline-delimited JSON `{type, object}` on a chunked body. */
class WatchStream {
  readonly #res: ServerResponse;
  readonly #r: ApiResource;
  readonly #bookmarks: boolean;
  readonly #selected: Predicate;
  #ended = false;
  /** The newest resourceVersion this client has been told about. */
  lastRv = 0;
  onEnd: () => void = () => {};

  constructor(res: ServerResponse, r: ApiResource, bookmarks: boolean, selected: Predicate) {
    this.#res = res;
    this.#r = r;
    this.#bookmarks = bookmarks;
    this.#selected = selected;
  }

  send(type: string, object: Obj): void {
    if (this.#ended) return;
    this.#res.write(`${JSON.stringify({ type, object })}\n`);
  }

  /**
   * A stored change as this watcher sees it through its selectors (Cacher's convertToWatchEvent): an object
   * that starts matching arrives as ADDED, one that stops matching as DELETED carrying its previous state at
   * the event's resourceVersion.
   */
  deliver(e: StoredEvent): void {
    const now = e.type !== 'DELETED' && this.#selected(e.object);
    const before = e.prev !== undefined && this.#selected(e.prev);
    if (e.type === 'DELETED') {
      if (before) this.send('DELETED', e.object);
    } else if (now && before) this.send('MODIFIED', e.object);
    else if (now) this.send('ADDED', e.object);
    else if (before && e.prev) {
      this.send('DELETED', { ...e.prev, metadata: { ...metaOf(e.prev), resourceVersion: String(e.rv) } });
    } else return;
    this.lastRv = e.rv;
  }

  /** BOOKMARK: an object of the watched kind carrying only metadata.resourceVersion (plus annotations). */
  bookmark(rv: number, annotations?: Record<string, string>, force = false): void {
    if (!this.#bookmarks || (!force && rv <= this.lastRv)) return;
    const metadata: Obj = { resourceVersion: String(rv) };
    if (annotations) metadata.annotations = annotations;
    this.send('BOOKMARK', { kind: this.#r.kind, apiVersion: this.#r.apiVersion, metadata });
    this.lastRv = rv;
  }

  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.onEnd();
    this.#res.end();
  }
}

function specChanged(a: Obj, b: Obj, statusSubresource: boolean): boolean {
  const strip = ({ metadata: _m, status, ...rest }: Obj) => (statusSubresource ? rest : { ...rest, status });
  return !isDeepStrictEqual(strip(a), strip(b));
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw Errors.badRequest(`the body of the request could not be decoded as JSON: ${(e as Error).message}`);
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw Errors.tooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
