import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { databaseKinds, eventually } from "../support/app";
import {
  connectedShop,
  orderWebhook,
  type Scenario,
} from "../support/scenario";
import { adminData } from "../support/shopifyAdmin";
import {
  consent,
  consentBody,
  ingestKeyOf,
  newBuyer,
  newCheckout,
  postIngest,
  type Checkout,
} from "../support/checkout";

// Issue 17, item 2 (decisions 150): beside each key's share, the admin says why the sent events that lack the key
// lack it, from what the app recorded when it built their user_data. Orders go through the production build from
// their signed webhook (and the pixel's consent post) to the fake Graph API; the home page's loader tells why.

describe.each(databaseKinds())("why match keys are missing, on %s", (kind) => {
  let s: Scenario;

  beforeAll(async () => {
    // Decided at intake: the pixel's posts come before their order.
    s = await connectedShop(kind, { env: { PURCHASE_HOLD_SECONDS: "0" } });
  });
  afterAll(async () => {
    await s?.close();
  });

  /** The checkout's order without the theme's _fbp note and the fixture's ad click. */
  const withoutCookies = (
    c: Checkout,
    order: Record<string, unknown> = {},
  ) => ({
    ...c.order,
    note_attributes: [],
    landing_site: "/",
    ...order,
  });

  async function pixelConsent(c: Checkout, marketing: boolean) {
    const key = await ingestKeyOf(s.app, s.shop);
    const res = await postIngest(
      s.app,
      consentBody(s.shop, key, c, consent(marketing)),
    );
    expect(res.status, JSON.stringify(res.body)).toBe(202);
  }

  it("counts each reason per key among the Purchases sent, and leaves out those consent kept back", async () => {
    // A: the pixel never reported the checkout (no consent snapshot); the shop's policy sends a Brazilian order.
    const noPixel = newCheckout({ region: "BR", buyer: newBuyer("Ana") });
    // B: neither e-mail, phone nor address: Shopify redacted the buyer (no Level 2 access); the pixel consented.
    const redacted = newCheckout({ region: null, buyer: null });
    // C: a buyer with an e-mail but no phone and no address (digital goods); the pixel consented.
    const noAddress = newCheckout({ region: null, buyer: newBuyer("Bea") });
    // D: the shopper refused marketing cookies: not sent at all.
    const refused = newCheckout({ region: "BR", buyer: newBuyer("Cid") });

    await pixelConsent(redacted, true);
    await pixelConsent(noAddress, true);
    await pixelConsent(refused, false);
    const orders: [Checkout, Record<string, unknown>][] = [
      [noPixel, withoutCookies(noPixel)],
      [
        redacted,
        withoutCookies(redacted, {
          note_attributes: redacted.order.note_attributes,
        }),
      ],
      [
        noAddress,
        withoutCookies(noAddress, {
          note_attributes: noAddress.order.note_attributes,
          phone: null,
          customer: {
            ...(noAddress.order.customer as Record<string, unknown>),
            phone: null,
          },
        }),
      ],
      [refused, withoutCookies(refused)],
    ];
    for (const [, body] of orders) {
      const res = await orderWebhook(s, body);
      expect(res.status).toBe(200);
      expect(res.body.outcome).toBe("accepted");
    }

    const rows = await eventually(
      async () => {
        const found = await s.app.db.outboxEvent.findMany({
          where: { eventId: { in: orders.map(([c]) => c.eventId) } },
          select: { eventId: true, status: true, suppressReason: true },
        });
        return found.length === 4 &&
          found.every((r) => r.status === "sent" || r.status === "suppressed")
          ? found
          : null;
      },
      15_000,
      "the four Purchases sent or kept back",
    );
    expect(
      Object.fromEntries(rows.map((r) => [r.eventId, r.suppressReason])),
    ).toEqual({
      [noPixel.eventId]: null,
      [redacted.eventId]: null,
      [noAddress.eventId]: null,
      [refused.eventId]: "no_marketing_consent",
    });

    const res = await adminData(s.app.url, "/app", "routes/app._index", s.shop);
    expect(res.status).toBe(200);
    const d = await res.json();
    const purchase = d.coverage.find(
      (c: { eventName: string }) => c.eventName === "Purchase",
    );
    expect(purchase.sampled).toBe(3);
    expect(purchase.missing).toEqual({
      em: { redacted: 1 },
      ph: { redacted: 1, absent: 1 },
      fn: { redacted: 1 },
      ln: { redacted: 1 },
      ct: { redacted: 1, absent: 1 },
      st: { redacted: 1, absent: 1 },
      zp: { redacted: 1, absent: 1 },
      country: { redacted: 1, absent: 1 },
      external_id: { absent: 1 },
      // A's browser never reported: no consent snapshot; B's and C's did, and came from no ad click.
      fbp: { no_consent: 1 },
      fbc: { no_consent: 1, absent: 2 },
    });
    expect(purchase.ldu).toBe(0);
    // The refused one is among the Purchases not sent, with its reason, outside the sample.
    const counts = d.counts.find(
      (c: { eventName: string }) => c.eventName === "Purchase",
    );
    expect(counts.notSentByReason).toEqual({ no_marketing_consent: 1 });

    // Only key names and reason codes are kept: no value of the order.
    const stored = await s.app.db.outboxEvent.findMany({
      where: { eventId: { in: orders.map(([c]) => c.eventId) } },
      select: { missingKeys: true },
    });
    for (const row of stored)
      expect(row.missingKeys).toMatch(/^([a-z_]+=[a-z_]+(,|$))*$/);
  });
});
