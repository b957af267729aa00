/**
 * The datastore contract: one node:test suite that every driver runs through the typed store layer, against
 * a real store (etcd-server) or the faithful test double (test/k8s-api-server). Each test gets a fresh harness
 * (`setup()` per test, `teardown()` after it, even on failure).
 *
 * What a driver must do beyond the obvious, because these tests rely on it:
 *   - fail with DATASTORE_UNAVAILABLE while the store is down (writers retry on it across `restart()`);
 *   - report compaction / 410 as `onEnd({ gone: true })` and a broken stream as `onEnd({ gone: false })`;
 *   - give every write a revision greater than the last, and events in revision order.
 *
 * @example
 * runDatastoreContract('memory', async () => memoryHarness());
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type CaracalError, type ErrorCode, ErrorCodes, isCaracalError } from '../common/errors.js';
import { KINDS, type ResourceOf } from '../model/kinds.js';
import type { Resource } from '../model/meta.js';
import {
  invalidRawIPPool,
  invalidWrites,
  poolCidrV4,
  sampleIPPool,
  sampleWorkloadEndpoint,
} from './contract-fixtures.js';
import type { ContractHarness } from './contract-harness.js';
import { compareRevisions } from './revision.js';
import { WATCH_QUEUE_HIGH_WATER } from './store.js';
import type { Datastore, Revision, Watch, WatchEvent } from './types.js';

/** Long enough for an etcd restart (about 2 s here) plus the store layer's backoff. */
const EVENT_TIMEOUT_MS = 20_000;
const TEST_TIMEOUT_MS = 120_000;

type IPPool = ResourceOf<'IPPool'>;

function rv(o: Resource): Revision {
  const r = o.metadata.resourceVersion;
  assert.ok(r, `expected ${o.kind} "${o.metadata.name}" to carry metadata.resourceVersion`);
  return r;
}

function assertNewer(a: Revision, b: Revision, what: string): void {
  const c = compareRevisions(a, b);
  assert.ok(c !== undefined && c > 0, `${what}: expected revision ${a} to be newer than ${b}`);
}

/** The field paths an INVALID_RESOURCE names: `details.field` and every `details.issues[].path`. */
function fieldPaths(e: CaracalError): string[] {
  const issues = (e.details.issues as readonly { path?: unknown }[] | undefined) ?? [];
  const paths = issues.map((i) => i.path).filter((p): p is string => typeof p === 'string');
  return typeof e.details.field === 'string' ? [e.details.field, ...paths] : paths;
}

function assertNamesField(e: unknown, field: string, what: string): true {
  assertCode(e, ErrorCodes.InvalidResource);
  const err = e as CaracalError;
  assert.ok(
    fieldPaths(err).includes(field),
    `${what}: expected the error to name ${field}, got ${fieldPaths(err)}: ${err.message}`,
  );
  assert.ok(err.message.includes(field), `${what}: the message should name ${field}: ${err.message}`);
  return true;
}

function assertCode(e: unknown, code: ErrorCode): true {
  assert.ok(isCaracalError(e), `expected a CaracalError ${code}, got ${String(e)}`);
  assert.equal(e.code, code, `expected ${code}, got ${e.code}: ${e.message}`);
  return true;
}

/** One-line description of an event, for exact-sequence assertions. */
function brief(e: WatchEvent<Resource>): string {
  switch (e.type) {
    case 'added':
    case 'modified':
    case 'deleted':
      return `${e.type} ${e.object.metadata.namespace ? `${e.object.metadata.namespace}/` : ''}${e.object.metadata.name}`;
    case 'invalid':
      return `invalid ${e.invalid.key}`;
    default:
      return e.type;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Reads a watch with a bounded wait per event and a clear message when it times out. */
class Events<T extends Resource> {
  readonly #it: AsyncIterator<WatchEvent<T>>;
  constructor(watch: Watch<T>) {
    this.#it = watch[Symbol.asyncIterator]();
  }
  async next(what: string, ms = EVENT_TIMEOUT_MS): Promise<WatchEvent<T>> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms);
    });
    try {
      const r = await Promise.race([this.#it.next(), timeout]);
      if (r.done) throw new Error(`The watch ended while waiting for ${what}`);
      return r.value;
    } finally {
      clearTimeout(timer);
    }
  }
  /** Events up to and including the first for which `stop` is true. */
  async until(stop: (e: WatchEvent<T>) => boolean, what: string): Promise<WatchEvent<T>[]> {
    const out: WatchEvent<T>[] = [];
    for (;;) {
      const e = await this.next(what);
      out.push(e);
      if (stop(e)) return out;
    }
  }
  /** `n` events, none of them `error`. */
  async take(n: number, what: string): Promise<WatchEvent<T>[]> {
    const out: WatchEvent<T>[] = [];
    while (out.length < n) {
      const e = await this.next(`${what} (${out.length} of ${n} so far: ${out.map(brief).join(', ')})`);
      if (e.type === 'error') assert.fail(`unexpected error event while waiting for ${what}: ${e.error.message}`);
      out.push(e);
    }
    return out;
  }
}

/** Run `fn`, retrying while the store is unavailable (during a restart), for up to `ms`. */
async function retrying<T>(fn: () => Promise<T>, ms = EVENT_TIMEOUT_MS): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (e) {
      if (!isCaracalError(e, ErrorCodes.Unavailable) || Date.now() > deadline) throw e;
      await sleep(50); // pacing between attempts, not synchronisation
    }
  }
}

/** Create, retrying across a restart; a retried create that had landed shows up as AlreadyExists. */
async function createRetrying(ds: Datastore, pool: IPPool): Promise<Revision> {
  return await retrying(async () => {
    try {
      return rv(await ds.create('IPPool', pool));
    } catch (e) {
      if (!isCaracalError(e, ErrorCodes.AlreadyExists)) throw e;
      const got = await ds.get('IPPool', pool.metadata.name);
      assert.ok(got, `"${pool.metadata.name}" exists and does not`);
      return rv(got);
    }
  });
}

async function inParallel<T>(items: readonly T[], width: number, fn: (x: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += width) await Promise.all(items.slice(i, i + width).map(fn));
}

export function runDatastoreContract(name: string, setup: () => Promise<ContractHarness>): void {
  describe(`Datastore contract: ${name}`, { timeout: TEST_TIMEOUT_MS }, () => {
    let h: ContractHarness | undefined;
    let ds: Datastore;
    const watches: Watch<Resource>[] = [];
    const watch = <T extends Resource>(w: Watch<T>): Events<T> => {
      watches.push(w as unknown as Watch<Resource>);
      return new Events(w);
    };

    beforeEach(async () => {
      h = await setup();
      ds = h.store;
    });
    afterEach(async () => {
      for (const w of watches.splice(0)) w.close();
      await h?.teardown();
      h = undefined;
    });
    const harness = (): ContractHarness => {
      assert.ok(h, 'setup() did not run');
      return h;
    };

    it('create(), get(), list(), update() and delete() round-trip a cluster-scoped object', async () => {
      const sample = sampleIPPool('pool-a', { labels: { tier: 'web' } });
      const created = await ds.create('IPPool', sample);
      assert.equal(created.apiVersion, 'crd.caracal.dev/v1');
      assert.equal(created.kind, 'IPPool');
      assert.equal(created.metadata.name, 'pool-a');
      assert.deepEqual(created.metadata.labels, { tier: 'web' });
      assert.deepEqual(created.spec, sample.spec);
      const r1 = rv(created);

      assert.deepEqual(await ds.get('IPPool', 'pool-a'), created);
      const listed = await ds.list('IPPool');
      assert.deepEqual(listed.items, [created]);
      assert.deepEqual(listed.invalid, []);
      assert.ok((compareRevisions(listed.revision, r1) ?? -1) >= 0, 'the list revision covers the create');

      const spec = { ...(created.spec as Record<string, unknown>), natOutgoing: true };
      const updated = await ds.update('IPPool', { ...created, spec } as IPPool);
      assertNewer(rv(updated), r1, 'update');
      assert.equal((updated.spec as { natOutgoing: boolean }).natOutgoing, true);
      assert.deepEqual(await ds.get('IPPool', 'pool-a'), updated);

      const deleted = await ds.delete('IPPool', 'pool-a');
      assert.equal(deleted.metadata.name, 'pool-a');
      assert.equal((deleted.spec as { natOutgoing: boolean }).natOutgoing, true, 'delete returns the last state');
      assert.equal(await ds.get('IPPool', 'pool-a'), undefined);
      assert.deepEqual((await ds.list('IPPool')).items, []);
    });

    it('a namespaced kind round-trips, and namespaces keep equal names apart', async () => {
      const a = await ds.create('WorkloadEndpoint', sampleWorkloadEndpoint('ns-a', 'pod-1'));
      const b = await ds.create('WorkloadEndpoint', sampleWorkloadEndpoint('ns-b', 'pod-1', { ip: '10.244.1.6' }));
      assert.equal(a.metadata.name, b.metadata.name);
      assert.equal(a.metadata.namespace, 'ns-a');
      assert.deepEqual(await ds.get('WorkloadEndpoint', a.metadata.name, 'ns-a'), a);
      assert.deepEqual(await ds.get('WorkloadEndpoint', b.metadata.name, 'ns-b'), b);
      assert.equal(await ds.get('WorkloadEndpoint', a.metadata.name, 'ns-c'), undefined);

      assert.deepEqual((await ds.list('WorkloadEndpoint', { namespace: 'ns-a' })).items, [a]);
      const all = (await ds.list('WorkloadEndpoint')).items;
      assert.deepEqual(all.map((o) => o.metadata.namespace).sort(), ['ns-a', 'ns-b']);

      const relabelled = await ds.update('WorkloadEndpoint', {
        ...a,
        metadata: { ...a.metadata, labels: { app: 'web' } },
      });
      assertNewer(rv(relabelled), rv(a), 'update');
      await ds.delete('WorkloadEndpoint', b.metadata.name, 'ns-b');
      assert.equal(await ds.get('WorkloadEndpoint', b.metadata.name, 'ns-b'), undefined);
      assert.deepEqual(await ds.get('WorkloadEndpoint', a.metadata.name, 'ns-a'), relabelled);
    });

    it('create() of a name that exists fails with DATASTORE_ALREADY_EXISTS and changes nothing', async () => {
      const first = await ds.create('IPPool', sampleIPPool('dup'));
      await assert.rejects(ds.create('IPPool', sampleIPPool('dup', { natOutgoing: true })), (e) =>
        assertCode(e, ErrorCodes.AlreadyExists),
      );
      assert.deepEqual(await ds.get('IPPool', 'dup'), first);
    });

    it('update() and delete() of an absent object fail with DATASTORE_NOT_FOUND; get() returns undefined', async () => {
      const gone = await ds.create('IPPool', sampleIPPool('ghost'));
      await ds.delete('IPPool', 'ghost');
      assert.equal(await ds.get('IPPool', 'ghost'), undefined);
      await assert.rejects(ds.update('IPPool', gone), (e) => assertCode(e, ErrorCodes.NotFound));
      await assert.rejects(ds.delete('IPPool', 'ghost'), (e) => assertCode(e, ErrorCodes.NotFound));
      await assert.rejects(ds.delete('IPPool', 'ghost', undefined, { revision: rv(gone) }), (e) =>
        assertCode(e, ErrorCodes.NotFound),
      );
      assert.equal(await ds.get('IPPool', 'ghost'), undefined, 'the failed update did not create it');
    });

    it('two writers that read the same revision: exactly one update wins, the other gets DATASTORE_CONFLICT', async () => {
      const base = await ds.create('IPPool', sampleIPPool('cas'));
      const write = (who: string) =>
        ds.update('IPPool', { ...base, metadata: { ...base.metadata, annotations: { writer: who } } });
      const results = await Promise.allSettled([write('one'), write('two')]);
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r) => r.status === 'rejected');
      assert.equal(won.length, 1, 'exactly one writer wins');
      assert.equal(lost.length, 1);
      assertCode(lost[0]!.reason, ErrorCodes.Conflict);
      assert.deepEqual(await ds.get('IPPool', 'cas'), won[0]!.value);
      // The loser's revision stays stale: retrying it blindly conflicts again.
      await assert.rejects(write('three'), (e) => assertCode(e, ErrorCodes.Conflict));
    });

    it('delete() with a stale revision fails with DATASTORE_CONFLICT; with the current one it succeeds', async () => {
      const v1 = await ds.create('IPPool', sampleIPPool('cas-del'));
      const v2 = await ds.update('IPPool', { ...v1, metadata: { ...v1.metadata, labels: { v: '2' } } });
      await assert.rejects(ds.delete('IPPool', 'cas-del', undefined, { revision: rv(v1) }), (e) =>
        assertCode(e, ErrorCodes.Conflict),
      );
      assert.deepEqual(await ds.get('IPPool', 'cas-del'), v2, 'the conflicting delete changed nothing');
      const last = await ds.delete('IPPool', 'cas-del', undefined, { revision: rv(v2) });
      assert.deepEqual(last.metadata.labels, { v: '2' });
      assert.equal(await ds.get('IPPool', 'cas-del'), undefined);
    });

    it('list() filters by label selector, and by namespace for namespaced kinds', async () => {
      await ds.create('IPPool', sampleIPPool('a', { labels: { tier: 'web', env: 'prod' }, cidr: poolCidrV4(1) }));
      await ds.create('IPPool', sampleIPPool('b', { labels: { tier: 'db', env: 'prod' }, cidr: poolCidrV4(2) }));
      await ds.create('IPPool', sampleIPPool('c', { labels: { tier: 'web', env: 'dev' }, cidr: poolCidrV4(3) }));
      await ds.create('IPPool', sampleIPPool('d', { cidr: poolCidrV4(4) }));
      const names = async (labelSelector: string) =>
        (await ds.list('IPPool', { labelSelector })).items.map((o) => o.metadata.name).sort();
      assert.deepEqual(await names('tier=web'), ['a', 'c']);
      assert.deepEqual(await names('env!=prod'), ['c', 'd']);
      assert.deepEqual(await names('tier in (web,db),env=prod'), ['a', 'b']);
      assert.deepEqual(await names('tier notin (web)'), ['b', 'd']);
      assert.deepEqual(await names('tier'), ['a', 'b', 'c']);
      assert.deepEqual(await names('!tier'), ['d']);
      assert.deepEqual(await names(''), ['a', 'b', 'c', 'd']);

      await ds.create('WorkloadEndpoint', sampleWorkloadEndpoint('ns-a', 'p1', { labels: { app: 'web' } }));
      await ds.create('WorkloadEndpoint', sampleWorkloadEndpoint('ns-a', 'p2', { labels: { app: 'db' } }));
      await ds.create('WorkloadEndpoint', sampleWorkloadEndpoint('ns-b', 'p3', { labels: { app: 'web' } }));
      const weps = await ds.list('WorkloadEndpoint', { namespace: 'ns-a', labelSelector: 'app=web' });
      assert.deepEqual(
        weps.items.map((o) => `${o.metadata.namespace}/${(o.spec as { pod: string }).pod}`),
        ['ns-a/p1'],
      );
    });

    it('watch({ fromRevision }) of a list revision delivers exactly the later changes, in order', async () => {
      const p1 = await ds.create('IPPool', sampleIPPool('p1', { cidr: poolCidrV4(1) }));
      const { revision } = await ds.list('IPPool');
      const p2 = await ds.create('IPPool', sampleIPPool('p2', { cidr: poolCidrV4(2) }));
      const ev = watch(ds.watch('IPPool', { fromRevision: revision }));
      const p1b = await ds.update('IPPool', { ...p1, metadata: { ...p1.metadata, labels: { v: '2' } } });
      await ds.delete('IPPool', 'p2');
      const p3 = await ds.create('IPPool', sampleIPPool('p3', { cidr: poolCidrV4(3) }));

      const got = await ev.take(5, 'synced and four changes');
      assert.deepEqual(got.map(brief), ['synced', 'added p2', 'modified p1', 'deleted p2', 'added p3']);
      assert.equal(got[0]!.type === 'synced' && got[0]!.revision, revision);
      const revs = got
        .slice(1)
        .map((e) => (e.type === 'added' || e.type === 'modified' || e.type === 'deleted' ? e.revision : ''));
      assert.equal(revs[0], rv(p2));
      assert.equal(revs[1], rv(p1b));
      assertNewer(revs[2]!, rv(p1b), 'the delete');
      assert.equal(revs[3], rv(p3));
      const last = got[4]!;
      assert.ok(last.type === 'added');
      assert.deepEqual(last.object, p3, 'events carry the stored object');
    });

    it('watch() without a revision: the initial list as added, then synced, then live changes', async () => {
      const made: IPPool[] = [];
      for (const n of ['w1', 'w2', 'w3'])
        made.push(await ds.create('IPPool', sampleIPPool(n, { cidr: poolCidrV4(made.length) })));
      const ev = watch(ds.watch('IPPool'));
      const initial = await ev.take(4, 'three added and synced');
      assert.deepEqual(initial.slice(0, 3).map(brief).sort(), ['added w1', 'added w2', 'added w3']);
      const synced = initial[3]!;
      assert.ok(synced.type === 'synced', `expected synced, got ${brief(synced)}`);
      for (const o of made) assert.ok((compareRevisions(synced.revision, rv(o)) ?? -1) >= 0);
      for (const e of initial.slice(0, 3)) {
        assert.ok(e.type === 'added');
        assert.deepEqual(
          e.object,
          made.find((o) => o.metadata.name === e.object.metadata.name),
        );
      }
      const w4 = await ds.create('IPPool', sampleIPPool('w4', { cidr: poolCidrV4(9) }));
      const [live] = await ev.take(1, 'the live create');
      assert.ok(live?.type === 'added');
      assert.equal(live.revision, rv(w4));
      assert.deepEqual(live.object, w4);
    });

    it('watch() with a label selector: objects entering and leaving the selection arrive as added and deleted', async () => {
      const a = await ds.create('IPPool', sampleIPPool('a', { labels: { tier: 'web' }, cidr: poolCidrV4(1) }));
      const b = await ds.create('IPPool', sampleIPPool('b', { labels: { tier: 'db' }, cidr: poolCidrV4(2) }));
      const ev = watch(ds.watch('IPPool', { labelSelector: 'tier=web' }));
      assert.deepEqual((await ev.take(2, 'initial list')).map(brief), ['added a', 'synced']);
      await ds.update('IPPool', { ...b, metadata: { ...b.metadata, labels: { tier: 'web' } } });
      const a2 = await ds.update('IPPool', { ...a, metadata: { ...a.metadata, labels: { tier: 'db' } } });
      await ds.update('IPPool', { ...a2, metadata: { ...a2.metadata, annotations: { still: 'db' } } });
      await ds.create('IPPool', sampleIPPool('c', { labels: { tier: 'web' }, cidr: poolCidrV4(3) }));
      assert.deepEqual((await ev.take(3, 'selection changes')).map(brief), ['added b', 'deleted a', 'added c']);
    });

    it('a watch loses and repeats nothing across a store restart', async () => {
      const ev = watch(ds.watch('IPPool'));
      assert.deepEqual((await ev.take(1, 'synced of the empty list')).map(brief), ['synced']);
      const written: Revision[] = [await createRetrying(ds, sampleIPPool('before', { cidr: poolCidrV4(0) }))];
      let restarting = true;
      const restart = harness()
        .restart()
        .finally(() => {
          restarting = false;
        });
      let i = 1;
      // Keep writing while the store goes down and comes back: some land before, some after.
      for (; (restarting || i < 4) && i < 200; i++) {
        written.push(await createRetrying(ds, sampleIPPool(`during-${i}`, { cidr: poolCidrV4(i) })));
        await sleep(20); // pacing, so that writes straddle the restart
      }
      await restart;
      for (let j = 0; j < 3; j++, i++)
        written.push(await createRetrying(ds, sampleIPPool(`after-${j}`, { cidr: poolCidrV4(i) })));

      const seen: Revision[] = [];
      while (seen.length < written.length) {
        const e = await ev.next(`event ${seen.length + 1} of ${written.length}`);
        if (e.type === 'error') continue; // expected while the store is down
        assert.ok(e.type === 'added', `expected only added events across a restart, got ${brief(e)}`);
        seen.push(e.revision);
      }
      assert.deepEqual(seen, written, 'every write seen once, in order');
      const sentinel = await ds.create('IPPool', sampleIPPool('sentinel', { cidr: poolCidrV4(i) }));
      let next = await ev.next('the sentinel');
      while (next.type === 'error') next = await ev.next('the sentinel');
      assert.equal(brief(next), 'added sentinel', 'nothing was delivered twice');
      assert.equal(next.type === 'added' && next.revision, rv(sentinel));
    });

    it('compaction while a watcher is behind: a relist delivers the difference (deletes included), then synced', async () => {
      // A watcher is behind when its stream is not running while the store changes. The store layer stops
      // reading its stream while the consumer has WATCH_QUEUE_HIGH_WATER undelivered events, so an initial
      // list that large, read one event at a time, keeps this watcher behind for as long as we like.
      const n = WATCH_QUEUE_HIGH_WATER;
      const names = ['keep', 'doomed', 'changing', ...Array.from({ length: n - 3 }, (_, i) => `filler-${i}`)];
      await inParallel(names, 50, (nm) =>
        ds.create('IPPool', sampleIPPool(nm, { cidr: poolCidrV4(names.indexOf(nm)) })),
      );
      const ev = watch(ds.watch('IPPool'));
      const first = await ev.next('the first initial event');
      assert.equal(first.type, 'added');

      await ds.delete('IPPool', 'doomed');
      const changing = await ds.get('IPPool', 'changing');
      assert.ok(changing);
      const changed = await ds.update('IPPool', {
        ...changing,
        metadata: { ...changing.metadata, labels: { v: '2' } },
      });
      const newcomer = await ds.create('IPPool', sampleIPPool('newcomer', { cidr: poolCidrV4(n + 1) }));
      await harness().compact();

      const initial = [first, ...(await ev.until((e) => e.type === 'synced', 'the initial synced'))];
      assert.equal(initial.length, n + 1);
      assert.equal(new Set(initial.slice(0, n).map(brief)).size, n);
      assert.ok(initial.slice(0, n).every((e) => e.type === 'added'));

      const diff = await ev.until((e) => e.type === 'synced', 'the synced after the relist');
      assert.deepEqual(diff.slice(0, -1).map(brief).sort(), ['added newcomer', 'deleted doomed', 'modified changing']);
      for (const e of diff) {
        if (e.type === 'modified') assert.deepEqual(e.object, changed);
        if (e.type === 'added') assert.deepEqual(e.object, newcomer);
        if (e.type === 'deleted') assert.equal(e.object.metadata.name, 'doomed');
      }
      const synced = diff[diff.length - 1]!;
      assert.ok(synced.type === 'synced');
      assert.ok((compareRevisions(synced.revision, rv(newcomer)) ?? -1) >= 0);

      const after = await ds.create('IPPool', sampleIPPool('after-relist', { cidr: poolCidrV4(n + 2) }));
      const [live] = await ev.take(1, 'a live event after the relist');
      assert.equal(live && brief(live), 'added after-relist');
      assert.equal(live?.type === 'added' && live.revision, rv(after));
    });

    it('watch() from a compacted revision starts over: synced, reset, the full list, synced', async () => {
      await ds.create('IPPool', sampleIPPool('a', { cidr: poolCidrV4(1) }));
      const b = await ds.create('IPPool', sampleIPPool('b', { cidr: poolCidrV4(2) }));
      const { revision } = await ds.list('IPPool');
      await ds.delete('IPPool', 'a');
      await ds.update('IPPool', { ...b, metadata: { ...b.metadata, labels: { v: '2' } } });
      await ds.create('IPPool', sampleIPPool('c', { cidr: poolCidrV4(3) }));
      await harness().compact();

      const ev = watch(ds.watch('IPPool', { fromRevision: revision }));
      const got = await ev.take(5, 'synced, reset, two added, synced');
      assert.deepEqual(got.map(brief).slice(0, 2), ['synced', 'reset']);
      assert.deepEqual(got.slice(2, 4).map(brief).sort(), ['added b', 'added c']);
      assert.equal(got[4]!.type, 'synced');
      const b2 = got.slice(2, 4).find((e) => e.type === 'added' && e.object.metadata.name === 'b');
      assert.ok(b2?.type === 'added');
      assert.deepEqual(b2.object.metadata.labels, { v: '2' });
    });

    it('an invalid stored object: list() reports it, get() throws INVALID_RESOURCE, watch() emits invalid and carries on', async () => {
      const store = KINDS.IPPool.storeName;
      const good = await ds.create('IPPool', sampleIPPool('good-1', { cidr: poolCidrV4(1) }));
      const badRev = await harness().putRaw(KINDS.IPPool, invalidRawIPPool('bad-1'));

      const listed = await ds.list('IPPool');
      assert.deepEqual(listed.items, [good]);
      assert.equal(listed.invalid.length, 1);
      const inv = listed.invalid[0]!;
      assert.equal(inv.key, `${store}/bad-1`);
      assert.equal(inv.revision, badRev);
      assertNamesField(inv.error, 'spec', 'the listed invalid object');
      await assert.rejects(ds.get('IPPool', 'bad-1'), (e) => assertCode(e, ErrorCodes.InvalidResource));

      const ev = watch(ds.watch('IPPool'));
      assert.deepEqual((await ev.take(3, 'initial list')).map(brief), [
        'added good-1',
        `invalid ${store}/bad-1`,
        'synced',
      ]);
      await harness().putRaw(KINDS.IPPool, invalidRawIPPool('bad-2'));
      assert.deepEqual((await ev.take(1, 'a new invalid object')).map(brief), [`invalid ${store}/bad-2`]);
      await harness().putRaw(KINDS.IPPool, invalidRawIPPool('good-1'));
      assert.deepEqual((await ev.take(2, 'a known object turning invalid')).map(brief), [
        'deleted good-1',
        `invalid ${store}/good-1`,
      ]);
      await ds.create('IPPool', sampleIPPool('good-2', { cidr: poolCidrV4(2) }));
      assert.deepEqual((await ev.take(1, 'the next valid object')).map(brief), ['added good-2']);
    });

    it('writes are validated: INVALID_RESOURCE names the field path, and nothing is stored', async () => {
      for (const { what, object, field } of invalidWrites()) {
        await assert.rejects(ds.create('IPPool', object), (e) => assertNamesField(e, field, `create with ${what}`));
      }
      assert.deepEqual((await ds.list('IPPool')).items, []);
      const ok = await ds.create('IPPool', sampleIPPool('valid'));
      const badLabel = { ...ok, metadata: { ...ok.metadata, labels: { x: 1 as unknown as string } } };
      await assert.rejects(ds.update('IPPool', badLabel), (e) => assertNamesField(e, 'metadata.labels.x', 'update'));
      assert.deepEqual(await ds.get('IPPool', 'valid'), ok);
    });

    it('N parallel read-modify-write incrementers end at exactly N (no lost update)', async () => {
      const n = 8;
      await ds.create('IPPool', sampleIPPool('counter', { annotations: { count: '0' } }));
      await Promise.all(
        Array.from({ length: n }, async () => {
          for (let attempt = 0; attempt < 200; attempt++) {
            const cur = await ds.get('IPPool', 'counter');
            assert.ok(cur);
            const count = Number(cur.metadata.annotations?.count);
            try {
              await ds.update('IPPool', {
                ...cur,
                metadata: { ...cur.metadata, annotations: { count: String(count + 1) } },
              });
              return;
            } catch (e) {
              if (!isCaracalError(e, ErrorCodes.Conflict)) throw e;
            }
          }
          assert.fail('an incrementer gave up after 200 conflicts');
        }),
      );
      const final = await ds.get('IPPool', 'counter');
      assert.equal(final?.metadata.annotations?.count, String(n));
    });

    it('close() ends open watches, and later calls fail with DATASTORE_CLOSED', async () => {
      const w = ds.watch('IPPool');
      const ev = watch(w);
      assert.deepEqual((await ev.take(1, 'synced')).map(brief), ['synced']);
      await ds.close();
      assert.deepEqual(await w[Symbol.asyncIterator]().next(), { value: undefined, done: true });
      await assert.rejects(ds.get('IPPool', 'x'), (e) => assertCode(e, ErrorCodes.DatastoreClosed));
      assert.throws(
        () => ds.watch('IPPool'),
        (e) => assertCode(e, ErrorCodes.DatastoreClosed),
      );
    });
  });
}
