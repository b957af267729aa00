/**
 * A Datastore wrapper that counts store round trips (one per get, list, create, update or delete; a watch
 * counts once when opened), for the round-trip test and the IPAM benchmark.
 */
import type { Datastore } from '../../datastore/types.js';

export interface CountingDatastore extends Datastore {
  readonly counts: Record<'get' | 'list' | 'create' | 'update' | 'delete' | 'watch', number>;
  total(): number;
  reset(): void;
}

export function countingDatastore(inner: Datastore): CountingDatastore {
  const counts = { get: 0, list: 0, create: 0, update: 0, delete: 0, watch: 0 };
  const ds: CountingDatastore = {
    driver: inner.driver,
    counts,
    total: () => Object.values(counts).reduce((s, n) => s + n, 0),
    reset: () => {
      for (const k of Object.keys(counts) as (keyof typeof counts)[]) counts[k] = 0;
    },
    get: (kind, name, ns) => {
      counts.get++;
      return inner.get(kind, name, ns);
    },
    list: (kind, opts) => {
      counts.list++;
      return inner.list(kind, opts);
    },
    watch: (kind, opts) => {
      counts.watch++;
      return inner.watch(kind, opts);
    },
    create: (kind, obj) => {
      counts.create++;
      return inner.create(kind, obj);
    },
    update: (kind, obj) => {
      counts.update++;
      return inner.update(kind, obj);
    },
    delete: (kind, name, ns, opts) => {
      counts.delete++;
      return inner.delete(kind, name, ns, opts);
    },
    close: () => inner.close(),
  };
  return ds;
}
