import { estimateMatchQuality, matchKeysOf } from "../app/core/insights";
import type { CapiEvent } from "../app/core/wire";
import { API_SECRET, eventually, startApp } from "../test/support/app";
import { startFakeGraph } from "../test/support/fakeGraph";
import { startPixel } from "../test/support/pixelSandbox";
import { sendWebhook } from "../test/support/shopifyWebhook";
import {
  FIXTURE_STOREFRONT,
  FIXTURE_USER_AGENT,
  fixtureInit,
  fixtureSettings,
  loggedInCustomer,
  purchaseJourney,
} from "../test/fixtures/pixelEvents";
import {
  benchDb,
  benchOrder,
  connectBenchShop,
  emit,
  PIXEL,
  progress,
} from "./lib";

// Estimated match quality per event (issue 16): the demo journey (landing from an ad, a product, the cart, the
// checkout, the order) run twice through the real web pixel bundle, by an anonymous visitor and by a returning
// customer who logs in, each with its own browser. The events Meta received are scored one by one with the admin's
// model (app/core/insights/matchQuality.ts: each match key's points when the event carries it). Targets for the
// known customer: every browsing event >= 7, the Purchase >= 8; the anonymous visitor's figures have none (they
// show what an unknown browser's events can carry).

const BROWSING = new Set(["PageView", "ViewContent", "AddToCart"]);

export async function benchQuality(): Promise<void> {
  const graph = await startFakeGraph({ acceptAnyPixel: true });
  const app = await startApp({
    db: benchDb(),
    graphUrl: graph.url,
    // The visitor's public address comes from the proxy, as in production; the hold waits for the browser.
    env: { TRUST_PROXY_HOPS: "1", PURCHASE_HOLD_SECONDS: "60" },
  });
  try {
    const shop = "bench-quality.myshopify.com";
    await connectBenchShop(app, graph.url, shop);
    const { ingestKey } = await app.db.shop.findUniqueOrThrow({
      where: { domain: shop },
    });
    const visitors = [
      { name: "anonymous", customer: null },
      // The order's own customer, logged in: the same e-mail and customer id as its orders carry.
      { name: "known", customer: loggedInCustomer() },
    ];
    for (const [n, visitor] of visitors.entries()) {
      progress(`quality: the journey of the ${visitor.name} visitor`);
      const order = benchOrder(n, 9_300_000_000_000);
      if (visitor.customer) {
        visitor.customer.email = order.email;
        visitor.customer.id = `gid://shopify/Customer/${order.customer.id}`;
      }
      const landing = `${FIXTURE_STOREFRONT}/?fbclid=QualityClick_${n}`;
      const init = fixtureInit({ href: landing });
      init.data.shop.myshopifyDomain = shop;
      init.data.customer = visitor.customer;
      const pixel = await startPixel({
        settings: fixtureSettings({
          pixelId: PIXEL,
          ingestUrl: `${app.url}/ingest`,
          shopKey: ingestKey,
        }),
        init,
      });
      const clientId = `quality-${visitor.name}`;
      for (const step of purchaseJourney({
        token: order.checkout_token,
        orderId: `gid://shopify/OrderIdentity/${order.id}`,
        landingHref: landing,
      })) {
        const before = pixel.appPosts().length;
        await pixel.publish(step.name, { ...step.event, clientId });
        for (const post of pixel.appPosts().slice(before)) {
          const res = await fetch(post.url, {
            method: "POST",
            body: post.body,
            headers: {
              "User-Agent": FIXTURE_USER_AGENT,
              "X-Forwarded-For": `203.0.113.${10 + n}`,
            },
          });
          if (res.status !== 202)
            throw new Error(`quality: ${step.name} answered ${res.status}`);
        }
      }
      const res = await sendWebhook(app.url, {
        topic: "orders/paid",
        shop,
        body: order,
        secret: API_SECRET,
      });
      if (res.status !== 200)
        throw new Error(`quality: the order answered ${res.status}`);
      const ids = new Set([
        ...pixel.appPosts().flatMap((p) => {
          const body = JSON.parse(p.body) as { event?: { event_id: string } };
          return body.event ? [body.event.event_id] : [];
        }),
      ]);
      const received = await eventually(
        () => {
          const got = graph.eventsReceived().filter((e) => ids.has(e.event_id));
          return got.length >= ids.size ? got : null;
        },
        30_000,
        `the ${visitor.name} visitor's ${ids.size} events at the fake Graph API`,
      );
      for (const event of received) scoreOf(visitor.name, event);
    }
  } finally {
    await app.close();
    await graph.close();
  }
}

function scoreOf(visitor: string, event: CapiEvent): void {
  const keys = matchKeysOf(event.user_data);
  const { score } = estimateMatchQuality(
    Object.fromEntries(keys.map((key) => [key, 1])),
  );
  const target =
    visitor !== "known"
      ? undefined
      : event.event_name === "Purchase"
        ? { atLeast: 8 }
        : BROWSING.has(event.event_name)
          ? { atLeast: 7 }
          : undefined;
  emit(
    `match_quality_${visitor}_${event.event_name}`,
    score,
    "of 10",
    target,
    keys.join(" "),
  );
}
