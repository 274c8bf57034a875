import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeOrder, makeRedactedOrder } from "../fixtures/order";
import { normalizeAndHash } from "../../app/core/intake/normalize";
import { API_SECRET, databaseKinds, eventually } from "../support/app";
import { sendWebhook } from "../support/shopifyWebhook";
import {
  connect,
  connectedShop,
  orderWebhook,
  PIXEL,
  TOKEN,
  type Scenario,
} from "../support/scenario";

// Issue 3 end to end: signed order webhooks into the production build, batches out to the fake Graph API.

let seq = 0;
function freshOrder(overrides: Record<string, unknown> = {}) {
  const id = 6_100_000_000_000 + (Date.now() % 1_000_000) * 100 + ++seq;
  const now = new Date().toISOString();
  return makeOrder({
    id,
    admin_graphql_api_id: `gid://shopify/Order/${id}`,
    name: `#${2000 + seq}`,
    checkout_token: `ck${id}`,
    created_at: now,
    processed_at: now,
    ...overrides,
  });
}

describe.each(databaseKinds())("order pipeline on %s", (kind) => {
  let s: Scenario;
  beforeAll(async () => {
    s = await connectedShop(kind);
  });
  afterAll(async () => {
    await s?.close();
  });

  it("sends a paid order as one Purchase with hashed customer data and presentment money", async () => {
    const order = freshOrder();
    const res = await orderWebhook(s, order);
    expect(res.status).toBe(200);
    expect(res.body.outcome).toBe("accepted");

    const [event] = await s.graph.waitForEvents(1);
    const req = s.graph.eventRequests().at(-1)!;
    expect(req.path).toBe(`/v24.0/${PIXEL}/events`);
    expect(req.accessToken).toBe(TOKEN);
    expect(event).toMatchObject({
      event_name: "Purchase",
      event_id: `purchase_${order.id}`,
      action_source: "website",
      custom_data: {
        value: 112.44,
        currency: "CAD",
        order_id: String(order.id),
        content_type: "product",
      },
    });
    expect(event.event_time).toBe(
      Math.floor(Date.parse(order.processed_at as string) / 1000),
    );
    expect(event.event_source_url).toMatch(/^https:\/\//);
    const u = event.user_data;
    expect(u.em).toEqual([normalizeAndHash("em", "amelie.cote@example.com")]);
    expect(u.ph).toContain(normalizeAndHash("ph", "+15145550134"));
    expect(u.fn).toContain(normalizeAndHash("fn", "Amélie"));
    expect(u.ct).toContain(normalizeAndHash("ct", "Montréal"));
    expect(u.country).toEqual([normalizeAndHash("country", "ca")]);
    expect(u.external_id).toEqual([
      normalizeAndHash("external_id", "6543210987654"),
    ]);
    expect(u.client_ip_address).toBe("203.0.113.42");
    expect(u.client_user_agent).toMatch(/Chrome/);
    expect(u.fbc).toMatch(/^fb\.1\.\d+\.IwAR2xY_AbCdEf-9Zk1Lq$/);
    expect(u.fbp).toBe("fb.1.1762800000000.1098765432");
    for (const hash of [...u.em!, ...u.ph!, ...u.fn!, ...u.ln!])
      expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(event.custom_data!.contents).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          quantity: expect.any(Number),
          item_price: expect.any(Number),
        }),
      ]),
    );
    expect(event.custom_data!.content_ids).toEqual(
      event.custom_data!.contents!.map((c) => c.id),
    );

    const row = await eventually(() =>
      s.app.db.outboxEvent.findFirst({
        where: { eventId: `purchase_${order.id}`, status: "sent" },
      }),
    );
    expect(row.clientIp).toBeNull();
    expect(row.clientUserAgent).toBeNull();
    expect(row.lastFbtraceId).toBeTruthy();
  });

  it("is idempotent: a redelivery and the other topic make no second event", async () => {
    const order = freshOrder();
    s.graph.reset();
    const first = await orderWebhook(s, order, { webhookId: `wh-${order.id}` });
    const again = await orderWebhook(s, order, { webhookId: `wh-${order.id}` });
    const other = await orderWebhook(s, order, { topic: "orders/create" });
    expect(first.body.outcome).toBe("accepted");
    expect(again.body.outcome).toBe("duplicate_webhook");
    expect(other.body.outcome).toBe("ignored");
    await s.graph.waitForEvents(1);
    await new Promise((r) => setTimeout(r, 800));
    expect(
      s.graph
        .eventsReceived()
        .filter((e) => e.event_id === `purchase_${order.id}`),
    ).toHaveLength(1);
    expect(
      await s.app.db.outboxEvent.count({
        where: { eventId: `purchase_${order.id}` },
      }),
    ).toBe(1);
  });

  it("records an invalid payload with its reason and answers 200 on purpose", async () => {
    const res = await orderWebhook(
      s,
      { id: "not-a-number", line_items: "nope" },
      { webhookId: "wh-invalid-1" },
    );
    expect(res.status).toBe(200);
    expect(res.body.outcome).toBe("rejected");
    const receipt = await s.app.db.webhookReceipt.findUnique({
      where: { webhookId: "wh-invalid-1" },
    });
    expect(receipt?.outcome).toBe("rejected");
    expect(receipt?.reason).toMatch(/invalid order payload/);

    // Signed, but not JSON at all: recorded and answered 200, never a 500 that Shopify would retry for hours.
    const garbled = await sendWebhook(s.app.url, {
      topic: "orders/paid",
      shop: s.shop,
      body: "{not json",
      secret: API_SECRET,
      webhookId: "wh-invalid-2",
    });
    expect(garbled.status).toBe(200);
    expect(
      (
        await s.app.db.webhookReceipt.findUnique({
          where: { webhookId: "wh-invalid-2" },
        })
      )?.reason,
    ).toMatch(/not valid JSON/);
  });

  it("skips test orders outside test mode, and works with redacted orders", async () => {
    const test = freshOrder({ test: true });
    expect((await orderWebhook(s, test)).body).toMatchObject({
      outcome: "accepted",
      status: "suppressed",
      reason: "test_order",
    });
    const id = 6_200_000_000_000 + (seq += 2);
    const now = new Date().toISOString();
    const redacted = makeRedactedOrder({
      id,
      admin_graphql_api_id: `gid://shopify/Order/${id}`,
      created_at: now,
      processed_at: now,
    });
    // No address and no consent snapshot: the default policy cannot rule out an opt-in region.
    expect((await orderWebhook(s, redacted)).body).toMatchObject({
      status: "suppressed",
      reason: "no_consent_opt_in_region",
    });
    const shop = (await s.app.db.shop.findUnique({
      where: { domain: s.shop },
    }))!;
    await s.app.db.shop.update({
      where: { id: shop.id },
      data: {
        settings: { ...(shop.settings as object), consentPolicy: "always" },
      },
    });
    s.graph.reset();
    const again = makeRedactedOrder({
      id: id + 1,
      admin_graphql_api_id: `gid://shopify/Order/${id + 1}`,
      created_at: now,
      processed_at: now,
    });
    expect((await orderWebhook(s, again)).body.outcome).toBe("accepted");
    const [event] = await s.graph.waitForEvents(1);
    await s.app.db.shop.update({
      where: { id: shop.id },
      data: { settings: shop.settings as object },
    });
    expect(event.event_id).toBe(`purchase_${id + 1}`);
    expect(event.user_data.em).toBeUndefined();
    expect(event.user_data.client_ip_address).toBe("203.0.113.42");
  });

  it("sends the test event code while it is valid, test orders only then, and stops after its TTL", async () => {
    const shop = (await s.app.db.shop.findUnique({
      where: { domain: s.shop },
    }))!;
    await s.app.db.shop.update({
      where: { id: shop.id },
      data: { testEventCode: "TEST999", testEventCodeSetAt: new Date() },
    });
    s.graph.reset();
    const test = freshOrder({ test: true });
    expect((await orderWebhook(s, test)).body.status).toBe("pending");
    await s.graph.waitForEvents(1);
    expect(s.graph.eventRequests().at(-1)!.testEventCode).toBe("TEST999");

    // 25 hours later the code has switched itself off (default TTL 24 h): production traffic, no test orders.
    await s.app.db.shop.update({
      where: { id: shop.id },
      data: { testEventCodeSetAt: new Date(Date.now() - 25 * 3_600_000) },
    });
    s.graph.reset();
    expect(
      (await orderWebhook(s, freshOrder({ test: true }))).body,
    ).toMatchObject({ status: "suppressed", reason: "test_order" });
    await orderWebhook(s, freshOrder());
    await s.graph.waitForEvents(1);
    expect(s.graph.eventRequests().at(-1)!.testEventCode).toBeNull();
    await s.app.db.shop.update({
      where: { id: shop.id },
      data: { testEventCode: null, testEventCodeSetAt: null },
    });
  });

  it("holds no raw customer data in any table", async () => {
    const needles = [
      "amelie.cote@example.com",
      "Amelie.Cote",
      "5145550134",
      "514-555-0134",
      "Amélie",
      "Côté",
      "Montréal",
      "Saint-Denis",
      "H2J 2L4",
      "418) 555-0199",
    ];
    const tables = [
      "Shop",
      "OutboxEvent",
      "BrowserContext",
      "WebhookReceipt",
      "DataRequest",
      "Session",
    ];
    for (const table of tables) {
      const rows = (await s.app.db.$queryRawUnsafe(
        `SELECT * FROM "${table}"`,
      )) as Record<string, unknown>[];
      const text = JSON.stringify(rows, (_k, v) =>
        typeof v === "bigint" ? String(v) : v,
      ).toLowerCase();
      for (const needle of needles)
        expect(text, `${table} holds "${needle}"`).not.toContain(
          needle.toLowerCase(),
        );
    }
  });

  it("retries 500, timeouts and rate limits with backoff, then delivers", async () => {
    s.graph.reset();
    s.graph.failNext(1, {
      status: 500,
      code: 2,
      message: "Service temporarily unavailable",
    });
    s.graph.failNext(1, "hang");
    s.graph.failNext(1, {
      status: 400,
      code: 613,
      message: "Calls to this api have exceeded the rate limit.",
    });
    const order = freshOrder();
    await orderWebhook(s, order);
    await s.graph.waitForEvents(1, 20_000);
    const sent = (r: { body: unknown }) =>
      ((r.body as { data?: { event_id: string }[] } | null)?.data ?? []).map(
        (e) => e.event_id,
      );
    const attempts = s.graph.requests.filter((r) =>
      sent(r).includes(`purchase_${order.id}`),
    );
    expect(attempts.length).toBe(4);
    const row = await eventually(() =>
      s.app.db.outboxEvent.findFirst({
        where: { eventId: `purchase_${order.id}`, status: "sent" },
      }),
    );
    expect(row.attempts).toBe(4);
    expect(row.ambiguousSends).toBeGreaterThanOrEqual(1);
    // Backoff: each retry waited longer than the one before it.
    const gaps = attempts.slice(1).map((r, i) => r.time - attempts[i].time);
    expect(gaps[0]).toBeGreaterThanOrEqual(90);
  });

  it("pauses the shop on 190, keeps every event, and resumes after reconnecting", async () => {
    s.graph.reset();
    const remove = s.graph.failOn(() => true, {
      status: 400,
      code: 190,
      subcode: 463,
      message: "Session has expired",
    });
    const orders = [freshOrder(), freshOrder(), freshOrder()];
    const ids = orders.map((o) => `purchase_${o.id}`);
    try {
      for (const o of orders) await orderWebhook(s, o);
      const shop = await eventually(async () => {
        const row = await s.app.db.shop.findUnique({
          where: { domain: s.shop },
        });
        return row?.pausedReason ? row : null;
      });
      expect(shop.pausedReason).toBe("token");
      // Batches already in flight when the pause began come back too: every event ends up kept, pending.
      await eventually(
        async () =>
          (await s.app.db.outboxEvent.count({
            where: { eventId: { in: ids }, status: "pending" },
          })) === 3,
        10_000,
        "all three kept pending",
      );
      const requestsWhilePaused = s.graph.requests.length;
      await new Promise((r) => setTimeout(r, 1000));
      expect(s.graph.requests.length).toBe(requestsWhilePaused);
    } finally {
      remove();
    }

    await connect(s.app, s.shop, TOKEN);
    const events = await s.graph.waitForEvents(3, 10_000);
    expect(events.map((e) => e.event_id).sort()).toEqual([...ids].sort());
    expect(
      (await s.app.db.shop.findUnique({ where: { domain: s.shop } }))!
        .pausedReason,
    ).toBeNull();
  });

  it("isolates one invalid event so the rest of the batch still goes", async () => {
    await s.app.stop();
    const orders = Array.from({ length: 9 }, () => freshOrder());
    const bad = `purchase_${orders[4].id}`;
    // Queue while the server is down so that all nine go out in one batch.
    await s.app.restart({ DISPATCHER_IN_PROCESS: "false" });
    for (const o of orders) await orderWebhook(s, o);
    s.graph.reset();
    s.graph.rejectEvents((e) => e.event_id === bad);
    await s.app.restart();
    await eventually(
      async () =>
        (await s.app.db.outboxEvent.count({
          where: {
            eventId: { in: orders.map((o) => `purchase_${o.id}`) },
            status: { in: ["sent", "failed"] },
          },
        })) === 9,
      15_000,
      "all nine final",
    );
    expect(s.graph.eventsReceived().map((e) => e.event_id)).not.toContain(bad);
    expect(s.graph.eventsReceived()).toHaveLength(8);
    const failed = await s.app.db.outboxEvent.findFirst({
      where: { eventId: bad },
    });
    expect(failed).toMatchObject({
      status: "failed",
      lastErrorCode: 100,
      lastErrorSubcode: 2804050,
    });
    s.graph.rejectEvents(() => false);
  });

  it("expires an order older than Meta's window instead of sending it", async () => {
    s.graph.reset();
    const old = new Date(Date.now() - 8 * 86_400_000).toISOString();
    const order = freshOrder({ created_at: old, processed_at: old });
    await orderWebhook(s, order);
    const row = await eventually(() =>
      s.app.db.outboxEvent.findFirst({
        where: { eventId: `purchase_${order.id}`, status: "expired" },
      }),
    );
    expect(row.clientIp).toBeNull();
    expect(s.graph.eventsReceived().map((e) => e.event_id)).not.toContain(
      `purchase_${order.id}`,
    );
  });

  it("expires a waiting row that crossed Meta's window before its claim, and still sends the others", async () => {
    s.graph.reset();
    const shop = await s.app.db.shop.findUniqueOrThrow({
      where: { domain: s.shop },
    });
    const old = new Date(Date.now() - 8 * 86_400_000);
    await s.app.db.outboxEvent.create({
      data: {
        shopId: shop.id,
        eventName: "Purchase",
        eventId: "purchase_crossed",
        source: "webhook",
        status: "pending",
        actionSource: "website",
        eventTime: old,
        payload: {
          event_name: "Purchase",
          event_id: "purchase_crossed",
          event_time: Math.floor(old.getTime() / 1000),
          action_source: "website",
          user_data: {},
        },
        clientIp: "203.0.113.9",
        nextAttemptAt: new Date(),
      },
    });
    const order = freshOrder();
    await orderWebhook(s, order);
    const row = await eventually(() =>
      s.app.db.outboxEvent.findFirst({
        where: { eventId: "purchase_crossed", status: "expired" },
      }),
    );
    expect({ clientIp: row.clientIp, message: row.lastErrorMessage }).toEqual({
      clientIp: null,
      message: expect.stringMatching(/window/),
    });
    await s.graph.waitForEvents(1);
    const sent = s.graph.eventsReceived().map((e) => e.event_id);
    expect(sent).toContain(`purchase_${order.id}`);
    expect(sent).not.toContain("purchase_crossed");
  });

  it("survives a crash mid-send: every event delivered after restart, none lost", async () => {
    await s.app.restart({ DISPATCHER_LEASE_MS: "1500" });
    s.graph.reset();
    s.graph.setLatency(3000);
    const orders = Array.from({ length: 5 }, () => freshOrder());
    for (const o of orders) await orderWebhook(s, o);
    const ids = orders.map((o) => `purchase_${o.id}`);
    await eventually(
      async () =>
        (await s.app.db.outboxEvent.count({
          where: { eventId: { in: ids }, status: "sending" },
        })) > 0,
      5_000,
      "a batch in flight",
    );
    await s.app.kill();
    s.graph.setLatency(0);
    await s.app.restart({ DISPATCHER_LEASE_MS: "1500" });
    await eventually(
      async () =>
        (await s.app.db.outboxEvent.count({
          where: { eventId: { in: ids }, status: "sent" },
        })) === 5,
      15_000,
      "all five sent",
    );
    const received = new Set(s.graph.eventsReceived().map((e) => e.event_id));
    for (const id of ids) expect(received.has(id)).toBe(true);
  });

  it("drains in-flight work and exits 0 on SIGTERM", async () => {
    expect(await s.app.stop()).toBe(0);
    expect(s.app.logs.join("\n")).toMatch(/dispatcher-\w+ stopped/);
    await s.app.restart();
  });

  it("never logged the token", () => {
    for (const line of s.app.logs) expect(line).not.toContain(TOKEN);
  });
});
