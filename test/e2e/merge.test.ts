import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CapiEvent } from "../../app/core/wire/metaEvent";
import { normalizeAndHash } from "../../app/core/intake/normalize";
import { makeOrder } from "../fixtures/order";
import {
  CONSENT_DENIED,
  checkoutCompleted,
  checkoutStarted,
  FIXTURE_STOREFRONT,
  fixtureInit,
  fixtureSettings,
  pageViewed,
} from "../fixtures/pixelEvents";
import { databaseKinds, eventually } from "../support/app";
import { startPixel, type PixelSandbox } from "../support/pixelSandbox";
import {
  connectedShop,
  orderWebhook,
  PIXEL,
  type Scenario,
} from "../support/scenario";

// Issue 4, the Purchase merge, end to end: the real bundled pixel's checkout_completed (posted to /ingest as a
// browser would, through one load balancer) and the signed order webhook, in either order, against the production
// build. The webhook owns value, currency and contents; the browser adds fbp, fbc, IP, user agent, consent and URL.

const HOLD_SECONDS = 3;
const BROWSER_IP = "198.51.100.77";
const BROWSER_UA =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0";
const BROWSER_FBP = "fb.1.1764000000000.1357924680";
const BROWSER_FBC = "fb.1.1764000000000.BrowserClick_AbC-123";

let seq = 0;
function freshOrder(overrides: Record<string, unknown> = {}) {
  const id = 6_300_000_000_000 + (Date.now() % 1_000_000) * 100 + ++seq;
  const now = new Date().toISOString();
  return makeOrder({
    id,
    admin_graphql_api_id: `gid://shopify/Order/${id}`,
    name: `#${3000 + seq}`,
    checkout_token: `ck${randomUUID().replace(/-/g, "")}`,
    created_at: now,
    processed_at: now,
    ...overrides,
  });
}
type Order = ReturnType<typeof freshOrder>;

// Each test has orders of its own, so they run side by side (each waits out a hold of a few seconds).
describe.concurrent.each(databaseKinds())("purchase merge on %s", (kind) => {
  let s: Scenario;
  let key: string;

  beforeAll(async () => {
    s = await connectedShop(kind, {
      env: {
        PURCHASE_HOLD_SECONDS: String(HOLD_SECONDS),
        TRUST_PROXY_HOPS: "1",
      },
    });
    key = (await s.app.db.shop.findUniqueOrThrow({ where: { domain: s.shop } }))
      .ingestKey;
  });
  afterAll(async () => {
    await s?.close();
  });

  /** The bundled pixel on this shop's storefront, with Meta's cookies already set by an earlier visit. */
  async function pixel(): Promise<
    PixelSandbox & { forward(): Promise<Record<string, unknown>[]> }
  > {
    const init = fixtureInit();
    init.data.shop.myshopifyDomain = s.shop;
    const px = await startPixel({
      settings: fixtureSettings({
        pixelId: PIXEL,
        ingestUrl: `${s.app.url}/ingest`,
        shopKey: key,
      }),
      init,
      cookies: { _fbp: BROWSER_FBP, _fbc: BROWSER_FBC },
    });
    let forwarded = 0;
    return Object.assign(px, {
      /** Sends the pixel's new posts to the app as the browser would, through the load balancer. */
      async forward() {
        const answers = [];
        for (const p of px.appPosts().slice(forwarded)) {
          forwarded++;
          const res = await fetch(p.url, {
            method: "POST",
            body: p.body,
            headers: {
              "User-Agent": BROWSER_UA,
              "X-Forwarded-For": BROWSER_IP,
            },
          });
          expect(res.status, await res.clone().text()).toBe(202);
          answers.push((await res.json()) as Record<string, unknown>);
        }
        return answers;
      },
    });
  }

  const thankYou = (order: Order) =>
    checkoutCompleted({
      token: order.checkout_token,
      orderId: `gid://shopify/OrderIdentity/${order.id}`,
    });

  /** A forger's post: it knows the order id (guessable) but not the checkout token. */
  async function forgedPurchase(order: Order, checkoutToken: string) {
    const res = await fetch(`${s.app.url}/ingest`, {
      method: "POST",
      headers: { "User-Agent": "curl/8.0", "X-Forwarded-For": "192.0.2.66" },
      body: JSON.stringify({
        v: 1,
        kind: "event",
        shop: s.shop,
        key,
        event: {
          event_name: "Purchase",
          event_id: `purchase_${order.id}`,
          event_time: Math.floor(Date.now() / 1000),
          event_source_url: "https://forger.example/thank-you",
          fbp: "fb.1.1764000000000.666",
          fbc: "fb.1.1764000000000.forged",
          consent: { marketingAllowed: true },
          checkout_token: checkoutToken,
          order_id: String(order.id),
          custom_data: {
            value: 999_999,
            currency: "USD",
            contents: [{ id: "1", quantity: 500, item_price: 1999.98 }],
          },
        },
      }),
    });
    expect(res.status).toBe(202);
    return (await res.json()) as Record<string, unknown>;
  }

  const sent = (eventId: string, timeoutMs = 10_000) =>
    eventually(
      () =>
        s.graph
          .eventRequests()
          .find((r) => r.events.some((e) => e.event_id === eventId)),
      timeoutMs,
      `${eventId} at the Graph API`,
    ).then((req) => ({
      event: req.events.find((e) => e.event_id === eventId)!,
      at: req.time,
    }));
  const timesSent = (eventId: string) =>
    s.graph.eventsReceived().filter((e) => e.event_id === eventId).length;
  const row = (eventId: string) =>
    s.app.db.outboxEvent.findFirstOrThrow({
      where: { eventName: "Purchase", eventId },
    });

  /** After the dispatcher has had time for everything due, a fresh browser event goes out: anything not sent by then was held back on purpose. */
  async function dispatcherPassedAfter(time: Date | null) {
    if (time)
      await new Promise((r) =>
        setTimeout(r, Math.max(0, time.getTime() - Date.now()) + 1_200),
      );
    const eventId = `sh-${randomUUID()}`;
    await fetch(`${s.app.url}/ingest`, {
      method: "POST",
      headers: { "X-Forwarded-For": "203.0.113.5" },
      body: JSON.stringify({
        v: 1,
        kind: "event",
        shop: s.shop,
        key,
        event: {
          event_name: "PageView",
          event_id: eventId,
          event_time: Math.floor(Date.now() / 1000),
          event_source_url: "https://demo-store.example/",
          consent: { marketingAllowed: true },
        },
      }),
    });
    await sent(eventId);
  }

  /** The order's own money and items: the only source of a Purchase's value. */
  function expectOrderMoney(event: CapiEvent, order: Order) {
    expect(event.custom_data).toMatchObject({
      value: Number(order.total_price_set.presentment_money.amount),
      currency: order.presentment_currency,
      order_id: String(order.id),
    });
    const items = order.line_items.filter((li) => li.variant_id !== null);
    expect(event.custom_data!.contents).toEqual(
      items.map((li) => ({
        id: String(li.variant_id),
        quantity: li.quantity,
        item_price: Number(li.price_set.presentment_money.amount),
      })),
    );
  }

  function expectBrowserContext(event: CapiEvent) {
    expect(event.user_data).toMatchObject({
      fbp: BROWSER_FBP,
      fbc: BROWSER_FBC,
      client_ip_address: BROWSER_IP,
      client_user_agent: BROWSER_UA,
    });
    // The browser's page (the thank-you page, in its safe form: decisions 36), not the order's.
    expect(event.event_source_url).toBe(`${FIXTURE_STOREFRONT}/`);
  }

  it("(a) browser first: the Purchase goes at once with the browser's context, the webhook's money, exactly once, under the pixel's event_id", async () => {
    const order = freshOrder();
    const px = await pixel();
    await px.publish("checkout_completed", thankYou(order));
    const eid = px
      .metaRequests()
      .find((r) => r.params.get("ev") === "Purchase")!
      .params.get("eid");
    expect(eid).toBe(`purchase_${order.id}`);
    expect(await px.forward()).toEqual([{ outcome: "context_stored" }]);
    expect(await s.app.db.outboxEvent.count({ where: { eventId: eid! } })).toBe(
      0,
    );

    const t0 = Date.now();
    const res = await orderWebhook(s, order);
    expect(res.body).toMatchObject({ outcome: "accepted", status: "pending" });
    const { event, at } = await sent(eid!);
    expect(at - t0).toBeLessThan(HOLD_SECONDS * 1000);
    expect(event.event_name).toBe("Purchase");
    expectOrderMoney(event, order);
    expectBrowserContext(event);
    expect(event.user_data.em).toEqual([normalizeAndHash("em", order.email)]);

    await dispatcherPassedAfter(null);
    expect(timesSent(eid!)).toBe(1);
    const stored = await row(eid!);
    expect(stored.browserSeenAt).not.toBeNull();
    const ctx = await s.app.db.browserContext.findFirstOrThrow({
      where: { checkoutToken: order.checkout_token },
    });
    expect(ctx).toMatchObject({ clientIp: null, clientUserAgent: null });
    expect(ctx.usedAt).not.toBeNull();
  });

  it("(b) webhook first: the Purchase waits, and goes as soon as the browser's context arrives, with it", async () => {
    const order = freshOrder();
    const res = await orderWebhook(s, order);
    expect(res.body).toMatchObject({ outcome: "accepted", status: "held" });
    const eid = `purchase_${order.id}`;
    const held = await row(eid);
    expect(held.holdUntil!.getTime()).toBeGreaterThan(Date.now());

    const px = await pixel();
    await px.publish("checkout_completed", thankYou(order));
    expect(px.metaRequests().map((r) => r.params.get("eid"))).toEqual([eid]);
    expect(await px.forward()).toEqual([{ outcome: "context_merged" }]);
    const { event, at } = await sent(eid);
    expect(at).toBeLessThan(held.holdUntil!.getTime());
    expectOrderMoney(event, order);
    expectBrowserContext(event);
    await dispatcherPassedAfter(held.holdUntil);
    expect(timesSent(eid)).toBe(1);
    expect((await row(eid)).browserSeenAt).not.toBeNull();
  });

  it("(c) context never arrives: the Purchase goes after the hold with the order's own data", async () => {
    const order = freshOrder();
    expect((await orderWebhook(s, order)).body).toMatchObject({
      status: "held",
    });
    const eid = `purchase_${order.id}`;
    const held = await row(eid);
    const { event, at } = await sent(eid, (HOLD_SECONDS + 5) * 1000);
    expect(at).toBeGreaterThanOrEqual(held.holdUntil!.getTime());
    expectOrderMoney(event, order);
    // What the order itself carried: the theme's _fbp note attribute, the ad click in landing_site, the checkout's IP/UA.
    expect(event.user_data.fbp).toBe(
      order.note_attributes.find((a) => a.name === "_fbp")!.value,
    );
    expect(event.user_data.fbc).toMatch(/^fb\.1\.\d+\.IwAR2xY_AbCdEf-9Zk1Lq$/);
    expect(event.user_data.client_ip_address).toBe(
      order.client_details.browser_ip,
    );
    expect(event.user_data.client_user_agent).toBe(
      order.client_details.user_agent,
    );
    expect((await row(eid)).browserSeenAt).toBeNull();
  });

  it("(d) context after the send is recorded for the dedup figure and not sent twice", async () => {
    const order = freshOrder();
    await orderWebhook(s, order);
    const eid = `purchase_${order.id}`;
    await sent(eid, (HOLD_SECONDS + 5) * 1000);
    await eventually(async () => (await row(eid)).status === "sent");

    const px = await pixel();
    await px.publish("checkout_completed", thankYou(order));
    expect(await px.forward()).toEqual([{ outcome: "context_late" }]);
    const after = await row(eid);
    expect(after.status).toBe("sent");
    expect(after.browserSeenAt).not.toBeNull();
    expect(after.clientIp).toBeNull();
    // The late context's raw IP and user agent are of no use: not kept.
    expect(
      await s.app.db.browserContext.findFirstOrThrow({
        where: { checkoutToken: order.checkout_token },
      }),
    ).toMatchObject({ clientIp: null, clientUserAgent: null });
    await dispatcherPassedAfter(null);
    expect(timesSent(eid)).toBe(1);
  });

  it("(e) a forged browser Purchase never merges without the checkout token, and never changes the value", async () => {
    const guessed = freshOrder();
    const known = freshOrder();
    await orderWebhook(s, guessed);
    await orderWebhook(s, known);
    const guessedEid = `purchase_${guessed.id}`;
    const knownEid = `purchase_${known.id}`;
    const before = await row(guessedEid);

    // The forger knows the order id but not the checkout token: its context joins nothing.
    expect(
      await forgedPurchase(guessed, `ck${randomUUID().replace(/-/g, "")}`),
    ).toEqual({ outcome: "context_stored" });
    const untouched = await row(guessedEid);
    expect(untouched).toMatchObject({
      status: "held",
      payload: before.payload,
      clientIp: before.clientIp,
      clientUserAgent: before.clientUserAgent,
    });
    expect(untouched.browserSeenAt).toBeNull();
    // Even with the real checkout token, the browser adds context only: the value stays the webhook's.
    expect(await forgedPurchase(known, known.checkout_token)).toEqual({
      outcome: "context_merged",
    });

    const knownSent = await sent(knownEid);
    expectOrderMoney(knownSent.event, known);
    const guessedSent = await sent(guessedEid, (HOLD_SECONDS + 5) * 1000);
    expectOrderMoney(guessedSent.event, guessed);
    expect(guessedSent.event.user_data.fbp).toBe(
      guessed.note_attributes.find((a) => a.name === "_fbp")!.value,
    );
    expect(guessedSent.event.user_data.client_ip_address).toBe(
      guessed.client_details.browser_ip,
    );
    expect(guessedSent.event.event_source_url).not.toContain("forger.example");
    for (const e of s.graph.eventsReceived())
      expect(e.custom_data?.value).not.toBe(999_999);
  });

  it("(f) a consent update denying marketing before the webhook suppresses the Purchase", async () => {
    const order = freshOrder();
    const px = await pixel();
    await px.publish(
      "checkout_started",
      checkoutStarted({ token: order.checkout_token }),
    );
    await px.setConsent(CONSENT_DENIED);
    const answers = await px.forward();
    expect(answers.at(-1)).toEqual({ outcome: "consent_recorded" });

    const res = await orderWebhook(s, order);
    expect(res.body).toMatchObject({
      outcome: "accepted",
      status: "suppressed",
      reason: "no_marketing_consent",
    });
    const eid = `purchase_${order.id}`;
    expect(await row(eid)).toMatchObject({
      status: "suppressed",
      suppressReason: "no_marketing_consent",
      clientIp: null,
      clientUserAgent: null,
    });
    await dispatcherPassedAfter(null);
    expect(timesSent(eid)).toBe(0);
  });

  it("(f) a consent update denying marketing while the Purchase waits suppresses it when the hold ends", async () => {
    const order = freshOrder();
    await orderWebhook(s, order);
    const eid = `purchase_${order.id}`;
    const held = await row(eid);
    const res = await fetch(`${s.app.url}/ingest`, {
      method: "POST",
      headers: { "X-Forwarded-For": BROWSER_IP },
      body: JSON.stringify({
        v: 1,
        kind: "consent",
        shop: s.shop,
        key,
        checkout_token: order.checkout_token,
        consent: { marketingAllowed: false },
      }),
    });
    expect(await res.json()).toEqual({ outcome: "consent_recorded" });
    const final = await eventually(
      async () => {
        const r = await row(eid);
        return r.status === "held" ? null : r;
      },
      (HOLD_SECONDS + 5) * 1000,
    );
    expect(final).toMatchObject({
      status: "suppressed",
      suppressReason: "no_marketing_consent",
      clientIp: null,
    });
    await dispatcherPassedAfter(held.holdUntil);
    expect(timesSent(eid)).toBe(0);
  });

  it("(g) orders/cancelled drops a Purchase that is still held", async () => {
    const order = freshOrder();
    await orderWebhook(s, order);
    const eid = `purchase_${order.id}`;
    const held = await row(eid);
    const cancelled = await orderWebhook(
      s,
      {
        ...order,
        cancelled_at: new Date().toISOString(),
        cancel_reason: "customer",
      },
      { topic: "orders/cancelled" },
    );
    expect(cancelled.body.outcome).toBe("accepted");
    expect(await row(eid)).toMatchObject({
      status: "suppressed",
      suppressReason: "order_cancelled",
      clientIp: null,
      clientUserAgent: null,
    });

    // The thank-you page reporting afterwards changes nothing.
    const px = await pixel();
    await px.publish("checkout_completed", thankYou(order));
    expect(await px.forward()).toEqual([{ outcome: "context_late" }]);
    await dispatcherPassedAfter(held.holdUntil);
    expect(timesSent(eid)).toBe(0);
    expect((await row(eid)).status).toBe("suppressed");
  });

  it("an order without a checkout token (POS, draft) has no browser context to wait for: it goes at once", async () => {
    const order = freshOrder({ checkout_token: null, source_name: "pos" });
    expect((await orderWebhook(s, order)).body).toMatchObject({
      outcome: "accepted",
      status: "pending",
    });
    const { event } = await sent(`purchase_${order.id}`);
    expectOrderMoney(event, order);
  });

  it("context from the checkout steps lets the Purchase go at once; only the pixel's own Purchase counts for the dedup figure", async () => {
    const order = freshOrder();
    const px = await pixel();
    // The checkout page's view first: only a browser seen on a page view has its other events sent (decisions 39).
    await px.publish("page_viewed", pageViewed());
    await px.publish(
      "checkout_started",
      checkoutStarted({ token: order.checkout_token }),
    );
    expect((await px.forward()).map((a) => a.outcome)).toEqual([
      "accepted",
      "accepted",
    ]);

    const res = await orderWebhook(s, order);
    expect(res.body).toMatchObject({ status: "pending" });
    const eid = `purchase_${order.id}`;
    const { event } = await sent(eid);
    expect(event.user_data).toMatchObject({
      fbp: BROWSER_FBP,
      fbc: BROWSER_FBC,
      client_ip_address: BROWSER_IP,
      client_user_agent: BROWSER_UA,
    });
    expectOrderMoney(event, order);
    // The pixel has not sent its Purchase to Meta (yet): nothing to deduplicate against.
    expect((await row(eid)).browserSeenAt).toBeNull();

    await px.publish("checkout_completed", thankYou(order));
    expect(await px.forward()).toEqual([{ outcome: "context_late" }]);
    expect((await row(eid)).browserSeenAt).not.toBeNull();
    await dispatcherPassedAfter(null);
    expect(timesSent(eid)).toBe(1);
  });
});
