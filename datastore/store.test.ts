/**
 * The store layer's own rules, driven precisely: a scripted backend (the test decides what each list returns
 * and what each stream delivers, and when it ends) and a manual clock (backoff timers fire when the test says).
 * Driver behaviour is the contract suite's business (contract.ts); this file covers what the contract cannot
 * pin down deterministically: dedupe on resume, backoff growth, pause/resume of a slow consumer, the
 * fromRevision rules, and the write-side checks.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Clock } from '../common/clock.js';
import { CaracalError, ErrorCodes, isCaracalError } from '../common/errors.js';
import type { KindInfo } from '../model/kind.js';
import { KINDS } from '../model/kinds.js';
import type { Resource } from '../model/meta.js';
import { invalidRawIPPool, sampleIPPool, sampleWorkloadEndpoint } from './contract-fixtures.js';
import { MemoryBackend } from './memory/backend.js';
import { createDatastore, type DatastoreOptions } from './store.js';
import type { Backend, RawObject, RawWatchHandlers, Revision, Watch, WatchEvent } from './types.js';

// ---------------------------------------------------------------------------------------------------------
// Test doubles

interface Stream {
  opts: { fromRevision: Revision; namespace?: string | undefined; labelSelector?: string | undefined };
  h: RawWatchHandlers;
  closed: boolean;
}

/** A backend whose lists and streams the test scripts. Only list and watch are used by a Watch. */
class ScriptedBackend implements Backend {
  readonly driver = 'memory' as const;
  lists: ({ items: RawObject[]; revision: Revision } | Error)[] = [];
  listCalls = 0;
  readonly streams: Stream[] = [];
  #streamWaiters: (() => void)[] = [];

  async get(): Promise<RawObject | undefined> {
    return undefined;
  }
  async list(): Promise<{ items: RawObject[]; revision: Revision }> {
    this.listCalls++;
    const next = this.lists.length > 1 ? this.lists.shift()! : this.lists[0];
    if (next === undefined) throw new Error('ScriptedBackend: no list scripted');
    if (next instanceof Error) throw next;
    return next;
  }
  watch(_kind: KindInfo, opts: Stream['opts'], h: RawWatchHandlers): { close(): void } {
    const s: Stream = { opts, h, closed: false };
    this.streams.push(s);
    for (const w of this.#streamWaiters.splice(0)) w();
    return { close: () => void Object.assign(s, { closed: true }) };
  }
  /** The n-th stream (0-based), once the store has opened it. */
  async stream(n: number): Promise<Stream> {
    while (this.streams.length <= n)
      await withTimeout(new Promise<void>((r) => this.#streamWaiters.push(r)), `stream ${n}`);
    return this.streams[n]!;
  }
  async create(): Promise<RawObject> {
    throw new Error('not scripted');
  }
  async update(): Promise<RawObject> {
    throw new Error('not scripted');
  }
  async delete(): Promise<RawObject> {
    throw new Error('not scripted');
  }
  async close(): Promise<void> {}
}

/** Timers that fire only when the test calls fire(); records every delay asked for. */
class ManualClock implements Clock {
  readonly delays: number[] = [];
  #timers: { fn: () => void; cancelled: boolean }[] = [];
  now(): number {
    return 0;
  }
  setTimeout(fn: () => void, ms: number): { cancel(): void } {
    this.delays.push(ms);
    const t = { fn, cancelled: false };
    this.#timers.push(t);
    this.#notify();
    return { cancel: () => void Object.assign(t, { cancelled: true }) };
  }
  get pending(): number {
    return this.#timers.filter((t) => !t.cancelled).length;
  }
  #waiters: (() => void)[] = [];
  #notify(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
  /** Wait until a timer is pending, then run it. */
  async fire(): Promise<void> {
    while (this.pending === 0) await withTimeout(new Promise<void>((r) => this.#waiters.push(r)), 'a timer');
    const t = this.#timers.find((x) => !x.cancelled)!;
    this.#timers = this.#timers.filter((x) => x !== t);
    t.fn();
  }
}

async function withTimeout<T>(p: Promise<T>, what: string, ms = 5_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, rej) => {
        timer = setTimeout(() => rej(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function raw(name: string, revision: string, labels?: Record<string, string>): RawObject {
  const v = sampleIPPool(name, labels ? { labels } : {}) as unknown as Record<string, unknown>;
  return { value: { ...v, metadata: { ...(v.metadata as object), resourceVersion: revision } }, revision };
}

function brief(e: WatchEvent<Resource>): string {
  if (e.type === 'added' || e.type === 'modified' || e.type === 'deleted')
    return `${e.type} ${e.object.metadata.name}@${e.revision}`;
  if (e.type === 'synced' || e.type === 'reset') return `${e.type}@${e.revision}`;
  if (e.type === 'invalid') return `invalid ${e.invalid.key}`;
  return 'error';
}

async function take(w: Watch<Resource>, n: number, what: string): Promise<string[]> {
  const it = w[Symbol.asyncIterator]();
  const out: string[] = [];
  while (out.length < n) {
    const r = await withTimeout(it.next(), `${what} (have ${out.join(', ')})`);
    assert.equal(r.done, false, `the watch ended while waiting for ${what}`);
    out.push(brief(r.value as WatchEvent<Resource>));
  }
  return out;
}

function setup(opts: DatastoreOptions = {}) {
  const backend = new ScriptedBackend();
  const clock = new ManualClock();
  const ds = createDatastore(backend, { clock, ...opts });
  return { backend, clock, ds };
}

// ---------------------------------------------------------------------------------------------------------

describe('createDatastore() watch', () => {
  it('resumes from the last revision after a stream ends, and drops what a resumed stream repeats', async () => {
    const { backend, clock, ds } = setup();
    backend.lists = [{ items: [], revision: '10' }];
    const w = ds.watch('IPPool') as unknown as Watch<Resource>;
    assert.deepEqual(await take(w, 1, 'synced'), ['synced@10']);
    const s0 = await backend.stream(0);
    assert.equal(s0.opts.fromRevision, '10');
    s0.h.onEvent({ type: 'added', object: raw('a', '11') });
    s0.h.onEvent({ type: 'added', object: raw('b', '12') });
    s0.h.onEvent({ type: 'added', object: raw('c', '12') }); // one revision, two keys (an etcd txn)
    s0.h.onEnd({ gone: false });
    await clock.fire();
    const s1 = await backend.stream(1);
    assert.equal(s1.opts.fromRevision, '12', 'resume strictly after the last revision delivered');
    for (const [n, r] of [
      ['a', '11'],
      ['b', '12'],
      ['c', '12'],
      ['d', '13'],
    ] as const) {
      s1.h.onEvent({ type: n === 'd' ? 'added' : 'modified', object: raw(n, r) });
    }
    assert.deepEqual(await take(w, 4, 'four distinct changes'), [
      'added a@11',
      'added b@12',
      'added c@12',
      'added d@13',
    ]);
    assert.equal(backend.listCalls, 1, 'a resume is not a relist');
    w.close();
    assert.equal(s1.closed, true);
  });

  it('a bookmark moves the resume point without an event', async () => {
    const { backend, clock, ds } = setup();
    backend.lists = [{ items: [], revision: '10' }];
    const w = ds.watch('IPPool') as unknown as Watch<Resource>;
    await take(w, 1, 'synced');
    const s0 = await backend.stream(0);
    s0.h.onEvent({ type: 'bookmark', revision: '20' });
    s0.h.onEnd({ gone: false });
    await clock.fire();
    assert.equal((await backend.stream(1)).opts.fromRevision, '20');
    w.close();
  });

  it('reports error events while the store is unreachable, backing off exponentially with jitter', async () => {
    const { backend, clock, ds } = setup({ watch: { backoffBaseMs: 100, backoffMaxMs: 1_000, random: () => 0.5 } });
    const down = new CaracalError(ErrorCodes.Unavailable, 'Cannot list: connection refused');
    backend.lists = [down, down, down, down, down, { items: [raw('a', '5')], revision: '5' }];
    const w = ds.watch('IPPool') as unknown as Watch<Resource>;
    for (let i = 0; i < 5; i++) {
      assert.deepEqual(await take(w, 1, `error ${i}`), ['error']);
      await clock.fire();
    }
    assert.deepEqual(await take(w, 2, 'the list, once reachable'), ['added a@5', 'synced@5']);
    assert.deepEqual(clock.delays, [50, 100, 200, 400, 500], 'half of min(max, base·2^n) with random() = 0.5');
    w.close();
  });

  it('wraps a driver error that is not a CaracalError as DATASTORE_UNAVAILABLE', async () => {
    const { backend, clock, ds } = setup();
    backend.lists = [{ items: [], revision: '1' }];
    const w = ds.watch('IPPool') as unknown as Watch<Resource>;
    await take(w, 1, 'synced');
    (await backend.stream(0)).h.onEnd({ gone: false, error: new Error('14 UNAVAILABLE: Connection dropped') });
    const it = w[Symbol.asyncIterator]();
    const r = await withTimeout(it.next(), 'the error event');
    assert.ok(!r.done && r.value.type === 'error');
    assert.equal(r.value.error.code, ErrorCodes.Unavailable);
    assert.match(r.value.error.message, /Connection dropped/);
    assert.equal(clock.pending, 1, 'a retry is scheduled');
    w.close();
    assert.equal(clock.pending, 0, 'close() cancels the retry timer');
  });

  it('on gone, relists and delivers only the difference from what the consumer holds', async () => {
    const { backend, clock, ds } = setup();
    backend.lists = [{ items: [raw('a', '5'), raw('b', '6'), raw('c', '6')], revision: '6' }];
    const w = ds.watch('IPPool') as unknown as Watch<Resource>;
    assert.deepEqual(await take(w, 4, 'initial'), ['added a@5', 'added b@6', 'added c@6', 'synced@6']);
    const s0 = await backend.stream(0);
    s0.h.onEvent({ type: 'modified', object: raw('b', '7') });
    backend.lists = [{ items: [raw('b', '7'), raw('c', '8'), raw('d', '9')], revision: '9' }];
    s0.h.onEnd({ gone: true });
    await clock.fire();
    const events = await take(w, 5, 'the diff');
    assert.equal(events[0], 'modified b@7');
    assert.deepEqual(events.slice(1, 4).sort(), ['added d@9', 'deleted a@9', 'modified c@8']);
    assert.equal(events[4], 'synced@9');
    assert.equal((await backend.stream(1)).opts.fromRevision, '9');
    w.close();
  });

  it('from a revision: synced at once, unknown keys leaving the selection are deleted once, gone means reset', async () => {
    const { backend, clock, ds } = setup();
    const w = ds.watch('IPPool', { fromRevision: '30', labelSelector: 'tier=web' }) as unknown as Watch<Resource>;
    assert.deepEqual(await take(w, 1, 'synced'), ['synced@30']);
    const s0 = await backend.stream(0);
    assert.equal(s0.opts.fromRevision, '30');
    assert.equal(backend.listCalls, 0, 'no list when starting from a revision');
    s0.h.onEvent({ type: 'modified', object: raw('x', '31', { tier: 'db' }) }); // may have been web at 30
    s0.h.onEvent({ type: 'modified', object: raw('x', '32', { tier: 'db' }) }); // now known absent: nothing
    s0.h.onEvent({ type: 'modified', object: raw('y', '33', { tier: 'web' }) }); // unknown: keep the driver's type
    s0.h.onEvent({ type: 'added', object: raw('z', '34', { tier: 'web' }) });
    assert.deepEqual(await take(w, 3, 'changes'), ['deleted x@31', 'modified y@33', 'added z@34']);
    backend.lists = [{ items: [raw('y', '33', { tier: 'web' }), raw('q', '35', { tier: 'web' })], revision: '40' }];
    s0.h.onEnd({ gone: true });
    await clock.fire();
    const after = await take(w, 4, 'reset and the full list');
    assert.deepEqual([after[0], after[3]], ['reset@40', 'synced@40']);
    assert.deepEqual(after.slice(1, 3).sort(), ['added q@35', 'added y@33']);
    w.close();
  });

  it('a slow consumer pauses the backend stream at the high-water mark and resumes from the same revision', async () => {
    const { backend, ds } = setup({ watch: { highWater: 4 } });
    backend.lists = [{ items: ['a', 'b', 'c', 'd', 'e'].map((n, i) => raw(n, String(i + 1))), revision: '5' }];
    const w = ds.watch('IPPool') as unknown as Watch<Resource>;
    assert.deepEqual(await take(w, 1, 'first'), ['added a@1']);
    assert.equal(backend.streams.length, 0, 'no stream while 5 events wait');
    assert.deepEqual(await take(w, 3, 'down to half'), ['added b@2', 'added c@3', 'added d@4']);
    const s0 = await backend.stream(0);
    assert.equal(s0.opts.fromRevision, '5');
    s0.h.onEvent({ type: 'added', object: raw('n6', '6') });
    assert.equal(s0.closed, false);
    s0.h.onEvent({ type: 'added', object: raw('n7', '7') });
    assert.equal(s0.closed, false, 'revision 7 may have more keys to come: no pause inside a revision');
    s0.h.onEvent({ type: 'added', object: raw('n8', '8') }); // a new revision while 4 behind: pause, not queued
    assert.equal(s0.closed, true, 'paused once the consumer is 4 events behind and a new revision starts');
    s0.h.onEvent({ type: 'added', object: raw('n9', '9') }); // already in flight from the dropped stream: ignored
    assert.deepEqual(await take(w, 4, 'the backlog'), ['added e@5', 'synced@5', 'added n6@6', 'added n7@7']);
    const s1 = await backend.stream(1);
    assert.equal(s1.opts.fromRevision, '7', 'resume after the last event queued, not the last one sent');
    for (const [n, r] of [
      ['n8', '8'],
      ['n9', '9'],
      ['late', '10'],
    ] as const)
      s1.h.onEvent({ type: 'added', object: raw(n, r) });
    assert.deepEqual(await take(w, 3, 'the rest'), ['added n8@8', 'added n9@9', 'added late@10']);
    w.close();
  });

  it('a slow consumer never pauses inside one revision: every key of a multi-key revision is delivered', async () => {
    const { backend, ds } = setup({ watch: { highWater: 4 } });
    backend.lists = [{ items: [], revision: '10' }];
    const w = ds.watch('IPPool') as unknown as Watch<Resource>;
    assert.deepEqual(await take(w, 1, 'synced'), ['synced@10']);
    const s0 = await backend.stream(0);
    const keys = ['a', 'b', 'c', 'd', 'e', 'f'];
    for (const n of keys) s0.h.onEvent({ type: 'added', object: raw(n, '11') }); // one etcd txn, 6 keys
    assert.equal(s0.closed, false);
    s0.h.onEvent({ type: 'added', object: raw('g', '12') });
    assert.equal(s0.closed, true);
    assert.deepEqual(
      await take(w, 6, 'all of revision 11'),
      keys.map((n) => `added ${n}@11`),
    );
    const s1 = await backend.stream(1);
    assert.equal(s1.opts.fromRevision, '11');
    s1.h.onEvent({ type: 'added', object: raw('g', '12') });
    assert.deepEqual(await take(w, 1, 'the next revision'), ['added g@12']);
    w.close();
  });

  it('breaking out of for await closes the backend stream and leaves no timer', async () => {
    const { backend, clock, ds } = setup();
    backend.lists = [{ items: [raw('a', '1')], revision: '1' }];
    const w = ds.watch('IPPool');
    for await (const e of w) if (e.type === 'synced') break;
    const s0 = await backend.stream(0);
    assert.equal(s0.closed, true);
    assert.equal(clock.pending, 0);
    s0.h.onEnd({ gone: false, error: new Error('late') }); // a late end from the closed stream is ignored
    assert.equal(clock.pending, 0);
  });

  it('an invalid object is reported, and one the consumer held is deleted first', async () => {
    const { backend, ds } = setup();
    const bad = (name: string, rev: string): RawObject => ({
      value: { ...invalidRawIPPool(name), metadata: { name, resourceVersion: rev } },
      revision: rev,
    });
    backend.lists = [{ items: [raw('a', '1'), bad('b', '2')], revision: '2' }];
    const w = ds.watch('IPPool') as unknown as Watch<Resource>;
    assert.deepEqual(await take(w, 3, 'initial'), ['added a@1', 'invalid ippools/b', 'synced@2']);
    const s0 = await backend.stream(0);
    s0.h.onEvent({ type: 'modified', object: bad('a', '3') });
    s0.h.onEvent({
      type: 'added',
      object: { value: { metadata: { name: 'c' } }, revision: '4', decodeError: 'value is not JSON' },
    });
    s0.h.onEvent({ type: 'modified', object: raw('b', '5') });
    assert.deepEqual(await take(w, 4, 'changes'), [
      'deleted a@3',
      'invalid ippools/a',
      'invalid ippools/c',
      'added b@5',
    ]);
    w.close();
  });
});

describe('createDatastore() reads and writes', () => {
  it('create() fills apiVersion and kind, drops a stale resourceVersion, and returns the stored revision', async () => {
    const ds = createDatastore(new MemoryBackend());
    const { apiVersion: _a, kind: _k, ...bare } = sampleIPPool('p');
    const created = await ds.create('IPPool', { ...bare, metadata: { name: 'p', resourceVersion: '999' } } as never);
    assert.equal(created.apiVersion, 'crd.caracal.dev/v1');
    assert.equal(created.kind, 'IPPool');
    assert.notEqual(created.metadata.resourceVersion, '999');
    assert.equal(typeof created.metadata.uid, 'string');
    await ds.close();
  });

  it('create() takes the input form: defaulted fields may be left out and come back filled in', async () => {
    const ds = createDatastore(new MemoryBackend());
    const created = await ds.create('IPPool', {
      apiVersion: 'crd.caracal.dev/v1',
      kind: 'IPPool',
      metadata: { name: 'small' },
      spec: { cidr: '10.9.0.0/16' },
    });
    assert.equal(created.spec.blockSize, 26);
    assert.equal(created.spec.ipipMode, 'Never');
    assert.deepEqual(await ds.get('IPPool', 'small'), created);
    await ds.close();
  });

  it('update() without metadata.resourceVersion is rejected: updates are compare-and-swap', async () => {
    const ds = createDatastore(new MemoryBackend());
    const created = await ds.create('IPPool', sampleIPPool('p'));
    const { resourceVersion: _rv, ...meta } = created.metadata;
    await assert.rejects(ds.update('IPPool', { ...created, metadata: meta }), (e) => {
      assert.ok(isCaracalError(e, ErrorCodes.InvalidResource));
      assert.equal(e.details.field, 'metadata.resourceVersion');
      return true;
    });
    await ds.close();
  });

  it('scope: a namespaced kind needs a namespace, a cluster-scoped one must not carry one', async () => {
    const ds = createDatastore(new MemoryBackend());
    await assert.rejects(ds.get('WorkloadEndpoint', 'x'), (e) => isCaracalError(e, ErrorCodes.InvalidResource));
    const wep = sampleWorkloadEndpoint('ns', 'p');
    const { namespace: _ns, ...noNs } = wep.metadata;
    await assert.rejects(ds.create('WorkloadEndpoint', { ...wep, metadata: noNs }), (e) => {
      assert.ok(isCaracalError(e, ErrorCodes.InvalidResource));
      assert.equal(e.details.field, 'metadata.namespace');
      return true;
    });
    const pool = sampleIPPool('p');
    await assert.rejects(ds.create('IPPool', { ...pool, metadata: { ...pool.metadata, namespace: 'ns' } }), (e) => {
      assert.ok(isCaracalError(e, ErrorCodes.InvalidResource));
      assert.equal(e.details.field, 'metadata.namespace');
      return true;
    });
    // get() of a cluster-scoped kind ignores a namespace, as kubectl does.
    await ds.create('IPPool', pool);
    assert.equal((await ds.get('IPPool', 'p', 'whatever'))?.metadata.name, 'p');
    await ds.close();
  });

  it('an unknown kind fails with UNKNOWN_KIND', async () => {
    const ds = createDatastore(new MemoryBackend());
    await assert.rejects(ds.get('NoSuchKind' as never, 'x'), (e) => isCaracalError(e, ErrorCodes.UnknownKind));
    await assert.rejects(ds.get('toString' as never, 'x'), (e) => isCaracalError(e, ErrorCodes.UnknownKind));
    await ds.close();
  });

  it('a bad label selector fails with INVALID_RESOURCE before anything is read', async () => {
    const ds = createDatastore(new MemoryBackend());
    await assert.rejects(ds.list('IPPool', { labelSelector: 'a in b' }), (e) =>
      isCaracalError(e, ErrorCodes.InvalidResource),
    );
    assert.throws(
      () => ds.watch('IPPool', { labelSelector: '=x' }),
      (e) => isCaracalError(e, ErrorCodes.InvalidResource),
    );
    await ds.close();
  });

  it('delete() of an invalid object succeeds and returns its raw last state', async () => {
    const backend = new MemoryBackend();
    const ds = createDatastore(backend);
    backend.putRaw(KINDS.IPPool, invalidRawIPPool('junk'));
    const last = await ds.delete('IPPool', 'junk');
    assert.equal((last as unknown as { spec: unknown }).spec, 'not-an-object');
    assert.equal(await ds.get('IPPool', 'junk'), undefined);
    await ds.close();
  });

  it('a watch over the memory backend survives an outage: errors while down, then every change once', async () => {
    const backend = new MemoryBackend();
    const ds = createDatastore(backend, { watch: { backoffBaseMs: 5, backoffMaxMs: 20 } });
    const w = ds.watch('IPPool') as unknown as Watch<Resource>;
    assert.deepEqual(await take(w, 1, 'synced'), ['synced@1']);
    await ds.create('IPPool', sampleIPPool('a'));
    backend.setAvailable(false);
    assert.deepEqual(await take(w, 2, 'the change, then an error'), ['added a@2', 'error']);
    await assert.rejects(ds.create('IPPool', sampleIPPool('b')), (e) => isCaracalError(e, ErrorCodes.Unavailable));
    backend.setAvailable(true);
    await ds.create('IPPool', sampleIPPool('b'));
    const it = w[Symbol.asyncIterator]();
    let next = await withTimeout(it.next(), 'b after the outage');
    while (!next.done && next.value.type === 'error') next = await withTimeout(it.next(), 'b after the outage');
    assert.equal(!next.done && brief(next.value), 'added b@3');
    await ds.close();
    assert.equal(backend.watchCount, 0);
  });
});
