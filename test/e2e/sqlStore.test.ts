import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDb, type DbHandle } from "../../app/db.server";
import { classifyDatabaseUrl } from "../../app/dbUrl";
import {
  pgStatements,
  sqliteStatements,
  sqliteStore,
  type SqlStore,
  type NewOutboxEvent,
  type NewReceipt,
} from "../../app/core/outbox/sql";
import { claimBatch } from "../../app/core/outbox/outbox";
import {
  createTestDatabase,
  databaseKinds,
  type TestDatabase,
} from "../support/database";

// The order webhook writes through plain SQL (app/core/outbox/sql.ts) and everything else reads through Prisma:
// every value must read back through Prisma exactly as written, on both databases, whatever the process's time zone.

describe.each(databaseKinds())("intake store on %s", (kind) => {
  let database: TestDatabase;
  let handle: DbHandle;
  let store: SqlStore;
  let shopId: string;
  const zone = process.env.TZ;
  /** A connected shop of one test's own: `slug` names its domain and ingest key. */
  const ownShop = (slug: string, pixelId: string) =>
    handle.db.shop.create({
      data: {
        domain: `store-${slug}.myshopify.com`,
        ingestKey: `key-${slug}-${kind}`,
        settings: {},
        pixelId,
        tokenCiphertext: "v1:def",
      },
    });

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
        shopifyId: "548380009",
        primaryDomain: "shop.store-test.example",
      },
    });
    shopId = shop.id;
  });

  afterAll(async () => {
    process.env.TZ = zone;
    await handle?.db.$disconnect();
    await database?.drop();
  });

  const event = (
    eventId: string,
    over: Partial<NewOutboxEvent> = {},
  ): NewOutboxEvent => ({
    shopId,
    eventName: "Purchase",
    eventId,
    source: "webhook",
    status: "held",
    suppressReason: null,
    lastErrorMessage: null,
    actionSource: "website",
    eventTime: new Date("2026-11-25T10:00:01.000Z"),
    payload: {
      event_name: "Purchase",
      event_id: eventId,
      user_data: { em: ["ab".repeat(32)] },
      custom_data: { value: 12.5, currency: "CAD" },
    },
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
    const viaPrisma = await handle.db.shop.findUniqueOrThrow({
      where: { id: shopId },
    });
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
      shopifyId: "548380009",
      primaryDomain: "shop.store-test.example",
      salesCountry: null,
      largestOrderValues: null,
    });
    expect(await store.findShop("other.myshopify.com")).toBeNull();
  });

  it("raises the shop's largest order of a currency only to a larger value, as Prisma reads it", async () => {
    const shops = handle.shopSql();
    await shops.raiseLargestOrder(shopId, "CAD", 112.44);
    await shops.raiseLargestOrder(shopId, "EUR", 59.9);
    await shops.raiseLargestOrder(shopId, "CAD", 99.5);
    await Promise.all([
      shops.raiseLargestOrder(shopId, "CAD", 250.1),
      shops.raiseLargestOrder(shopId, "CAD", 180),
    ]);
    const viaPrisma = await handle.db.shop.findUniqueOrThrow({
      where: { id: shopId },
    });
    expect(viaPrisma.largestOrderValues).toEqual({ CAD: 250.1, EUR: 59.9 });
    expect(
      (await store.findShop("store-test.myshopify.com"))!.largestOrderValues,
    ).toEqual({ CAD: 250.1, EUR: 59.9 });
  });

  it("writes an event and its receipt that read back through Prisma unchanged, and sorts times as Prisma does", async () => {
    const written = event("purchase_1");
    expect(await store.insertEvent(written, receipt("wh-1"), null)).toBe(
      "inserted",
    );
    const row = await handle.db.outboxEvent.findUniqueOrThrow({
      where: {
        shopId_eventName_eventId_lane: {
          lane: "",
          shopId,
          eventName: "Purchase",
          eventId: "purchase_1",
        },
      },
    });
    const {
      id,
      updatedAt,
      attempts,
      ambiguousSends,
      leaseOwner,
      leaseUntil,
      sentAt,
      metaResponse,
      ...rest
    } = row;
    expect(rest).toMatchObject({
      ...written,
      sentWithIp: false,
      sentWithUserAgent: false,
      lastErrorCode: null,
    });
    expect({
      attempts,
      ambiguousSends,
      leaseOwner,
      leaseUntil,
      sentAt,
      metaResponse,
    }).toEqual({
      attempts: 0,
      ambiguousSends: 0,
      leaseOwner: null,
      leaseUntil: null,
      sentAt: null,
      metaResponse: null,
    });
    expect(updatedAt).toEqual(written.receivedAt);
    expect(id).toMatch(/^c[0-9a-z]{20,}$/);
    expect(
      await handle.db.webhookReceipt.findUnique({
        where: { webhookId: "wh-1" },
      }),
    ).toMatchObject(receipt("wh-1"));
    // The dispatcher's queries compare these columns in SQL (on SQLite as text): Prisma's filters must see them.
    expect(
      await handle.db.outboxEvent.count({
        where: { holdUntil: { lte: new Date("2026-11-25T10:01:01.500Z") } },
      }),
    ).toBe(1);
    expect(
      await handle.db.outboxEvent.count({
        where: { holdUntil: { lt: new Date("2026-11-25T10:01:01.500Z") } },
      }),
    ).toBe(0);
  });

  it("answers duplicate for the same webhook or the same event, and writes nothing of it", async () => {
    expect(
      await store.insertEvent(event("purchase_2"), receipt("wh-1"), null),
    ).toBe("duplicate");
    expect(
      await store.insertEvent(event("purchase_1"), receipt("wh-2"), null),
    ).toBe("duplicate");
    expect(
      await handle.db.outboxEvent.count({ where: { eventId: "purchase_2" } }),
    ).toBe(0);
    expect(await store.hasReceipt("wh-2")).toBe(false);
    expect(await store.hasReceipt("wh-1")).toBe(true);
    expect(
      await store.insertReceipt({
        ...receipt("wh-2"),
        outcome: "rejected",
        reason: "x",
      }),
    ).toBe("inserted");
    expect(await store.insertReceipt(receipt("wh-2"))).toBe("duplicate");
  });

  it("joins browser context and marks it used in the same transaction, erasing its raw IP and user agent", async () => {
    const ctx = await handle.db.browserContext.create({
      data: {
        shopId,
        checkoutToken: "tok-9",
        orderId: "9",
        fbp: "fb.1.1.2",
        fbc: null,
        clientIp: "198.51.100.1",
        clientUserAgent: "UA",
        eventSourceUrl: "https://s/thanks",
        consent: { marketingAllowed: true },
      },
    });
    expect(await store.findContext(shopId, "tok-9")).toEqual({
      id: ctx.id,
      clientId: null,
      orderId: "9",
      fbp: "fb.1.1.2",
      fbc: null,
      clientIp: "198.51.100.1",
      clientUserAgent: "UA",
      eventSourceUrl: "https://s/thanks",
      consent: { marketingAllowed: true },
      value: null,
      currency: null,
    });
    expect(await store.findContext(shopId, "tok-none")).toBeNull();
    // A duplicate rolls the whole transaction back: the context stays unused.
    expect(
      await store.insertEvent(event("purchase_1"), receipt("wh-3"), ctx.id),
    ).toBe("duplicate");
    expect(
      (
        await handle.db.browserContext.findUniqueOrThrow({
          where: { id: ctx.id },
        })
      ).usedAt,
    ).toBeNull();
    expect(
      await store.insertEvent(event("purchase_9"), receipt("wh-4"), ctx.id),
    ).toBe("inserted");
    expect(
      await handle.db.browserContext.findUniqueOrThrow({
        where: { id: ctx.id },
      }),
    ).toMatchObject({
      usedAt: new Date("2026-11-25T10:00:02.250Z"),
      clientIp: null,
      clientUserAgent: null,
      fbp: "fb.1.1.2",
    });
  });
  const none = {
    clientId: null,
    fbp: null,
    fbc: null,
    eventSourceUrl: null,
    orderId: null,
    clientIp: null,
    clientUserAgent: null,
    consent: null,
    value: null,
    currency: null,
  };
  const contextRow = (checkoutToken: string) =>
    handle.db.browserContext.findUniqueOrThrow({
      where: { shopId_checkoutToken: { shopId, checkoutToken } },
    });

  it("stores a checkout's browser context, and a later post of the same browser overwrites only what it gives", async () => {
    const first = new Date("2026-11-25T10:00:00.500Z");
    const fields = {
      ...none,
      clientId: "browser-1",
      fbp: "fb.1.1.1",
      clientIp: "198.51.100.2",
      clientUserAgent: "UA-1",
      consent: { marketingAllowed: false },
    };
    expect(await store.saveContext(shopId, "tok-ctx", fields, first)).toBe(
      true,
    );
    const later = new Date("2026-11-25T10:00:09.000Z");
    const update = {
      ...none,
      clientId: "browser-1",
      fbc: "fb.1.2.abc",
      orderId: "77",
      value: 42.5,
      currency: "EUR",
      eventSourceUrl: "https://s/thanks",
      consent: { marketingAllowed: true },
    };
    expect(await store.saveContext(shopId, "tok-ctx", update, later)).toBe(
      true,
    );
    expect(await contextRow("tok-ctx")).toMatchObject({
      clientId: "browser-1",
      fbp: "fb.1.1.1",
      fbc: "fb.1.2.abc",
      orderId: "77",
      value: 42.5,
      currency: "EUR",
      eventSourceUrl: "https://s/thanks",
      clientIp: "198.51.100.2",
      clientUserAgent: "UA-1",
      consent: { marketingAllowed: true },
      receivedAt: first,
      updatedAt: later,
      usedAt: null,
    });
    expect(
      await handle.db.browserContext.count({
        where: { checkoutToken: "tok-ctx" },
      }),
    ).toBe(1);
  });

  it("changes a checkout's context only from the browser that created it: its clientId, else its fbp", async () => {
    const at = new Date("2026-11-25T10:00:00.500Z");
    await store.saveContext(
      shopId,
      "tok-own",
      {
        ...none,
        clientId: "owner",
        clientIp: "198.51.100.3",
        consent: { marketingAllowed: false },
      },
      at,
    );
    const later = new Date("2026-11-25T10:00:09.000Z");
    const other = {
      ...none,
      fbp: "fb.1.9.9",
      clientIp: "192.0.2.9",
      consent: { marketingAllowed: true },
    };
    expect(
      await store.saveContext(
        shopId,
        "tok-own",
        { ...other, clientId: "stranger" },
        later,
      ),
    ).toBe(false);
    expect(await store.saveContext(shopId, "tok-own", other, later)).toBe(
      false,
    );
    expect(await contextRow("tok-own")).toMatchObject({
      clientId: "owner",
      fbp: null,
      clientIp: "198.51.100.3",
      consent: { marketingAllowed: false },
      updatedAt: at,
    });

    // A first post without a clientId: the same fbp is the same browser, and its clientId, once given, binds the row.
    await store.saveContext(
      shopId,
      "tok-fbp",
      { ...none, fbp: "fb.1.1.5", consent: { marketingAllowed: true } },
      at,
    );
    expect(
      await store.saveContext(
        shopId,
        "tok-fbp",
        { ...none, fbp: "fb.1.1.6", consent: { marketingAllowed: false } },
        later,
      ),
    ).toBe(false);
    expect(
      await store.saveContext(
        shopId,
        "tok-fbp",
        { ...none, consent: { marketingAllowed: false } },
        later,
      ),
    ).toBe(false);
    expect(
      await store.saveContext(
        shopId,
        "tok-fbp",
        {
          ...none,
          clientId: "late-id",
          fbp: "fb.1.1.5",
          clientIp: "198.51.100.5",
        },
        later,
      ),
    ).toBe(true);
    expect(
      await store.saveContext(
        shopId,
        "tok-fbp",
        {
          ...none,
          clientId: "other-id",
          fbp: "fb.1.1.5",
          consent: { marketingAllowed: false },
        },
        later,
      ),
    ).toBe(false);
    expect(await contextRow("tok-fbp")).toMatchObject({
      clientId: "late-id",
      fbp: "fb.1.1.5",
      clientIp: "198.51.100.5",
      consent: { marketingAllowed: true },
    });
  });

  it("inserts a browser event without a receipt, and finds a checkout's Purchase as Prisma reads it", async () => {
    const browser = event("add_to_cart_1", {
      eventName: "AddToCart",
      source: "browser",
      checkoutToken: "tok-b",
      orderId: null,
    });
    expect(await store.insertEvent(browser, null, null)).toBe("inserted");
    expect(await store.insertEvent(browser, null, null)).toBe("duplicate");
    expect(
      await handle.db.outboxEvent.count({
        where: { eventId: "add_to_cart_1" },
      }),
    ).toBe(1);
    expect(await store.findPurchase(shopId, "tok-b")).toBeNull();

    const seenAt = new Date("2026-11-25T10:00:05.125Z");
    expect(
      await store.insertEvent(
        event("purchase_b", { checkoutToken: "tok-b", browserSeenAt: seenAt }),
        receipt("wh-b"),
        null,
      ),
    ).toBe("inserted");
    const viaPrisma = await handle.db.outboxEvent.findFirstOrThrow({
      where: { eventId: "purchase_b" },
    });
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

  it("writes a browser's PageView and registers the browser; its other events only once it is registered", async () => {
    // Not due for sending: the claim test below counts the due rows.
    const browserEvent = (eventId: string, eventName: string) =>
      event(eventId, {
        eventName,
        source: "browser",
        status: "suppressed",
        checkoutToken: null,
        orderId: null,
        orderName: null,
        holdUntil: null,
      });
    const seenAt = new Date("2026-11-25T10:00:03.125Z");
    expect(
      await store.insertBrowserEvent(browserEvent("atc_1", "AddToCart"), {
        clientId: "visitor-1",
        pageView: false,
      }),
    ).toBe("unseen");
    expect(
      await store.insertBrowserEvent(browserEvent("atc_2", "AddToCart"), {
        clientId: null,
        pageView: false,
      }),
    ).toBe("unseen");
    expect(
      await store.insertBrowserEvent(browserEvent("pv_0", "PageView"), {
        clientId: null,
        pageView: true,
      }),
    ).toBe("inserted");
    expect(
      await store.insertBrowserEvent(
        { ...browserEvent("pv_1", "PageView"), receivedAt: seenAt },
        { clientId: "visitor-1", pageView: true },
      ),
    ).toBe("inserted");
    expect(
      await store.insertBrowserEvent(browserEvent("pv_1", "PageView"), {
        clientId: "visitor-1",
        pageView: true,
      }),
    ).toBe("duplicate");
    expect(
      await store.insertBrowserEvent(browserEvent("pv_2", "PageView"), {
        clientId: "visitor-1",
        pageView: true,
      }),
    ).toBe("inserted");
    expect(
      await store.insertBrowserEvent(browserEvent("atc_1", "AddToCart"), {
        clientId: "visitor-1",
        pageView: false,
      }),
    ).toBe("inserted");
    expect(
      await store.insertBrowserEvent(browserEvent("atc_1", "AddToCart"), {
        clientId: "visitor-1",
        pageView: false,
      }),
    ).toBe("duplicate");
    expect(
      await store.insertBrowserEvent(browserEvent("atc_3", "AddToCart"), {
        clientId: "visitor-2",
        pageView: false,
      }),
    ).toBe("unseen");

    expect(
      (
        await handle.db.outboxEvent.findMany({
          where: {
            source: "browser",
            eventId: {
              in: ["atc_1", "atc_2", "atc_3", "pv_0", "pv_1", "pv_2"],
            },
          },
          orderBy: { eventId: "asc" },
        })
      ).map((r) => r.eventId),
    ).toEqual(["atc_1", "pv_0", "pv_1", "pv_2"]);
    // The written row reads back through Prisma like one written by insertEvent.
    const {
      id: _id,
      updatedAt: _u,
      ...row
    } = await handle.db.outboxEvent.findFirstOrThrow({
      where: { eventId: "atc_1" },
    });
    expect(row).toMatchObject(browserEvent("atc_1", "AddToCart"));
    expect(
      await handle.db.browserClient.findMany({ where: { shopId } }),
    ).toEqual([{ shopId, clientId: "visitor-1", seenAt }]);
  });

  it("claims due rows once, oldest first, and marks them sent for their lease only", async () => {
    const due = new Date(Date.now() - 60_000);
    for (let i = 0; i < 3; i++) {
      expect(
        await store.insertEvent(
          event(`claim_${i}`, {
            status: "pending",
            nextAttemptAt: new Date(due.getTime() + i),
            holdUntil: null,
          }),
          receipt(`wh-claim-${i}`),
          null,
        ),
      ).toBe("inserted");
    }
    await store.insertEvent(
      event("claim_later", {
        status: "pending",
        nextAttemptAt: new Date(Date.now() + 60_000),
        holdUntil: null,
      }),
      receipt("wh-claim-later"),
      null,
    );
    const now = new Date();
    const leaseUntil = new Date(now.getTime() + 30_000);
    const first = await store.claim(shopId, "lease-a", {
      limit: 2,
      leaseUntil,
      now,
      destinationId: null,
    });
    expect(first.map((r) => r.eventId).sort()).toEqual(["claim_0", "claim_1"]);
    expect(first[0]).toMatchObject({
      eventName: "Purchase",
      attempts: 1,
      actionSource: "website",
      clientIp: "203.0.113.7",
      eventTime: new Date("2026-11-25T10:00:01.000Z"),
    });
    // The stored payload comes back as JSON text, unparsed.
    expect(JSON.parse(first[0].payloadJson)).toEqual(
      event(first[0].eventId).payload,
    );
    const second = await store.claim(shopId, "lease-b", {
      limit: 10,
      leaseUntil,
      now,
      destinationId: null,
    });
    expect(second.map((r) => r.eventId)).toEqual(["claim_2"]);
    expect(
      await store.claim(shopId, "lease-c", {
        limit: 10,
        leaseUntil,
        now,
        destinationId: null,
      }),
    ).toEqual([]);
    const leased = await handle.db.outboxEvent.findFirstOrThrow({
      where: { eventId: "claim_0" },
    });
    // The lease's end is the row's next attempt (reclaimExpiredLeases looks there).
    expect(leased).toMatchObject({
      status: "sending",
      leaseOwner: "lease-a",
      leaseUntil,
      nextAttemptAt: leaseUntil,
      updatedAt: now,
      attempts: 1,
    });

    const ids = first.map((r) => r.id);
    const fields = {
      sentAt: now,
      fbtraceId: "AbC123",
      metaResponse: { events_received: 2 },
      sentWithIp: true,
      sentWithUserAgent: false,
    };
    expect(await store.markSent(ids, "lease-b", fields)).toBe(0);
    expect(await store.markSent(ids, "lease-a", fields)).toBe(2);
    expect(
      await handle.db.outboxEvent.findFirstOrThrow({
        where: { eventId: "claim_1" },
      }),
    ).toMatchObject({
      status: "sent",
      sentAt: now,
      finalAt: now,
      lastFbtraceId: "AbC123",
      metaResponse: { events_received: 2 },
      sentWithIp: true,
      sentWithUserAgent: false,
      clientIp: null,
      clientUserAgent: null,
      leaseOwner: null,
      leaseUntil: null,
    });
    expect(
      (
        await handle.db.outboxEvent.findFirstOrThrow({
          where: { eventId: "claim_2" },
        })
      ).status,
    ).toBe("sending");
  });

  it("finds a shop due and claims its rows wherever they wait, never a paused dataset's (decisions 180, 181)", async () => {
    const other = await ownShop("routes", "456");
    const further = await handle.db.destination.create({
      data: {
        shopId: other.id,
        pixelId: "789",
        tokenCiphertext: "v1:ghi",
        tokenKeyId: "k1",
        tokenLast4: "wxyz",
        rule: { kind: "all" },
      },
    });
    const now = new Date();
    const waiting = (eventId: string, destinationId: string | null) =>
      handle.db.outboxEvent.create({
        data: {
          shopId: other.id,
          eventName: "Purchase",
          eventId,
          source: "webhook",
          status: "pending",
          actionSource: "website",
          eventTime: now,
          payload: {},
          destinationId,
          lane: destinationId === further.id ? further.id : "",
          nextAttemptAt: new Date(now.getTime() - 1_000),
        },
      });
    const claim = (lease: string, destinationId: string | null) =>
      claimBatch(store, other.id, lease, {
        limit: 10,
        leaseMs: 30_000,
        now,
        destinationId,
      }).then((b) => b.rows.map((r) => r.eventId));
    const due = async () => (await store.dueShops(now)).includes(other.id);

    expect(await due()).toBe(false);
    // Routed to its own dataset while the shop had a further one, then the further one removed from its rules.
    await waiting("own_routed", other.id);
    expect(await due()).toBe(true);
    await waiting("not_routed", null);
    // Not routed first, then the own dataset's: a shop that does not route sends both.
    expect(await claim("lease-own", null)).toEqual([
      "not_routed",
      "own_routed",
    ]);
    expect(await due()).toBe(false);
    await waiting("further", further.id);
    expect(await due()).toBe(true);
    expect(await claim("lease-own-2", null)).toEqual([]);
    expect(await claim("lease-further", further.id)).toEqual(["further"]);
    expect(await due()).toBe(false);

    // A claim takes nothing of a dataset paused or backing off, whatever its caller read before (decisions 181).
    await waiting("own_paused", null);
    await waiting("further_paused", further.id);
    await handle.db.shop.update({
      where: { id: other.id },
      data: { pausedReason: "token" },
    });
    await handle.db.destination.update({
      where: { id: further.id },
      data: { sendNotBefore: new Date(now.getTime() + 60_000) },
    });
    expect(await claim("lease-paused", null)).toEqual([]);
    expect(await claim("lease-paused-2", other.id)).toEqual([]);
    expect(await claim("lease-backoff", further.id)).toEqual([]);
    // Each dataset's state is its own: the further one sends while the own one stays paused.
    await handle.db.destination.update({
      where: { id: further.id },
      data: { sendNotBefore: null },
    });
    expect(await claim("lease-further-2", further.id)).toEqual([
      "further_paused",
    ]);
    expect(await claim("lease-paused-3", null)).toEqual([]);
    await handle.db.shop.update({
      where: { id: other.id },
      data: { pausedReason: null },
    });
    expect(await claim("lease-resumed", null)).toEqual(["own_paused"]);
  });

  it("routes a page and claims by the same write what each dataset's lease has room for, never a paused dataset's (decisions 184)", async () => {
    const shop = await ownShop("route-claims", "456");
    const further = await handle.db.destination.create({
      data: {
        shopId: shop.id,
        pixelId: "789",
        tokenCiphertext: "v1:ghi",
        tokenKeyId: "k1",
        tokenLast4: "wxyz",
        rule: { kind: "country", countries: ["US"] },
      },
    });
    const now = new Date();
    let n = 0;
    const waiting = (countryCode: string, nextAttemptAt: Date) =>
      handle.db.outboxEvent.create({
        data: {
          shopId: shop.id,
          eventName: "Purchase",
          eventId: `route_${++n}_${countryCode}`,
          source: "webhook",
          status: "pending",
          actionSource: "website",
          eventTime: now,
          payload: { event_id: `route_${n}_${countryCode}` },
          countryCode,
          nextAttemptAt,
        },
      });
    const earlier = (ms: number) => new Date(now.getTime() - ms);
    // Canada to the own dataset, the US to the further one; three Canadian rows and two US rows due, one US not yet.
    for (const [country, at] of [
      ["CA", earlier(5_000)],
      ["US", earlier(4_000)],
      ["CA", earlier(3_000)],
      ["US", earlier(2_000)],
      ["CA", earlier(1_000)],
      ["US", new Date(now.getTime() + 60_000)],
    ] as const)
      await waiting(country, at);
    const outbox = handle.outbox();
    const toDataset = (row: { countryCode: string | null }) => [
      row.countryCode === "US" ? further.id : shop.id,
    ];
    const rows = () =>
      handle.db.outboxEvent.findMany({
        where: { shopId: shop.id },
        orderBy: { eventId: "asc" },
        select: {
          eventId: true,
          destinationId: true,
          status: true,
          leaseOwner: true,
          attempts: true,
        },
      });

    // The own dataset's lease has room for two, the further one's for five: the own dataset's two oldest due rows
    // and the further one's due rows are claimed; the rest are routed only.
    const first = await outbox.routePending(shop.id, toDataset, now, 100, {
      room: new Map([
        [shop.id, { lease: "lease-own", rows: 2 }],
        [further.id, { lease: "lease-further", rows: 5 }],
      ]),
      leaseMs: 30_000,
    });
    expect(first.routed).toBe(6);
    expect(
      [...first.claimed].map(([lease, claimed]) => [
        lease,
        claimed.map((r) => r.eventId).sort(),
      ]),
    ).toEqual(
      expect.arrayContaining([
        ["lease-own", ["route_1_CA", "route_3_CA"]],
        ["lease-further", ["route_2_US", "route_4_US"]],
      ]),
    );
    expect(first.claimed.size).toBe(2);
    // A claimed row reads as a claim leaves it, its payload included; a routed one is still pending.
    const claimedRow = first.claimed.get("lease-own")![0];
    expect(JSON.parse(claimedRow.payloadJson)).toEqual({
      event_id: claimedRow.eventId,
    });
    expect(claimedRow.eventTime).toEqual(now);
    expect(await rows()).toEqual([
      {
        eventId: "route_1_CA",
        destinationId: shop.id,
        status: "sending",
        leaseOwner: "lease-own",
        attempts: 1,
      },
      {
        eventId: "route_2_US",
        destinationId: further.id,
        status: "sending",
        leaseOwner: "lease-further",
        attempts: 1,
      },
      {
        eventId: "route_3_CA",
        destinationId: shop.id,
        status: "sending",
        leaseOwner: "lease-own",
        attempts: 1,
      },
      {
        eventId: "route_4_US",
        destinationId: further.id,
        status: "sending",
        leaseOwner: "lease-further",
        attempts: 1,
      },
      {
        eventId: "route_5_CA",
        destinationId: shop.id,
        status: "pending",
        leaseOwner: null,
        attempts: 0,
      },
      {
        eventId: "route_6_US",
        destinationId: further.id,
        status: "pending",
        leaseOwner: null,
        attempts: 0,
      },
    ]);
    // The leases read as a claim's: the rows are sent under them.
    expect(
      await store.markSent(
        first.claimed.get("lease-own")!.map((r) => r.id),
        "lease-own",
        {
          sentAt: now,
          fbtraceId: null,
          metaResponse: {},
          sentWithIp: false,
          sentWithUserAgent: false,
        },
      ),
    ).toBe(2);

    // A dataset paused after its caller read it: its rows stay as they were (not routed), the other's are claimed.
    await waiting("CA", earlier(500));
    await waiting("US", earlier(400));
    await handle.db.destination.update({
      where: { id: further.id },
      data: { pausedReason: "token" },
    });
    const second = await outbox.routePending(shop.id, toDataset, now, 100, {
      room: new Map([
        [shop.id, { lease: "lease-own-2", rows: 10 }],
        [further.id, { lease: "lease-further-2", rows: 10 }],
      ]),
      leaseMs: 30_000,
    });
    expect(second.routed).toBe(1);
    expect(
      [...second.claimed].map(([lease, c]) => [lease, c.map((r) => r.eventId)]),
    ).toEqual([["lease-own-2", ["route_7_CA"]]]);
    expect((await rows()).filter((r) => r.eventId === "route_8_US")).toEqual([
      {
        eventId: "route_8_US",
        destinationId: null,
        status: "pending",
        leaseOwner: null,
        attempts: 0,
      },
    ]);
  });

  it("reads back the payload of the rows the route write claims, not of those it only routes", async () => {
    const shop = await ownShop("route-payload", "457");
    const now = new Date();
    const [leased, routedOnly] = await Promise.all(
      ["route_payload_leased", "route_payload_only"].map((eventId) =>
        handle.db.outboxEvent.create({
          data: {
            shopId: shop.id,
            eventName: "Purchase",
            eventId,
            source: "webhook",
            status: "pending",
            actionSource: "website",
            eventTime: now,
            payload: { event_id: eventId },
            nextAttemptAt: now,
          },
        }),
      ),
    );
    const written = await handle.sqlStore().routeRows(
      [
        { id: leased.id, destinationId: shop.id, lease: "lease-payload" },
        { id: routedOnly.id, destinationId: shop.id, lease: null },
      ],
      new Date(now.getTime() + 30_000),
      now,
    );
    const byId = new Map(written.map((row) => [row.id, row]));
    expect(byId.get(leased.id)).toMatchObject({ leaseOwner: "lease-payload" });
    expect(JSON.parse(byId.get(leased.id)!.payloadJson!)).toEqual({
      event_id: "route_payload_leased",
    });
    expect(byId.get(routedOnly.id)).toMatchObject({
      leaseOwner: null,
      payloadJson: null,
    });
  });

  it("has the four partial indexes a storefront row skips, and the queries on their columns use them (decisions 185)", async () => {
    const partial = {
      OutboxEvent_shopId_checkoutToken_partial: "checkoutToken",
      OutboxEvent_shopId_orderId_partial: "orderId",
      OutboxEvent_shopId_orderName_partial: "orderName",
      OutboxEvent_status_holdUntil_partial: "holdUntil",
    };
    // A query of each index's column as the code asks it: the checkout's Purchase and the hold timer's page (prepared
    // SQL), a customer's orders and the event log's order filter (Prisma: IN, and an OR of equalities).
    const queries = (pg: boolean) => {
      const sql = pg ? pgStatements() : sqliteStatements();
      const p = (i: number) => (pg ? `$${i}` : "?");
      return [
        ["OutboxEvent_shopId_checkoutToken_partial", sql.purchase, ["s", "t"]],
        [
          "OutboxEvent_status_holdUntil_partial",
          sql.dueHeld,
          [new Date().toISOString(), 10],
        ],
        [
          "OutboxEvent_shopId_orderId_partial",
          `SELECT "id" FROM "OutboxEvent" WHERE "shopId" = ${p(1)} AND "orderId" IN (${p(2)}, ${p(3)})`,
          ["s", "1", "2"],
        ],
        [
          "OutboxEvent_shopId_orderName_partial",
          `SELECT "id" FROM "OutboxEvent" WHERE "shopId" = ${p(1)} AND ("orderName" = ${p(2)} OR "orderName" = ${p(3)})`,
          ["s", "1001", "#1001"],
        ],
      ] as const;
    };
    const found: [string, string][] = [];
    const plans: [string, string][] = [];
    if (kind === "postgresql") {
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      try {
        const { rows } = await client.query(
          `SELECT "indexname", "indexdef" FROM pg_indexes WHERE "tablename" = 'OutboxEvent'`,
        );
        for (const r of rows) found.push([r.indexname, r.indexdef]);
        // A tiny table is read whole whatever its indexes: plans are asked as if reading it cost the most.
        await client.query("SET enable_seqscan = off");
        for (const [index, text, values] of queries(true)) {
          const { rows: plan } = await client.query({
            text: `EXPLAIN ${text}`,
            values: [...values],
          });
          plans.push([index, plan.map((r) => r["QUERY PLAN"]).join("\n")]);
        }
      } finally {
        await client.end();
      }
    } else {
      const file = new URL(database.url.replace(/^file:/, "file://")).pathname;
      const db = new Database(file);
      try {
        const rows = db
          .prepare(
            `SELECT "name", "sql" FROM sqlite_master WHERE "type" = 'index' AND "tbl_name" = 'OutboxEvent'`,
          )
          .all() as { name: string; sql: string | null }[];
        for (const r of rows) found.push([r.name, r.sql ?? ""]);
        for (const [index, text, values] of queries(false)) {
          const plan = db
            .prepare(`EXPLAIN QUERY PLAN ${text}`)
            .all(...values) as { detail: string }[];
          plans.push([index, plan.map((r) => r.detail).join("\n")]);
        }
      } finally {
        db.close();
      }
    }
    for (const [index, column] of Object.entries(partial)) {
      const def = found.find(([name]) => name === index)?.[1] ?? "";
      expect([index, def]).toEqual([
        index,
        expect.stringMatching(
          new RegExp(`WHERE \\(?"?${column}"? IS NOT NULL`),
        ),
      ]);
    }
    // No full index of those columns is left beside them: each row would still be written to it.
    expect(
      found.filter(([name]) =>
        /_(checkoutToken|orderId|orderName|holdUntil)_idx$/.test(name),
      ),
    ).toEqual([]);
    for (const [index, plan] of plans)
      expect([index, plan]).toEqual([index, expect.stringContaining(index)]);
  });

  it("claims a large backlog through the claim index in its order, never reading and sorting every due row (decisions 180)", async () => {
    const big = await ownShop("backlog", "321");
    // 20,000 due rows of one shop, written in SQL, then the planner's statistics.
    const rows = 20_000;
    const payload = JSON.stringify({ event_name: "Purchase" });
    const now = new Date();
    const plans: string[] = [];
    if (kind === "postgresql") {
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      try {
        await client.query(
          `INSERT INTO "OutboxEvent" ("id", "shopId", "eventName", "eventId", "source", "status", "actionSource", ` +
            `"eventTime", "payload", "updatedAt", "nextAttemptAt") SELECT 'big' || g, $1, 'Purchase', 'big_' || g, ` +
            `'webhook', 'pending', 'website', now(), $2::jsonb, now(), now() - interval '1 hour' + g * interval '1 ms' ` +
            `FROM generate_series(1, ${rows}) AS g`,
          [big.id, payload],
        );
        await client.query(`ANALYZE "OutboxEvent"`);
        const sql = pgStatements();
        const at = now.toISOString();
        for (const [text, values] of [
          [sql.claim, ["plan", at, at, at, big.id, 1000]],
          [sql.destinationClaim, ["plan", at, at, at, big.id, 1000, big.id]],
          [sql.unrouted, [big.id, 1000]],
        ] as const) {
          const { rows: plan } = await client.query(
            `EXPLAIN ${text}`,
            values as unknown as unknown[],
          );
          plans.push(plan.map((r) => r["QUERY PLAN"]).join("\n"));
        }
      } finally {
        await client.end();
      }
      for (const plan of plans) {
        expect(plan).toMatch(
          /Index Scan using "OutboxEvent_shopId_destinationId_status_nextAttemptAt_idx"/,
        );
        expect(plan).not.toMatch(/Sort/);
      }
    } else {
      const file = new URL(database.url.replace(/^file:/, "file://")).pathname;
      const db = new Database(file);
      try {
        db.prepare(
          `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < ${rows}) ` +
            `INSERT INTO "OutboxEvent" ("id", "shopId", "eventName", "eventId", "source", "status", "actionSource", ` +
            `"eventTime", "payload", "updatedAt", "nextAttemptAt") SELECT 'big' || n, ?, 'Purchase', 'big_' || n, ` +
            `'webhook', 'pending', 'website', ?, ?, ?, ? FROM g`,
        ).run(
          big.id,
          now.getTime(),
          payload,
          now.getTime(),
          now.getTime() - 3_600_000,
        );
        db.exec("ANALYZE");
        const sql = sqliteStatements();
        for (const text of [
          sql.candidates,
          sql.destinationCandidates,
          sql.unrouted,
        ]) {
          const n = (text.match(/\?/g) ?? []).length;
          plans.push(
            (
              db
                .prepare(`EXPLAIN QUERY PLAN ${text}`)
                .all(...Array(n).fill(null)) as { detail: string }[]
            )
              .map((r) => r.detail)
              .join("\n"),
          );
        }
      } finally {
        db.close();
      }
      for (const plan of plans) {
        expect(plan).toMatch(
          /USING (COVERING )?INDEX OutboxEvent_shopId_destinationId_status_nextAttemptAt_idx/,
        );
        expect(plan).not.toMatch(/TEMP B-TREE/);
      }
    }
    // And the claim takes the oldest first.
    const batch = await claimBatch(store, big.id, "lease-big", {
      limit: 1000,
      leaseMs: 30_000,
      now,
    });
    expect(batch.rows).toHaveLength(1000);
    expect(batch.rows[0].eventId).toBe("big_1");
    // The sweeps of the next tests count every shop's rows.
    await handle.db.shop.delete({ where: { id: big.id } });
  });

  it("writes the retry and final marks, lease releases and the expiry sweep as Prisma reads them, to their rows only", async () => {
    const now = new Date("2026-11-25T12:00:00.125Z");
    const pending = { status: "pending", holdUntil: null, nextAttemptAt: now };
    const ids: Record<string, string> = {};
    for (const name of ["retry", "final", "mine", "theirs", "lapsed", "live"]) {
      await store.insertEvent(
        event(`marks_${name}`, pending),
        receipt(`wh-marks-${name}`),
        null,
      );
      const lease = {
        retry: "lease-r",
        final: "lease-r",
        mine: "disp-1:7",
        theirs: "disp-10:7",
        lapsed: "lease-old",
        live: "lease-new",
      }[name]!;
      const until =
        name === "lapsed"
          ? new Date(now.getTime() - 1)
          : new Date(now.getTime() + 60_000);
      ids[name] = (
        await store.claim(shopId, lease, {
          limit: 1,
          leaseUntil: until,
          now,
          destinationId: null,
        })
      )[0].id;
    }
    const row = (name: string) =>
      handle.db.outboxEvent.findUniqueOrThrow({ where: { id: ids[name] } });
    const error = {
      lastErrorCode: 2,
      lastErrorSubcode: null,
      lastErrorMessage: "Service temporarily unavailable",
      lastFbtraceId: "Fb1",
    };
    const later = new Date(now.getTime() + 30_000);

    expect(
      await store.markRetry([ids.retry, ids.final], "lease-x", {
        ...error,
        nextAttemptAt: later,
        ambiguous: true,
        countAttempt: true,
        now,
      }),
    ).toBe(0);
    expect(
      await store.markRetry([ids.retry], "lease-r", {
        ...error,
        nextAttemptAt: later,
        ambiguous: true,
        countAttempt: false,
        now,
      }),
    ).toBe(1);
    expect(await row("retry")).toMatchObject({
      status: "pending",
      leaseOwner: null,
      leaseUntil: null,
      nextAttemptAt: later,
      attempts: 0,
      ambiguousSends: 1,
      updatedAt: now,
      lastErrorCode: 2,
      lastErrorSubcode: null,
      lastErrorMessage: "Service temporarily unavailable",
      lastFbtraceId: "Fb1",
      clientIp: "203.0.113.7",
    });

    expect(
      await store.markFinal([ids.final], "lease-r", {
        ...error,
        lastErrorCode: 100,
        lastErrorSubcode: 2804050,
        status: "failed",
        now,
      }),
    ).toBe(1);
    expect(await row("final")).toMatchObject({
      status: "failed",
      finalAt: now,
      updatedAt: now,
      attempts: 1,
      lastErrorCode: 100,
      lastErrorSubcode: 2804050,
      clientIp: null,
      clientUserAgent: null,
      leaseOwner: null,
      leaseUntil: null,
    });

    // "disp-1:" is a prefix of its own leases only, not of "disp-10:…".
    expect(await store.releaseLeases("disp-1:", later)).toBe(1);
    expect(await row("mine")).toMatchObject({
      status: "pending",
      leaseOwner: null,
      leaseUntil: null,
      nextAttemptAt: later,
      updatedAt: later,
    });
    expect((await row("theirs")).status).toBe("sending");

    expect(await store.reclaimExpiredLeases(now)).toBe(1);
    expect(await row("lapsed")).toMatchObject({
      status: "pending",
      leaseOwner: null,
      nextAttemptAt: now,
      ambiguousSends: 1,
    });
    expect((await row("live")).leaseOwner).toBe("lease-new");

    // A renewal extends the rows still held by the lease, and says which those are.
    expect(
      await store.renewLease([ids.live, ids.lapsed], "lease-new", later, now),
    ).toEqual([ids.live]);
    expect(await row("live")).toMatchObject({
      status: "sending",
      leaseUntil: later,
      nextAttemptAt: later,
      updatedAt: now,
    });

    // Past the website cutoff only: a website event expires, a store event (longer window) and a sending one stay.
    const websiteCutoff = new Date("2026-11-20T00:00:00.000Z");
    const storeCutoff = new Date("2026-09-20T00:00:00.000Z");
    const between = new Date("2026-10-01T00:00:00.000Z");
    await store.insertEvent(
      event("stale_web", { status: "held", eventTime: between }),
      receipt("wh-stale-web"),
      null,
    );
    await store.insertEvent(
      event("stale_store", {
        ...pending,
        actionSource: "physical_store",
        eventTime: between,
      }),
      receipt("wh-stale-store"),
      null,
    );
    await store.insertEvent(
      event("stale_store_old", {
        ...pending,
        actionSource: "physical_store",
        eventTime: new Date("2026-09-01T00:00:00.000Z"),
      }),
      receipt("wh-stale-old"),
      null,
    );
    await handle.db.outboxEvent.update({
      where: { id: ids.theirs },
      data: { eventTime: between },
    });
    expect(
      await store.expireStale(
        { website: websiteCutoff, physicalStore: storeCutoff },
        "Too old",
        now,
      ),
    ).toBe(2);
    const stale = await handle.db.outboxEvent.findMany({
      where: { eventId: { startsWith: "stale_" } },
      orderBy: { eventId: "asc" },
    });
    expect(
      stale.map((r) => [
        r.eventId,
        r.status,
        r.lastErrorMessage,
        r.finalAt,
        r.clientIp,
      ]),
    ).toEqual([
      ["stale_store", "pending", null, null, "203.0.113.7"],
      ["stale_store_old", "expired", "Too old", now, null],
      ["stale_web", "expired", "Too old", now, null],
    ]);
    expect((await row("theirs")).status).toBe("sending");
  });
});

describe("intake store on sqlite, while another process holds the write lock", () => {
  let database: TestDatabase;
  let filename: string;

  beforeAll(async () => {
    database = await createTestDatabase("sqlite");
    filename = (classifyDatabaseUrl(database.url) as { filename: string })
      .filename;
  });
  afterAll(() => database?.drop());

  const receipt = (webhookId: string): NewReceipt => ({
    webhookId,
    shopDomain: "s.myshopify.com",
    topic: "orders/paid",
    outcome: "rejected",
    reason: "test",
    orderId: null,
    receivedAt: new Date(),
  });

  it("waits on a timer, not in SQLite's busy handler: the event loop keeps running, and the write lands", async () => {
    const other = new Database(filename);
    const store = sqliteStore(new Database(filename, { timeout: 0 }), {
      busyTimeoutMs: 5_000,
    });
    other.exec("BEGIN IMMEDIATE");
    let settled = false;
    const write = store
      .insertReceipt(receipt("wh-locked"))
      .finally(() => (settled = true));
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
    expect(
      other
        .prepare(`SELECT outcome FROM "WebhookReceipt" WHERE "webhookId" = ?`)
        .get("wh-locked"),
    ).toEqual({ outcome: "rejected" });
    other.close();
  });

  it("commits the writes of one turn together, and a write that fails is undone alone", async () => {
    const store = sqliteStore(new Database(filename, { timeout: 0 }), {
      busyTimeoutMs: 5_000,
    });
    const results = await Promise.allSettled([
      store.insertReceipt(receipt("wh-group-1")),
      store.insertReceipt(receipt("wh-group-1")),
      // Not a value SQLite can store: the driver throws inside the group.
      store.insertReceipt({
        ...receipt("wh-group-bad"),
        reason: {} as unknown as string,
      }),
      store.insertReceipt(receipt("wh-group-2")),
    ]);
    expect(
      results.map((r) => (r.status === "fulfilled" ? r.value : "rejected")),
    ).toEqual(["inserted", "duplicate", "rejected", "inserted"]);
    expect(await store.hasReceipt("wh-group-1")).toBe(true);
    expect(await store.hasReceipt("wh-group-2")).toBe(true);
    expect(await store.hasReceipt("wh-group-bad")).toBe(false);

    // One commit for the turn: twenty rows on the same pages write each page to the WAL once, not twenty times.
    const other = new Database(filename);
    other.pragma("journal_mode = WAL");
    other.pragma("wal_checkpoint(TRUNCATE)");
    const writes = Array.from({ length: 20 }, (_, i) =>
      store.insertReceipt(receipt(`wh-turn-${i}`)),
    );
    expect(await Promise.all(writes)).toEqual(Array(20).fill("inserted"));
    const [{ log: walFrames }] = other.pragma("wal_checkpoint(PASSIVE)") as {
      log: number;
    }[];
    expect(walFrames).toBeGreaterThan(0);
    expect(walFrames).toBeLessThan(20);
    other.close();
  });

  it("keeps a group's statement journal in memory, and undoes a failed write alone past 64 kB of it", async () => {
    const database = new Database(filename, { timeout: 0 });
    const store = sqliteStore(database, { busyTimeoutMs: 5_000 });
    // 2 = MEMORY: a savepoint's copies of the pages its write changes never go to a temporary file (decisions 187).
    expect(database.pragma("temp_store", { simple: true })).toBe(2);
    const ids = Array.from({ length: 300 }, (_, i) => `wh-journal-${i}`);
    await Promise.all(
      ids.map((id) =>
        store.insertReceipt({ ...receipt(id), reason: id.padEnd(500, ".") }),
      ),
    );
    // One write that changes every row (~45 pages, well past the 64 kB at which SQLite would spill the journal to a
    // file) and then fails on its last one, beside a write that succeeds.
    const rewrite = store.prepareWrite({
      name: "test_rewrite_receipts",
      sqlite: `UPDATE "WebhookReceipt" SET "reason" = "reason" || @suffix, "webhookId" = CASE WHEN "webhookId" = @last THEN @first ELSE "webhookId" END WHERE "webhookId" LIKE 'wh-journal-%'`,
      postgresql: () => "not used: SQLite only",
      params: [],
    });
    const results = await Promise.allSettled([
      rewrite({ suffix: "!", last: ids[299], first: ids[0] }),
      store.insertReceipt(receipt("wh-journal-after")),
    ]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "fulfilled"]);
    const stored = database
      .prepare(
        `SELECT "webhookId", "reason" FROM "WebhookReceipt" WHERE "webhookId" LIKE 'wh-journal-%'`,
      )
      .all() as { webhookId: string; reason: string | null }[];
    expect(stored).toHaveLength(301);
    for (const row of stored)
      if (row.webhookId !== "wh-journal-after")
        expect(row.reason).toBe(row.webhookId.padEnd(500, "."));
    database.close();
  });

  it("gives up with SQLITE_BUSY after its timeout, and writes nothing", async () => {
    const other = new Database(filename);
    const store = sqliteStore(new Database(filename, { timeout: 0 }), {
      busyTimeoutMs: 150,
    });
    other.exec("BEGIN IMMEDIATE");
    try {
      await expect(
        store.insertReceipt(receipt("wh-never")),
      ).rejects.toMatchObject({ code: "SQLITE_BUSY" });
    } finally {
      other.exec("ROLLBACK");
    }
    expect(await store.hasReceipt("wh-never")).toBe(false);
    other.close();
  });
});
