// A worker thread of seed-batch.ts: loads the TypeScript sources through tsx (a loader registered
// programmatically, as cli/bin.mjs does, is not inherited by workers), then runs each seed it is
// sent and posts back its SeedOutcome.
import { parentPort, workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
const { runSeed } = await import('./seed-batch.ts');
parentPort.on('message', (seed) => {
  runSeed(seed, workerData.options).then((outcome) => parentPort.postMessage(outcome));
});
