// Issues 100k TSIDs with the node id it is given and posts them back.
import { parentPort, workerData } from 'node:worker_threads';
import { TsidGenerator } from '../../src/domain/ids.ts';

const g = new TsidGenerator({ nodeId: (workerData as { nodeId: number }).nodeId });
const ids: string[] = [];
for (let i = 0; i < 100_000; i++) ids.push(g.next());
parentPort!.postMessage(ids);
