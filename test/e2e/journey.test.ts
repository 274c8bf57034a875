import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { normalizeAndHash } from "../../app/core/intake/normalize";
import { makeOrder } from "../fixtures/order";
import {
  CONSENT_DENIED,
  FIXTURE_STOREFRONT,
  fixtureInit,
  fixtureSettings,
  loggedInCustomer,
  pageViewed,
  productAddedToCart,
  productViewed,
  purchaseJourney,
} from "../fixtures/pixelEvents";
import { databaseKinds, eventually } from "../support/app";
import { startPixel, type PixelSandbox } from "../support/pixelSandbox";
import {
  connectedShop,
  orderWebhook,
  PIXEL,
  type Scenario,
} from "../support/scenario";

// Issue 4's "done when": a storefront journey run by the real bundled pixel yields browser (Meta pixel) and server
// (Conversions API) events with identical event ids for every event type, and the Purchase carries both the order's
// customer data and the browser's fbp/fbc. The pixel's posts reach the production build exactly as its fetch sends
// them: the body string, no custom headers.

describe.each(databaseKinds())("storefront journey on %s", (kind) => {
  let s: Scenario;
  beforeAll(async () => {
    // A long hold: if the browser context failed to join the order, the Purchase would not arrive in time.
    s = await connectedShop(kind, { env: { PURCHASE_HOLD_SECONDS: "60" } });
  });
  afterAll(async () => {
    await s?.close();
  });

  it("gives every event the same id on the browser and the server path, and the Purchase both halves", async () => {
    const id = 6_400_000_000_000 + (Date.now() % 1_000_000);
    const now = new Date().toISOString();
    const order = makeOrder({
      id,
      admin_graphql_api_id: `gid://shopify/Order/${id}`,
      checkout_token: `ck${id}journey`,
      created_at: now,
      processed_at: now,
    });

    const landing = `${FIXTURE_STOREFRONT}/?utm_source=facebook&fbclid=JourneyClick_9xYz-42`;
    const px = await pixel(fixtureInit({ href: landing }));
    for (const step of purchaseJourney({
      token: order.checkout_token,
      orderId: `gid://shopify/OrderIdentity/${id}`,
      landingHref: landing,
    }))
      await publish(px, step.name, step.event);
    expect(px.appPosts()).toHaveLength(6);

    const webhook = await orderWebhook(s, order);
    expect(webhook.body).toMatchObject({
      outcome: "accepted",
      status: "pending",
    });

    const browser = px
      .metaRequests()
      .map((r) => ({ name: r.params.get("ev"), id: r.params.get("eid") }));
    expect(browser.map((b) => b.name)).toEqual([
      "PageView",
      "ViewContent",
      "AddToCart",
      "InitiateCheckout",
      "AddPaymentInfo",
      "Purchase",
    ]);
    const server = await eventually(
      () => {
        const ids = new Set(browser.map((b) => b.id));
        const got = s.graph.eventsReceived().filter((e) => ids.has(e.event_id));
        return got.length >= browser.length ? got : null;
      },
      15_000,
      "the six server events",
    );
    expect(
      server
        .map((e) => ({ name: e.event_name, id: e.event_id }))
        .sort((a, b) => a.id!.localeCompare(b.id!)),
    ).toEqual([...browser].sort((a, b) => a.id!.localeCompare(b.id!)));
    expect(new Set(browser.map((b) => b.id)).size).toBe(6);

    const purchase = server.find((e) => e.event_name === "Purchase")!;
    expect(purchase.event_id).toBe(`purchase_${id}`);
    // The order's customer data, hashed...
    expect(purchase.user_data.em).toEqual([
      normalizeAndHash("em", order.email),
    ]);
    expect(purchase.user_data.ph).toContain(
      normalizeAndHash("ph", order.phone),
    );
    expect(purchase.user_data.external_id).toEqual([
      normalizeAndHash("external_id", String(order.customer.id)),
    ]);
    // ... and the browser's cookies, as the pixel created them on this visit.
    const fbp = px.cookies.get("_fbp");
    const fbc = px.cookies.get("_fbc");
    expect(fbp).toMatch(/^fb\.1\.\d{13}\.\d+$/);
    expect(fbc).toMatch(/^fb\.1\.\d{13}\.JourneyClick_9xYz-42$/);
    expect(purchase.user_data.fbp).toBe(fbp);
    expect(purchase.user_data.fbc).toBe(fbc);
    expect(purchase.custom_data).toMatchObject({
      value: Number(order.total_price_set.presentment_money.amount),
      currency: order.presentment_currency,
    });
    for (const e of server) expect(e.user_data.fbp, e.event_name).toBe(fbp);
    // The pixel's own copy is recorded beside the order's, for the event log's value flag (decisions 111).
    const pixelPurchase = px
      .metaRequests()
      .find((r) => r.params.get("ev") === "Purchase")!;
    const row = await s.app.db.outboxEvent.findFirstOrThrow({
      where: { eventId: `purchase_${id}` },
    });
    expect({ value: row.browserValue, currency: row.browserCurrency }).toEqual({
      value: Number(pixelPurchase.params.get("cd[value]")),
      currency: pixelPurchase.params.get("cd[currency]"),
    });

    // A return visit of the same browser, not logged in: its events carry the order's shopper (decisions 109).
    const again = await pixel();
    for (const [name, event] of [
      ["page_viewed", pageViewed()],
      ["product_viewed", productViewed()],
      ["product_added_to_cart", productAddedToCart()],
    ] as const)
      await publish(again, name, event);
    const returning = await serverEvents(again, 3);
    for (const e of returning) {
      expect(e.user_data.em, e.event_name).toEqual(purchase.user_data.em);
      expect(e.user_data.external_id, e.event_name).toEqual(
        purchase.user_data.external_id,
      );
      expect(e.user_data.zp, e.event_name).toEqual(purchase.user_data.zp);
      expect(e.user_data.country, e.event_name).toEqual(
        purchase.user_data.country,
      );
    }
  });

  it("gives a logged-in shopper's events their hashed keys on both paths (decisions 109)", async () => {
    const init = fixtureInit();
    init.data.customer = loggedInCustomer({
      id: "gid://shopify/Customer/987654",
      email: "Logged.In@Example.com",
    });
    const px = await pixel(init);
    await publish(px, "page_viewed", pageViewed());
    await publish(px, "product_viewed", productViewed());
    await publish(px, "product_added_to_cart", productAddedToCart());
    const em = normalizeAndHash("em", "Logged.In@Example.com");
    const externalId = normalizeAndHash("external_id", "987654");
    for (const m of px.metaRequests()) {
      expect(m.params.get("ud[em]")).toBe(em);
      expect(m.params.get("ud[external_id]")).toBe(externalId);
    }
    for (const e of await serverEvents(px, 3)) {
      expect(e.user_data.em, e.event_name).toEqual([em]);
      expect(e.user_data.external_id, e.event_name).toEqual([externalId]);
    }
  });

  it("links nothing for a shopper who refused marketing", async () => {
    const clientId = `refuser-${Date.now()}`;
    const id = 6_500_000_000_000 + (Date.now() % 1_000_000);
    const now = new Date().toISOString();
    const order = makeOrder({
      id,
      admin_graphql_api_id: `gid://shopify/Order/${id}`,
      checkout_token: `ck${id}refused`,
      created_at: now,
      processed_at: now,
    });
    const refused = await pixel(
      fixtureInit({ customerPrivacy: CONSENT_DENIED }),
    );
    for (const step of purchaseJourney({
      token: order.checkout_token,
      orderId: `gid://shopify/OrderIdentity/${id}`,
    }))
      await publish(refused, step.name, { ...step.event, clientId });
    expect(refused.metaRequests()).toHaveLength(0);
    const webhook = await orderWebhook(s, order);
    expect(webhook.body.status).toBe("suppressed");
    expect(await s.app.db.shopperLink.count({ where: { clientId } })).toBe(0);

    // The same browser later allows marketing: its events carry no shopper.
    const later = await pixel();
    await publish(later, "page_viewed", { ...pageViewed(), clientId });
    await publish(later, "product_viewed", { ...productViewed(), clientId });
    for (const e of await serverEvents(later, 2)) {
      expect(e.user_data.em, e.event_name).toBeUndefined();
      expect(e.user_data.external_id, e.event_name).toBeUndefined();
    }
  });

  async function pixel(init = fixtureInit()): Promise<PixelSandbox> {
    const key = (
      await s.app.db.shop.findUniqueOrThrow({ where: { domain: s.shop } })
    ).ingestKey;
    init.data.shop.myshopifyDomain = s.shop;
    return startPixel({
      settings: fixtureSettings({
        pixelId: PIXEL,
        ingestUrl: `${s.app.url}/ingest`,
        shopKey: key,
      }),
      init,
    });
  }

  /** Publishes an event and forwards the pixel's new posts to the app, as its fetch sends them. */
  async function publish(
    px: PixelSandbox,
    name: string,
    event: unknown,
  ): Promise<void> {
    const before = px.appPosts().length;
    await px.publish(name, event);
    for (const p of px.appPosts().slice(before)) {
      const res = await fetch(p.url, {
        method: p.init.method ?? "POST",
        body: p.body,
        keepalive: p.init.keepalive,
      });
      expect(res.status, `${name}: ${await res.clone().text()}`).toBe(202);
    }
  }

  /** The server copies of the events the pixel posted (Meta's fake got them). */
  function serverEvents(px: PixelSandbox, count: number) {
    const ids = new Set(
      px.appPosts().flatMap((p) => {
        const body = JSON.parse(p.body) as { event?: { event_id: string } };
        return body.event ? [body.event.event_id] : [];
      }),
    );
    return eventually(
      () => {
        const got = s.graph.eventsReceived().filter((e) => ids.has(e.event_id));
        return got.length >= count ? got : null;
      },
      15_000,
      "the server copies",
    );
  }
});
