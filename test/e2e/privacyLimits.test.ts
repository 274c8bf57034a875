import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_SECRET, databaseKinds } from "../support/app";
import { sendWebhook } from "../support/shopifyWebhook";
import { connectedShop, type Scenario } from "../support/scenario";

// Shopify's privacy webhooks at their edges: a request id with text PostgreSQL refuses, and redactions and data
// requests that list tens of thousands of orders (a large B2B customer's history). Each must be answered 200 and
// done, never a 500 that Shopify retries and then gives up on.

const ORDERS = 40_000;

describe.each(databaseKinds())(
  "privacy webhooks at their limits on %s",
  (kind) => {
    let s: Scenario;
    let shopId: string;
    const base = 6_500_000_000_000 + (Date.now() % 1_000_000) * 100_000;
    const orderIds = Array.from({ length: ORDERS }, (_, i) => base + i);

    const privacy = async (topic: string, body: unknown) => {
      const res = await sendWebhook(s.app.url, {
        topic,
        shop: s.shop,
        body: { shop_domain: s.shop, ...(body as object) },
        secret: API_SECRET,
      });
      return {
        status: res.status,
        body: (await res.json().catch(() => null)) as Record<
          string,
          unknown
        > | null,
      };
    };

    /** One event of the customer for each of these orders, known to the app by order id only. */
    async function seed(ids: number[], tag: string) {
      for (const id of ids) {
        await s.app.db.outboxEvent.create({
          data: {
            shopId,
            eventName: "Purchase",
            eventId: `purchase_${id}`,
            source: "webhook",
            status: "sent",
            actionSource: "website",
            eventTime: new Date(),
            payload: {
              event_name: "Purchase",
              event_id: `purchase_${id}`,
              tag,
            },
            orderId: String(id),
            nextAttemptAt: new Date(),
          },
        });
      }
    }

    beforeAll(async () => {
      s = await connectedShop(kind);
      shopId = (
        await s.app.db.shop.findUniqueOrThrow({ where: { domain: s.shop } })
      ).id;
    });
    afterAll(async () => {
      await s?.close();
    });

    it("records a data request whose id holds NUL or a lone surrogate", async () => {
      for (const id of ["req-\u0000-1", "req-\ud800-2", "req-\udfff-3"]) {
        const res = await privacy("customers/data_request", {
          customer: { id: 6543210987654, email: "amelie.cote@example.com" },
          orders_requested: [],
          data_request: { id },
        });
        expect(res, JSON.stringify(id)).toMatchObject({
          status: 200,
          body: { outcome: "recorded" },
        });
      }
      const stored = await s.app.db.dataRequest.findMany({
        where: { shopId },
        select: { requestId: true },
      });
      expect(stored.map((r) => r.requestId).sort()).toEqual([
        "req-\ufffd-1",
        "req-\ufffd-2",
        "req-\ufffd-3",
      ]);
    });

    it(`answers a data request listing ${ORDERS.toLocaleString("en")} orders with every event of them`, async () => {
      const mine = [orderIds[0], orderIds[ORDERS >> 1], orderIds[ORDERS - 1]];
      await seed(mine, "data-request");
      await seed([base - 1], "someone else");
      const res = await privacy("customers/data_request", {
        customer: { id: 1 },
        orders_requested: orderIds,
        data_request: { id: "big-1" },
      });
      expect(res).toMatchObject({
        status: 200,
        body: { outcome: "recorded", events: mine.length },
      });
    });

    it(`redacts a customer with ${ORDERS.toLocaleString("en")} orders, and nothing else`, async () => {
      const res = await privacy("customers/redact", {
        customer: { id: 1 },
        orders_to_redact: orderIds,
      });
      expect(res).toMatchObject({
        status: 200,
        body: { outcome: "redacted", events: 3 },
      });
      expect(
        await s.app.db.outboxEvent.count({
          where: {
            shopId,
            orderId: {
              in: orderIds.slice(0, 10).concat(orderIds.slice(-10)).map(String),
            },
          },
        }),
      ).toBe(0);
      expect(
        await s.app.db.outboxEvent.count({
          where: { shopId, orderId: String(base - 1) },
        }),
      ).toBe(1);
    });
  },
);
