import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_REQUEST_BYTES } from "../../app/core/meta/graphClient";
import { makeOrder } from "../fixtures/order";
import { databaseKinds, eventually } from "../support/app";
import {
  connectedShop,
  orderWebhook,
  PIXEL,
  type Scenario,
} from "../support/scenario";

// A backlog larger than one batch: the dispatcher sends full batches of 1,000 events. On SQLite, Prisma assumed
// SQLite's old limit of 999 bound values per statement and refused the claim of a full batch (P2029), so a shop
// with more than ~1,000 waiting events was never sent again (found by `npm run bench`).

const BACKLOG = 1_200;

describe.each(databaseKinds())("a large backlog on %s", (kind) => {
  let s: Scenario;
  beforeAll(async () => {
    s = await connectedShop(kind, { env: { DISPATCHER_IN_PROCESS: "false" } });
  });
  afterAll(async () => {
    await s?.close();
  });

  it(`sends ${BACKLOG} waiting events of one shop in full batches of 1,000, each once`, async () => {
    const now = new Date().toISOString();
    const id = 7_300_000_000_000;
    const res = await orderWebhook(
      s,
      makeOrder({
        id,
        admin_graphql_api_id: `gid://shopify/Order/${id}`,
        created_at: now,
        processed_at: now,
      }),
    );
    expect(res.body).toMatchObject({ outcome: "accepted", status: "pending" });

    // The rest of the backlog: copies of the row intake wrote, each with its own event id.
    const {
      id: _id,
      eventId: _eventId,
      payload,
      ...template
    } = await s.app.db.outboxEvent.findFirstOrThrow({
      where: { status: "pending" },
    });
    const copies = Array.from({ length: BACKLOG - 1 }, (_, i) => {
      const eventId = `purchase_${id + 1 + i}`;
      return {
        ...template,
        eventId,
        orderId: String(id + 1 + i),
        payload: { ...(payload as object), event_id: eventId },
      };
    });
    for (let i = 0; i < copies.length; i += 200) {
      await s.app.db.outboxEvent.createMany({
        data: copies.slice(i, i + 200) as never,
      });
    }

    await s.app.restart({ DISPATCHER_IN_PROCESS: "true" });
    await s.graph.waitForEvents(BACKLOG, 30_000);
    const ids = s.graph.eventsReceived(PIXEL).map((e) => e.event_id);
    expect(new Set(ids).size).toBe(BACKLOG);
    expect(s.graph.eventRequests().map((r) => r.events.length)).toContain(1000);
    await eventually(
      async () =>
        (await s.app.db.outboxEvent.count({ where: { status: "sent" } })) ===
        BACKLOG,
      10_000,
      "every row sent",
    );
  });
});

// A batch of very large orders: 1,000 orders of 1,500 lines once made one 94 MB request. Each request is now cut at
// MAX_REQUEST_BYTES before it is sent, and a rate limit on one part sends the rest back to wait with it.

describe.each(databaseKinds())("a batch of very large orders on %s", (kind) => {
  let s: Scenario;
  beforeAll(async () => {
    s = await connectedShop(kind, { env: { DISPATCHER_IN_PROCESS: "false" } });
  });
  afterAll(async () => {
    await s?.close();
  });

  it("goes in requests of at most MAX_REQUEST_BYTES, each event once, and waits out a rate limit as a whole", async () => {
    const now = new Date().toISOString();
    const id = 7_350_000_000_000;
    const [line] = (makeOrder() as { line_items: Record<string, unknown>[] })
      .line_items;
    const lines = Array.from({ length: 1_500 }, (_, i) => ({
      ...line,
      id: 15_000_000_000_000 + i,
      admin_graphql_api_id: `gid://shopify/LineItem/${15_000_000_000_000 + i}`,
      product_id: 8_000_000_000_000 + i,
      variant_id: 43_000_000_000_000 + i,
      sku: `WOOL-SOCK-${i}-GREY-XL`,
    }));
    const res = await orderWebhook(
      s,
      makeOrder({
        id,
        admin_graphql_api_id: `gid://shopify/Order/${id}`,
        created_at: now,
        processed_at: now,
        line_items: lines,
      }),
    );
    expect(res.body).toMatchObject({ outcome: "accepted", status: "pending" });

    // Copies of that order's row, enough for a batch of more than twice the limit.
    const {
      id: _id,
      eventId: _eventId,
      payload,
      ...template
    } = await s.app.db.outboxEvent.findFirstOrThrow({
      where: { status: "pending" },
    });
    const eventBytes = Buffer.byteLength(JSON.stringify(payload));
    const count = Math.min(
      1_000,
      Math.ceil((2.5 * MAX_REQUEST_BYTES) / eventBytes),
    );
    expect(
      count * eventBytes,
      "the batch must exceed the limit for this test to mean anything",
    ).toBeGreaterThan(2 * MAX_REQUEST_BYTES);
    const copies = Array.from({ length: count - 1 }, (_, i) => {
      const eventId = `purchase_${id + 1 + i}`;
      return {
        ...template,
        eventId,
        orderId: String(id + 1 + i),
        payload: { ...(payload as object), event_id: eventId },
      };
    });
    for (let i = 0; i < copies.length; i += 50)
      await s.app.db.outboxEvent.createMany({
        data: copies.slice(i, i + 50) as never,
      });

    s.graph.failNext(1, {
      status: 400,
      code: 613,
      message: "Calls to this api have exceeded the rate limit.",
    });
    await s.app.restart({ DISPATCHER_IN_PROCESS: "true" });
    await s.graph.waitForEvents(count, 60_000);
    await eventually(
      async () =>
        (await s.app.db.outboxEvent.count({ where: { status: "sent" } })) ===
        count,
      10_000,
      "every row sent",
    );

    const requests = s.graph.requests;
    for (const r of requests)
      expect(r.bytes).toBeLessThanOrEqual(MAX_REQUEST_BYTES);
    const ids = s.graph.eventsReceived(PIXEL).map((e) => e.event_id);
    expect(ids).toHaveLength(count);
    expect(new Set(ids).size).toBe(count);
    expect(s.graph.eventRequests().length).toBeGreaterThanOrEqual(3);
    // The first part was rate limited: nothing else of the batch went before the shop's wait was over.
    expect(requests[0].status).toBe(400);
    const { sendNotBefore } = await s.app.db.shop.findUniqueOrThrow({
      where: { domain: s.shop },
    });
    for (const r of requests.slice(1))
      expect(r.time).toBeGreaterThanOrEqual(sendNotBefore!.getTime());
  });
});
