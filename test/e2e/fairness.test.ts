import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeOrder } from "../fixtures/order";
import { databaseKinds, eventually } from "../support/app";
import {
  connect,
  connectedShop,
  orderWebhook,
  PIXEL,
  type Scenario,
} from "../support/scenario";
import { seedSession } from "../support/shopifyAdmin";

// Fair to every shop (decisions 88): a shop whose Graph answers are slow holds at most its share of the send slots,
// so another shop's order still goes at once through the slot left.

const SLOW_PIXEL = "555555555555555";
const SLOW_TOKEN = "EAAGslowTOKEN0123456789abcdefXYZ";
const SLOW_MS = 4_000;

describe.each(databaseKinds())("two shops on one dispatcher on %s", (kind) => {
  let s: Scenario;
  const slowShop = "slow-shop.myshopify.com";

  beforeAll(async () => {
    s = await connectedShop(kind, {
      env: {
        DISPATCHER_IN_PROCESS: "false",
        DISPATCHER_CONCURRENCY: "2",
        DISPATCHER_BATCH_SIZE: "2",
        META_GRAPH_TIMEOUT_MS: "10000",
      },
    });
    s.graph.addPixel(SLOW_PIXEL, { name: "Slow Pixel", token: SLOW_TOKEN });
    await seedSession(s.app.db, slowShop);
    await connect(s.app, slowShop, SLOW_TOKEN, "", SLOW_PIXEL);
  });
  afterAll(async () => {
    await s?.close();
  });

  const order = (id: number) => {
    const now = new Date().toISOString();
    return makeOrder({
      id,
      admin_graphql_api_id: `gid://shopify/Order/${id}`,
      checkout_token: `fair${id}`,
      created_at: now,
      processed_at: now,
    });
  };

  it("sends another shop's order while a slow shop's requests wait for Meta", async () => {
    // The slow shop's backlog: more batches than the dispatcher has send slots.
    for (let i = 0; i < 6; i++) {
      const res = await orderWebhook(
        { app: s.app, shop: slowShop },
        order(8_100_000_000_000 + i),
      );
      expect(res.body).toMatchObject({ status: "pending" });
    }
    s.graph.setLatency((req) => (req.pixelId === SLOW_PIXEL ? SLOW_MS : 0));
    await s.app.restart({ DISPATCHER_IN_PROCESS: "true" });
    await eventually(
      () => s.graph.requests.some((r) => r.pixelId === SLOW_PIXEL) || null,
      10_000,
      "the slow shop sending",
    );

    const sentAt = Date.now();
    const res = await orderWebhook(s, order(8_200_000_000_000));
    expect(res.body).toMatchObject({ status: "pending" });
    await eventually(
      () =>
        s.graph
          .eventsReceived(PIXEL)
          .some((e) => e.event_id === "purchase_8200000000000") || null,
      SLOW_MS * 3,
      "the other shop's Purchase at Meta",
    );
    // Before, both slots waited on the slow shop: the order went only once one of its answers came (≥ 4 s).
    expect(Date.now() - sentAt).toBeLessThan(SLOW_MS / 2);
    await s.graph.waitForEvents(7, SLOW_MS * 6);
  });
});
