import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeOrder } from "../fixtures/order";
import { eventually, startWorker, stopAll } from "../support/app";
import { databaseKinds } from "../support/database";
import {
  connectedShop,
  orderWebhook,
  PIXEL,
  type Scenario,
} from "../support/scenario";

// Every dispatcher process hears of new work (decisions 88): a web node without a dispatcher tells the workers with
// PostgreSQL's NOTIFY, so an order does not wait for their next poll. The workers here poll once a minute: only the
// notice can bring the order to Meta within seconds.

describe.each(databaseKinds().filter((k) => k === "postgresql"))(
  "new work told to the workers on %s",
  (kind) => {
    let s: Scenario;
    beforeAll(async () => {
      s = await connectedShop(kind, {
        env: { DISPATCHER_IN_PROCESS: "false" },
      });
    });
    afterAll(async () => {
      await s?.close();
    });

    it("reaches two workers that poll once a minute", async () => {
      const workers = [0, 1].map(() =>
        startWorker(s.app.env, { DISPATCHER_POLL_MS: "60000" }),
      );
      try {
        await eventually(
          () => workers.every((w) => w.logs.join("").includes("[worker]")),
          30_000,
          "both workers started",
        );
        // Once their first claims found nothing, the send loops sleep for the poll.
        await new Promise((r) => setTimeout(r, 1_500));
        const now = new Date().toISOString();
        for (const id of [7_400_000_000_001, 7_400_000_000_002]) {
          const res = await orderWebhook(
            s,
            makeOrder({
              id,
              admin_graphql_api_id: `gid://shopify/Order/${id}`,
              checkout_token: `signal${id}`,
              created_at: now,
              processed_at: now,
            }),
          );
          expect(res.body).toMatchObject({ status: "pending" });
          const sentAt = Date.now();
          await s.graph.waitForEvents(id % 2 === 1 ? 1 : 2, 10_000);
          expect(Date.now() - sentAt).toBeLessThan(5_000);
        }
        expect(
          s.graph
            .eventsReceived(PIXEL)
            .map((e) => e.event_id)
            .sort(),
        ).toEqual(["purchase_7400000000001", "purchase_7400000000002"]);
      } finally {
        await stopAll(workers);
      }
    });
  },
);
