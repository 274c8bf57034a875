import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDb, type DbHandle } from "../../app/db.server";
import { classifyDatabaseUrl } from "../../app/dbUrl";
import { redecidePending } from "../../app/core/intake/waiting";
import { parseSettings } from "../../app/core/reference/settings";
import {
  createTestDatabase,
  databaseKinds,
  type TestDatabase,
} from "../support/database";

// A consent policy change re-decides a paused shop's pending backlog a page at a time: every row of every page,
// whatever the backlog's size.

describe.each(databaseKinds())("redecidePending on %s", (kind) => {
  let database: TestDatabase;
  let handle: DbHandle;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    handle = createDb(classifyDatabaseUrl(database.url));
  });
  afterAll(async () => {
    await handle?.db.$disconnect();
    await database?.drop();
  });

  it("suppresses every pending row the new policy refuses, across pages, and leaves the others", async () => {
    const shop = await handle.db.shop.create({
      data: {
        domain: `redecide-${kind}.myshopify.com`,
        ingestKey: "k",
        settings: { consentPolicy: "always" },
      },
    });
    const store = handle.sqlStore();
    const now = new Date();
    const rows = 2_345;
    const writes = Array.from({ length: rows }, (_, i) =>
      store.insertEvent(
        {
          shopId: shop.id,
          eventName: "Purchase",
          eventId: `purchase_${i}`,
          source: "webhook",
          status: "pending",
          suppressReason: null,
          lastErrorMessage: null,
          actionSource: "website",
          eventTime: now,
          payload: {
            event_name: "Purchase",
            event_id: `purchase_${i}`,
            user_data: {},
          },
          clientIp: "203.0.113.9",
          clientUserAgent: "UA",
          countryCode: i % 5 === 0 ? "US" : "DE",
          provinceCode: null,
          consent: null,
          lduApplied: false,
          orderId: String(i),
          orderName: `#${i}`,
          checkoutToken: null,
          customerKey: null,
          emailHash: null,
          phoneHash: null,
          holdUntil: null,
          nextAttemptAt: now,
          browserSeenAt: null,
          receivedAt: now,
          releasedAt: null,
          finalAt: null,
        },
        null,
        null,
      ),
    );
    expect(new Set(await Promise.all(writes))).toEqual(new Set(["inserted"]));

    // Without a consent snapshot, Germany (an opt-in region by default) is refused under Shopify's rules.
    const settings = parseSettings({ consentPolicy: "shopify_rules" });
    const german = rows - Math.ceil(rows / 5);
    expect(
      await redecidePending(
        handle.outbox(),
        { id: shop.id, settings, salesCountry: null },
        now,
      ),
    ).toBe(german);
    expect(
      await handle.db.outboxEvent.count({
        where: {
          shopId: shop.id,
          status: "suppressed",
          suppressReason: "no_consent_opt_in_region",
          clientIp: null,
        },
      }),
    ).toBe(german);
    expect(
      await handle.db.outboxEvent.count({
        where: { shopId: shop.id, status: "pending", countryCode: "US" },
      }),
    ).toBe(Math.ceil(rows / 5));
  });
});
