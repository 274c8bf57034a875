import prisma, { describeDatabase } from "./db.server";
import {
  config,
  createDispatcher,
  keyRing,
  startDatasetChecks,
} from "./runtime.server";
import { startReconciler } from "./reconcile.server";

// `npm run worker`: the dispatcher on its own, for scale-out. Web nodes then run with DISPATCHER_IN_PROCESS=false.
// Several workers may run at once against PostgreSQL: each claim is leased to exactly one of them.

try {
  config();
  keyRing();
} catch (err) {
  console.error(`Cannot start: ${(err as Error).message}`);
  process.exit(1);
}
const dispatcher = createDispatcher();
dispatcher.start();
const reconciler = startReconciler();
const stopChecks = startDatasetChecks();
console.log(`[worker] sending from ${describeDatabase()}`);

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  console.log(`[worker] ${signal}: finishing in-flight batches`);
  await reconciler.stop();
  stopChecks();
  await dispatcher.stop(10_000);
  await prisma.$disconnect();
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
