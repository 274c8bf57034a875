import { performance } from "node:perf_hooks";
import {
  API_SECRET,
  eventually,
  startWorker,
  stopAll,
} from "../test/support/app";
import { webhookRequest } from "../test/support/shopifyWebhook";
import {
  benchDb,
  benchOrder,
  connectBenchShop,
  cpuSeconds,
  emit,
  keepAliveClient,
  machineLoad,
  pgCpuMeter,
  progress,
  startBenchServer,
} from "./lib";

// Release of held Purchases (decisions 86): a burst of BURST orders goes through the real webhook intake with the
// default hold, then every hold is made to end at the same moment and the dispatcher releases them (the release
// rule per row, a page per statement) while it sends. The clock runs from the last poll that still saw every row
// held to the first that saw none (polls 20 ms apart); the second figure is from that same start until the fake
// Graph API has every event. On PostgreSQL it runs again with two `npm run worker` processes and no dispatcher in
// the web process: two dispatchers share the pages (FOR UPDATE SKIP LOCKED).

const BURST = 5_000;
const CONCURRENCY = 16;
const TIMEOUT_MS = 120_000;

export async function benchRelease(): Promise<void> {
  const one = await burst(0);
  const note = `${BURST.toLocaleString("en")} held Purchases made by webhook intake, every hold ending at once; ${machineLoad()}`;
  emit(
    "release_throughput",
    one.releasesPerSec,
    "releases/s",
    { atLeast: 2_000 },
    note,
  );
  emit(
    "release_burst_to_meta",
    one.toMetaSeconds,
    "s",
    { atMost: 5 },
    `from the end of the holds until the fake Graph API had all ${BURST.toLocaleString("en")} (release and send together)`,
  );
  emit(
    "release_server_cpu_per_1000",
    one.serverCpuMsPer1000,
    "ms",
    undefined,
    "the server process (dispatcher in it), releasing and sending",
  );
  if (benchDb() !== "postgresql") return;
  emit(
    "release_postgres_cpu_per_1000",
    one.pgCpuMsPer1000,
    "ms",
    undefined,
    "PostgreSQL's backends of the bench's database, releasing and sending",
  );
  const two = await burst(2);
  emit(
    "release_throughput_two_workers",
    two.releasesPerSec,
    "releases/s",
    { atLeast: Math.round(one.releasesPerSec) },
    "two `npm run worker` processes, no dispatcher in the web process; target: faster than one dispatcher",
  );
}

interface Burst {
  releasesPerSec: number;
  toMetaSeconds: number;
  serverCpuMsPer1000: number;
  pgCpuMsPer1000: number;
}

async function burst(workers: number): Promise<Burst> {
  const seen = new Set<string>();
  let allAt = 0;
  const { graph, app } = await startBenchServer({
    onAnswer(req) {
      if (!req.accepted) return;
      for (const e of req.events) seen.add(e.event_id);
      if (seen.size >= BURST && !allAt) allAt = performance.now();
    },
    env: {
      WEB_CONCURRENCY: "1",
      DISPATCHER_IN_PROCESS: "false",
      PURCHASE_HOLD_SECONDS: "3600",
      META_GRAPH_TIMEOUT_MS: "10000",
    },
  });
  const procs: ReturnType<typeof startWorker>[] = [];
  try {
    const shop = "bench-release.myshopify.com";
    await connectBenchShop(app, graph.url, shop);
    progress(
      `release (${workers ? `${workers} workers` : "dispatcher in the web process"}): ${BURST.toLocaleString("en")} orders through intake…`,
    );
    const client = keepAliveClient(app.url, CONCURRENCY);
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < BURST) {
          const req = webhookRequest({
            topic: "orders/paid",
            shop,
            body: benchOrder(next++, 6_000_000_000_000),
            secret: API_SECRET,
          });
          const res = await client.post(req.path, req.headers, req.body);
          if (res.status !== 200)
            throw new Error(`release: intake answered ${res.status}`);
        }
      }),
    );
    client.close();
    const held = () => app.db.outboxEvent.count({ where: { status: "held" } });
    if ((await held()) !== BURST)
      throw new Error(`release: expected ${BURST} held rows`);

    // The dispatcher(s) start with every hold a few seconds away, so that the clock covers no boot.
    const endsAt = Date.now() + 4_000;
    await app.db.outboxEvent.updateMany({
      where: { status: "held" },
      data: { holdUntil: new Date(endsAt) },
    });
    // npm run worker's defaults, not the tests' small batches.
    for (let i = 0; i < workers; i++)
      procs.push(
        startWorker(app.env, {
          DISPATCHER_BATCH_SIZE: "1000",
          DISPATCHER_CONCURRENCY: "4",
        }),
      );
    if (!workers) await app.restart({ DISPATCHER_IN_PROCESS: "true" });
    const pids = workers ? procs.map((w) => w.proc.pid!) : [app.pid!];
    const serverCpu = () => pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
    const cpuBefore = serverCpu();
    const pgCpu = await pgCpuMeter(app.dbUrl);
    let start = performance.now();
    let done = 0;
    const deadline = Date.now() + TIMEOUT_MS;
    while (!done) {
      if (Date.now() > deadline)
        throw new Error(`release: ${await held()} rows still held`);
      const t = performance.now();
      const count = await held();
      if (count === BURST) start = t;
      else if (count === 0) done = performance.now();
      else await new Promise((r) => setTimeout(r, 20));
    }
    await eventually(
      () => allAt > 0,
      TIMEOUT_MS,
      `${BURST} events at the fake Graph API`,
    );
    const cpu = serverCpu() - cpuBefore;
    const pgSeconds = await pgCpu();
    return {
      releasesPerSec: BURST / ((done - start) / 1000),
      toMetaSeconds: (allAt - start) / 1000,
      serverCpuMsPer1000: (cpu * 1_000_000) / BURST,
      pgCpuMsPer1000: (pgSeconds * 1_000_000) / BURST,
    };
  } finally {
    await stopAll(procs);
    await app.close();
    await graph.close();
  }
}
