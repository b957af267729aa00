/**
 * The datastore contract against the in-memory backend (restart = every stream ends without `gone`;
 * compact = history dropped up to the current revision).
 */
import { runDatastoreContract } from '../contract.js';
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
