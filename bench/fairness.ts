import { performance } from "node:perf_hooks";
import { API_SECRET, eventually } from "../test/support/app";
import { sendWebhook } from "../test/support/shopifyWebhook";
import { copyBacklog } from "./delivery";
import {
  benchOrder,
  connectBenchShop,
  emit,
  percentile,
  progress,
  startBenchServer,
} from "./lib";

// Fairness (decisions 88): shop B's orders come one at a time while shop A has a backlog and (1) its Graph answers
// take 5 s, (2) Meta rate-limits it (code 80004 on every request), or (3) it drains 100,000 events at full speed.
// Each of B's orders is timed from the webhook being sent to its Purchase reaching the fake Graph API. One server
// process with its dispatcher (npm start's send slots, DISPATCHER_CONCURRENCY 4), PURCHASE_HOLD_SECONDS=0 so that
// the figure is the queue, not the hold.

const SLOW_MS = 5_000;
const ORDERS = 30;
const GAP_MS = 300;
const PIXEL_A = "111111111111111";
const PIXEL_B = "222222222222222";

interface Case {
  /** Suffix of the metric's name. */
  metric: string;
  backlog: number;
  /** What shop A's requests meet, in words for the note. */
  meets: string;
  slow?: boolean;
  rateLimited?: boolean;
}

const CASES: Case[] = [
  {
    metric: "",
    backlog: 20_000,
    meets: `${SLOW_MS / 1000} s per Graph answer`,
    slow: true,
  },
  {
    metric: "_rate_limited",
    backlog: 20_000,
    meets: "Meta's rate limit (400, code 80004) on every request",
    rateLimited: true,
  },
  {
    metric: "_backlog_100k",
    backlog: 100_000,
    meets: "20 ms answers, draining its backlog",
  },
];

export async function benchFairness(): Promise<void> {
  for (const c of CASES) await fairnessCase(c);
}

async function fairnessCase(c: Case): Promise<void> {
  const arrivals = new Map<string, number>();
  let aRequests = 0;
  const { graph, app } = await startBenchServer({
    latencyMs: (req) => (c.slow && req.pixelId === PIXEL_A ? SLOW_MS : 20),
    onAnswer(req) {
      if (req.pixelId === PIXEL_A) aRequests++;
      for (const e of req.events)
        if (!arrivals.has(e.event_id)) arrivals.set(e.event_id, req.time);
    },
    env: {
      WEB_CONCURRENCY: "1",
      DISPATCHER_IN_PROCESS: "false",
      PURCHASE_HOLD_SECONDS: "0",
      META_GRAPH_TIMEOUT_MS: "10000",
    },
  });
  try {
    const shopA = "bench-fair-a.myshopify.com";
    const shopB = "bench-fair-b.myshopify.com";
    await connectBenchShop(app, graph.url, shopA, PIXEL_A);
    await connectBenchShop(app, graph.url, shopB, PIXEL_B);
    const res = await sendWebhook(app.url, {
      topic: "orders/paid",
      shop: shopA,
      body: benchOrder(0, 5_000_000_000_000),
      secret: API_SECRET,
    });
    if (((await res.json()) as { status?: string }).status !== "pending")
      throw new Error("fairness: shop A's template order was not queued");
    await app.stop();
    const template = await app.db.outboxEvent.findFirstOrThrow({
      where: { status: "pending" },
    });
    await copyBacklog(app.dbUrl, template.id, c.backlog - 1, 5_000_000_000_001);
    if (c.rateLimited)
      graph.failOn((req) => req.pixelId === PIXEL_A, {
        status: 400,
        code: 80004,
        subcode: 2446079,
        message: "There have been too many calls to this ad-account.",
      });
    await app.restart({ DISPATCHER_IN_PROCESS: "true" });
    progress(
      `fairness: shop A's ${c.backlog.toLocaleString("en")} events meet ${c.meets}; ${ORDERS} orders of shop B, ${GAP_MS} ms apart`,
    );
    await eventually(() => aRequests > 0 || null, 10_000, "shop A sending");
    const latencies: number[] = [];
    for (let i = 0; i < ORDERS; i++) {
      const order = benchOrder(i, 5_100_000_000_000);
      const sentAt = Date.now();
      const answer = await sendWebhook(app.url, {
        topic: "orders/paid",
        shop: shopB,
        body: order,
        secret: API_SECRET,
      });
      if (((await answer.json()) as { status?: string }).status !== "pending")
        throw new Error("fairness: shop B's order was not queued");
      const eventId = `purchase_${order.id}`;
      const t0 = performance.now();
      const arrived = await eventually(
        () => arrivals.get(eventId),
        60_000,
        `${eventId} at the fake Graph API`,
      );
      latencies.push(arrived - sentAt);
      const left = GAP_MS - (performance.now() - t0);
      if (left > 0) await new Promise((r) => setTimeout(r, left));
    }
    emit(
      `fairness_other_shop_webhook_to_graph_p99${c.metric}`,
      percentile(latencies, 99),
      "ms",
      { atMost: 2_000 },
      `shop B's orders while shop A (${c.backlog.toLocaleString("en")} events) meets ${c.meets}; ${ORDERS} orders, one at a time; shop A sent ${aRequests} requests meanwhile`,
    );
    emit(
      `fairness_other_shop_webhook_to_graph_p50${c.metric}`,
      percentile(latencies, 50),
      "ms",
    );
  } finally {
    await app.close();
    await graph.close();
  }
}
