import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDb, type DbHandle } from "../../app/db.server";
import { classifyDatabaseUrl } from "../../app/dbUrl";
import { sqliteStore, type SqlStore, type NewOutboxEvent, type NewReceipt } from "../../app/capi/sqlStore";
import { createTestDatabase, databaseKinds, type TestDatabase } from "../support/database";

// The order webhook writes through plain SQL (app/capi/sqlStore.ts) and everything else reads through Prisma:
// every value must read back through Prisma exactly as written, on both databases, whatever the process's time zone.

describe.each(databaseKinds())("intake store on %s", (kind) => {
  let database: TestDatabase;
  let handle: DbHandle;
  let store: SqlStore;
  let shopId: string;
  const zone = process.env.TZ;

  beforeAll(async () => {
    // A zone far from UTC: timestamps without time zone must still mean UTC.
    process.env.TZ = "Pacific/Kiritimati";
    database = await createTestDatabase(kind);
    handle = createDb(classifyDatabaseUrl(database.url));
    store = handle.sqlStore();
    const shop = await handle.db.shop.create({
      data: {
        domain: "store-test.myshopify.com",
        ingestKey: `key-${kind}`,
        settings: { contentIdFormat: "sku", consentPolicy: "strict" },
        pixelId: "123",
        tokenCiphertext: "v1:abc",
        testEventCode: "TEST42",
        testEventCodeSetAt: new Date("2026-11-25T08:09:10.123Z"),
        uninstalledAt: null,
      },
    });
    shopId = shop.id;
  });

  afterAll(async () => {
    process.env.TZ = zone;
    await handle?.db.$disconnect();
    await database?.drop();
  });

  const event = (eventId: string, over: Partial<NewOutboxEvent> = {}): NewOutboxEvent => ({
    shopId,
    eventName: "Purchase",
    eventId,
    source: "webhook",
    status: "held",
    suppressReason: null,
    lastErrorMessage: null,
    actionSource: "website",
    eventTime: new Date("2026-11-25T10:00:01.000Z"),
    payload: { event_name: "Purchase", event_id: eventId, user_data: { em: ["ab".repeat(32)] }, custom_data: { value: 12.5, currency: "CAD" } },
    clientIp: "203.0.113.7",
    clientUserAgent: "Mozilla/5.0 (Québec)",
    countryCode: "CA",
    provinceCode: "QC",
    consent: { marketingAllowed: true, saleOfDataAllowed: false },
    lduApplied: false,
    orderId: "450789469",
    orderName: "#1001",
    checkoutToken: "tok-1",
    customerKey: "cd".repeat(32),
    emailHash: "ab".repeat(32),
    phoneHash: null,
    holdUntil: new Date("2026-11-25T10:01:01.500Z"),
    nextAttemptAt: new Date("2026-11-25T10:00:02.250Z"),
    browserSeenAt: null,
    receivedAt: new Date("2026-11-25T10:00:02.250Z"),
    releasedAt: null,
    finalAt: null,
    ...over,
  });
  const receipt = (webhookId: string): NewReceipt => ({
    webhookId,
    shopDomain: "store-test.myshopify.com",
    topic: "orders/paid",
    outcome: "accepted",
    reason: null,
    orderId: "450789469",
    receivedAt: new Date("2026-11-25T10:00:02.250Z"),
  });

  it("finds the shop with the values Prisma reads", async () => {
    const viaPrisma = await handle.db.shop.findUniqueOrThrow({ where: { id: shopId } });
    const found = await store.findShop("store-test.myshopify.com");
    expect(found).toEqual({
      id: viaPrisma.id,
      domain: viaPrisma.domain,
      settings: viaPrisma.settings,
      uninstalledAt: null,
      pixelId: "123",
      tokenCiphertext: "v1:abc",
      testEventCode: "TEST42",
      testEventCodeSetAt: new Date("2026-11-25T08:09:10.123Z"),
      ingestKey: `key-${kind}`,
    });
    expect(await store.findShop("other.myshopify.com")).toBeNull();
  });

  it("writes an event and its receipt that read back through Prisma unchanged, and sorts times as Prisma does", async () => {
    const written = event("purchase_1");
    expect(await store.insertEvent(written, receipt("wh-1"), null)).toBe("inserted");
    const row = await handle.db.outboxEvent.findUniqueOrThrow({ where: { shopId_eventName_eventId: { shopId, eventName: "Purchase", eventId: "purchase_1" } } });
    const { id, updatedAt, attempts, ambiguousSends, leaseOwner, leaseUntil, sentAt, metaResponse, ...rest } = row;
    expect(rest).toMatchObject({ ...written, sentWithIp: false, sentWithUserAgent: false, lastErrorCode: null });
    expect({ attempts, ambiguousSends, leaseOwner, leaseUntil, sentAt, metaResponse }).toEqual({ attempts: 0, ambiguousSends: 0, leaseOwner: null, leaseUntil: null, sentAt: null, metaResponse: null });
    expect(updatedAt).toEqual(written.receivedAt);
    expect(id).toMatch(/^c[0-9a-z]{20,}$/);
    expect(await handle.db.webhookReceipt.findUnique({ where: { webhookId: "wh-1" } })).toMatchObject(receipt("wh-1"));
    // The dispatcher's queries compare these columns in SQL (on SQLite as text): Prisma's filters must see them.
    expect(await handle.db.outboxEvent.count({ where: { holdUntil: { lte: new Date("2026-11-25T10:01:01.500Z") } } })).toBe(1);
    expect(await handle.db.outboxEvent.count({ where: { holdUntil: { lt: new Date("2026-11-25T10:01:01.500Z") } } })).toBe(0);
  });

  it("answers duplicate for the same webhook or the same event, and writes nothing of it", async () => {
    expect(await store.insertEvent(event("purchase_2"), receipt("wh-1"), null)).toBe("duplicate");
    expect(await store.insertEvent(event("purchase_1"), receipt("wh-2"), null)).toBe("duplicate");
    expect(await handle.db.outboxEvent.count({ where: { eventId: "purchase_2" } })).toBe(0);
    expect(await store.hasReceipt("wh-2")).toBe(false);
    expect(await store.hasReceipt("wh-1")).toBe(true);
    expect(await store.insertReceipt({ ...receipt("wh-2"), outcome: "rejected", reason: "x" })).toBe("inserted");
    expect(await store.insertReceipt(receipt("wh-2"))).toBe("duplicate");
  });

  it("joins browser context and marks it used in the same transaction, erasing its raw IP and user agent", async () => {
    const ctx = await handle.db.browserContext.create({
      data: { shopId, checkoutToken: "tok-9", orderId: "9", fbp: "fb.1.1.2", fbc: null, clientIp: "198.51.100.1", clientUserAgent: "UA", eventSourceUrl: "https://s/thanks", consent: { marketingAllowed: true } },
    });
    expect(await store.findContext(shopId, "tok-9")).toEqual({
      id: ctx.id, orderId: "9", fbp: "fb.1.1.2", fbc: null, clientIp: "198.51.100.1", clientUserAgent: "UA", eventSourceUrl: "https://s/thanks", consent: { marketingAllowed: true },
    });
    expect(await store.findContext(shopId, "tok-none")).toBeNull();
    // A duplicate rolls the whole transaction back: the context stays unused.
    expect(await store.insertEvent(event("purchase_1"), receipt("wh-3"), ctx.id)).toBe("duplicate");
    expect((await handle.db.browserContext.findUniqueOrThrow({ where: { id: ctx.id } })).usedAt).toBeNull();
    expect(await store.insertEvent(event("purchase_9"), receipt("wh-4"), ctx.id)).toBe("inserted");
    expect(await handle.db.browserContext.findUniqueOrThrow({ where: { id: ctx.id } })).toMatchObject({
      usedAt: new Date("2026-11-25T10:00:02.250Z"),
      clientIp: null,
      clientUserAgent: null,
      fbp: "fb.1.1.2",
    });
  });
  it("stores a checkout's browser context, and a later post overwrites only what it gives", async () => {
    const none = { fbp: null, fbc: null, eventSourceUrl: null, orderId: null, clientIp: null, clientUserAgent: null, consent: null };
    const first = new Date("2026-11-25T10:00:00.500Z");
    await store.saveContext(shopId, "tok-ctx", { ...none, fbp: "fb.1.1.1", clientIp: "198.51.100.2", clientUserAgent: "UA-1", consent: { marketingAllowed: false } }, first);
    const later = new Date("2026-11-25T10:00:09.000Z");
    await store.saveContext(shopId, "tok-ctx", { ...none, fbc: "fb.1.2.abc", orderId: "77", eventSourceUrl: "https://s/thanks", consent: { marketingAllowed: true } }, later);
    expect(await handle.db.browserContext.findUniqueOrThrow({ where: { shopId_checkoutToken: { shopId, checkoutToken: "tok-ctx" } } })).toMatchObject({
      fbp: "fb.1.1.1",
      fbc: "fb.1.2.abc",
      orderId: "77",
      eventSourceUrl: "https://s/thanks",
      clientIp: "198.51.100.2",
      clientUserAgent: "UA-1",
      consent: { marketingAllowed: true },
      receivedAt: first,
      updatedAt: later,
      usedAt: null,
    });
    expect(await handle.db.browserContext.count({ where: { checkoutToken: "tok-ctx" } })).toBe(1);
  });

  it("inserts a browser event without a receipt, and finds a checkout's Purchase as Prisma reads it", async () => {
    const browser = event("add_to_cart_1", { eventName: "AddToCart", source: "browser", checkoutToken: "tok-b", orderId: null });
    expect(await store.insertEvent(browser, null, null)).toBe("inserted");
    expect(await store.insertEvent(browser, null, null)).toBe("duplicate");
    expect(await handle.db.outboxEvent.count({ where: { eventId: "add_to_cart_1" } })).toBe(1);
    expect(await store.findPurchase(shopId, "tok-b")).toBeNull();

    const seenAt = new Date("2026-11-25T10:00:05.125Z");
    expect(await store.insertEvent(event("purchase_b", { checkoutToken: "tok-b", browserSeenAt: seenAt }), receipt("wh-b"), null)).toBe("inserted");
    const viaPrisma = await handle.db.outboxEvent.findFirstOrThrow({ where: { eventId: "purchase_b" } });
    expect(await store.findPurchase(shopId, "tok-b")).toEqual({
      id: viaPrisma.id,
      eventId: "purchase_b",
      status: "held",
      browserSeenAt: seenAt,
      payload: viaPrisma.payload,
      clientIp: viaPrisma.clientIp,
      clientUserAgent: viaPrisma.clientUserAgent,
      consent: viaPrisma.consent,
      countryCode: "CA",
      provinceCode: "QC",
    });
  });

  it("claims due rows once, oldest first, and marks them sent for their lease only", async () => {
    const due = new Date(Date.now() - 60_000);
    for (let i = 0; i < 3; i++) {
      expect(await store.insertEvent(event(`claim_${i}`, { status: "pending", nextAttemptAt: new Date(due.getTime() + i), holdUntil: null }), receipt(`wh-claim-${i}`), null)).toBe("inserted");
    }
    await store.insertEvent(event("claim_later", { status: "pending", nextAttemptAt: new Date(Date.now() + 60_000), holdUntil: null }), receipt("wh-claim-later"), null);
    const now = new Date();
    const leaseUntil = new Date(now.getTime() + 30_000);
    const first = await store.claim(shopId, "lease-a", { limit: 2, leaseUntil, now });
    expect(first.map((r) => r.eventId).sort()).toEqual(["claim_0", "claim_1"]);
    expect(first[0]).toMatchObject({ eventName: "Purchase", attempts: 1, actionSource: "website", clientIp: "203.0.113.7", eventTime: new Date("2026-11-25T10:00:01.000Z") });
    // The stored payload comes back as JSON text, unparsed.
    expect(JSON.parse(first[0].payloadJson)).toEqual(event(first[0].eventId).payload);
    const second = await store.claim(shopId, "lease-b", { limit: 10, leaseUntil, now });
    expect(second.map((r) => r.eventId)).toEqual(["claim_2"]);
    expect(await store.claim(shopId, "lease-c", { limit: 10, leaseUntil, now })).toEqual([]);
    const leased = await handle.db.outboxEvent.findFirstOrThrow({ where: { eventId: "claim_0" } });
    // The lease's end is the row's next attempt (reclaimExpiredLeases looks there).
    expect(leased).toMatchObject({ status: "sending", leaseOwner: "lease-a", leaseUntil, nextAttemptAt: leaseUntil, updatedAt: now, attempts: 1 });

    const ids = first.map((r) => r.id);
    const fields = { sentAt: now, fbtraceId: "AbC123", metaResponse: { events_received: 2 }, sentWithIp: true, sentWithUserAgent: false };
    expect(await store.markSent(ids, "lease-b", fields)).toBe(0);
    expect(await store.markSent(ids, "lease-a", fields)).toBe(2);
    expect(await handle.db.outboxEvent.findFirstOrThrow({ where: { eventId: "claim_1" } })).toMatchObject({
      status: "sent", sentAt: now, finalAt: now, lastFbtraceId: "AbC123", metaResponse: { events_received: 2 }, sentWithIp: true,
      sentWithUserAgent: false, clientIp: null, clientUserAgent: null, leaseOwner: null, leaseUntil: null,
    });
    expect((await handle.db.outboxEvent.findFirstOrThrow({ where: { eventId: "claim_2" } })).status).toBe("sending");
  });
});

describe("intake store on sqlite, while another process holds the write lock", () => {
  let database: TestDatabase;
  let filename: string;

  beforeAll(async () => {
    database = await createTestDatabase("sqlite");
    filename = (classifyDatabaseUrl(database.url) as { filename: string }).filename;
  });
  afterAll(() => database?.drop());

  const receipt = (webhookId: string): NewReceipt => ({
    webhookId, shopDomain: "s.myshopify.com", topic: "orders/paid", outcome: "rejected", reason: "test", orderId: null, receivedAt: new Date(),
  });

  it("waits on a timer, not in SQLite's busy handler: the event loop keeps running, and the write lands", async () => {
    const other = new Database(filename);
    const store = sqliteStore(new Database(filename, { timeout: 0 }), { busyTimeoutMs: 5_000 });
    other.exec("BEGIN IMMEDIATE");
    let settled = false;
    const write = store.insertReceipt(receipt("wh-locked")).finally(() => (settled = true));
    // Timers fire while the write waits: a busy handler sleeping in this thread would have held them back.
    const ticks: number[] = [];
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 10));
      ticks.push(i);
    }
    expect(ticks).toHaveLength(5);
    expect(settled).toBe(false);
    other.exec("COMMIT");
    expect(await write).toBe("inserted");
    expect(other.prepare(`SELECT outcome FROM "WebhookReceipt" WHERE "webhookId" = ?`).get("wh-locked")).toEqual({ outcome: "rejected" });
    other.close();
  });

  it("commits the writes of one turn together, and a write that fails is undone alone", async () => {
    const store = sqliteStore(new Database(filename, { timeout: 0 }), { busyTimeoutMs: 5_000 });
    const results = await Promise.allSettled([
      store.insertReceipt(receipt("wh-group-1")),
      store.insertReceipt(receipt("wh-group-1")),
      // Not a value SQLite can store: the driver throws inside the group.
      store.insertReceipt({ ...receipt("wh-group-bad"), reason: {} as unknown as string }),
      store.insertReceipt(receipt("wh-group-2")),
    ]);
    expect(results.map((r) => (r.status === "fulfilled" ? r.value : "rejected"))).toEqual(["inserted", "duplicate", "rejected", "inserted"]);
    expect(await store.hasReceipt("wh-group-1")).toBe(true);
    expect(await store.hasReceipt("wh-group-2")).toBe(true);
    expect(await store.hasReceipt("wh-group-bad")).toBe(false);

    // One commit for the turn: twenty rows on the same pages write each page to the WAL once, not twenty times.
    const other = new Database(filename);
    other.pragma("journal_mode = WAL");
    other.pragma("wal_checkpoint(TRUNCATE)");
    const writes = Array.from({ length: 20 }, (_, i) => store.insertReceipt(receipt(`wh-turn-${i}`)));
    expect(await Promise.all(writes)).toEqual(Array(20).fill("inserted"));
    const [{ log: walFrames }] = other.pragma("wal_checkpoint(PASSIVE)") as { log: number }[];
    expect(walFrames).toBeGreaterThan(0);
    expect(walFrames).toBeLessThan(20);
    other.close();
  });

  it("gives up with SQLITE_BUSY after its timeout, and writes nothing", async () => {
    const other = new Database(filename);
    const store = sqliteStore(new Database(filename, { timeout: 0 }), { busyTimeoutMs: 150 });
    other.exec("BEGIN IMMEDIATE");
    try {
      await expect(store.insertReceipt(receipt("wh-never"))).rejects.toMatchObject({ code: "SQLITE_BUSY" });
    } finally {
      other.exec("ROLLBACK");
    }
    expect(await store.hasReceipt("wh-never")).toBe(false);
    other.close();
  });
});
