import Database from "better-sqlite3";
import pg from "pg";
import { performance } from "node:perf_hooks";
import { API_SECRET, eventually } from "../test/support/app";
import { sendWebhook } from "../test/support/shopifyWebhook";
import {
  benchDestinations,
  benchOrder,
  connectBenchShop,
  cpuSeconds,
  emit,
  machineLoad,
  peakRssMb,
  pgCpuMeter,
  progress,
  benchDb,
  startBenchServer,
} from "./lib";

// Delivery: how fast the dispatcher drains a backlog of 100,000 pending events to the fake Graph API (20 ms per
// request), how full its requests are, and the peak memory of the process that runs it.
//
// The backlog: ONE order goes through the real webhook intake (dispatcher off, no hold) and becomes a pending
// outbox row; that row is then copied in SQL into 100,000 rows with their own ids, event ids and order ids (same
// payload shape, IP, user agent and status as intake writes). Sending 100,000 webhooks would take minutes.
// The clock starts when the shop's sending is switched on (the dispatcher finds the work at its next poll, within
// 250 ms, which the figure includes) and stops when the fake Graph API has accepted the last event.
// With `--destinations 2`, every other copy is a US order: the shop's own dataset takes the Canadian half, a second
// dataset the US half, so the dispatcher routes every row and claims per dataset (decisions 130-133).
// Run twice: as `npm start` runs by default (one server process on SQLite, with a 256 MB heap limit), and with
// two processes (WEB_CONCURRENCY=2, the dispatcher in the first, as on PostgreSQL with two cores).

const BACKLOG = 100_000;
const TIMEOUT_MS = 120_000;
/** How long the paused backlog is watched before sending starts: what waiting costs (decisions 87). */
const IDLE_MS = 10_000;
const IDLE_SETTLE_MS = 5_000;

export async function benchDelivery(): Promise<void> {
  const base = await drain({ WEB_CONCURRENCY: "" });
  const note = `${BACKLOG.toLocaleString("en")} events from an SQL-copied backlog (see bench/delivery.ts), ${base.requests} requests, fake Graph 20 ms latency, clock includes up to one 250 ms poll`;
  emit(
    "delivery_throughput",
    base.eventsPerSec,
    "events/s",
    { atLeast: 10_000 },
    note,
  );
  emit(
    "delivery_events_sent_twice",
    base.sentTwice,
    "events",
    { atMost: 0 },
    "resends after an ambiguous failure (allowed, recorded on the row); none expected here",
  );
  emit("delivery_events_per_request", base.eventsPerRequest, "events", {
    atLeast: 950,
  });
  emit(
    "delivery_peak_rss",
    base.peakRssMb,
    "MB",
    { atMost: 300 },
    `VmHWM of the server process (it runs the dispatcher), npm start's defaults; ${Math.round(base.idleRssMb)} MB before sending`,
  );
  emit(
    "delivery_server_cpu_per_1000_events",
    base.cpuMsPer1000,
    "ms",
    undefined,
    machineLoad(),
  );
  if (benchDb() === "postgresql")
    emit(
      "delivery_postgres_cpu_per_1000_events",
      base.pgCpuMsPer1000,
      "ms",
      undefined,
      "CPU of the PostgreSQL backends serving the bench's database (shared server)",
    );
  emit(
    "idle_paused_backlog_server_cpu",
    base.idleServerCpuPct,
    "% of a core",
    { atMost: 2 },
    `the server with its dispatcher, ${BACKLOG.toLocaleString("en")} events pending for a paused shop, over ${IDLE_MS / 1000} s, from ${IDLE_SETTLE_MS / 1000} s after start`,
  );
  if (benchDb() === "postgresql")
    emit(
      "idle_paused_backlog_postgres_cpu",
      base.idlePgCpuPct,
      "% of a core",
      { atMost: 2 },
      `PostgreSQL's backends of the bench's database (autovacuum's included) over the same ${IDLE_MS / 1000} s`,
    );

  const two = await drain({ WEB_CONCURRENCY: "2" });
  emit(
    "delivery_throughput_two_processes",
    two.eventsPerSec,
    "events/s",
    { atLeast: 10_000 },
    "WEB_CONCURRENCY=2",
  );
  emit(
    "delivery_peak_rss_two_processes",
    two.peakRssMb,
    "MB",
    { atMost: 300 },
    "WEB_CONCURRENCY=2, VmHWM of the largest server process",
  );
}

interface Drain {
  eventsPerSec: number;
  requests: number;
  eventsPerRequest: number;
  sentTwice: number;
  peakRssMb: number;
  idleRssMb: number;
  cpuMsPer1000: number;
  pgCpuMsPer1000: number;
  idleServerCpuPct: number;
  idlePgCpuPct: number;
}

async function drain(serverEnv: Record<string, string>): Promise<Drain> {
  let accepted = 0;
  let eventRequests = 0;
  let doneAt = 0;
  // Distinct event ids: an event sent twice (a resend after a timeout) must not count towards the backlog.
  const seen = new Set<string>();
  // The production Graph timeout (tests use 2 s): a slow answer is not mistaken for a lost one.
  const env = {
    DISPATCHER_IN_PROCESS: "false",
    PURCHASE_HOLD_SECONDS: "0",
    META_GRAPH_TIMEOUT_MS: "10000",
    ...serverEnv,
  };
  const { graph, app } = await startBenchServer({
    onAnswer(req) {
      if (!req.accepted) return;
      eventRequests++;
      accepted += req.events.length;
      for (const e of req.events) seen.add(e.event_id);
      if (seen.size >= BACKLOG && !doneAt) doneAt = performance.now();
    },
    env,
  });
  try {
    const shop = "bench-delivery.myshopify.com";
    await connectBenchShop(app, graph.url, shop);
    const res = await sendWebhook(app.url, {
      topic: "orders/paid",
      shop,
      body: benchOrder(0, 8_000_000_000_000),
      secret: API_SECRET,
    });
    const answer = (await res.json()) as { status?: string };
    if (answer.status !== "pending")
      throw new Error(
        `delivery: the template order was not queued (${JSON.stringify(answer)})`,
      );

    progress(
      `delivery (WEB_CONCURRENCY=${serverEnv.WEB_CONCURRENCY || "default"}): copying the intake-made row into a backlog of ${BACKLOG.toLocaleString("en")} pending events…`,
    );
    await app.stop();
    const template = await app.db.outboxEvent.findFirstOrThrow({
      where: { status: "pending" },
    });
    await copyBacklog(app.dbUrl, template.id, BACKLOG - 1, 8_000_000_000_001);
    const pending = await app.db.outboxEvent.count({
      where: { status: "pending" },
    });
    if (pending !== BACKLOG)
      throw new Error(
        `delivery: expected ${BACKLOG} pending rows, found ${pending}`,
      );

    // Paused while the server starts, so that the clock covers the whole drain and not the boot.
    const pause = async (pausedReason: string | null) => {
      await app.db.shop.update({
        where: { domain: shop },
        data: { pausedReason },
      });
      await app.db.destination.updateMany({
        where: { shop: { domain: shop } },
        data: { pausedReason },
      });
    };
    await pause("bench");
    await app.restart({ DISPATCHER_IN_PROCESS: "true" });
    const pid = app.pid!;
    const idleRssMb = peakRssMb(pid);
    // The first housekeeping pass sweeps expired rows and prunes, once: the window starts after it.
    await new Promise((resolve) => setTimeout(resolve, IDLE_SETTLE_MS));
    const idleServer = cpuSeconds(pid);
    const idlePg = await pgCpuMeter(app.dbUrl);
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
    const idleServerCpuPct =
      ((cpuSeconds(pid) - idleServer) * 100_000) / IDLE_MS;
    const idlePgCpuPct = ((await idlePg()) * 100_000) / IDLE_MS;
    const cpuBefore = cpuSeconds(pid);
    const pgCpu = await pgCpuMeter(app.dbUrl);
    progress("delivery: sending…");
    const start = performance.now();
    await pause(null);
    await eventually(
      () => doneAt > 0,
      TIMEOUT_MS,
      `${BACKLOG} events at the fake Graph API`,
    ).catch((err: Error) => {
      throw new Error(
        `${err.message}: ${accepted} arrived; server log tail:\n${app.logs.slice(-20).join("\n")}`,
      );
    });
    const seconds = (doneAt - start) / 1000;
    const cpu = cpuSeconds(pid) - cpuBefore;
    const pgSeconds = await pgCpu();
    const peak = peakRssMb(pid);
    await eventually(
      async () =>
        (await app.db.outboxEvent.count({ where: { status: "sent" } })) ===
        BACKLOG,
      30_000,
      "every row marked sent",
    );
    return {
      eventsPerSec: BACKLOG / seconds,
      requests: eventRequests,
      eventsPerRequest: accepted / eventRequests,
      sentTwice: accepted - seen.size,
      peakRssMb: peak,
      idleRssMb,
      cpuMsPer1000: (cpu * 1000 * 1000) / accepted,
      pgCpuMsPer1000: (pgSeconds * 1000 * 1000) / accepted,
      idleServerCpuPct,
      idlePgCpuPct,
    };
  } finally {
    await app.close();
    await graph.close();
  }
}

/** Inserts `count` copies of one outbox row, each with its own id, event id, order id and checkout token. */
export function copyBacklog(
  dbUrl: string,
  templateId: string,
  count: number,
  firstOrderId: number,
): Promise<void> {
  return (benchDb() === "sqlite" ? copyRow : copyRowPg)(
    dbUrl,
    templateId,
    count,
    firstOrderId,
  );
}

async function copyRow(
  dbUrl: string,
  templateId: string,
  count: number,
  firstOrderId: number,
): Promise<void> {
  const db = new Database(dbUrl.replace(/^file:/, ""));
  try {
    const columns = (
      db.prepare(`PRAGMA table_info("OutboxEvent")`).all() as { name: string }[]
    ).map((c) => c.name);
    const replaced: Record<string, string> = {
      id: `'bench' || seq.n`,
      eventId: `'purchase_' || (@first + seq.n)`,
      orderId: `CAST(@first + seq.n AS TEXT)`,
      orderName: `'#B' || seq.n`,
      checkoutToken: `'bench' || (@first + seq.n)`,
      payload: `json_set(t."payload", '$.event_id', 'purchase_' || (@first + seq.n), '$.custom_data.order_id', CAST(@first + seq.n AS TEXT))`,
      ...(benchDestinations() > 1
        ? {
            countryCode: `CASE WHEN seq.n % 2 = 0 THEN 'US' ELSE t."countryCode" END`,
          }
        : {}),
    };
    const list = columns.map((c) => `"${c}"`).join(", ");
    const values = columns.map((c) => replaced[c] ?? `t."${c}"`).join(", ");
    db.prepare(
      `WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n + 1 < @count)
       INSERT INTO "OutboxEvent" (${list}) SELECT ${values} FROM seq, (SELECT * FROM "OutboxEvent" WHERE "id" = @template) AS t`,
    ).run({ count, first: firstOrderId, template: templateId });
  } finally {
    db.close();
  }
}

/** copyRow on PostgreSQL: the same copies in one INSERT … SELECT over generate_series. */
async function copyRowPg(
  dbUrl: string,
  templateId: string,
  count: number,
  firstOrderId: number,
): Promise<void> {
  const client = new pg.Client({ connectionString: dbUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ column_name: string }>(
      `SELECT column_name FROM information_schema.columns WHERE table_name = 'OutboxEvent' AND table_schema = current_schema() ORDER BY ordinal_position`,
    );
    const n = `($2::bigint + "seq"."n")`;
    const replaced: Record<string, string> = {
      id: `'bench' || "seq"."n"`,
      eventId: `'purchase_' || ${n}`,
      orderId: `${n}::text`,
      orderName: `'#B' || "seq"."n"`,
      checkoutToken: `'bench' || ${n}`,
      payload: `jsonb_set(jsonb_set("t"."payload", '{event_id}', to_jsonb('purchase_' || ${n})), '{custom_data,order_id}', to_jsonb(${n}::text))`,
      ...(benchDestinations() > 1
        ? {
            countryCode: `CASE WHEN "seq"."n" % 2 = 0 THEN 'US' ELSE "t"."countryCode" END`,
          }
        : {}),
    };
    const columns = rows.map((r) => r.column_name);
    const list = columns.map((c) => `"${c}"`).join(", ");
    const values = columns.map((c) => replaced[c] ?? `"t"."${c}"`).join(", ");
    await client.query(
      `INSERT INTO "OutboxEvent" (${list}) SELECT ${values} FROM generate_series(0, $3::int - 1) AS "seq"("n"), ` +
        `(SELECT * FROM "OutboxEvent" WHERE "id" = $1) AS "t"`,
      [templateId, firstOrderId, count],
    );
    // Statistics as autovacuum would have them after a day of such rows.
    await client.query(`ANALYZE "OutboxEvent"`);
  } finally {
    await client.end();
  }
}
