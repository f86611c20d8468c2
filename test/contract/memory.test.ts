import { MemoryStore } from '../../src/storage/memory/memory-store.ts';
import { CONTRACT_LIMITS, storeContract } from './store.contract.ts';

storeContract('memory', async (limits = CONTRACT_LIMITS) => ({ store: new MemoryStore(limits), cleanup: async () => {} }));
