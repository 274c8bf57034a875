import Database from "better-sqlite3";
import { performance } from "node:perf_hooks";
import { API_SECRET, eventually, startApp } from "../test/support/app";
import { startFakeGraph } from "../test/support/fakeGraph";
import { sendWebhook } from "../test/support/shopifyWebhook";
import { benchOrder, connectBenchShop, cpuSeconds, emit, machineLoad, peakRssMb, progress } from "./lib";

// Delivery: how fast the dispatcher drains a backlog of 100,000 pending events to the fake Graph API (20 ms per
// request), how full its requests are, and the peak memory of the process that runs it.
//
// The backlog: ONE order goes through the real webhook intake (dispatcher off, no hold) and becomes a pending
// outbox row; that row is then copied in SQL into 100,000 rows with their own ids, event ids and order ids (same
// payload shape, IP, user agent and status as intake writes). Sending 100,000 webhooks would take minutes.
// The clock starts when the shop's sending is switched on (the dispatcher finds the work at its next poll, within
// 250 ms, which the figure includes) and stops when the fake Graph API has accepted the last event.
// Run twice: as `npm start` runs by default (one server process on SQLite, with a 256 MB heap limit), and with
// two processes (WEB_CONCURRENCY=2, the dispatcher in the first, as on PostgreSQL with two cores).

const BACKLOG = 100_000;
const TIMEOUT_MS = 120_000;

export async function benchDelivery(): Promise<void> {
  const base = await drain({ WEB_CONCURRENCY: "" });
  const note = `${BACKLOG.toLocaleString("en")} events from an SQL-copied backlog (see bench/delivery.ts), ${base.requests} requests, fake Graph 20 ms latency, clock includes up to one 250 ms poll`;
  emit("delivery_throughput", base.eventsPerSec, "events/s", { atLeast: 10_000 }, note);
  emit("delivery_events_sent_twice", base.sentTwice, "events", { atMost: 0 }, "resends after an ambiguous failure (allowed, recorded on the row); none expected here");
  emit("delivery_events_per_request", base.eventsPerRequest, "events", { atLeast: 950 });
  emit("delivery_peak_rss", base.peakRssMb, "MB", { atMost: 300 }, `VmHWM of the server process (it runs the dispatcher), npm start's defaults; ${Math.round(base.idleRssMb)} MB before sending`);
  emit("delivery_server_cpu_per_1000_events", base.cpuMsPer1000, "ms", undefined, machineLoad());

  const two = await drain({ WEB_CONCURRENCY: "2" });
  emit("delivery_throughput_two_processes", two.eventsPerSec, "events/s", { atLeast: 10_000 }, "WEB_CONCURRENCY=2");
  emit("delivery_peak_rss_two_processes", two.peakRssMb, "MB", { atMost: 300 }, "WEB_CONCURRENCY=2, VmHWM of the largest server process");
}

interface Drain {
  eventsPerSec: number;
  requests: number;
  eventsPerRequest: number;
  sentTwice: number;
  peakRssMb: number;
  idleRssMb: number;
  cpuMsPer1000: number;
}

async function drain(serverEnv: Record<string, string>): Promise<Drain> {
  let accepted = 0;
  let eventRequests = 0;
  let doneAt = 0;
  // Distinct event ids: an event sent twice (a resend after a timeout) must not count towards the backlog.
  const seen = new Set<string>();
  const graph = await startFakeGraph({
    latencyMs: 20,
    acceptAnyPixel: true,
    recordBodies: false,
    onAnswer(req) {
      if (!req.accepted) return;
      eventRequests++;
      accepted += req.events.length;
      for (const e of req.events) seen.add(e.event_id);
      if (seen.size >= BACKLOG && !doneAt) doneAt = performance.now();
    },
  });
  // The production Graph timeout (tests use 2 s): a slow answer is not mistaken for a lost one.
  const env = { DISPATCHER_IN_PROCESS: "false", PURCHASE_HOLD_SECONDS: "0", META_GRAPH_TIMEOUT_MS: "10000", ...serverEnv };
  const app = await startApp({ db: "sqlite", graphUrl: graph.url, env });
  try {
    const shop = "bench-delivery.myshopify.com";
    await connectBenchShop(app, graph.url, shop);
    const res = await sendWebhook(app.url, { topic: "orders/paid", shop, body: benchOrder(0, 8_000_000_000_000), secret: API_SECRET });
    const answer = (await res.json()) as { status?: string };
    if (answer.status !== "pending") throw new Error(`delivery: the template order was not queued (${JSON.stringify(answer)})`);

    progress(`delivery (WEB_CONCURRENCY=${serverEnv.WEB_CONCURRENCY || "default"}): copying the intake-made row into a backlog of ${BACKLOG.toLocaleString("en")} pending events…`);
    await app.stop();
    const template = await app.db.outboxEvent.findFirstOrThrow({ where: { status: "pending" } });
    copyRow(app.dbUrl, template.id, BACKLOG - 1, 8_000_000_000_001);
    const pending = await app.db.outboxEvent.count({ where: { status: "pending" } });
    if (pending !== BACKLOG) throw new Error(`delivery: expected ${BACKLOG} pending rows, found ${pending}`);

    // Paused while the server starts, so that the clock covers the whole drain and not the boot.
    await app.db.shop.update({ where: { domain: shop }, data: { pausedReason: "bench" } });
    await app.restart({ DISPATCHER_IN_PROCESS: "true" });
    const pid = app.pid!;
    const idleRssMb = peakRssMb(pid);
    const cpuBefore = cpuSeconds(pid);
    progress("delivery: sending…");
    const start = performance.now();
    await app.db.shop.update({ where: { domain: shop }, data: { pausedReason: null } });
    await eventually(() => doneAt > 0, TIMEOUT_MS, `${BACKLOG} events at the fake Graph API`).catch((err: Error) => {
      throw new Error(`${err.message}: ${accepted} arrived; server log tail:\n${app.logs.slice(-20).join("\n")}`);
    });
    const seconds = (doneAt - start) / 1000;
    const cpu = cpuSeconds(pid) - cpuBefore;
    const peak = peakRssMb(pid);
    await eventually(async () => (await app.db.outboxEvent.count({ where: { status: "sent" } })) === BACKLOG, 30_000, "every row marked sent");
    return {
      eventsPerSec: BACKLOG / seconds,
      requests: eventRequests,
      eventsPerRequest: accepted / eventRequests,
      sentTwice: accepted - seen.size,
      peakRssMb: peak,
      idleRssMb,
      cpuMsPer1000: (cpu * 1000 * 1000) / accepted,
    };
  } finally {
    await app.close();
    await graph.close();
  }
}

/** Inserts `count` copies of one outbox row, each with its own id, event id, order id and checkout token. */
function copyRow(dbUrl: string, templateId: string, count: number, firstOrderId: number): void {
  const db = new Database(dbUrl.replace(/^file:/, ""));
  try {
    const columns = (db.prepare(`PRAGMA table_info("OutboxEvent")`).all() as { name: string }[]).map((c) => c.name);
    const replaced: Record<string, string> = {
      id: `'bench' || seq.n`,
      eventId: `'purchase_' || (@first + seq.n)`,
      orderId: `CAST(@first + seq.n AS TEXT)`,
      orderName: `'#B' || seq.n`,
      checkoutToken: `'bench' || (@first + seq.n)`,
      payload: `json_set(t."payload", '$.event_id', 'purchase_' || (@first + seq.n), '$.custom_data.order_id', CAST(@first + seq.n AS TEXT))`,
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
