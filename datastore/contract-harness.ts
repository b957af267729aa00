/**
 * What the datastore contract suite (datastore/contract.ts) needs from a driver under test. Each driver's
 * test file builds one of these against a real store (etcd-server) or the faithful test double
 * (test/k8s-api-server) and calls `runDatastoreContract(name, setup)`.
 */
import type { KindInfo } from '../model/kind.js';
import type { Datastore, Revision } from './types.js';

export interface ContractHarness {
  /** A fresh, empty store (unique prefix / fresh server) and a Datastore connected to it. */
  readonly store: Datastore;
  /** Stop and start the store process/server keeping its data; `store` must recover by itself. */
  restart(): Promise<void>;
  /** Make every revision before the current one unavailable (etcd compaction; API server history trim). */
  compact(): Promise<void>;
  /** Write raw JSON bypassing validation (to plant an invalid object). Returns the new revision. */
  putRaw(kind: KindInfo, value: Record<string, unknown>): Promise<Revision>;
  /** Free everything the harness made. */
  teardown(): Promise<void>;
}
