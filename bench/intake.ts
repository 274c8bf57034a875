import { API_SECRET } from "../test/support/app";
import { webhookRequest } from "../test/support/shopifyWebhook";
import {
  benchOrder,
  closedLoop,
  connectBenchShop,
  describeUnexpected,
  emit,
  keepAliveClient,
  machineLoad,
  percentile,
  pgCpuMeter,
  progress,
  benchDb,
  startBenchServer,
} from "./lib";

// Webhook intake: signed orders/paid webhooks at concurrency 16 against the production server. The in-process
// dispatcher is off (DISPATCHER_IN_PROCESS=false, as on a web node next to `npm run worker`), so the figure is the
// intake alone: HMAC check, validation, mapping, normalising, hashing and the outbox transaction. The default
// 60 s hold applies (each row waits for browser context), which is the production path.
// Run twice: as `npm start` runs by default (one server process on SQLite), and with two processes
// (WEB_CONCURRENCY=2), to show why that is not the default: on a 2-core machine the load generator needs a core of
// its own, and SQLite takes one writer at a time, so the second process mostly adds contention.

const CONCURRENCY = 16;

export async function benchIntake(opts: {
  warmupMs: number;
  durationMs: number;
}): Promise<void> {
  await measure({
    ...opts,
    webConcurrency: "",
    suffix: "",
    label: `npm start's defaults (${benchDb() === "sqlite" ? "one server process on SQLite" : "one server process per core on PostgreSQL"})`,
  });
  await measure({
    ...opts,
    webConcurrency: "2",
    suffix: "_two_processes",
    label: "WEB_CONCURRENCY=2",
  });
}

async function measure(opts: {
  warmupMs: number;
  durationMs: number;
  webConcurrency: string;
  suffix: string;
  label: string;
}): Promise<void> {
  const { graph, app } = await startBenchServer({
    env: {
      WEB_CONCURRENCY: opts.webConcurrency,
      DISPATCHER_IN_PROCESS: "false",
      PURCHASE_HOLD_SECONDS: "60",
    },
  });
  try {
    const shop = "bench-intake.myshopify.com";
    await connectBenchShop(app, graph.url, shop);
    progress(
      `intake (${opts.label}): ${CONCURRENCY} clients, ${opts.warmupMs / 1000} s warm-up + ${opts.durationMs / 1000} s measured`,
    );
    let accepted = 0;
    const client = keepAliveClient(app.url, CONCURRENCY);
    const pgCpu = await pgCpuMeter(app.dbUrl);
    const result = await closedLoop({
      serverPid: app.pid!,
      concurrency: CONCURRENCY,
      warmupMs: opts.warmupMs,
      durationMs: opts.durationMs,
      expectStatus: 200,
      send: async (i) => {
        const req = webhookRequest({
          topic: "orders/paid",
          shop,
          body: benchOrder(i, 7_000_000_000_000),
          secret: API_SECRET,
        });
        const res = await client.post(req.path, req.headers, req.body);
        if (
          (JSON.parse(res.body) as { outcome?: string }).outcome === "accepted"
        )
          accepted++;
        return res.status;
      },
    });
    client.close();
    const pgSeconds = await pgCpu();
    // Every answer must have made its row: a fast path that skipped the work would not count.
    const rows = await app.db.outboxEvent.count({ where: { status: "held" } });
    if (rows !== accepted)
      throw new Error(
        `intake: ${accepted} webhooks answered "accepted" but ${rows} outbox rows exist`,
      );
    const problems = describeUnexpected(result);
    const note = `${opts.label}; signed orders/paid, concurrency ${CONCURRENCY}, ${result.count} orders measured over ${result.seconds} s, dispatcher off, ${rows} rows written${problems ? `; unexpected answers: ${problems}` : ""}`;
    emit(
      `webhook_intake_throughput${opts.suffix}`,
      result.count / result.seconds,
      "orders/s",
      { atLeast: 500 },
      note,
    );
    emit(
      `webhook_intake_p50${opts.suffix}`,
      percentile(result.latencies, 50),
      "ms",
    );
    emit(
      `webhook_intake_p99${opts.suffix}`,
      percentile(result.latencies, 99),
      "ms",
      { atMost: 50 },
    );
    emit(
      `webhook_intake_server_cpu_per_order${opts.suffix}`,
      result.cpuMsPerRequest,
      "ms",
      undefined,
      `server process CPU time per order in the measured window; the load generator used ${result.clientCpuMsPerRequest.toFixed(2)} ms per order on the same cores; ${machineLoad()}`,
    );
    if (benchDb() === "postgresql")
      emit(
        `webhook_intake_postgres_cpu_per_order${opts.suffix}`,
        (pgSeconds * 1000) / accepted,
        "ms",
        undefined,
        "CPU of the PostgreSQL backends serving the bench's database, warm-up included, per order accepted",
      );
  } finally {
    await app.close();
    await graph.close();
  }
}
