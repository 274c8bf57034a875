import { API_SECRET, eventually } from "../test/support/app";
import { sendWebhook } from "../test/support/shopifyWebhook";
import {
  benchOrder,
  connectBenchShop,
  emit,
  percentile,
  progress,
  startBenchServer,
} from "./lib";

// Idle latency: one order at a time into an idle production server with its in-process dispatcher, timed from the
// moment the webhook is sent to the moment the fake Graph API receives the request carrying its Purchase.
// PURCHASE_HOLD_SECONDS=0: with the default 60 s hold an order waits for its browser context on purpose (a
// Purchase whose context arrives is released at once), so the figure measures the pipeline, not the hold.

const ORDERS = 60;
const GAP_MS = 100;

export async function benchLatency(): Promise<void> {
  const arrivals = new Map<string, number>();
  const { graph, app } = await startBenchServer({
    onAnswer(req) {
      // req.time: when the request reached the fake, before its 20 ms answer latency.
      for (const e of req.events)
        if (!arrivals.has(e.event_id)) arrivals.set(e.event_id, req.time);
    },
    env: {
      WEB_CONCURRENCY: "",
      PURCHASE_HOLD_SECONDS: "0",
      META_GRAPH_TIMEOUT_MS: "10000",
    },
  });
  try {
    const shop = "bench-latency.myshopify.com";
    await connectBenchShop(app, graph.url, shop);
    progress(`latency: ${ORDERS} orders, one at a time, ${GAP_MS} ms apart`);
    const latencies: number[] = [];
    for (let i = 0; i < ORDERS; i++) {
      const order = benchOrder(i, 9_100_000_000_000);
      const eventId = `purchase_${order.id}`;
      const sentAt = Date.now();
      const res = await sendWebhook(app.url, {
        topic: "orders/paid",
        shop,
        body: order,
        secret: API_SECRET,
      });
      const answer = (await res.json()) as { status?: string };
      if (answer.status !== "pending")
        throw new Error(
          `latency: order not queued for sending (${JSON.stringify(answer)})`,
        );
      const arrived = await eventually(
        () => arrivals.get(eventId),
        10_000,
        `${eventId} at the fake Graph API`,
      );
      latencies.push(arrived - sentAt);
      await new Promise((r) => setTimeout(r, GAP_MS));
    }
    const note = `PURCHASE_HOLD_SECONDS=0 (the default 60 s hold waits for browser context by design); ${ORDERS} orders, one at a time`;
    emit(
      "idle_latency_webhook_to_graph_p50",
      percentile(latencies, 50),
      "ms",
      { atMost: 1000 },
      note,
    );
    emit("idle_latency_webhook_to_graph_p99", percentile(latencies, 99), "ms");
  } finally {
    await app.close();
    await graph.close();
  }
}
