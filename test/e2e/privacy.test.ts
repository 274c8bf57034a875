import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { normalizeAndHash } from "../../app/core/intake/normalize";
import {
  API_SECRET,
  databaseKinds,
  eventually,
  startApp,
  type DbKind,
  type TestApp,
} from "../support/app";
import { startFakeGraph, type FakeGraph } from "../support/fakeGraph";
import { sendWebhook } from "../support/shopifyWebhook";
import { seedSession } from "../support/shopifyAdmin";
import { connect, orderWebhook, PIXEL, TOKEN } from "../support/scenario";
import { jsonOf, runOps, setSettings } from "../support/opsCli";
import {
  consent,
  consentBody,
  eventBody,
  ingestKeyOf,
  newBuyer,
  newCheckout,
  postIngest,
  VISITOR_IP,
  type Buyer,
  type Checkout,
} from "../support/checkout";

// Issue 5 end to end: Shopify's mandatory privacy webhooks against the production build and a real database,
// minimisation of IP and user agent, and retention pruning. Orders wait for browser context
// (PURCHASE_HOLD_SECONDS=600), so some of each customer's events are still held when a redaction arrives.

const ORDER_IP = "203.0.113.42";

interface Customer {
  buyer: Buyer;
  /** Ordered with the browser's context: sent. */
  paid: Checkout;
  /** Ordered without browser context yet: held. */
  held: Checkout;
  /** A checkout that never became an order: browser events only. */
  abandoned: Checkout;
  browserEventIds: string[];
}

describe.each(databaseKinds())("privacy end to end on %s", (kind: DbKind) => {
  let graph: FakeGraph;
  let app: TestApp;
  let shop: string;
  let a: Customer;
  let b: Customer;

  const privacyWebhook = (
    topic: string,
    domain: string,
    body: unknown,
    opts: { webhookId?: string; badHmac?: boolean } = {},
  ) =>
    sendWebhook(app.url, {
      topic,
      shop: domain,
      body,
      secret: API_SECRET,
      ...opts,
    });

  async function newShop(name: string): Promise<string> {
    const domain = `${name}-${kind.slice(0, 2)}-${Date.now().toString(36)}.myshopify.com`;
    await seedSession(app.db, domain);
    await connect(app, domain, TOKEN);
    return domain;
  }

  /** A customer's journey: a paid order with its browser events, an order still held, an abandoned checkout. */
  async function customerJourney(
    domain: string,
    name: string,
  ): Promise<Customer> {
    const key = await ingestKeyOf(app, domain);
    const buyer = newBuyer(name);
    const c: Customer = {
      buyer,
      paid: newCheckout({ region: "US-NY", buyer }),
      held: newCheckout({ region: "US-NY", buyer }),
      abandoned: newCheckout({ region: "US-NY", buyer }),
      browserEventIds: [],
    };
    const browser = async (
      checkout: Checkout,
      name: Parameters<typeof eventBody>[3],
      hashed = true,
    ) => {
      const body = eventBody(domain, key, checkout, name, consent(true), {
        hashed,
      });
      const res = await postIngest(app, body);
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      if (body.kind === "event" && name !== "Purchase")
        c.browserEventIds.push(body.event.event_id);
    };
    // Each checkout's browser viewed a page first: a page view carries nothing of the customer (decisions 39).
    for (const checkout of [c.paid, c.held, c.abandoned]) {
      const pageView = eventBody(
        domain,
        key,
        checkout,
        "PageView",
        consent(true),
      );
      if (pageView.kind === "event")
        pageView.event.event_source_url = `https://${domain}/products/linen-shirt`;
      expect((await postIngest(app, pageView)).status).toBe(202);
    }
    await browser(c.paid, "InitiateCheckout");
    await browser(c.paid, "Purchase");
    expect(
      (await orderWebhook({ app, shop: domain }, c.paid.order)).body.status,
    ).toBe("pending");
    expect(
      (await orderWebhook({ app, shop: domain }, c.held.order)).body.status,
    ).toBe("held");
    // Only the checkout token ties this one to the customer.
    await browser(c.held, "AddPaymentInfo", false);
    await browser(c.abandoned, "InitiateCheckout");
    return c;
  }

  const eventIdsOf = (c: Customer) => [
    c.paid.eventId,
    c.held.eventId,
    ...c.browserEventIds,
  ];

  /** Everything that identifies the customer, raw and as the hashes the app keys on. */
  function needlesOf(c: Customer): string[] {
    const { buyer } = c;
    return [
      buyer.email,
      buyer.phone,
      buyer.phone.replace(/\D/g, ""),
      buyer.lastName,
      String(buyer.id),
      normalizeAndHash("em", buyer.email)!,
      normalizeAndHash("ph", buyer.phone)!,
      normalizeAndHash("external_id", String(buyer.id))!,
      normalizeAndHash("ln", buyer.lastName)!,
      // The browsers that checked out: customers/redact forgets that they were seen (decisions 39).
      ...[c.paid, c.held, c.abandoned].flatMap((x) => [
        x.orderId,
        x.checkoutToken,
        x.clientId,
      ]),
      ...c.browserEventIds,
    ];
  }

  /** Every table of the database, read whole, each row as JSON text. */
  async function allRows(): Promise<{ table: string; text: string }[]> {
    const sql =
      kind === "sqlite"
        ? `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`
        : `SELECT tablename::text AS name FROM pg_tables WHERE schemaname = current_schema()`;
    const tables = (await app.db.$queryRawUnsafe<{ name: string }[]>(sql)).map(
      (t) => t.name,
    );
    expect(tables).toEqual(
      expect.arrayContaining([
        "Shop",
        "OutboxEvent",
        "BrowserContext",
        "WebhookReceipt",
        "DataRequest",
        "Session",
        "ShopperLink",
      ]),
    );
    const out: { table: string; text: string }[] = [];
    for (const table of tables) {
      const rows = await app.db.$queryRawUnsafe<Record<string, unknown>[]>(
        `SELECT * FROM "${table}"`,
      );
      for (const row of rows)
        out.push({
          table,
          text: JSON.stringify(row, (_k, v) =>
            typeof v === "bigint" ? String(v) : v,
          ).toLowerCase(),
        });
    }
    return out;
  }

  async function findEverywhere(needles: string[]): Promise<string[]> {
    const rows = await allRows();
    return needles.flatMap((n) =>
      rows
        .filter((r) => r.text.includes(n.toLowerCase()))
        .map((r) => `${r.table} holds ${n}`),
    );
  }

  /** Lets the shop's held orders reach the end of their wait for browser context. */
  const endHolds = (domain: string) =>
    app.db.outboxEvent.updateMany({
      where: { shop: { domain }, status: "held" },
      data: { holdUntil: new Date(Date.now() - 1000) },
    });

  beforeAll(async () => {
    graph = await startFakeGraph();
    graph.addPixel(PIXEL, { name: "Privacy Pixel", token: TOKEN });
    app = await startApp({
      db: kind,
      graphUrl: graph.url,
      env: {
        PURCHASE_HOLD_SECONDS: "600",
        TRUST_PROXY_HOPS: "1",
        INGEST_CLIENT_BURST: "1000",
      },
    });
    shop = await newShop("privacy");
    a = await customerJourney(shop, "Alice");
    b = await customerJourney(shop, "Bruno");
    // Everything not held has gone out: what is left to redact is both delivered and undelivered data.
    const delivered = [a, b].flatMap((c) => [
      c.paid.eventId,
      ...c.browserEventIds,
    ]);
    await eventually(
      async () =>
        (await app.db.outboxEvent.count({
          where: { eventId: { in: delivered }, status: "sent" },
        })) === delivered.length,
      10_000,
      "the journeys delivered",
    );
  });
  afterAll(async () => {
    await app?.close();
    await graph?.close();
  });

  it("refuses each privacy topic with a bad HMAC (401) and changes nothing", async () => {
    const before = await app.db.outboxEvent.count();
    const bodies = {
      "customers/redact": {
        shop_domain: shop,
        customer: {
          id: a.buyer.id,
          email: a.buyer.email,
          phone: a.buyer.phone,
        },
        orders_to_redact: [Number(a.paid.orderId)],
      },
      "customers/data_request": {
        shop_domain: shop,
        customer: { id: a.buyer.id, email: a.buyer.email },
        orders_requested: [],
        data_request: { id: 1 },
      },
      "shop/redact": { shop_domain: shop },
    };
    for (const [topic, body] of Object.entries(bodies)) {
      expect(
        (await privacyWebhook(topic, shop, body, { badHmac: true })).status,
        topic,
      ).toBe(401);
    }
    expect(await app.db.outboxEvent.count()).toBe(before);
    expect(await app.db.dataRequest.count()).toBe(0);
    expect(await app.db.shop.count({ where: { domain: shop } })).toBe(1);
  });

  it("records a customers/data_request report the operator reads with the ops CLI: the customer's events, hashes only", async () => {
    // A request that names the customer by email only.
    const byEmail = {
      shop_domain: shop,
      customer: { email: a.buyer.email },
      orders_requested: [],
      data_request: { id: 5 },
    };
    expect(
      (await privacyWebhook("customers/data_request", shop, byEmail)).status,
    ).toBe(200);
    const requestId = `${Date.now()}`;
    const body = {
      shop_id: 1,
      shop_domain: shop,
      customer: { id: a.buyer.id, email: a.buyer.email, phone: a.buyer.phone },
      orders_requested: [Number(a.paid.orderId), Number(a.held.orderId)],
      data_request: { id: Number(requestId) },
    };
    const res = await privacyWebhook("customers/data_request", shop, body, {
      webhookId: `dr-${requestId}`,
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      outcome: "recorded",
      requestId,
      events: eventIdsOf(a).length,
    });

    const cli = await runOps(app, [
      "data-request",
      "--shop",
      shop,
      "--id",
      requestId,
    ]);
    expect(cli.code, cli.stderr).toBe(0);
    const out = jsonOf<{
      requestId: string;
      report: {
        events: { eventId: string; hashedUserData: { em?: string[] } }[];
        linkedBrowsers: { hashedUserData: { em?: string[] } }[];
      };
    }>(cli);
    expect(out.requestId).toBe(requestId);
    expect(out.report.events.map((e) => e.eventId).sort()).toEqual(
      eventIdsOf(a).sort(),
    );
    expect(
      out.report.events.find((e) => e.eventId === a.paid.eventId)!
        .hashedUserData.em,
    ).toEqual([normalizeAndHash("em", a.buyer.email)]);
    // The browser that paid is linked to the customer (decisions 109): the report says so, hashes only.
    expect(out.report.linkedBrowsers.map((l) => l.hashedUserData.em)).toEqual([
      [normalizeAndHash("em", a.buyer.email)],
    ]);
    // Hashes only: nothing raw about the customer, nor the network identifiers still held for undelivered events.
    const printed = cli.stdout.toLowerCase();
    for (const raw of [
      a.buyer.email,
      a.buyer.phone.replace(/\D/g, ""),
      String(a.buyer.id),
      a.buyer.lastName,
      ORDER_IP,
      VISITOR_IP,
      "mozilla/",
    ]) {
      expect(printed, raw).not.toContain(raw.toLowerCase());
    }
    for (const other of eventIdsOf(b)) expect(printed).not.toContain(other);

    // Shopify redelivers: the same report, no second one.
    expect(
      (
        await privacyWebhook("customers/data_request", shop, body, {
          webhookId: `dr-${requestId}`,
        })
      ).status,
    ).toBe(200);
    expect(await app.db.dataRequest.count({ where: { requestId } })).toBe(1);
    const latest = await runOps(app, ["data-request", "--shop", shop]);
    expect(jsonOf<{ requestId: string }>(latest).requestId).toBe(requestId);
  });

  it("customers/redact deletes everything of the customer from every table, held events included, and leaves others alone", async () => {
    expect(
      await findEverywhere(needlesOf(a)),
      "A's data before the redaction",
    ).not.toEqual([]);
    expect(
      await app.db.outboxEvent.findFirst({
        where: { eventId: a.held.eventId },
      }),
    ).toMatchObject({ status: "held" });
    const bRows = async () =>
      (
        await app.db.outboxEvent.findMany({
          where: { eventId: { in: eventIdsOf(b) } },
          orderBy: { id: "asc" },
        })
      ).map((r) => [r.id, r.status, r.updatedAt.toISOString()]);
    const bContexts = async () =>
      (
        await app.db.browserContext.findMany({
          where: {
            checkoutToken: {
              in: [b.paid, b.held, b.abandoned].map((x) => x.checkoutToken),
            },
          },
          orderBy: { id: "asc" },
        })
      ).map((r) => [r.id, r.updatedAt.toISOString()]);
    // The browser that paid is linked to its shopper (decisions 109): the link goes with the customer.
    const linkOf = (c: Customer) =>
      app.db.shopperLink.count({ where: { clientId: c.paid.clientId } });
    expect(await linkOf(a)).toBe(1);
    expect(await linkOf(b)).toBe(1);
    const bBefore = { rows: await bRows(), contexts: await bContexts() };
    expect(bBefore.rows).toHaveLength(eventIdsOf(b).length);

    const body = {
      shop_id: 1,
      shop_domain: shop,
      customer: { id: a.buyer.id, email: a.buyer.email, phone: a.buyer.phone },
      orders_to_redact: [Number(a.paid.orderId), Number(a.held.orderId)],
    };
    const res = await privacyWebhook("customers/redact", shop, body, {
      webhookId: `redact-${a.buyer.id}`,
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      outcome: "redacted",
      events: eventIdsOf(a).length,
      shopperLinks: 1,
      dataRequests: 2,
    });

    expect(await findEverywhere(needlesOf(a))).toEqual([]);
    expect(await linkOf(a)).toBe(0);
    expect(await linkOf(b)).toBe(1);
    expect({ rows: await bRows(), contexts: await bContexts() }).toEqual(
      bBefore,
    );
    expect(
      await findEverywhere([
        normalizeAndHash("em", b.buyer.email)!,
        b.held.checkoutToken,
      ]),
    ).not.toEqual([]);

    // Redelivered: answered 200 again, nothing left to do.
    const again = await privacyWebhook("customers/redact", shop, body, {
      webhookId: `redact-${a.buyer.id}`,
    });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({
      outcome: "redacted",
      events: 0,
    });

    // B's held order is still sent when its wait ends; A's never is.
    await endHolds(shop);
    await eventually(
      () => graph.eventsReceived().some((e) => e.event_id === b.held.eventId),
      10_000,
      "B's held order sent",
    );
    expect(graph.eventsReceived().map((e) => e.event_id)).not.toContain(
      a.held.eventId,
    );
    expect(app.logs.join("\n")).not.toMatch(/error/i);
  });

  it("erases IP address and user agent when an event is sent, failed, expired or suppressed", async () => {
    const key = await ingestKeyOf(app, shop);
    const c = {
      sent: newCheckout(),
      failed: newCheckout(),
      expired: newCheckout({ ageDays: 8 }),
      suppressed: newCheckout(),
      held: newCheckout(),
    };
    graph.rejectEvents((e) => e.event_id === c.failed.eventId);
    await postIngest(
      app,
      eventBody(shop, key, c.sent, "Purchase", consent(true)),
    );
    await postIngest(
      app,
      consentBody(shop, key, c.suppressed, consent(false, false)),
    );
    await postIngest(
      app,
      eventBody(shop, key, c.failed, "Purchase", consent(true)),
    );
    for (const x of Object.values(c))
      await orderWebhook({ app, shop }, x.order);
    await postIngest(
      app,
      eventBody(shop, key, c.held, "AddPaymentInfo", consent(true)),
    );

    // Until it is final an event keeps what Meta needs to match it.
    const held = await app.db.outboxEvent.findFirstOrThrow({
      where: { eventId: c.held.eventId },
    });
    expect(held).toMatchObject({
      status: "held",
      clientIp: ORDER_IP,
      clientUserAgent: expect.stringMatching(/Chrome/),
    });
    expect(
      await app.db.browserContext.findFirstOrThrow({
        where: { checkoutToken: c.held.checkoutToken },
      }),
    ).toMatchObject({ clientIp: VISITOR_IP });

    const statuses = {
      sent: "sent",
      failed: "failed",
      expired: "expired",
      suppressed: "suppressed",
    } as const;
    for (const [name, status] of Object.entries(statuses)) {
      const row = await eventually(
        () =>
          app.db.outboxEvent.findFirst({
            where: { eventId: c[name as keyof typeof c].eventId, status },
          }),
        15_000,
        `${name} final`,
      );
      expect({
        status: row.status,
        clientIp: row.clientIp,
        clientUserAgent: row.clientUserAgent,
      }).toEqual({ status, clientIp: null, clientUserAgent: null });
    }
    const sentEvent = graph
      .eventsReceived()
      .find((e) => e.event_id === c.sent.eventId)!;
    expect(sentEvent.user_data.client_ip_address).toBe(VISITOR_IP);
    // The context that joined the order gave up its IP and user agent to the outbox row.
    const used = await app.db.browserContext.findFirstOrThrow({
      where: { checkoutToken: c.sent.checkoutToken },
    });
    expect({
      used: Boolean(used.usedAt),
      ip: used.clientIp,
      ua: used.clientUserAgent,
    }).toEqual({ used: true, ip: null, ua: null });
  });

  it("prunes final events, receipts and stale browser context after the shop's retention period", async () => {
    const short = await newShop("retention");
    expect(
      (await setSettings(app, short, { retentionDays: 7 })).settings
        .retentionDays,
    ).toBe(7);
    const orders = {
      old: newCheckout(),
      recent: newCheckout(),
      eightDays: newCheckout(),
      shortEightDays: newCheckout(),
      held: newCheckout(),
    };
    const key = await ingestKeyOf(app, shop);
    for (const [name, x] of Object.entries(orders)) {
      const domain = name === "shortEightDays" ? short : shop;
      if (name !== "held")
        await postIngest(
          app,
          eventBody(
            domain,
            domain === shop ? key : await ingestKeyOf(app, short),
            x,
            "Purchase",
            consent(true),
          ),
        );
      await orderWebhook({ app, shop: domain }, x.order);
    }
    const sentIds = [
      orders.old,
      orders.recent,
      orders.eightDays,
      orders.shortEightDays,
    ].map((x) => x.eventId);
    await eventually(
      async () =>
        (await app.db.outboxEvent.count({
          where: { eventId: { in: sentIds }, status: "sent" },
        })) === 4,
      10_000,
      "four sent",
    );
    const daysAgo = (d: number) => new Date(Date.now() - d * 86_400_000);
    const age = (x: Checkout, days: number) =>
      app.db.outboxEvent.updateMany({
        where: { eventId: x.eventId },
        data: { finalAt: daysAgo(days) },
      });
    await age(orders.old, 31);
    await age(orders.recent, 29);
    await age(orders.eightDays, 8);
    await age(orders.shortEightDays, 8);
    // A held row is never pruned, however old: it has not been decided yet.
    await app.db.outboxEvent.updateMany({
      where: { eventId: orders.held.eventId },
      data: { receivedAt: daysAgo(40), finalAt: daysAgo(40) },
    });
    await app.db.webhookReceipt.updateMany({
      where: { orderId: orders.old.orderId },
      data: { receivedAt: daysAgo(31) },
    });
    await app.db.webhookReceipt.updateMany({
      where: { orderId: orders.recent.orderId },
      data: { receivedAt: daysAgo(29) },
    });
    // A delivery for a shop that never installed the app is recorded too, and must not outlive the period.
    const stranger = `stranger-${kind}-${Date.now().toString(36)}.myshopify.com`;
    expect(
      (await orderWebhook({ app, shop: stranger }, newCheckout().order)).body,
    ).toMatchObject({ outcome: "rejected" });
    await app.db.webhookReceipt.updateMany({
      where: { shopDomain: stranger },
      data: { receivedAt: daysAgo(31) },
    });
    const staleContext = newCheckout();
    await postIngest(
      app,
      eventBody(shop, key, staleContext, "InitiateCheckout", consent(true)),
    );
    // Browsers seen on a page view are forgotten after the retention period too (and register again on their next).
    const browsers = {
      old: newCheckout(),
      recent: newCheckout(),
      shortEightDays: newCheckout(),
    };
    for (const [name, x] of Object.entries(browsers)) {
      const domain = name === "shortEightDays" ? short : shop;
      await postIngest(
        app,
        eventBody(
          domain,
          await ingestKeyOf(app, domain),
          x,
          "PageView",
          consent(true),
        ),
      );
    }
    const seenAgo = (x: Checkout, days: number) =>
      app.db.browserClient.updateMany({
        where: { clientId: x.clientId },
        data: { seenAt: daysAgo(days) },
      });
    // A shopper's link ends with the retention period of its order (decisions 109).
    const linkedAgo = (x: Checkout, days: number) =>
      app.db.shopperLink.updateMany({
        where: { clientId: x.clientId },
        data: { linkedAt: daysAgo(days) },
      });
    for (const x of [orders.old, orders.recent, orders.shortEightDays])
      expect(
        await app.db.shopperLink.count({ where: { clientId: x.clientId } }),
      ).toBe(1);
    await linkedAgo(orders.old, 31);
    await linkedAgo(orders.recent, 29);
    await linkedAgo(orders.shortEightDays, 8);
    await seenAgo(browsers.old, 31);
    await seenAgo(browsers.recent, 29);
    await seenAgo(browsers.shortEightDays, 8);
    await app.db.browserContext.update({
      where: {
        shopId_checkoutToken: {
          shopId: (
            await app.db.shop.findUniqueOrThrow({ where: { domain: shop } })
          ).id,
          checkoutToken: staleContext.checkoutToken,
        },
      },
      data: { receivedAt: daysAgo(2) },
    });

    // The dispatcher prunes on its first housekeeping pass after a start.
    await app.restart();
    // Stale browser context goes last (Outbox.prune): once it is gone, the whole pass is done.
    await eventually(
      async () =>
        (await app.db.browserContext.count({
          where: { checkoutToken: staleContext.checkoutToken },
        })) === 0,
      10_000,
      "a pass of prune",
    );
    const left = async (x: Checkout) =>
      (await app.db.outboxEvent.count({ where: { eventId: x.eventId } })) === 1;
    expect({
      old: await left(orders.old),
      recent: await left(orders.recent),
      eightDays: await left(orders.eightDays),
      shortEightDays: await left(orders.shortEightDays),
      held: await left(orders.held),
    }).toEqual({
      old: false,
      recent: true,
      eightDays: true,
      shortEightDays: false,
      held: true,
    });
    expect(
      await app.db.webhookReceipt.count({
        where: { orderId: orders.old.orderId },
      }),
    ).toBe(0);
    expect(
      await app.db.webhookReceipt.count({
        where: { orderId: orders.recent.orderId },
      }),
    ).toBe(1);
    expect(
      await app.db.webhookReceipt.count({ where: { shopDomain: stranger } }),
    ).toBe(0);
    expect(
      await app.db.browserContext.count({
        where: { checkoutToken: staleContext.checkoutToken },
      }),
    ).toBe(0);
    expect(
      await app.db.browserContext.count({
        where: { checkoutToken: orders.recent.checkoutToken },
      }),
    ).toBe(1);
    const seen = async (x: Checkout) =>
      (await app.db.browserClient.count({
        where: { clientId: x.clientId },
      })) === 1;
    expect({
      old: await seen(browsers.old),
      recent: await seen(browsers.recent),
      shortEightDays: await seen(browsers.shortEightDays),
    }).toEqual({
      old: false,
      recent: true,
      shortEightDays: false,
    });
    const linked = async (x: Checkout) =>
      (await app.db.shopperLink.count({
        where: { clientId: x.clientId },
      })) === 1;
    expect({
      old: await linked(orders.old),
      recent: await linked(orders.recent),
      shortEightDays: await linked(orders.shortEightDays),
    }).toEqual({
      old: false,
      recent: true,
      shortEightDays: false,
    });
  });

  it("shop/redact leaves no row of the shop in any table, and is idempotent", async () => {
    const gone = await newShop("leaving");
    const key = await ingestKeyOf(app, gone);
    const c = newCheckout({ buyer: newBuyer("Carla") });
    await postIngest(app, eventBody(gone, key, c, "PageView", consent(true)));
    await postIngest(
      app,
      eventBody(gone, key, c, "InitiateCheckout", consent(true)),
    );
    await postIngest(app, eventBody(gone, key, c, "Purchase", consent(true)));
    await orderWebhook({ app, shop: gone }, c.order);
    await orderWebhook({ app, shop: gone }, newCheckout().order);
    await privacyWebhook("customers/data_request", gone, {
      shop_domain: gone,
      customer: { id: c.buyer!.id },
      orders_requested: [],
      data_request: { id: 77 },
    });
    const row = await app.db.shop.findUniqueOrThrow({
      where: { domain: gone },
    });
    const needles = [gone, row.id, row.ingestKey];
    const before = await findEverywhere(needles);
    for (const table of [
      "Shop",
      "OutboxEvent",
      "BrowserContext",
      "BrowserClient",
      "ShopperLink",
      "WebhookReceipt",
      "DataRequest",
      "Session",
    ]) {
      expect(
        before.some((hit) => hit.startsWith(`${table} `)),
        `${table} has a row of the shop before`,
      ).toBe(true);
    }
    const othersBefore = await app.db.outboxEvent.count({
      where: { shop: { domain: { not: gone } } },
    });

    // Uninstall first, as Shopify does; shop/redact follows 48 hours later.
    expect(
      (await privacyWebhook("app/uninstalled", gone, { domain: gone })).status,
    ).toBe(200);
    const res = await privacyWebhook(
      "shop/redact",
      gone,
      { shop_id: 2, shop_domain: gone },
      { webhookId: `shop-redact-${row.id}` },
    );
    expect(res.status).toBe(200);
    expect(await findEverywhere(needles)).toEqual([]);
    expect(await app.db.outboxEvent.count()).toBe(othersBefore);

    const again = await privacyWebhook(
      "shop/redact",
      gone,
      { shop_id: 2, shop_domain: gone },
      { webhookId: `shop-redact-${row.id}` },
    );
    expect(again.status).toBe(200);
    const late = await privacyWebhook("customers/redact", gone, {
      shop_domain: gone,
      customer: { id: c.buyer!.id },
      orders_to_redact: [],
    });
    expect(late.status).toBe(200);
    expect(await findEverywhere(needles)).toEqual([]);
  });

  it("never logged customer data or the token", () => {
    const logs = app.logs.join("\n").toLowerCase();
    for (const c of [a, b])
      for (const raw of [c.buyer.email, c.buyer.phone, String(c.buyer.id)])
        expect(logs).not.toContain(raw.toLowerCase());
    expect(logs).not.toContain(TOKEN.toLowerCase());
  });
});
