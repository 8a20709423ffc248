import { MemoryStore } from '../../src/persistence/MemoryStore';
import { storeContract } from './storeContract';

storeContract('MemoryStore', async () => {
  const store = new MemoryStore();
  // The memory is the instance: a "restart" of an embedded broker keeps the same object.
  return { store, reopen: () => store, cleanup: async () => undefined };
});
