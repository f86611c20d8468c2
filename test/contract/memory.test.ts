import { MemoryStore } from '../../src/storage/memory/memory-store.ts';
import { CONTRACT_LIMITS, storeContract } from './store.contract.ts';

storeContract('memory', async () => ({ store: new MemoryStore(CONTRACT_LIMITS), cleanup: async () => {} }));
