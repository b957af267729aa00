/**
 * The datastore contract against the in-memory backend (restart = every stream ends without `gone`;
 * compact = history dropped up to the current revision).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KINDS } from '../../model/kinds.js';
import { runDatastoreContract } from '../contract.js';
import { poolCidrV4, sampleIPPool } from '../contract-fixtures.js';
import { createDatastore } from '../store.js';
import { MemoryBackend } from './backend.js';

runDatastoreContract('memory', async () => {
  const backend = new MemoryBackend();
  const store = createDatastore(backend);
  return {
    store,
    restart: async () => backend.restart(),
    compact: async () => {
      backend.compact();
    },
    putRaw: async (kind, value) => backend.putRaw(kind, value),
    teardown: () => store.close(),
  };
});

describe('MemoryBackend watch', () => {
  it('a handler that throws ends the stream with its error; the events after it are not delivered', async () => {
    const backend = new MemoryBackend();
    const failure = new Error('handler failed');
    const seen: string[] = [];
    const ended = new Promise<{ gone: boolean; error?: unknown }>((resolve) => {
      backend.watch(
        KINDS.IPPool,
        { fromRevision: backend.revision },
        {
          onEvent: (e) => {
            if (e.type === 'bookmark') return;
            seen.push(String((e.object.value.metadata as { name?: unknown }).name));
            if (seen.length === 1) throw failure;
          },
          onEnd: resolve,
        },
      );
    });
    await backend.create(KINDS.IPPool, sampleIPPool('a') as unknown as Record<string, unknown>);
    await backend.create(
      KINDS.IPPool,
      sampleIPPool('b', { cidr: poolCidrV4(1) }) as unknown as Record<string, unknown>,
    );
    assert.deepEqual(await ended, { gone: false, error: failure });
    assert.deepEqual(seen, ['a']);
    assert.equal(backend.watchCount, 0);
  });
});

describe('MemoryBackend watch from the future', () => {
  it('a fromRevision beyond the store revision ends with gone (relist), as the etcd driver does', async () => {
    const backend = new MemoryBackend();
    const end = await new Promise<{ gone: boolean; error?: unknown }>((resolve) => {
      backend.watch(
        KINDS.IPPool,
        { fromRevision: (BigInt(backend.revision) + 5n).toString() },
        { onEvent: () => {}, onEnd: resolve },
      );
    });
    assert.deepEqual(end, { gone: true });
  });
});
