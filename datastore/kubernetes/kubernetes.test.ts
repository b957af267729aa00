/**
 * The kubernetes driver, end to end over HTTP.
 *
 * No Kubernetes API server can be installed on these machines, so this runs against the project's test
 * double, test/k8s-api-server, which speaks the real HTTP protocol (discovery, list with resourceVersion and
 * continue tokens, chunked watch streams with BOOKMARK and 410 Expired, Status errors). The driver under test
 * is the production one, on @kubernetes/client-node, loading a real kubeconfig file.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { type ErrorCode, ErrorCodes, isCaracalError } from '../../common/errors.js';
import type { KindInfo } from '../../model/kind.js';
import { KINDS } from '../../model/kinds.js';
import { TestApiServer, type TestApiServerOptions } from '../../test/k8s-api-server/server.js';
import { runDatastoreContract } from '../contract.js';
import { sampleIPPool, sampleWorkloadEndpoint } from '../contract-fixtures.js';
import { createDatastore } from '../store.js';
import type { Backend, Datastore, RawEvent, Revision, WatchEvent } from '../types.js';
import { createKubernetesBackend, type KubernetesBackendOptions } from './backend.js';

type Json = Record<string, unknown>;

// The shared datastore contract, through the store layer, against a fresh test API server per test.
runDatastoreContract('kubernetes', async () => {
  const server = await TestApiServer.start({ bookmarkIntervalMs: 200 });
  const dir = await mkdtemp(join(tmpdir(), 'caracal-k8s-'));
  const kubeconfigPath = await server.writeKubeconfig(dir);
  const store = createDatastore(createKubernetesBackend({ kubeconfigPath }), {
    watch: { backoffBaseMs: 20, backoffMaxMs: 500 },
  });
  return {
    store,
    restart: () => server.restart(),
    compact: () => server.compact(),
    putRaw: (kind, value) => server.putRaw(kind, value),
    teardown: async () => {
      await store.close();
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

interface Setup {
  server: TestApiServer;
  backend: Backend;
  kubeconfigPath: string;
}

async function setup(
  t: TestContext,
  serverOpts: TestApiServerOptions = {},
  backendOpts: KubernetesBackendOptions = {},
): Promise<Setup> {
  const server = await TestApiServer.start({ bookmarkIntervalMs: 100, ...serverOpts });
  const dir = await mkdtemp(join(tmpdir(), 'caracal-k8s-'));
  const kubeconfigPath = await server.writeKubeconfig(dir);
  const backend = createKubernetesBackend({ kubeconfigPath, ...backendOpts });
  t.after(async () => {
    await backend.close();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });
  return { server, backend, kubeconfigPath };
}

const pool = (name: string, i = 0, labels?: Record<string, string>) =>
  sampleIPPool(name, { cidr: `10.${i}.0.0/16`, ...(labels ? { labels } : {}) }) as unknown as Json;
const meta = (v: Json) => v.metadata as Json;

async function rejectsWith(p: Promise<unknown>, code: ErrorCode): Promise<Error> {
  try {
    await p;
  } catch (e) {
    assert.ok(isCaracalError(e, code), `expected ${code}, got ${String(e)}`);
    return e as Error;
  }
  assert.fail(`expected ${code}, but it succeeded`);
}

/** Collects a backend watch's callbacks. */
function rawWatch(
  backend: Backend,
  kind: KindInfo,
  fromRevision: Revision,
  opts: { namespace?: string; labelSelector?: string } = {},
) {
  const events: RawEvent[] = [];
  let end: { gone: boolean; error?: unknown } | undefined;
  const handle = backend.watch(
    kind,
    { ...opts, fromRevision },
    { onEvent: (e) => events.push(e), onEnd: (r) => (end = r) },
  );
  return {
    events,
    get end() {
      return end;
    },
    handle,
    async until(pred: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (!pred()) {
        if (Date.now() > deadline)
          throw new Error(
            `timed out waiting for ${what}: events ${JSON.stringify(events)}, end ${JSON.stringify(end)}`,
          );
        await new Promise((r) => setTimeout(r, 10));
      }
    },
  };
}

/** Reads a Datastore watch until `pred` holds for the events so far. */
async function collect<T>(
  w: AsyncIterable<WatchEvent<T>>,
  pred: (evs: WatchEvent<T>[]) => boolean,
  timeoutMs = 5000,
): Promise<WatchEvent<T>[]> {
  const out: WatchEvent<T>[] = [];
  const it = w[Symbol.asyncIterator]();
  const deadline = Date.now() + timeoutMs;
  while (!pred(out)) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out; events so far: ${JSON.stringify(out.map((e) => e.type))}`);
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([
      it.next(),
      new Promise<'timeout'>((res) => {
        timer = setTimeout(() => res('timeout'), left);
      }),
    ]);
    clearTimeout(timer);
    if (r === 'timeout') continue;
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

const names = (evs: WatchEvent<unknown>[]) =>
  evs.map((e) =>
    e.type === 'added' || e.type === 'modified' || e.type === 'deleted'
      ? `${e.type}:${(e.object as Json & { metadata: Json }).metadata.name}`
      : e.type,
  );

describe('kubernetes backend: get/create/update/delete', () => {
  it('create() returns the stored object with its resourceVersion as revision; a taken name is ALREADY_EXISTS', async (t) => {
    const { backend, server } = await setup(t);
    const created = await backend.create(KINDS.IPPool, pool('p1'));
    assert.equal(created.revision, server.resourceVersion);
    assert.equal(meta(created.value).resourceVersion, created.revision);
    assert.match(String(meta(created.value).uid), /^[0-9a-f-]{36}$/);
    assert.equal(created.value.kind, 'IPPool');
    await rejectsWith(backend.create(KINDS.IPPool, pool('p1')), ErrorCodes.AlreadyExists);
    const got = await backend.get(KINDS.IPPool, 'p1');
    assert.deepEqual(got, created);
    assert.equal(await backend.get(KINDS.IPPool, 'nope'), undefined);
  });

  it('create() strips a resourceVersion the caller left in (the API server refuses one on create)', async (t) => {
    const { backend } = await setup(t);
    const v = pool('p1');
    const created = await backend.create(KINDS.IPPool, { ...v, metadata: { ...meta(v), resourceVersion: '42' } });
    assert.notEqual(created.revision, '42');
  });

  it('update() is a compare-and-swap on resourceVersion: stale is CONFLICT, missing is NOT_FOUND', async (t) => {
    const { backend, server } = await setup(t);
    const v1 = await backend.create(KINDS.IPPool, pool('p1'));
    const spec = { ...(v1.value.spec as Json), natOutgoing: true };
    const v2 = await backend.update(KINDS.IPPool, { ...v1.value, spec }, v1.revision);
    assert.ok(BigInt(v2.revision) > BigInt(v1.revision));
    assert.equal((v2.value.spec as Json).natOutgoing, true);
    const e = await rejectsWith(
      backend.update(KINDS.IPPool, { ...v1.value, spec: { ...spec, disabled: true } }, v1.revision),
      ErrorCodes.Conflict,
    );
    assert.match(e.message, /Cannot update IPPool "p1": .*the object has been modified.*HTTP 409 Conflict/);
    assert.equal((server.peek('IPPool', 'p1')!.spec as Json).disabled, false);
    await rejectsWith(backend.update(KINDS.IPPool, pool('p2'), '5'), ErrorCodes.NotFound);
    const put = server.requestLog.filter((r) => r.method === 'PUT');
    assert.deepEqual(
      put.map((r) => [r.path, r.status]),
      [
        ['/apis/crd.caracal.dev/v1/ippools/p1', 200],
        ['/apis/crd.caracal.dev/v1/ippools/p1', 409],
        ['/apis/crd.caracal.dev/v1/ippools/p2', 404],
      ],
    );
  });

  it('delete() sends the expected revision as a precondition and returns the last state', async (t) => {
    const { backend } = await setup(t);
    const v1 = await backend.create(KINDS.IPPool, pool('p1'));
    await rejectsWith(backend.delete(KINDS.IPPool, 'p1', undefined, '1'), ErrorCodes.Conflict);
    const gone = await backend.delete(KINDS.IPPool, 'p1', undefined, v1.revision);
    assert.deepEqual(gone.value, v1.value);
    assert.equal(await backend.get(KINDS.IPPool, 'p1'), undefined);
    await rejectsWith(backend.delete(KINDS.IPPool, 'p1', undefined), ErrorCodes.NotFound);
  });

  it('namespaced kinds live under /namespaces/<ns>/', async (t) => {
    const { backend, server } = await setup(t);
    const wep = sampleWorkloadEndpoint('web', 'pod-a') as unknown as Json;
    await backend.create(KINDS.WorkloadEndpoint, wep);
    const name = String(meta(wep).name);
    assert.ok(await backend.get(KINDS.WorkloadEndpoint, name, 'web'));
    assert.equal(await backend.get(KINDS.WorkloadEndpoint, name, 'other'), undefined);
    assert.equal(server.requestLog[0]?.path, '/apis/crd.caracal.dev/v1/namespaces/web/workloadendpoints');
    await rejectsWith(
      backend.create(KINDS.WorkloadEndpoint, { ...wep, metadata: { name } }),
      ErrorCodes.InvalidResource,
    );
  });

  it('a Node delete (the API answers with a Status) reads first and deletes with that revision as precondition', async (t) => {
    const { backend, server } = await setup(t);
    const node = await backend.create(KINDS.K8sNode, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } });
    server.clearRequestLog();
    await rejectsWith(backend.delete(KINDS.K8sNode, 'n1', undefined, '1'), ErrorCodes.Conflict);
    assert.deepEqual(
      server.requestLog.map((r) => r.method),
      ['GET'],
    ); // refused without trying to delete
    const gone = await backend.delete(KINDS.K8sNode, 'n1', undefined);
    assert.deepEqual(gone, node);
    assert.deepEqual(
      server.requestLog.slice(1).map((r) => [r.method, r.status]),
      [
        ['GET', 200],
        ['DELETE', 200],
      ],
    );
    await rejectsWith(backend.delete(KINDS.K8sNode, 'n1', undefined), ErrorCodes.NotFound);
  });

  it('a Node with finalizers is only marked: delete() returns the marked state, not the state read before', async (t) => {
    const { backend } = await setup(t);
    await backend.create(KINDS.K8sNode, {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'n1', finalizers: ['example.com/hold'] },
    });
    const marked = await backend.delete(KINDS.K8sNode, 'n1', undefined);
    assert.equal(typeof meta(marked.value).deletionTimestamp, 'string', 'the API marked it for deletion');
    const now = await backend.get(KINDS.K8sNode, 'n1');
    assert.equal(marked.revision, now?.revision, 'the revision returned is the one stored');
  });

  it('writes a status the main endpoint ignores through /status (found by discovery)', async (t) => {
    const { backend, server } = await setup(t);
    const status = { phase: 'Running', podIP: '10.244.1.5', podIPs: [{ ip: '10.244.1.5' }] };
    const p = await backend.create(KINDS.Pod, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web-1', namespace: 'default' },
      spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'x' }] },
      status,
    });
    assert.deepEqual(p.value.status, status);
    assert.deepEqual(server.peek('Pod', 'web-1', 'default')?.status, status);
    assert.deepEqual(
      server.requestLog.map((r) => `${r.method} ${r.path}`),
      ['POST /api/v1/namespaces/default/pods', 'GET /api/v1', 'PUT /api/v1/namespaces/default/pods/web-1/status'],
    );
    // An update that keeps the status it read makes one request.
    server.clearRequestLog();
    const relabelled = await backend.update(
      KINDS.Pod,
      { ...p.value, metadata: { ...meta(p.value), labels: { a: 'b' } } },
      p.revision,
    );
    assert.deepEqual(relabelled.value.status, status);
    assert.deepEqual(
      server.requestLog.map((r) => r.method),
      ['PUT'],
    );
  });
});

describe('kubernetes backend: list', () => {
  it("pages with limit + continue and returns one snapshot at the first page's resourceVersion", async (t) => {
    const { backend, server } = await setup(t, {}, { pageSize: 2 });
    for (let i = 0; i < 5; i++) await backend.create(KINDS.IPPool, pool(`p${i}`, i));
    const rv = server.resourceVersion;
    server.clearRequestLog();
    // A write between two pages is not part of the result, and the revision is the snapshot's.
    let writes = 0;
    server.onRequest = async (r) => {
      if (r.query.continue !== undefined && writes++ === 0) await server.putRaw('IPPool', pool('p00', 9));
    };
    const res = await backend.list(KINDS.IPPool, {});
    assert.equal(res.revision, rv);
    assert.deepEqual(
      res.items.map((i) => meta(i.value).name),
      ['p0', 'p1', 'p2', 'p3', 'p4'],
    );
    for (const item of res.items) assert.equal(item.revision, meta(item.value).resourceVersion);
    const gets = server.requestLog;
    assert.equal(gets.length, 3);
    assert.deepEqual(
      gets.map((r) => r.query.limit),
      ['2', '2', '2'],
    );
    assert.equal(gets[0]?.query.continue, undefined);
    assert.ok(gets[1]?.query.continue && gets[2]?.query.continue);
  });

  it('restarts as one unpaginated list when a continue token expires mid-list', async (t) => {
    const { backend, server } = await setup(t, {}, { pageSize: 2 });
    for (let i = 0; i < 5; i++) await backend.create(KINDS.IPPool, pool(`p${i}`, i));
    server.clearRequestLog();
    let compacted = false;
    server.onRequest = async (r) => {
      if (r.query.continue !== undefined && !compacted) {
        compacted = true;
        await backend.create(KINDS.IPPool, pool('p5', 5));
        await server.compact();
      }
    };
    const res = await backend.list(KINDS.IPPool, {});
    assert.deepEqual(
      res.items.map((i) => meta(i.value).name),
      ['p0', 'p1', 'p2', 'p3', 'p4', 'p5'],
    );
    assert.equal(res.revision, server.resourceVersion);
    const log = server.requestLog.filter((r) => r.method === 'GET');
    assert.deepEqual(
      log.map((r) => [r.query.limit, r.query.continue !== undefined, r.status]),
      [
        ['2', false, 200],
        ['2', true, 410],
        [undefined, false, 200],
      ],
    );
  });

  it('fills in apiVersion/kind that list items of native kinds lack, and passes namespace and labelSelector', async (t) => {
    const { backend, server } = await setup(t);
    for (const [ns, name, app] of [
      ['a', 'p1', 'web'],
      ['a', 'p2', 'db'],
      ['b', 'p3', 'web'],
    ] as const) {
      await backend.create(KINDS.Pod, { metadata: { name, namespace: ns, labels: { app } }, spec: { containers: [] } });
    }
    server.clearRequestLog();
    const res = await backend.list(KINDS.Pod, { namespace: 'a', labelSelector: 'app=web' });
    assert.deepEqual(
      res.items.map((i) => [i.value.apiVersion, i.value.kind, meta(i.value).name]),
      [['v1', 'Pod', 'p1']],
    );
    assert.equal(server.requestLog[0]?.path, '/api/v1/namespaces/a/pods');
    assert.equal(server.requestLog[0]?.query.labelSelector, 'app=web');
    const all = await backend.list(KINDS.Pod, {});
    assert.equal(all.items.length, 3);
  });
});

describe('kubernetes backend: watch', () => {
  it('maps ADDED/MODIFIED/DELETED/BOOKMARK from resourceVersion=fromRevision, asking for bookmarks', async (t) => {
    const { backend, server } = await setup(t);
    const from = server.resourceVersion;
    const w = rawWatch(backend, KINDS.IPPool, from);
    t.after(() => w.handle.close());
    await w.until(() => server.watchCount === 1, 'the watch to open');
    const a = await backend.create(KINDS.IPPool, pool('a'));
    const a2 = await backend.update(
      KINDS.IPPool,
      { ...a.value, spec: { ...(a.value.spec as Json), disabled: true } },
      a.revision,
    );
    await backend.delete(KINDS.IPPool, 'a', undefined);
    const deletedAt = server.resourceVersion;
    await backend.create(KINDS.K8sNode, { metadata: { name: 'n1' } }); // moves the revision past the last IPPool event
    await w.until(
      () => w.events.some((e) => e.type === 'bookmark' && e.revision === server.resourceVersion),
      'a bookmark',
    );
    const changes = w.events.filter((e) => e.type !== 'bookmark');
    assert.deepEqual(
      changes.map((e) => [e.type, e.object.revision]),
      [
        ['added', a.revision],
        ['modified', a2.revision],
        ['deleted', deletedAt],
      ],
    );
    const del = changes[2] as Extract<RawEvent, { type: 'deleted' }>;
    assert.equal((del.object.value.spec as Json).disabled, true); // the last state
    const q = server.requestLog.find((r) => r.watch)!.query;
    assert.equal(q.watch, 'true');
    assert.equal(q.resourceVersion, from);
    assert.equal(q.allowWatchBookmarks, 'true');
    assert.ok(Number(q.timeoutSeconds) >= 300 && Number(q.timeoutSeconds) < 600);
    assert.equal(w.end, undefined);
  });

  it('ends with gone when the API answers a too-old resourceVersion with an ERROR 410 event', async (t) => {
    const { backend, server } = await setup(t);
    const old = server.resourceVersion;
    await backend.create(KINDS.IPPool, pool('a'));
    await server.compact();
    const w = rawWatch(backend, KINDS.IPPool, old);
    await w.until(() => w.end !== undefined, 'the end');
    assert.deepEqual(w.end, { gone: true });
    assert.deepEqual(w.events, []);
  });

  it('ends with gone when the API answers a resourceVersion newer than its own with "Too large resource version"', async (t) => {
    // An API server restored from an older etcd is behind what we hold: resuming from it would fail forever.
    const { backend, server } = await setup(t);
    const future = String(Number(server.resourceVersion) + 10);
    const w = rawWatch(backend, KINDS.IPPool, future);
    await w.until(() => w.end !== undefined, 'the end');
    assert.deepEqual(w.end, { gone: true });
    assert.deepEqual(w.events, []);
  });

  it('ends with gone when the API cannot parse the resourceVersion (400), so the store relists', async (t) => {
    // e.g. an etcd revision handed to the kubernetes driver: retrying it can never succeed.
    const { backend } = await setup(t);
    const w = rawWatch(backend, KINDS.IPPool, 'not-a-revision');
    await w.until(() => w.end !== undefined, 'the end');
    assert.deepEqual(w.end, { gone: true });
    assert.deepEqual(w.events, []);
  });

  it('ends without gone when the server restarts, and with an error when it cannot be reached', async (t) => {
    const { backend, server } = await setup(t);
    const w = rawWatch(backend, KINDS.IPPool, server.resourceVersion);
    await w.until(() => server.watchCount === 1, 'the watch to open');
    await server.restart();
    await w.until(() => w.end !== undefined, 'the end');
    assert.equal(w.end?.gone, false);
    await server.stop();
    const down = rawWatch(backend, KINDS.IPPool, server.resourceVersion);
    await down.until(() => down.end !== undefined, 'the end');
    assert.equal(down.end?.gone, false);
    assert.ok(isCaracalError(down.end?.error, ErrorCodes.Unavailable), String(down.end?.error));
  });

  it('a handler that throws ends the stream with its error: the event is not skipped silently', async (t) => {
    const { backend, server } = await setup(t);
    const events: RawEvent[] = [];
    const failure = new Error('handler failed');
    let end: { gone: boolean; error?: unknown } | undefined;
    const ended = new Promise<void>((resolve) => {
      const handle = backend.watch(
        KINDS.IPPool,
        { fromRevision: server.resourceVersion },
        {
          onEvent: (e) => {
            if (e.type === 'bookmark') return;
            events.push(e);
            if (events.length === 1) throw failure;
          },
          onEnd: (r) => {
            end = r;
            resolve();
          },
        },
      );
      t.after(() => handle.close());
    });
    await backend.create(KINDS.IPPool, pool('a'));
    await backend.create(KINDS.IPPool, pool('b', 1));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([ended, new Promise((r) => (timer = setTimeout(r, 5_000)))]);
    clearTimeout(timer);
    assert.deepEqual(end, { gone: false, error: failure });
    assert.deepEqual(
      events.map((e) => e.type),
      ['added'],
      'nothing after the event whose handling failed',
    );
  });

  it('ends a watch the server never ends (a dead connection) once timeoutSeconds and a grace have passed', async (t) => {
    const { backend, server } = await setup(t, {}, { watchTimeoutSec: 1 });
    let stalled = 0;
    server.onRequest = (r) => {
      if (!r.watch) return;
      stalled++;
      return new Promise<void>(() => {}); // no answer at all: what a silently dropped connection looks like
    };
    const w = rawWatch(backend, KINDS.IPPool, server.resourceVersion);
    t.after(() => w.handle.close());
    await w.until(() => w.end !== undefined, 'the driver to give up on the watch', 5_000);
    assert.equal(stalled, 1);
    assert.equal(w.end?.gone, false);
    assert.ok(isCaracalError(w.end?.error, ErrorCodes.Unavailable), String(w.end?.error));
    assert.match(
      String((w.end?.error as Error | undefined)?.message),
      /did not end the watch 2 s after asking for timeoutSeconds=1/,
    );
  });

  it('close() ends the stream on the server and no callback follows', async (t) => {
    const { backend, server } = await setup(t);
    const w = rawWatch(backend, KINDS.IPPool, server.resourceVersion);
    await w.until(() => server.watchCount === 1, 'the watch to open');
    w.handle.close();
    await w.until(() => server.watchCount === 0, 'the server to drop the stream');
    await backend.create(KINDS.IPPool, pool('a'));
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(w.events, []);
    assert.equal(w.end, undefined);
  });
});

describe('kubernetes backend: errors', () => {
  it('maps an unreachable server to UNAVAILABLE, a refused token to INVALID_CONFIG, an unserved kind to INVALID_CONFIG', async (t) => {
    const { backend, server } = await setup(t, { token: 'right' });
    await backend.create(KINDS.IPPool, pool('a'));
    const dir = await mkdtemp(join(tmpdir(), 'caracal-k8s-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const wrong = createKubernetesBackend({ kubeconfigPath: await server.writeKubeconfig(dir, { token: 'wrong' }) });
    const e = await rejectsWith(wrong.get(KINDS.IPPool, 'a'), ErrorCodes.InvalidConfig);
    assert.match(e.message, /HTTP 401 Unauthorized/);
    const unserved: KindInfo = { ...KINDS.IPPool, plural: 'ipgizmos' };
    const e2 = await rejectsWith(backend.list(unserved, {}), ErrorCodes.InvalidConfig);
    assert.match(e2.message, /does not serve crd\.caracal\.dev\/v1 ipgizmos/);
    await server.stop();
    await rejectsWith(backend.get(KINDS.IPPool, 'a'), ErrorCodes.Unavailable);
  });

  it('refuses every call after close()', async (t) => {
    const { backend } = await setup(t);
    await backend.close();
    await rejectsWith(backend.get(KINDS.IPPool, 'a'), ErrorCodes.DatastoreClosed);
  });
});

describe('kubernetes driver under the store layer', () => {
  async function store(t: TestContext, s: Setup): Promise<Datastore> {
    const ds = createDatastore(s.backend, { watch: { backoffBaseMs: 10, backoffMaxMs: 50 } });
    t.after(() => ds.close());
    return ds;
  }

  it("relists after 410: the request log shows watch → 410 → list → watch from the list's resourceVersion", async (t) => {
    const s = await setup(t);
    const ds = await store(t, s);
    const old = s.server.resourceVersion;
    await ds.create('IPPool', sampleIPPool('a', { cidr: '10.1.0.0/16' }));
    await s.server.compact();
    s.server.clearRequestLog();
    const w = ds.watch('IPPool', { fromRevision: old });
    t.after(() => w.close());
    const evs = await collect(w, (e) => e.filter((x) => x.type === 'synced').length >= 2);
    assert.deepEqual(names(evs), ['synced', 'reset', 'added:a', 'synced']);
    const listRv = (evs.at(-1) as { revision: string }).revision;
    const shape = () =>
      s.server.requestLog
        .filter((r) => r.path === '/apis/crd.caracal.dev/v1/ippools')
        .map((r) => `${r.watch ? 'watch' : 'list'}@${r.query.resourceVersion ?? ''}`);
    const deadline = Date.now() + 3000;
    while (shape().length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(shape().slice(0, 3), [`watch@${old}`, 'list@', `watch@${listRv}`]);
  });

  it('resumes after an API server restart from the last revision, without a relist, losing nothing', async (t) => {
    const s = await setup(t);
    const ds = await store(t, s);
    const w = ds.watch('IPPool');
    t.after(() => w.close());
    await collect(w, (e) => e.some((x) => x.type === 'synced'));
    await ds.create('IPPool', sampleIPPool('a', { cidr: '10.1.0.0/16' }));
    await collect(w, (e) => e.length >= 1);
    s.server.clearRequestLog();
    await s.server.restart();
    await ds.create('IPPool', sampleIPPool('b', { cidr: '10.2.0.0/16' }));
    const evs = await collect(w, (e) => e.some((x) => x.type === 'added'));
    assert.deepEqual(
      names(evs).filter((n) => n !== 'error'),
      ['added:b'],
    );
    const ippoolGets = s.server.requestLog.filter(
      (r) => r.path === '/apis/crd.caracal.dev/v1/ippools' && r.method === 'GET',
    );
    assert.ok(
      ippoolGets.every((r) => r.watch),
      'no relist after a restart with history',
    );
  });

  it('reports an object planted with putRaw as invalid and carries on', async (t) => {
    const s = await setup(t);
    const ds = await store(t, s);
    await ds.create('IPPool', sampleIPPool('good', { cidr: '10.1.0.0/16' }));
    await s.server.putRaw(KINDS.IPPool, {
      apiVersion: 'crd.caracal.dev/v1',
      kind: 'IPPool',
      metadata: { name: 'bad' },
      spec: 'x',
    });
    const res = await ds.list('IPPool');
    assert.deepEqual(
      res.items.map((i) => i.metadata.name),
      ['good'],
    );
    assert.deepEqual(
      res.invalid.map((i) => i.key),
      ['ippools/bad'],
    );
  });
});
