import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeOrder } from "../fixtures/order";
import { databaseKinds, eventually } from "../support/app";
import { connectedShop, orderWebhook, PIXEL, type Scenario } from "../support/scenario";

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
    const res = await orderWebhook(s, makeOrder({ id, admin_graphql_api_id: `gid://shopify/Order/${id}`, created_at: now, processed_at: now }));
    expect(res.body).toMatchObject({ outcome: "accepted", status: "pending" });

    // The rest of the backlog: copies of the row intake wrote, each with its own event id.
    const { id: _id, eventId: _eventId, payload, ...template } = await s.app.db.outboxEvent.findFirstOrThrow({ where: { status: "pending" } });
    const copies = Array.from({ length: BACKLOG - 1 }, (_, i) => {
      const eventId = `purchase_${id + 1 + i}`;
      return { ...template, eventId, orderId: String(id + 1 + i), payload: { ...(payload as object), event_id: eventId } };
    });
    for (let i = 0; i < copies.length; i += 200) {
      await s.app.db.outboxEvent.createMany({ data: copies.slice(i, i + 200) as never });
    }

    await s.app.restart({ DISPATCHER_IN_PROCESS: "true" });
    await s.graph.waitForEvents(BACKLOG, 30_000);
    const ids = s.graph.eventsReceived(PIXEL).map((e) => e.event_id);
    expect(new Set(ids).size).toBe(BACKLOG);
    expect(s.graph.eventRequests().map((r) => r.events.length)).toContain(1000);
    await eventually(async () => (await s.app.db.outboxEvent.count({ where: { status: "sent" } })) === BACKLOG, 10_000, "every row sent");
  });
});
