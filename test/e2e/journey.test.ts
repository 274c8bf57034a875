import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { normalizeAndHash } from "../../app/capi/normalize";
import { makeOrder } from "../fixtures/order";
import { FIXTURE_STOREFRONT, fixtureInit, fixtureSettings, purchaseJourney } from "../fixtures/pixelEvents";
import { databaseKinds, eventually } from "../support/app";
import { startPixel } from "../support/pixelSandbox";
import { connectedShop, orderWebhook, PIXEL, type Scenario } from "../support/scenario";

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
    const key = (await s.app.db.shop.findUniqueOrThrow({ where: { domain: s.shop } })).ingestKey;
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
    const init = fixtureInit({ href: landing });
    init.data.shop.myshopifyDomain = s.shop;
    const px = await startPixel({
      settings: fixtureSettings({ pixelId: PIXEL, ingestUrl: `${s.app.url}/ingest`, shopKey: key }),
      init,
    });

    let forwarded = 0;
    for (const step of purchaseJourney({ token: order.checkout_token, orderId: `gid://shopify/OrderIdentity/${id}`, landingHref: landing })) {
      await px.publish(step.name, step.event);
      for (const p of px.appPosts().slice(forwarded)) {
        forwarded++;
        const res = await fetch(p.url, { method: p.init.method ?? "POST", body: p.body, keepalive: p.init.keepalive });
        expect(res.status, `${step.name}: ${await res.clone().text()}`).toBe(202);
      }
    }
    expect(forwarded).toBe(6);

    const webhook = await orderWebhook(s, order);
    expect(webhook.body).toMatchObject({ outcome: "accepted", status: "pending" });

    const browser = px.metaRequests().map((r) => ({ name: r.params.get("ev"), id: r.params.get("eid") }));
    expect(browser.map((b) => b.name)).toEqual(["PageView", "ViewContent", "AddToCart", "InitiateCheckout", "AddPaymentInfo", "Purchase"]);
    const server = await eventually(() => {
      const ids = new Set(browser.map((b) => b.id));
      const got = s.graph.eventsReceived().filter((e) => ids.has(e.event_id));
      return got.length >= browser.length ? got : null;
    }, 15_000, "the six server events");
    expect(server.map((e) => ({ name: e.event_name, id: e.event_id })).sort((a, b) => a.id!.localeCompare(b.id!))).toEqual(
      [...browser].sort((a, b) => a.id!.localeCompare(b.id!)),
    );
    expect(new Set(browser.map((b) => b.id)).size).toBe(6);

    const purchase = server.find((e) => e.event_name === "Purchase")!;
    expect(purchase.event_id).toBe(`purchase_${id}`);
    // The order's customer data, hashed...
    expect(purchase.user_data.em).toEqual([normalizeAndHash("em", order.email)]);
    expect(purchase.user_data.ph).toContain(normalizeAndHash("ph", order.phone));
    expect(purchase.user_data.external_id).toEqual([normalizeAndHash("external_id", String(order.customer.id))]);
    // ... and the browser's cookies, as the pixel created them on this visit.
    const fbp = px.cookies.get("_fbp");
    const fbc = px.cookies.get("_fbc");
    expect(fbp).toMatch(/^fb\.1\.\d{13}\.\d+$/);
    expect(fbc).toMatch(/^fb\.1\.\d{13}\.JourneyClick_9xYz-42$/);
    expect(purchase.user_data.fbp).toBe(fbp);
    expect(purchase.user_data.fbc).toBe(fbc);
    expect(purchase.custom_data).toMatchObject({ value: Number(order.total_price_set.presentment_money.amount), currency: order.presentment_currency });
    for (const e of server) expect(e.user_data.fbp, e.event_name).toBe(fbp);
  });
});
