import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_SECRET, databaseKinds, eventually } from "../support/app";
import { asShopsOwn, sendWebhook } from "../support/shopifyWebhook";
import { connectedShop, type Scenario } from "../support/scenario";
import { adminData } from "../support/shopifyAdmin";
import {
  draftOrder,
  orderWithoutAddress,
  posOrder,
  refundCreated,
  subscriptionFirstOrder,
  subscriptionRenewal,
  upsoldOrder,
} from "../fixtures/orderLife";
import type { CapiEvent } from "../../app/core/wire/metaEvent";
import type {
  CurrencyValues,
  KeptBack,
} from "../../app/core/insights/orderLife";

// An order's real life on the production build, over HTTP with signed webhooks: the region of an order without an
// address (decisions 66), edits and upsells (67), refunds (68), subscriptions and point-of-sale orders (69, 13).
// The IP addresses are real ones GeoLite2 has long placed (81.2.69.142: GB, MaxMind's own test address; 8.8.8.8: US).

const DAY = 86_400_000;
const GB_IP = "81.2.69.142";
const US_IP = "8.8.8.8";
let seq = 0;

describe.each(databaseKinds())("an order's life on %s", (kind) => {
  let s: Scenario;
  let shopId: string;
  let base: number;
  const nextId = () => base + ++seq * 17;

  beforeAll(async () => {
    // No hold: each Purchase is decided as it arrives (the browser's context is not what these tests are about).
    s = await connectedShop(kind, { env: { PURCHASE_HOLD_SECONDS: "0" } });
    base = 7_100_000_000_000 + (Date.now() % 1_000_000) * 1000;
    shopId = (
      await s.app.db.shop.findUniqueOrThrow({ where: { domain: s.shop } })
    ).id;
  });
  afterAll(async () => {
    await s?.close();
  });

  /** `paidAt`: when Shopify says it triggered orders/paid (the Purchase's time, decisions 32); else now. */
  async function deliver(
    topic: string,
    body: object & { order_status_url?: unknown },
    paidAt?: Date,
  ) {
    const own = asShopsOwn(body, s.shop);
    const res = await sendWebhook(s.app.url, {
      topic,
      shop: s.shop,
      body: own,
      secret: API_SECRET,
      triggeredAt: paidAt?.toISOString(),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as {
      outcome: string;
      status: string | null;
      reason: string | null;
    };
  }

  const row = (orderId: number) =>
    s.app.db.outboxEvent.findFirstOrThrow({
      where: { shopId, eventId: `purchase_${orderId}` },
    });
  const sentToMeta = (eventId: string): Promise<CapiEvent> =>
    eventually(
      () => s.graph.eventsReceived().find((e) => e.event_id === eventId),
      15_000,
      `${eventId} at Meta`,
    );
  /** Holds the shop's sending (a shop-wide backoff): its Purchases stay pending. */
  const holdSending = (on: boolean) =>
    s.app.db.shop.update({
      where: { id: shopId },
      data: { sendNotBefore: on ? new Date(Date.now() + DAY) : null },
    });
  const home = async () => {
    const res = await adminData(
      s.app.url,
      "/app?window=24h",
      "routes/app._index",
      s.shop,
    );
    expect(res.status).toBe(200);
    return (await res.json()) as {
      keptBack: KeptBack & { consentPolicy: string; settingUrl: string };
      values: CurrencyValues[];
    };
  };
  const eventPage = async (id: string) => {
    const res = await adminData(
      s.app.url,
      `/app/events/${id}`,
      "routes/app.events.$id",
      s.shop,
    );
    expect(res.status).toBe(200);
    return (await res.json()) as { drift: Record<string, unknown> | null };
  };
  const setSettings = async (patch: Record<string, unknown>) => {
    const shop = await s.app.db.shop.findUniqueOrThrow({
      where: { id: shopId },
    });
    await s.app.db.shop.update({
      where: { id: shopId },
      data: {
        settings: JSON.parse(
          JSON.stringify({ ...(shop.settings as object), ...patch }),
        ),
      },
    });
  };
  const sentStatus = (orderId: number) =>
    eventually(
      async () => (await row(orderId)).status === "sent",
      10_000,
      "sent",
    );
  const times = (ageMs = 60_000) => ({
    id: nextId(),
    placedAt: new Date(Date.now() - ageMs),
  });

  describe("the region of an order without an address (decisions 66)", () => {
    it("is the country of its browser_ip: an opt-in region is kept back, elsewhere it is sent", async () => {
      const fromGb = times();
      expect(
        await deliver("orders/paid", orderWithoutAddress(fromGb, GB_IP)),
      ).toMatchObject({
        outcome: "accepted",
        status: "suppressed",
        reason: "no_consent_opt_in_region",
      });
      const fromUs = times();
      expect(
        await deliver("orders/paid", orderWithoutAddress(fromUs, US_IP)),
      ).toMatchObject({
        outcome: "accepted",
        status: "pending",
      });
      await sentToMeta(`purchase_${fromUs.id}`);
    });

    it("a point-of-sale order (a staff member's, no IP) takes the shop's one sales country, keeps physical_store and Meta's 62-day window", async () => {
      const old = times(30 * DAY);
      expect(
        await deliver("orders/paid", posOrder(old), old.placedAt),
      ).toMatchObject({
        status: "suppressed",
        reason: "no_consent_opt_in_region",
      });
      await s.app.db.shop.update({
        where: { id: shopId },
        data: { salesCountry: "US" },
      });
      const pos = times(30 * DAY);
      expect(
        await deliver("orders/paid", posOrder(pos), pos.placedAt),
      ).toMatchObject({
        status: "pending",
      });
      const event = await sentToMeta(`purchase_${pos.id}`);
      expect(event.action_source).toBe("physical_store");
      expect(event.user_data.client_ip_address).toBeUndefined();
      // The same age online is past Meta's 7-day window.
      const online = times(30 * DAY);
      expect(
        await deliver(
          "orders/paid",
          orderWithoutAddress(online, US_IP),
          online.placedAt,
        ),
      ).toMatchObject({ status: "expired" });
      await s.app.db.shop.update({
        where: { id: shopId },
        data: { salesCountry: null },
      });
    });
  });

  describe("edits and upsells (decisions 67)", () => {
    it("a Purchase still pending carries the order as it is now; an older update changes nothing", async () => {
      await holdSending(true);
      try {
        const t = times();
        await deliver("orders/paid", orderWithoutAddress(t, US_IP));
        expect((await row(t.id)).status).toBe("pending");
        const upsold = upsoldOrder(t, new Date(), US_IP);
        expect(await deliver("orders/updated", upsold)).toMatchObject({
          outcome: "accepted",
          reason: "the unsent purchase carries the order as it is now",
        });
        const payload = (await row(t.id)).payload as unknown as CapiEvent;
        expect(payload.custom_data?.value).toBe(647.94);
        expect(payload.custom_data?.num_items).toBe(4);
        expect(payload.custom_data?.content_ids).toContain("447654529");

        // An update older than the one applied (its total was 1.00 then) arrives late.
        const older = {
          ...upsoldOrder(t, new Date(Date.now() - 30_000), US_IP),
          total_price: "1.00",
          total_price_set: undefined,
        };
        expect(await deliver("orders/updated", older)).toMatchObject({
          outcome: "ignored",
          reason: "an older state of the order",
        });
        expect(
          ((await row(t.id)).payload as unknown as CapiEvent).custom_data
            ?.value,
        ).toBe(647.94);
      } finally {
        await holdSending(false);
      }
    });

    it("orders/updated before orders/paid: the Purchase is made with the newer order", async () => {
      const t = times();
      const upsold = upsoldOrder(t, new Date(), US_IP);
      expect(await deliver("orders/updated", upsold)).toMatchObject({
        outcome: "accepted",
        reason: "no unsent purchase: the order's state is kept",
      });
      await deliver("orders/paid", orderWithoutAddress(t, US_IP));
      const event = await sentToMeta(`purchase_${t.id}`);
      expect(event.custom_data?.value).toBe(647.94);
    });

    it("once sent, nothing is sent again: the order's new value is kept for the event page", async () => {
      const t = times();
      await deliver("orders/paid", orderWithoutAddress(t, US_IP));
      await sentToMeta(`purchase_${t.id}`);
      await eventually(
        async () => (await row(t.id)).status === "sent",
        10_000,
        "sent",
      );
      const before = s.graph.eventsReceived().length;
      await deliver("orders/updated", upsoldOrder(t, new Date(), US_IP));
      expect(
        ((await row(t.id)).payload as unknown as CapiEvent).custom_data?.value,
      ).toBe(598.94);
      const state = await s.app.db.orderState.findUniqueOrThrow({
        where: { shopId_orderId: { shopId, orderId: String(t.id) } },
      });
      expect(state.value).toBe(647.94);
      await new Promise((r) => setTimeout(r, 500));
      expect(s.graph.eventsReceived().length).toBe(before);
    });
  });

  describe("refunds (decisions 68)", () => {
    it("a partial refund is recorded and changes nothing sent; a full refund before sending drops the Purchase", async () => {
      const sentOrder = times();
      await deliver("orders/paid", orderWithoutAddress(sentOrder, US_IP));
      await sentToMeta(`purchase_${sentOrder.id}`);
      const partial = refundCreated(sentOrder.id, nextId(), "199.00");
      expect(await deliver("refunds/create", partial)).toMatchObject({
        outcome: "accepted",
        reason: "refund recorded",
      });
      expect(await deliver("refunds/create", partial)).toMatchObject({
        outcome: "ignored",
      });
      const refunds = await s.app.db.orderRefund.findMany({
        where: { shopId, orderId: String(sentOrder.id) },
      });
      expect(refunds).toMatchObject([{ amount: 199, currency: "USD" }]);

      await holdSending(true);
      try {
        const t = times();
        await deliver("orders/paid", orderWithoutAddress(t, US_IP));
        expect(
          await deliver(
            "refunds/create",
            refundCreated(t.id, nextId(), "300.00"),
          ),
        ).toMatchObject({ outcome: "accepted", reason: "refund recorded" });
        expect((await row(t.id)).status).toBe("pending");
        expect(
          await deliver(
            "refunds/create",
            refundCreated(t.id, nextId(), "298.94"),
          ),
        ).toMatchObject({ outcome: "accepted", status: "suppressed" });
        expect(await row(t.id)).toMatchObject({
          status: "suppressed",
          suppressReason: "refunded",
          clientIp: null,
        });
      } finally {
        await holdSending(false);
      }
      expect(
        s.graph.eventsReceived().some((e) => (e.custom_data?.value ?? 0) < 0),
      ).toBe(false);
    });

    it("an unusable refund body is recorded as rejected", async () => {
      expect(
        await deliver("refunds/create", { id: "x" } as object),
      ).toMatchObject({
        outcome: "rejected",
      });
    });
  });

  describe("subscriptions (decisions 69)", () => {
    it("the first order is the buyer's Purchase; renewals are off by default, by source or by a subscription app's tag", async () => {
      const first = times();
      expect(
        await deliver(
          "orders/paid",
          orderWithoutAddressOf(subscriptionFirstOrder(first)),
        ),
      ).toMatchObject({ status: "pending" });
      expect((await sentToMeta(`purchase_${first.id}`)).action_source).toBe(
        "website",
      );
      for (const marker of ["source", "recharge"] as const) {
        const renewal = times();
        expect(
          await deliver("orders/paid", subscriptionRenewal(renewal, marker)),
        ).toMatchObject({ status: "suppressed", reason: "source_disabled" });
      }
    });

    it("renewals, when the setting sends them, go as system_generated", async () => {
      const shop = await s.app.db.shop.findUniqueOrThrow({
        where: { id: shopId },
      });
      const settings = shop.settings as { sources?: object };
      await s.app.db.shop.update({
        where: { id: shopId },
        data: {
          settings: {
            ...settings,
            sources: { ...settings.sources, subscription: true },
          },
        },
      });
      const renewal = times();
      await deliver("orders/paid", subscriptionRenewal(renewal, "source"));
      expect((await sentToMeta(`purchase_${renewal.id}`)).action_source).toBe(
        "system_generated",
      );
    });
  });

  describe("the admin (decisions 70-72)", () => {
    it("home counts the point-of-sale and draft orders the consent policy kept back, with the setting that would send them", async () => {
      const before = (await home()).keptBack;
      expect(before).toMatchObject({
        consentPolicy: "shopify_rules",
        settingUrl: "/app/settings#consent",
      });
      // Neither has an address or a browser, and the shop sells in several countries: region unknown.
      expect(await deliver("orders/paid", posOrder(times()))).toMatchObject({
        status: "suppressed",
        reason: "no_consent_opt_in_region",
      });
      expect(await deliver("orders/paid", draftOrder(times()))).toMatchObject({
        status: "suppressed",
        reason: "no_consent_opt_in_region",
      });
      // An online order kept back the same way is not among them.
      await deliver("orders/paid", orderWithoutAddress(times(), GB_IP));
      const after = (await home()).keptBack;
      expect(after.pos).toBe(before.pos + 1);
      expect(after.draft).toBe(before.draft + 1);
      expect(after.byReason.no_consent_opt_in_region).toBe(
        (before.byReason.no_consent_opt_in_region ?? 0) + 2,
      );
    });

    it("home reports value sent, value refunded and net per currency; a refund of an order not sent is not counted", async () => {
      const usd = async () =>
        (await home()).values.find((v) => v.currency === "USD") ?? {
          sent: 0,
          purchases: 0,
          refunded: 0,
          refunds: 0,
          net: 0,
        };
      const before = await usd();
      const t = times();
      await deliver("orders/paid", orderWithoutAddress(t, US_IP));
      await sentStatus(t.id);
      await deliver("refunds/create", refundCreated(t.id, nextId(), "100.00"));
      const kept = times();
      await deliver("orders/paid", orderWithoutAddress(kept, GB_IP));
      await deliver(
        "refunds/create",
        refundCreated(kept.id, nextId(), "50.00"),
      );
      const after = await usd();
      expect(after.purchases - before.purchases).toBe(1);
      expect(after.sent - before.sent).toBeCloseTo(598.94, 2);
      expect(after.refunds - before.refunds).toBe(1);
      expect(after.refunded - before.refunded).toBeCloseTo(100, 2);
      expect(after.net).toBeCloseTo(after.sent - after.refunded, 2);
    });

    it("the event page shows a sent Purchase's drift: the order's value and contents now, and its refunds", async () => {
      const t = times();
      await deliver("orders/paid", orderWithoutAddress(t, US_IP));
      await sentStatus(t.id);
      const id = (await row(t.id)).id;
      expect((await eventPage(id)).drift).toBeNull();
      await deliver("orders/updated", upsoldOrder(t, new Date(), US_IP));
      await deliver("refunds/create", refundCreated(t.id, nextId(), "49.00"));
      expect((await eventPage(id)).drift).toMatchObject({
        sent: { value: 598.94, currency: "USD", numItems: 3 },
        now: { value: 647.94, currency: "USD", numItems: 4 },
        added: ["447654529"],
        removed: [],
        refunded: [{ currency: "USD", amount: 49 }],
      });
    });
  });

  describe("the Subscribe event (decisions 74, 75)", () => {
    it("is off by default: a first order makes its Purchase only", async () => {
      const first = times();
      await deliver(
        "orders/paid",
        orderWithoutAddressOf(subscriptionFirstOrder(first)),
      );
      await sentToMeta(`purchase_${first.id}`);
      expect(
        await s.app.db.outboxEvent.count({
          where: { shopId, eventId: `subscribe_${first.id}` },
        }),
      ).toBe(0);
    });

    it("when on, a first order also makes one Subscribe (its id from the order), decided by the same consent rule", async () => {
      await setSettings({ subscribeEvent: true });
      try {
        const first = times();
        const body = orderWithoutAddressOf(subscriptionFirstOrder(first));
        await deliver("orders/paid", body);
        const subscribe = await sentToMeta(`subscribe_${first.id}`);
        expect(subscribe).toMatchObject({
          event_name: "Subscribe",
          action_source: "website",
          custom_data: { value: 179.1, currency: "USD" },
        });
        // A redelivery (a new webhook id) makes no second one.
        expect(await deliver("orders/paid", body)).toMatchObject({
          outcome: "duplicate_event",
        });
        expect(
          await s.app.db.outboxEvent.count({
            where: {
              shopId,
              eventName: "Subscribe",
              orderId: String(first.id),
            },
          }),
        ).toBe(1);

        // From an opt-in region without a recorded choice: neither goes.
        const fromGb = times();
        const gbOrder = {
          ...orderWithoutAddressOf(subscriptionFirstOrder(fromGb)),
          browser_ip: GB_IP,
          client_details: { browser_ip: GB_IP, user_agent: "Mozilla/5.0" },
        };
        await deliver("orders/paid", gbOrder);
        expect(
          await s.app.db.outboxEvent.findMany({
            where: { shopId, orderId: String(fromGb.id) },
            select: { eventName: true, status: true, suppressReason: true },
            orderBy: { eventName: "asc" },
          }),
        ).toEqual([
          {
            eventName: "Purchase",
            status: "suppressed",
            suppressReason: "no_consent_opt_in_region",
          },
          {
            eventName: "Subscribe",
            status: "suppressed",
            suppressReason: "no_consent_opt_in_region",
          },
        ]);
        // Refunded in full before sending: the Subscribe is dropped with its Purchase (decisions 68, 74).
        await holdSending(true);
        try {
          const refunded = times();
          await deliver(
            "orders/paid",
            orderWithoutAddressOf(subscriptionFirstOrder(refunded)),
          );
          const value = (
            (await row(refunded.id)).payload as unknown as CapiEvent
          ).custom_data!.value!;
          expect(
            await deliver(
              "refunds/create",
              refundCreated(refunded.id, nextId(), value.toFixed(2)),
            ),
          ).toMatchObject({ outcome: "accepted", status: "suppressed" });
          expect(
            await s.app.db.outboxEvent.findMany({
              where: { shopId, orderId: String(refunded.id) },
              select: { eventName: true, status: true, suppressReason: true },
              orderBy: { eventName: "asc" },
            }),
          ).toEqual([
            {
              eventName: "Purchase",
              status: "suppressed",
              suppressReason: "refunded",
            },
            {
              eventName: "Subscribe",
              status: "suppressed",
              suppressReason: "refunded",
            },
          ]);
        } finally {
          await holdSending(false);
        }

        // A renewal makes none.
        await setSettings({
          subscribeEvent: true,
          sources: { online: true, draft: true, pos: true, subscription: true },
        });
        const renewal = times();
        await deliver("orders/paid", subscriptionRenewal(renewal, "source"));
        await sentToMeta(`purchase_${renewal.id}`);
        expect(
          await s.app.db.outboxEvent.count({
            where: { shopId, eventId: `subscribe_${renewal.id}` },
          }),
        ).toBe(0);
      } finally {
        await setSettings({ subscribeEvent: false });
      }
    });
  });
});

/** A first subscription order from a US browser, without addresses (its region from its IP). */
function orderWithoutAddressOf<T extends { browser_ip: string | null }>(
  order: T,
): T {
  return {
    ...order,
    browser_ip: US_IP,
    client_details: {
      browser_ip: US_IP,
      user_agent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
    },
    billing_address: null,
  };
}
