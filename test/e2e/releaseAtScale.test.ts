import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDb, type DbHandle } from "../../app/db.server";
import { classifyDatabaseUrl } from "../../app/dbUrl";
import { releaseDueHeld } from "../../app/core/intake";
import type { NewOutboxEvent } from "../../app/core/outbox";
import {
  createTestDatabase,
  databaseKinds,
  type TestDatabase,
} from "../support/database";

// The hold timer at intake's speed (decisions 86): a burst of held Purchases whose hold ends together is released
// in pages (each read with its contexts in one query and written in one statement), every page in one call, each
// row once, with the browser context that came meanwhile; on PostgreSQL two dispatchers share the work.

const BURST = 2_600;
const WITH_CONTEXT = 100;

describe.each(databaseKinds())("the hold timer on %s", (kind) => {
  let database: TestDatabase;
  let handles: DbHandle[];
  let shopId: string;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    handles = [0, 1].map(() => createDb(classifyDatabaseUrl(database.url)));
    const shop = await handles[0].db.shop.create({
      data: {
        domain: "release-burst.myshopify.com",
        ingestKey: `key-release-${kind}`,
        settings: { consentPolicy: "always" },
        pixelId: "123",
        tokenCiphertext: "v1:abc",
      },
    });
    shopId = shop.id;
  });

  afterAll(async () => {
    for (const h of handles ?? []) await h.db.$disconnect();
    await database?.drop();
  });

  const held = (n: number, holdUntil: Date): NewOutboxEvent => {
    const eventId = `purchase_${n}`;
    return {
      shopId,
      eventName: "Purchase",
      eventId,
      source: "webhook",
      status: "held",
      actionSource: "website",
      eventTime: new Date(),
      payload: {
        event_name: "Purchase",
        event_id: eventId,
        action_source: "website",
        user_data: { em: ["ab".repeat(32)] },
        custom_data: { value: 12.5, currency: "CAD" },
      },
      clientIp: null,
      clientUserAgent: null,
      countryCode: "CA",
      consent: null,
      orderId: String(n),
      checkoutToken: `tok-${n}`,
      holdUntil,
      receivedAt: new Date(),
    };
  };

  const receipt = (n: number) => ({
    webhookId: `wh-${n}`,
    shopDomain: "release-burst.myshopify.com",
    topic: "orders/paid",
    outcome: "accepted",
    reason: null,
    orderId: String(n),
    receivedAt: new Date(),
  });

  async function burst(first: number, holdUntil: Date): Promise<void> {
    const outbox = handles[0].outbox();
    for (let i = 0; i < BURST; i += 100)
      await Promise.all(
        Array.from({ length: Math.min(100, BURST - i) }, (_, j) =>
          outbox.insertOrder(
            held(first + i + j, holdUntil),
            receipt(first + i + j),
            null,
          ),
        ),
      );
    // The browsers of some checkouts posted their context while the order waited.
    for (let i = 0; i < WITH_CONTEXT; i++)
      await outbox.saveContext(
        shopId,
        `tok-${first + i}`,
        {
          clientId: `client-${i}`,
          fbp: `fb.1.1700000000000.${i}`,
          fbc: null,
          eventSourceUrl: null,
          orderId: String(first + i),
          clientIp: "203.0.113.9",
          clientUserAgent: "Mozilla/5.0 (burst)",
          consent: { marketingAllowed: true, saleOfDataAllowed: true },
          // The pixel's own Purchase: its value is copied at the end of the hold (decisions 111).
          value: 10 + i,
          currency: "EUR",
        },
        new Date(),
      );
  }

  it(`releases a burst of ${BURST.toLocaleString("en")} held Purchases in one pass, each with its context`, async () => {
    const first = 1_000_000;
    await burst(first, new Date(Date.now() - 1_000));
    // Not yet due: left held.
    await handles[0]
      .outbox()
      .insertOrder(
        held(9_999_999, new Date(Date.now() + 60_000)),
        receipt(9_999_999),
        null,
      );

    const due = await releaseDueHeld(handles[0].outbox());
    expect(due).toBe(BURST);
    const db = handles[0].db;
    expect(
      await db.outboxEvent.count({ where: { shopId, status: "pending" } }),
    ).toBe(BURST);
    expect(
      await db.outboxEvent.count({ where: { shopId, status: "held" } }),
    ).toBe(1);
    const joined = await db.outboxEvent.findFirstOrThrow({
      where: { shopId, eventId: `purchase_${first + 1}` },
    });
    expect(joined).toMatchObject({
      status: "pending",
      clientIp: "203.0.113.9",
      clientUserAgent: "Mozilla/5.0 (burst)",
      holdUntil: null,
      lduApplied: false,
      consent: { marketingAllowed: true, saleOfDataAllowed: true },
    });
    expect(joined.releasedAt).toBeInstanceOf(Date);
    expect(joined.browserSeenAt).toBeInstanceOf(Date);
    expect(joined).toMatchObject({ browserValue: 11, browserCurrency: "EUR" });
    expect(
      (joined.payload as { user_data: { fbp?: string } }).user_data.fbp,
    ).toBe("fb.1.1700000000000.1");
    const alone = await db.outboxEvent.findFirstOrThrow({
      where: { shopId, eventId: `purchase_${first + WITH_CONTEXT + 1}` },
    });
    // No user agent from order or browser: not a website event (decisions 33).
    expect(alone).toMatchObject({ status: "pending", actionSource: "other" });
    expect(
      await db.browserContext.count({
        where: { shopId, usedAt: { not: null }, clientIp: null },
      }),
    ).toBe(WITH_CONTEXT);
  });

  it.runIf(kind === "postgresql")(
    "two dispatchers release side by side, each row once",
    async () => {
      const first = 2_000_000;
      await burst(first, new Date(Date.now() - 1_000));
      const [a, b] = await Promise.all(
        handles.map((h) => releaseDueHeld(h.outbox())),
      );
      expect(a + b).toBe(BURST);
      expect(a).toBeGreaterThan(0);
      expect(b).toBeGreaterThan(0);
      expect(
        // Through the second client too: its $disconnect then ends the pool its store used.
        await handles[1].db.outboxEvent.count({
          where: {
            shopId,
            status: "pending",
            eventId: { startsWith: "purchase_2" },
          },
        }),
      ).toBe(BURST);
    },
  );

  it("decides a held Purchase without an address on its shop's one sales country (decisions 66)", async () => {
    const db = handles[0].db;
    const shops = await Promise.all(
      ["US", null].map((salesCountry, i) =>
        db.shop.create({
          data: {
            domain: `release-region-${i}.myshopify.com`,
            ingestKey: `key-release-region-${i}-${kind}`,
            // The default policy: no consent snapshot keeps back an order from an opt-in or unknown region.
            settings: {},
            salesCountry,
            pixelId: "123",
            tokenCiphertext: "v1:abc",
          },
        }),
      ),
    );
    const outbox = handles[0].outbox();
    for (const [i, shop] of shops.entries())
      await outbox.insertOrder(
        {
          ...held(3_000_000 + i, new Date(Date.now() - 1_000)),
          shopId: shop.id,
          // A staff member's order: no address, no IP, and no browser context ever comes.
          countryCode: null,
          checkoutToken: null,
        },
        { ...receipt(3_000_000 + i), shopDomain: shop.domain },
        null,
      );
    expect(await releaseDueHeld(outbox)).toBe(2);
    const [us, unknown] = await Promise.all(
      shops.map((shop) =>
        db.outboxEvent.findFirstOrThrow({ where: { shopId: shop.id } }),
      ),
    );
    expect(us).toMatchObject({ status: "pending", suppressReason: null });
    expect(unknown).toMatchObject({
      status: "suppressed",
      suppressReason: "no_consent_opt_in_region",
    });
  });
});
