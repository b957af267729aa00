/**
 * The test API server, driven over plain HTTP with `fetch`: each test checks one Kubernetes API convention
 * on the wire (paths, Status errors, resourceVersion semantics, pagination, watch framing), so the driver
 * tests that run on top of it test real protocol behaviour.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { KINDS } from '../../model/kinds.js';
import { TestApiServer, type TestApiServerOptions } from './server.js';

// biome-ignore lint/suspicious/noExplicitAny: JSON from the wire, inspected field by field in assertions
type Json = any;

/**
 * Schema validation is off unless a test is about it: these tests are about the protocol, and the model's
 * schemas (which the server validates CRDs against) change independently.
 */
async function start(t: TestContext, opts: TestApiServerOptions = {}): Promise<TestApiServer> {
  const s = await TestApiServer.start({ validate: false, ...opts });
  t.after(() => s.stop());
  return s;
}

/**
 * Every request asks for `Connection: close`: fetch would otherwise pool keep-alive connections, and one to a
 * listener that restart() closed fails once (as it would against a restarted kube-apiserver), which is not
 * what these tests are about.
 */
const CLOSE = { connection: 'close' };

async function call(
  s: TestApiServer,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Json; headers: Headers }> {
  const init = {
    method,
    headers: { 'content-type': 'application/json', ...CLOSE, ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  };
  const res = await fetch(s.url + path, init);
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text), headers: res.headers };
}

const IPPOOLS = '/apis/crd.caracal.dev/v1/ippools';
const ippool = (
  name: string,
  spec: Record<string, unknown> = { cidr: '10.0.0.0/24' },
  labels?: Record<string, string>,
) => ({
  apiVersion: 'crd.caracal.dev/v1',
  kind: 'IPPool',
  metadata: labels ? { name, labels } : { name },
  spec,
});
const pod = (ns: string, name: string, nodeName = 'n1', labels: Record<string, string> = {}) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: ns, labels },
  spec: { nodeName, containers: [{ name: 'c', image: 'busybox' }] },
});

async function create(s: TestApiServer, path: string, obj: unknown): Promise<Json> {
  const r = await call(s, 'POST', path, obj);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

/** A raw watch: reads the chunked body line by line. */
function openWatch(s: TestApiServer, path: string) {
  const controller = new AbortController();
  const events: Json[] = [];
  const waiters: (() => void)[] = [];
  let ended = false;
  let headers: Headers | undefined;
  const done = (async () => {
    try {
      const res = await fetch(s.url + path, { signal: controller.signal, headers: CLOSE });
      headers = res.headers;
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        let i = buf.indexOf('\n');
        while (i >= 0) {
          events.push(JSON.parse(buf.slice(0, i)));
          buf = buf.slice(i + 1);
          i = buf.indexOf('\n');
        }
        for (const w of waiters.splice(0)) w();
      }
    } catch {
      // aborted by close(), or the server went away
    } finally {
      ended = true;
      for (const w of waiters.splice(0)) w();
    }
  })();
  return {
    events,
    get ended() {
      return ended;
    },
    get headers() {
      return headers;
    },
    /** Wait until at least n events arrived (or the stream ended). */
    async waitFor(n: number, timeoutMs = 2000): Promise<Json[]> {
      const deadline = Date.now() + timeoutMs;
      while (events.length < n && !ended) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} events, got ${JSON.stringify(events)}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 50);
        });
      }
      return events;
    },
    /** Wait for the stream to end (`done` settles then), not by polling. */
    async untilEnded(timeoutMs = 2000): Promise<void> {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          done,
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error('timed out waiting for the watch to end')), timeoutMs);
          }),
        ]);
      } finally {
        clearTimeout(timer);
      }
    },
    async close(): Promise<void> {
      controller.abort();
      await done;
    },
  };
}

describe('TestApiServer discovery', () => {
  it('serves /api, /api/v1, /apis and each group-version as client libraries expect', async (t) => {
    const s = await start(t);
    const api = await call(s, 'GET', '/api');
    assert.equal(api.body.kind, 'APIVersions');
    assert.deepEqual(api.body.versions, ['v1']);

    const core = await call(s, 'GET', '/api/v1');
    assert.equal(core.body.kind, 'APIResourceList');
    assert.equal(core.body.groupVersion, 'v1');
    const names = core.body.resources.map((r: Json) => r.name);
    assert.deepEqual(names.sort(), ['namespaces', 'namespaces/status', 'nodes', 'nodes/status', 'pods', 'pods/status']);
    const pods = core.body.resources.find((r: Json) => r.name === 'pods');
    assert.equal(pods.kind, 'Pod');
    assert.equal(pods.namespaced, true);
    assert.ok(pods.verbs.includes('watch'));

    const groups = await call(s, 'GET', '/apis');
    assert.equal(groups.body.kind, 'APIGroupList');
    assert.deepEqual(groups.body.groups.map((g: Json) => g.name).sort(), ['crd.caracal.dev', 'networking.k8s.io']);
    assert.equal(
      groups.body.groups.find((g: Json) => g.name === 'crd.caracal.dev').preferredVersion.groupVersion,
      'crd.caracal.dev/v1',
    );

    const ours = await call(s, 'GET', '/apis/crd.caracal.dev/v1');
    for (const k of Object.values(KINDS).filter((k) => !k.native)) {
      const entry = ours.body.resources.find((r: Json) => r.name === k.plural);
      assert.ok(entry, `${k.plural} listed`);
      assert.equal(entry.kind, k.kind);
      assert.equal(entry.namespaced, k.namespaced);
    }
    const np = await call(s, 'GET', '/apis/networking.k8s.io/v1');
    assert.deepEqual(
      np.body.resources.map((r: Json) => r.name),
      ['networkpolicies'],
    );
  });

  it('answers an unknown path with a 404 Status', async (t) => {
    const s = await start(t);
    for (const path of [
      '/apis/nope.example.com/v1',
      '/api/v1/widgets',
      '/apis/crd.caracal.dev/v1/ippools/a/status',
      '/x',
    ]) {
      const r = await call(s, 'GET', path);
      assert.equal(r.status, 404, path);
      assert.equal(r.body.kind, 'Status');
      assert.equal(r.body.reason, 'NotFound');
      assert.equal(r.body.code, 404);
    }
  });
});

describe('TestApiServer create/get', () => {
  it('POST sets uid, creationTimestamp, resourceVersion and generation 1, and returns 201', async (t) => {
    const s = await start(t);
    const before = Number(s.resourceVersion);
    const r = await call(s, 'POST', IPPOOLS, ippool('pool-a'));
    assert.equal(r.status, 201);
    assert.equal(r.body.metadata.name, 'pool-a');
    assert.match(r.body.metadata.uid, /^[0-9a-f-]{36}$/);
    assert.match(r.body.metadata.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(r.body.metadata.generation, 1);
    assert.equal(r.body.metadata.resourceVersion, String(before + 1));
    assert.equal(s.resourceVersion, String(before + 1));
    const got = await call(s, 'GET', `${IPPOOLS}/pool-a`);
    assert.equal(got.status, 200);
    assert.deepEqual(got.body, r.body);
  });

  it('POST of an existing name is 409 AlreadyExists', async (t) => {
    const s = await start(t);
    await create(s, IPPOOLS, ippool('pool-a'));
    const r = await call(s, 'POST', IPPOOLS, ippool('pool-a'));
    assert.equal(r.status, 409);
    assert.equal(r.body.kind, 'Status');
    assert.equal(r.body.status, 'Failure');
    assert.equal(r.body.reason, 'AlreadyExists');
    assert.equal(r.body.message, 'ippools.crd.caracal.dev "pool-a" already exists');
    assert.deepEqual(r.body.details, { name: 'pool-a', group: 'crd.caracal.dev', kind: 'ippools' });
  });

  it('GET of a missing object is 404 NotFound naming the resource', async (t) => {
    const s = await start(t);
    const r = await call(s, 'GET', '/api/v1/namespaces/default/pods/nope');
    assert.equal(r.status, 404);
    assert.equal(r.body.reason, 'NotFound');
    assert.equal(r.body.message, 'pods "nope" not found');
    assert.deepEqual(r.body.details, { name: 'nope', group: '', kind: 'pods' });
  });

  it('POST rejects a resourceVersion, a bad name, a mismatched namespace and a missing name', async (t) => {
    const s = await start(t);
    const withRv = await call(s, 'POST', IPPOOLS, { ...ippool('a'), metadata: { name: 'a', resourceVersion: '5' } });
    assert.equal(withRv.status, 500);
    assert.equal(withRv.body.message, 'resourceVersion should not be set on objects to be created');
    const badName = await call(s, 'POST', IPPOOLS, ippool('Not_Valid'));
    assert.equal(badName.status, 422);
    assert.equal(badName.body.reason, 'Invalid');
    assert.equal(badName.body.details.causes[0].field, 'metadata.name');
    const wrongNs = await call(s, 'POST', '/api/v1/namespaces/a/pods', pod('b', 'p'));
    assert.equal(wrongNs.status, 400);
    assert.equal(wrongNs.body.reason, 'BadRequest');
    const noName = await call(s, 'POST', IPPOOLS, { spec: {} });
    assert.equal(noName.status, 422);
    const wrongKind = await call(s, 'POST', IPPOOLS, { ...ippool('a'), kind: 'BGPPeer' });
    assert.equal(wrongKind.status, 400);
  });

  it('POST fills the namespace from the path, generates names and validates CRDs against their schema', async (t) => {
    const s = await start(t, { validate: true });
    const p = await create(s, '/api/v1/namespaces/web/pods', {
      ...pod('web', 'x'),
      metadata: { generateName: 'web-' },
    });
    assert.match(p.metadata.name, /^web-[a-z0-9]{5}$/);
    assert.equal(p.metadata.namespace, 'web');
    const invalid = await call(s, 'POST', IPPOOLS, { ...ippool('bad'), spec: 'not-an-object' });
    assert.equal(invalid.status, 422);
    assert.equal(invalid.body.details.causes[0].field, 'spec');
  });

  it('POST to the all-namespaces path of a namespaced kind is 405', async (t) => {
    const s = await start(t);
    const r = await call(s, 'POST', '/api/v1/pods', pod('default', 'p'));
    assert.equal(r.status, 405);
    assert.equal(r.body.reason, 'MethodNotAllowed');
  });
});

describe('TestApiServer update', () => {
  it('PUT with the current resourceVersion succeeds; a stale one is 409 Conflict', async (t) => {
    const s = await start(t);
    const v1 = await create(s, IPPOOLS, ippool('pool-a'));
    const ok = await call(s, 'PUT', `${IPPOOLS}/pool-a`, { ...v1, spec: { cidr: '10.1.0.0/24' } });
    assert.equal(ok.status, 200);
    assert.ok(Number(ok.body.metadata.resourceVersion) > Number(v1.metadata.resourceVersion));
    assert.equal(ok.body.metadata.uid, v1.metadata.uid);
    assert.equal(ok.body.metadata.creationTimestamp, v1.metadata.creationTimestamp);
    const stale = await call(s, 'PUT', `${IPPOOLS}/pool-a`, { ...v1, spec: { cidr: '10.2.0.0/24' } });
    assert.equal(stale.status, 409);
    assert.equal(stale.body.reason, 'Conflict');
    assert.equal(
      stale.body.message,
      'Operation cannot be fulfilled on ippools.crd.caracal.dev "pool-a": the object has been modified; please apply your changes to the latest version and try again',
    );
    assert.equal(s.peek('IPPool', 'pool-a')?.spec && (s.peek('IPPool', 'pool-a')!.spec as Json).cidr, '10.1.0.0/24');
  });

  it('PUT of a CRD without resourceVersion is 422; of a missing object 404; with a wrong name 400', async (t) => {
    const s = await start(t);
    const v1 = await create(s, IPPOOLS, ippool('pool-a'));
    const { resourceVersion: _rv, ...meta } = v1.metadata;
    const noRv = await call(s, 'PUT', `${IPPOOLS}/pool-a`, { ...v1, metadata: meta });
    assert.equal(noRv.status, 422);
    assert.equal(noRv.body.details.causes[0].field, 'metadata.resourceVersion');
    const missing = await call(s, 'PUT', `${IPPOOLS}/pool-b`, ippool('pool-b'));
    assert.equal(missing.status, 404);
    const wrongName = await call(s, 'PUT', `${IPPOOLS}/pool-a`, { ...v1, metadata: { ...v1.metadata, name: 'other' } });
    assert.equal(wrongName.status, 400);
  });

  it('PUT of a native kind without resourceVersion is an unconditional update', async (t) => {
    const s = await start(t);
    const p = await create(s, '/api/v1/namespaces/default/pods', pod('default', 'p'));
    const { resourceVersion: _rv, ...meta } = p.metadata;
    const r = await call(s, 'PUT', '/api/v1/namespaces/default/pods/p', {
      ...p,
      metadata: { ...meta, labels: { a: 'b' } },
    });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.metadata.labels, { a: 'b' });
  });

  it('generation moves on spec changes only, and a no-op PUT keeps the resourceVersion', async (t) => {
    const s = await start(t);
    const v1 = await create(s, IPPOOLS, ippool('pool-a'));
    const labelled = (
      await call(s, 'PUT', `${IPPOOLS}/pool-a`, { ...v1, metadata: { ...v1.metadata, labels: { x: 'y' } } })
    ).body;
    assert.equal(labelled.metadata.generation, 1);
    const respec = (await call(s, 'PUT', `${IPPOOLS}/pool-a`, { ...labelled, spec: { cidr: '10.9.0.0/24' } })).body;
    assert.equal(respec.metadata.generation, 2);
    const rvBefore = s.resourceVersion;
    const same = await call(s, 'PUT', `${IPPOOLS}/pool-a`, respec);
    assert.equal(same.status, 200);
    assert.equal(same.body.metadata.resourceVersion, respec.metadata.resourceVersion);
    assert.equal(s.resourceVersion, rvBefore);
  });
});

describe('TestApiServer status subresource', () => {
  it('resets pod status on create; the main endpoint ignores status, /status ignores the rest', async (t) => {
    const s = await start(t);
    const created = await create(s, '/api/v1/namespaces/default/pods', {
      ...pod('default', 'p'),
      status: { podIP: '10.0.0.9' },
    });
    assert.deepEqual(created.status, { phase: 'Pending' });
    const viaMain = await call(s, 'PUT', '/api/v1/namespaces/default/pods/p', {
      ...created,
      spec: { ...created.spec, nodeName: 'n2' },
      status: { phase: 'Running' },
    });
    assert.equal(viaMain.body.spec.nodeName, 'n2');
    assert.deepEqual(viaMain.body.status, { phase: 'Pending' });
    const viaStatus = await call(s, 'PUT', '/api/v1/namespaces/default/pods/p/status', {
      ...viaMain.body,
      spec: { ...viaMain.body.spec, nodeName: 'n3' },
      status: { phase: 'Running', podIP: '10.0.0.9' },
    });
    assert.equal(viaStatus.status, 200);
    assert.equal(viaStatus.body.spec.nodeName, 'n2');
    assert.deepEqual(viaStatus.body.status, { phase: 'Running', podIP: '10.0.0.9' });
    assert.equal(viaStatus.body.metadata.generation, viaMain.body.metadata.generation);
    const stale = await call(s, 'PUT', '/api/v1/namespaces/default/pods/p/status', viaMain.body);
    assert.equal(stale.status, 409);
  });

  it('a CRD without a status subresource stores status through the main endpoint', async (t) => {
    const s = await start(t);
    const created = await create(s, IPPOOLS, { ...ippool('a'), status: { ok: true } });
    assert.deepEqual(created.status, { ok: true });
    const r = await call(s, 'GET', `${IPPOOLS}/a/status`);
    assert.equal(r.status, 404);
  });
});

describe('TestApiServer delete', () => {
  it('DELETE returns the last state for CRDs, honours preconditions, and is 404 afterwards', async (t) => {
    const s = await start(t);
    const v1 = await create(s, IPPOOLS, ippool('pool-a'));
    const wrong = await call(s, 'DELETE', `${IPPOOLS}/pool-a`, {
      kind: 'DeleteOptions',
      apiVersion: 'v1',
      preconditions: { resourceVersion: '1' },
    });
    assert.equal(wrong.status, 409);
    assert.equal(wrong.body.reason, 'Conflict');
    assert.match(wrong.body.message, /Precondition failed: ResourceVersion in precondition: 1/);
    const ok = await call(s, 'DELETE', `${IPPOOLS}/pool-a`, {
      preconditions: { resourceVersion: v1.metadata.resourceVersion },
    });
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body, v1);
    assert.equal((await call(s, 'DELETE', `${IPPOOLS}/pool-a`)).status, 404);
    assert.equal((await call(s, 'GET', `${IPPOOLS}/pool-a`)).status, 404);
  });

  it('DELETE of a Node answers a success Status, as kube-apiserver does', async (t) => {
    const s = await start(t);
    const n = await create(s, '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } });
    const r = await call(s, 'DELETE', '/api/v1/nodes/n1');
    assert.equal(r.status, 200);
    assert.equal(r.body.kind, 'Status');
    assert.equal(r.body.status, 'Success');
    assert.deepEqual(r.body.details, { name: 'n1', group: '', kind: 'nodes', uid: n.metadata.uid });
  });

  it('an object with finalizers is only marked; removing the last finalizer deletes it', async (t) => {
    const s = await start(t);
    await create(s, IPPOOLS, { ...ippool('a'), metadata: { name: 'a', finalizers: ['caracal.dev/x'] } });
    const marked = await call(s, 'DELETE', `${IPPOOLS}/a`);
    assert.equal(marked.status, 200);
    assert.ok(marked.body.metadata.deletionTimestamp);
    assert.equal((await call(s, 'GET', `${IPPOOLS}/a`)).status, 200);
    const cleared = await call(s, 'PUT', `${IPPOOLS}/a`, {
      ...marked.body,
      metadata: { ...marked.body.metadata, finalizers: [] },
    });
    assert.equal(cleared.status, 200);
    assert.equal((await call(s, 'GET', `${IPPOOLS}/a`)).status, 404);
  });

  it('DELETE on a collection removes what the selector matches and returns the list', async (t) => {
    const s = await start(t);
    await create(s, IPPOOLS, ippool('a', {}, { env: 'test' }));
    await create(s, IPPOOLS, ippool('b', {}, { env: 'prod' }));
    const r = await call(s, 'DELETE', `${IPPOOLS}?labelSelector=env%3Dtest`);
    assert.equal(r.status, 200);
    assert.equal(r.body.kind, 'IPPoolList');
    assert.deepEqual(
      r.body.items.map((i: Json) => i.metadata.name),
      ['a'],
    );
    assert.deepEqual(
      (await call(s, 'GET', IPPOOLS)).body.items.map((i: Json) => i.metadata.name),
      ['b'],
    );
  });
});

describe('TestApiServer patch', () => {
  it('merge patch changes fields; a resourceVersion in the patch is a precondition', async (t) => {
    const s = await start(t);
    const v1 = await create(s, IPPOOLS, ippool('a', { cidr: '10.0.0.0/24', mode: 'x' }));
    const mp = { 'content-type': 'application/merge-patch+json' };
    const r = await call(s, 'PATCH', `${IPPOOLS}/a`, { spec: { mode: null, nat: true } }, mp);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.spec, { cidr: '10.0.0.0/24', nat: true });
    const stale = await call(
      s,
      'PATCH',
      `${IPPOOLS}/a`,
      { metadata: { resourceVersion: v1.metadata.resourceVersion }, spec: { nat: false } },
      mp,
    );
    assert.equal(stale.status, 409);
    const missing = await call(s, 'PATCH', `${IPPOOLS}/zz`, { spec: {} }, mp);
    assert.equal(missing.status, 404);
  });

  it('JSON patch applies operations atomically; strategic merge on a CRD is 415', async (t) => {
    const s = await start(t);
    await create(s, IPPOOLS, ippool('a', { cidr: '10.0.0.0/24' }));
    const jp = { 'content-type': 'application/json-patch+json' };
    const ok = await call(
      s,
      'PATCH',
      `${IPPOOLS}/a`,
      [
        { op: 'replace', path: '/spec/cidr', value: '10.5.0.0/24' },
        { op: 'add', path: '/spec/x', value: 1 },
      ],
      jp,
    );
    assert.deepEqual(ok.body.spec, { cidr: '10.5.0.0/24', x: 1 });
    const failed = await call(
      s,
      'PATCH',
      `${IPPOOLS}/a`,
      [
        { op: 'add', path: '/spec/y', value: 1 },
        { op: 'test', path: '/spec/x', value: 2 },
      ],
      jp,
    );
    assert.equal(failed.status, 422);
    assert.deepEqual((s.peek('IPPool', 'a') as Json).spec, { cidr: '10.5.0.0/24', x: 1 });
    const smp = await call(
      s,
      'PATCH',
      `${IPPOOLS}/a`,
      { spec: {} },
      { 'content-type': 'application/strategic-merge-patch+json' },
    );
    assert.equal(smp.status, 415);
    assert.equal(smp.body.reason, 'UnsupportedMediaType');
  });
});

describe('TestApiServer list', () => {
  it('returns <Kind>List at the current resourceVersion, in key order; native items carry no apiVersion/kind', async (t) => {
    const s = await start(t);
    for (const n of ['c', 'a', 'b']) await create(s, IPPOOLS, ippool(n));
    const r = await call(s, 'GET', IPPOOLS);
    assert.equal(r.body.kind, 'IPPoolList');
    assert.equal(r.body.apiVersion, 'crd.caracal.dev/v1');
    assert.equal(r.body.metadata.resourceVersion, s.resourceVersion);
    assert.deepEqual(
      r.body.items.map((i: Json) => i.metadata.name),
      ['a', 'b', 'c'],
    );
    assert.equal(r.body.items[0].kind, 'IPPool');

    await create(s, '/api/v1/namespaces/b/pods', pod('b', 'p2'));
    await create(s, '/api/v1/namespaces/a/pods', pod('a', 'p1'));
    const pods = await call(s, 'GET', '/api/v1/pods');
    assert.equal(pods.body.kind, 'PodList');
    assert.deepEqual(
      pods.body.items.map((i: Json) => `${i.metadata.namespace}/${i.metadata.name}`),
      ['a/p1', 'b/p2'],
    );
    assert.equal(pods.body.items[0].kind, undefined);
    assert.equal(pods.body.items[0].apiVersion, undefined);
    const inB = await call(s, 'GET', '/api/v1/namespaces/b/pods');
    assert.deepEqual(
      inB.body.items.map((i: Json) => i.metadata.name),
      ['p2'],
    );
  });

  it('filters by labelSelector and fieldSelector; an unsupported field is 400', async (t) => {
    const s = await start(t);
    await create(s, '/api/v1/namespaces/a/pods', pod('a', 'web-1', 'n1', { app: 'web', tier: 'fe' }));
    await create(s, '/api/v1/namespaces/a/pods', pod('a', 'web-2', 'n2', { app: 'web' }));
    await create(s, '/api/v1/namespaces/b/pods', pod('b', 'db-1', 'n1', { app: 'db' }));
    const names = async (q: string) =>
      (await call(s, 'GET', `/api/v1/pods?${q}`)).body.items.map((i: Json) => i.metadata.name);
    assert.deepEqual(await names('labelSelector=app%3Dweb'), ['web-1', 'web-2']);
    assert.deepEqual(await names('labelSelector=app%20in%20(web,db),!tier'), ['web-2', 'db-1']);
    assert.deepEqual(await names('fieldSelector=spec.nodeName%3Dn1'), ['web-1', 'db-1']);
    assert.deepEqual(await names('fieldSelector=metadata.namespace%3Da,metadata.name!%3Dweb-1'), ['web-2']);
    const bad = await call(s, 'GET', '/api/v1/pods?fieldSelector=spec.foo%3Dx');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.message, 'field label not supported: spec.foo');
    const badLabel = await call(s, 'GET', '/api/v1/pods?labelSelector=a%20in%20b');
    assert.equal(badLabel.status, 400);
  });

  it('pages with limit + continue over one consistent snapshot', async (t) => {
    const s = await start(t);
    for (const n of ['a', 'b', 'c', 'd', 'e']) await create(s, IPPOOLS, ippool(n));
    const first = (await call(s, 'GET', `${IPPOOLS}?limit=2`)).body;
    assert.deepEqual(
      first.items.map((i: Json) => i.metadata.name),
      ['a', 'b'],
    );
    assert.equal(first.metadata.remainingItemCount, 3);
    const token = JSON.parse(Buffer.from(first.metadata.continue, 'base64url').toString());
    assert.deepEqual(token, { v: 'meta.k8s.io/v1', rv: Number(first.metadata.resourceVersion), start: 'b\u0000' });
    // Changes after the first page are not visible to the rest of the list.
    await call(s, 'DELETE', `${IPPOOLS}/c`);
    await create(s, IPPOOLS, ippool('bb'));
    const second = (await call(s, 'GET', `${IPPOOLS}?limit=2&continue=${first.metadata.continue}`)).body;
    assert.deepEqual(
      second.items.map((i: Json) => i.metadata.name),
      ['c', 'd'],
    );
    assert.equal(second.metadata.resourceVersion, first.metadata.resourceVersion);
    const third = (await call(s, 'GET', `${IPPOOLS}?limit=2&continue=${second.metadata.continue}`)).body;
    assert.deepEqual(
      third.items.map((i: Json) => i.metadata.name),
      ['e'],
    );
    assert.equal(third.metadata.continue, undefined);
    assert.equal(third.metadata.remainingItemCount, undefined);
  });

  it('a continue token older than the history is 410 Expired; a resourceVersion with continue is 400', async (t) => {
    const s = await start(t);
    for (const n of ['a', 'b', 'c']) await create(s, IPPOOLS, ippool(n));
    const first = (await call(s, 'GET', `${IPPOOLS}?limit=1`)).body;
    await create(s, IPPOOLS, ippool('d'));
    await s.compact();
    const r = await call(s, 'GET', `${IPPOOLS}?limit=1&continue=${first.metadata.continue}`);
    assert.equal(r.status, 410);
    assert.equal(r.body.kind, 'Status');
    assert.equal(r.body.reason, 'Expired');
    assert.equal(r.body.code, 410);
    // The inconsistent continuation apiserver offers with the error continues from the latest state.
    const rest = (await call(s, 'GET', `${IPPOOLS}?limit=10&continue=${r.body.metadata.continue}`)).body;
    assert.deepEqual(
      rest.items.map((i: Json) => i.metadata.name),
      ['b', 'c', 'd'],
    );
    const both = await call(s, 'GET', `${IPPOOLS}?limit=1&resourceVersion=3&continue=${first.metadata.continue}`);
    assert.equal(both.status, 400);
    const garbage = await call(s, 'GET', `${IPPOOLS}?limit=1&continue=garbage`);
    assert.equal(garbage.status, 400);
  });

  it('resourceVersionMatch=Exact lists a past state; too old is 410, from the future 504', async (t) => {
    const s = await start(t);
    await create(s, IPPOOLS, ippool('a'));
    const rvA = s.resourceVersion;
    await create(s, IPPOOLS, ippool('b'));
    await call(s, 'DELETE', `${IPPOOLS}/a`);
    const past = (await call(s, 'GET', `${IPPOOLS}?resourceVersion=${rvA}&resourceVersionMatch=Exact`)).body;
    assert.deepEqual(
      past.items.map((i: Json) => i.metadata.name),
      ['a'],
    );
    assert.equal(past.metadata.resourceVersion, rvA);
    const notOlder = (await call(s, 'GET', `${IPPOOLS}?resourceVersion=${rvA}&resourceVersionMatch=NotOlderThan`)).body;
    assert.deepEqual(
      notOlder.items.map((i: Json) => i.metadata.name),
      ['b'],
    );
    const future = await call(s, 'GET', `${IPPOOLS}?resourceVersion=999999`);
    assert.equal(future.status, 504);
    assert.equal(future.body.reason, 'Timeout');
    const noRv = await call(s, 'GET', `${IPPOOLS}?resourceVersionMatch=Exact`);
    assert.equal(noRv.status, 422);
    await s.compact();
    const old = await call(s, 'GET', `${IPPOOLS}?resourceVersion=${rvA}&resourceVersionMatch=Exact`);
    assert.equal(old.status, 410);
    assert.equal(old.body.reason, 'Expired');
  });
});

describe('TestApiServer watch', () => {
  it('streams chunked newline-delimited events strictly after resourceVersion', async (t) => {
    const s = await start(t);
    const a = await create(s, IPPOOLS, ippool('a'));
    const w = openWatch(s, `${IPPOOLS}?watch=1&resourceVersion=${a.metadata.resourceVersion}`);
    t.after(() => w.close());
    const b = await create(s, IPPOOLS, ippool('b'));
    const a2 = (await call(s, 'PUT', `${IPPOOLS}/a`, { ...a, spec: { cidr: '10.7.0.0/24' } })).body;
    await call(s, 'DELETE', `${IPPOOLS}/b`);
    const events = await w.waitFor(3);
    assert.equal(w.headers?.get('transfer-encoding'), 'chunked');
    assert.equal(w.headers?.get('content-type'), 'application/json');
    assert.deepEqual(
      events.map((e: Json) => [e.type, e.object.metadata.name]),
      [
        ['ADDED', 'b'],
        ['MODIFIED', 'a'],
        ['DELETED', 'b'],
      ],
    );
    assert.deepEqual(events[0].object, b);
    assert.deepEqual(events[1].object, a2);
    // The DELETED object is the last state at the deletion's resourceVersion.
    assert.equal(events[2].object.metadata.resourceVersion, s.resourceVersion);
    assert.deepEqual(events[2].object.spec, b.spec);
    assert.equal(events[0].object.kind, 'IPPool');
  });

  it('replays retained history when started from an older resourceVersion', async (t) => {
    const s = await start(t);
    const start0 = s.resourceVersion;
    await create(s, IPPOOLS, ippool('a'));
    await create(s, IPPOOLS, ippool('b'));
    const w = openWatch(s, `${IPPOOLS}?watch=true&resourceVersion=${start0}`);
    t.after(() => w.close());
    const events = await w.waitFor(2);
    assert.deepEqual(
      events.map((e: Json) => e.object.metadata.name),
      ['a', 'b'],
    );
  });

  it('without resourceVersion starts with synthetic ADDED events for the current state', async (t) => {
    const s = await start(t);
    await create(s, '/api/v1/namespaces/x/pods', pod('x', 'p1'));
    await create(s, '/api/v1/namespaces/y/pods', pod('y', 'p2'));
    const w = openWatch(s, '/api/v1/namespaces/x/pods?watch=true');
    t.after(() => w.close());
    await w.waitFor(1);
    await create(s, '/api/v1/namespaces/x/pods', pod('x', 'p3'));
    await create(s, '/api/v1/namespaces/y/pods', pod('y', 'p4'));
    const events = await w.waitFor(2);
    assert.deepEqual(
      events.map((e: Json) => [e.type, e.object.metadata.name]),
      [
        ['ADDED', 'p1'],
        ['ADDED', 'p3'],
      ],
    );
    assert.equal(events[0].object.kind, 'Pod'); // watch objects carry their kind, unlike list items
  });

  it('a too-old resourceVersion gets one ERROR event with a 410 Expired Status, then the stream ends', async (t) => {
    const s = await start(t);
    const old = s.resourceVersion;
    await create(s, IPPOOLS, ippool('a'));
    await s.compact();
    const w = openWatch(s, `${IPPOOLS}?watch=true&resourceVersion=${old}`);
    t.after(() => w.close());
    await w.untilEnded();
    assert.equal(w.events.length, 1);
    const [e] = w.events;
    assert.equal(e.type, 'ERROR');
    assert.equal(e.object.kind, 'Status');
    assert.equal(e.object.apiVersion, 'v1');
    assert.equal(e.object.status, 'Failure');
    assert.equal(e.object.reason, 'Expired');
    assert.equal(e.object.code, 410);
    assert.match(e.object.message, /^too old resource version: \d+ \(\d+\)$/);
    assert.equal(s.requestLog.at(-1)?.status, 200);
  });

  it('a resourceVersion from the future gets one ERROR event with a 504 Too large resource version, not older events', async (t) => {
    const s = await start(t);
    await create(s, IPPOOLS, ippool('a'));
    const future = Number(s.resourceVersion) + 5;
    const w = openWatch(s, `${IPPOOLS}?watch=true&resourceVersion=${future}`);
    t.after(() => w.close());
    await w.untilEnded();
    assert.deepEqual(
      w.events.map((e: Json) => [e.type, e.object.code, e.object.reason]),
      [['ERROR', 504, 'Timeout']],
    );
    assert.match(w.events[0].object.message, /^Too large resource version: \d+, current: \d+$/);
  });

  it('history beyond historyLimit expires like a compaction', async (t) => {
    const s = await start(t, { historyLimit: 2 });
    const old = s.resourceVersion;
    for (const n of ['a', 'b', 'c']) await create(s, IPPOOLS, ippool(n));
    const w = openWatch(s, `${IPPOOLS}?watch=true&resourceVersion=${old}`);
    t.after(() => w.close());
    await w.untilEnded();
    assert.equal(w.events[0].object.code, 410);
  });

  it('sends BOOKMARK events carrying only the resourceVersion when allowed', async (t) => {
    const s = await start(t, { bookmarkIntervalMs: 50 });
    const from = s.resourceVersion;
    const w = openWatch(s, `${IPPOOLS}?watch=true&allowWatchBookmarks=true&resourceVersion=${from}`);
    t.after(() => w.close());
    // A write to another kind moves the global resourceVersion; the IPPool watcher learns it by bookmark.
    await create(s, '/api/v1/nodes', { metadata: { name: 'n1' } });
    const [bm] = await w.waitFor(1);
    assert.deepEqual(bm, {
      type: 'BOOKMARK',
      object: { kind: 'IPPool', apiVersion: 'crd.caracal.dev/v1', metadata: { resourceVersion: s.resourceVersion } },
    });
    const quiet = openWatch(s, `${IPPOOLS}?watch=true&resourceVersion=${from}`);
    t.after(() => quiet.close());
    await new Promise((r) => setTimeout(r, 150));
    s.sendBookmarks();
    await create(s, IPPOOLS, ippool('a'));
    const events = await quiet.waitFor(1);
    assert.deepEqual(
      events.map((e: Json) => e.type),
      ['ADDED'],
    );
  });

  it('sendInitialEvents ends the initial state with an annotated BOOKMARK', async (t) => {
    const s = await start(t);
    await create(s, IPPOOLS, ippool('a'));
    const w = openWatch(
      s,
      `${IPPOOLS}?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan`,
    );
    t.after(() => w.close());
    const events = await w.waitFor(2);
    assert.equal(events[0].type, 'ADDED');
    assert.equal(events[1].type, 'BOOKMARK');
    assert.deepEqual(events[1].object.metadata.annotations, { 'k8s.io/initial-events-end': 'true' });
    const bad = await call(s, 'GET', `${IPPOOLS}?watch=true&sendInitialEvents=true`);
    assert.equal(bad.status, 422);
  });

  it('label selectors turn objects leaving or entering the selection into DELETED and ADDED', async (t) => {
    const s = await start(t);
    const from = s.resourceVersion;
    const w = openWatch(s, `${IPPOOLS}?watch=true&resourceVersion=${from}&labelSelector=team%3Dnet`);
    t.after(() => w.close());
    const a = await create(s, IPPOOLS, ippool('a', {}, { team: 'net' }));
    const moved = (await call(s, 'PUT', `${IPPOOLS}/a`, { ...a, metadata: { ...a.metadata, labels: { team: 'db' } } }))
      .body;
    await call(s, 'PUT', `${IPPOOLS}/a`, { ...moved, metadata: { ...moved.metadata, labels: { team: 'net' } } });
    await create(s, IPPOOLS, ippool('b', {}, { team: 'db' }));
    const events = await w.waitFor(3);
    assert.deepEqual(
      events.map((e: Json) => e.type),
      ['ADDED', 'DELETED', 'ADDED'],
    );
    // The DELETED carries the last matching state, at the resourceVersion of the change.
    assert.deepEqual(events[1].object.metadata.labels, { team: 'net' });
    assert.equal(events[1].object.metadata.resourceVersion, moved.metadata.resourceVersion);
  });

  it('ends the stream after timeoutSeconds', async (t) => {
    const s = await start(t);
    const w = openWatch(s, `${IPPOOLS}?watch=true&resourceVersion=${s.resourceVersion}&timeoutSeconds=1`);
    t.after(() => w.close());
    await w.untilEnded(3000);
    assert.equal(s.watchCount, 0);
  });
});

describe('TestApiServer test hooks', () => {
  it('restart() closes watches and listens again on the same port with the same data', async (t) => {
    const s = await start(t);
    const a = await create(s, IPPOOLS, ippool('a'));
    const url = s.url;
    const w = openWatch(s, `${IPPOOLS}?watch=true&resourceVersion=${a.metadata.resourceVersion}`);
    t.after(() => w.close());
    await w.waitFor(0);
    while (s.watchCount === 0) await new Promise((r) => setTimeout(r, 10));
    await s.restart();
    await w.untilEnded();
    assert.equal(s.url, url);
    assert.deepEqual((await call(s, 'GET', `${IPPOOLS}/a`)).body, a);
    await create(s, IPPOOLS, ippool('b'));
    // History survives the restart: a watch resumes from the old resourceVersion.
    const resumed = openWatch(s, `${IPPOOLS}?watch=true&resourceVersion=${a.metadata.resourceVersion}`);
    t.after(() => resumed.close());
    assert.deepEqual(
      (await resumed.waitFor(1)).map((e: Json) => e.object.metadata.name),
      ['b'],
    );
    await s.restart({ dropHistory: true });
    const expired = openWatch(s, `${IPPOOLS}?watch=true&resourceVersion=${a.metadata.resourceVersion}`);
    t.after(() => expired.close());
    await expired.untilEnded();
    assert.equal(expired.events[0].object.code, 410);
  });

  it('putRaw() stores an object the API would reject, and watchers see it', async (t) => {
    const s = await start(t);
    const from = s.resourceVersion;
    const w = openWatch(s, `${IPPOOLS}?watch=true&resourceVersion=${from}`);
    t.after(() => w.close());
    const rv = await s.putRaw(KINDS.IPPool, {
      apiVersion: 'crd.caracal.dev/v1',
      kind: 'IPPool',
      metadata: { name: 'bad' },
      spec: 42,
    });
    assert.equal(rv, s.resourceVersion);
    const got = await call(s, 'GET', `${IPPOOLS}/bad`);
    assert.equal(got.body.spec, 42);
    assert.equal(got.body.metadata.resourceVersion, rv);
    const [e] = await w.waitFor(1);
    assert.equal(e.type, 'ADDED');
    assert.equal(e.object.spec, 42);
  });

  it('requires the bearer token when configured, and writes a kubeconfig carrying it', async (t) => {
    const s = await start(t, { token: 's3cret' });
    assert.equal((await call(s, 'GET', '/api/v1')).status, 401);
    assert.equal(
      (await call(s, 'GET', '/api/v1', undefined, { authorization: 'Bearer wrong' })).body.reason,
      'Unauthorized',
    );
    assert.equal((await call(s, 'GET', '/api/v1', undefined, { authorization: 'Bearer s3cret' })).status, 200);
    const dir = await mkdtemp(join(tmpdir(), 'caracal-kcfg-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const doc = parseYaml(await readFile(await s.writeKubeconfig(dir), 'utf8'));
    assert.equal(doc['current-context'], 'caracal-test');
    assert.equal(doc.clusters[0].cluster.server, s.url);
    assert.equal(doc.clusters[0].cluster['insecure-skip-tls-verify'], true);
    assert.equal(doc.users[0].user.token, 's3cret');
  });

  it('logs each request with method, path, query and status', async (t) => {
    const s = await start(t);
    await call(s, 'GET', `${IPPOOLS}?limit=5&labelSelector=a%3Db`);
    await call(s, 'POST', IPPOOLS, ippool('a'));
    assert.deepEqual(
      s.requestLog.map((r) => [r.method, r.path, r.query, r.watch, r.status]),
      [
        ['GET', IPPOOLS, { limit: '5', labelSelector: 'a=b' }, false, 200],
        ['POST', IPPOOLS, {}, false, 201],
      ],
    );
    s.clearRequestLog();
    assert.equal(s.requestLog.length, 0);
  });
});
