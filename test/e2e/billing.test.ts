import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FREE_PLAN } from "../../app/core/plans";
import {
  API_SECRET,
  databaseKinds,
  eventually,
  startApp,
  type TestApp,
} from "../support/app";
import { startFakeGraph, type FakeGraph } from "../support/fakeGraph";
import { startFakeShopify, type FakeShopify } from "../support/fakeShopify";
import { adminData, adminPage } from "../support/shopifyAdmin";
import { sendWebhook } from "../support/shopifyWebhook";
import { makeOrder } from "../fixtures/order";
import { SAMPLE_APP_SUBSCRIPTION } from "../fixtures/shopifyWebhooks";
import { runOps } from "../support/opsCli";

// Plans through Shopify Billing (issue 18, decisions 118-121), against the fake Admin GraphQL API: a subscription
// created (the merchant sent to Shopify's confirmation page), confirmed, replaced, cancelled; the free plan's
// monthly limit reached (every order still recorded and sent, the merchant asked to upgrade); Shopify's
// app_subscriptions/update webhooks recorded and followed without asking Shopify (decisions 141).

const PIXEL = "441122334455667";
const TOKEN = "EAAGbillingTOKEN0123456789abcdefXYZ";
const REAUTHORIZE = "X-Shopify-API-Request-Failure-Reauthorize-Url";

describe.each(databaseKinds())("plans and Shopify Billing on %s", (kind) => {
  let graph: FakeGraph;
  let shopify: FakeShopify;
  let app: TestApp;
  const SHOP = `billing-${kind.slice(0, 2)}-${Date.now().toString(36)}.myshopify.com`;

  beforeAll(async () => {
    [graph, shopify] = await Promise.all([
      startFakeGraph(),
      startFakeShopify(),
    ]);
    graph.addPixel(PIXEL, { name: "Billing Pixel", token: TOKEN });
    app = await startApp({
      db: kind,
      graphUrl: graph.url,
      env: { ...shopify.env, SHOPIFY_BILLING_TEST: "true" },
    });
    // Installed as Shopify's admin does it: token exchange on the first embedded load.
    const page = await adminPage(app.url, "/app/plans", SHOP);
    expect(page.status, await page.text()).toBe(200);
  });
  afterAll(async () => {
    await app?.close();
    await graph?.close();
    await shopify?.close();
  });

  const plansData = async () => {
    const res = await adminData(
      app.url,
      "/app/plans",
      "routes/app.plans",
      SHOP,
    );
    expect(res.status).toBe(200);
    return (await res.json()).usage;
  };
  const homeData = async () => {
    const res = await adminData(app.url, "/app", "routes/app._index", SHOP);
    expect(res.status).toBe(200);
    return (await res.json()).plan;
  };
  const choose = (plan: string) =>
    adminData(app.url, "/app/plans", "routes/app.plans", SHOP, { plan });
  const subscriptionOps = () =>
    shopify.adminCalls
      .filter(
        (c) => c.shop === SHOP && /Subscription|Installation/.test(c.operation),
      )
      .map((c) => c.operation);

  it("starts on the free plan, asking Shopify nothing on the home page within its limit", async () => {
    expect(await plansData()).toMatchObject({
      plan: { name: "Free" },
      orders: 0,
      overLimit: false,
    });
    const before = subscriptionOps().length;
    expect(await homeData()).toMatchObject({ overLimit: false });
    expect(subscriptionOps()).toHaveLength(before);
  });

  it("past the free plan's monthly orders: the order is recorded and sent, and the merchant is asked to upgrade", async () => {
    const connected = await adminData(
      app.url,
      "/app/connect",
      "routes/app.connect",
      SHOP,
      {
        pixelId: PIXEL,
        accessToken: TOKEN,
      },
    );
    expect((await connected.json()).result).toMatchObject({ ok: true });
    const shop = await app.db.shop.findUniqueOrThrow({
      where: { domain: SHOP },
    });
    // The month's orders so far, up to the limit (sent earlier this month), and a test order, which does not count.
    const now = new Date();
    await app.db.outboxEvent.createMany({
      data: Array.from({ length: FREE_PLAN.monthlyOrders! + 1 }, (_, i) => ({
        shopId: shop.id,
        eventName: "Purchase",
        eventId: `seeded-${i}`,
        source: "webhook",
        status: i === 0 ? "suppressed" : "sent",
        suppressReason: i === 0 ? "test_order" : null,
        actionSource: "website",
        eventTime: now,
        payload: {},
        receivedAt: now,
      })),
    });
    expect(await homeData()).toMatchObject({ overLimit: false });

    const at = new Date().toISOString();
    const res = await sendWebhook(app.url, {
      topic: "orders/paid",
      shop: SHOP,
      body: makeOrder({ id: 990011, created_at: at, processed_at: at }),
      secret: API_SECRET,
    });
    expect(res.status).toBe(200);
    await eventually(
      () =>
        graph.requests.some((r) =>
          r.events.some((e) => e.event_name === "Purchase"),
        ),
      10_000,
      "the order past the limit sent to Meta",
    );
    const row = await app.db.outboxEvent.findFirstOrThrow({
      where: { shopId: shop.id, orderId: { not: null } },
    });
    expect(row.status).toBe("sent");

    const usage = {
      plan: { name: "Free" },
      orders: FREE_PLAN.monthlyOrders! + 1,
      overLimit: true,
      suggested: { name: "Growth" },
    };
    expect(await homeData()).toMatchObject(usage);
    expect(await plansData()).toMatchObject(usage);
    // Past the free limit the home page asks Shopify for the shop's plan, then trusts the answer for a while
    // (decisions 182): the next load asks nothing.
    expect(subscriptionOps()).toContain("currentAppInstallation");
    const asked = subscriptionOps().length;
    expect(await homeData()).toMatchObject(usage);
    expect(subscriptionOps()).toHaveLength(asked);
    const home = await adminPage(app.url, "/app", SHOP);
    expect(await home.text()).toContain("past your Free plan");
  });

  it("choosing a plan creates a test subscription and sends the merchant to Shopify's confirmation page", async () => {
    const res = await choose("Growth");
    // A fetch from the embedded app: App Bridge follows this header out of the iframe.
    expect(res.status).toBe(401);
    const confirmationUrl = res.headers.get(REAUTHORIZE);
    expect(confirmationUrl).toMatch(
      new RegExp(`^https://${SHOP.replace(/\./g, "\\.")}/admin/charges/`),
    );
    expect(shopify.subscriptions).toHaveLength(1);
    expect(shopify.subscriptions[0]).toMatchObject({
      name: "Growth",
      status: "PENDING",
      test: true,
      returnUrl: expect.stringMatching(/\/apps\/[^/]+\/app\/plans$/),
      lineItems: [
        {
          plan: {
            pricingDetails: {
              interval: "EVERY_30_DAYS",
              price: { amount: "19", currencyCode: "USD" },
            },
          },
        },
      ],
    });
    // Not approved yet: still the free plan, still asked to upgrade.
    expect(await plansData()).toMatchObject({
      plan: { name: "Free" },
      overLimit: true,
    });
  });

  it("once the merchant confirms, the shop is on the plan and the banner is gone", async () => {
    const back = shopify.confirm(shopify.subscriptions[0].id);
    expect(new URL(back).searchParams.get("charge_id")).toBe(
      shopify.subscriptions[0].id.split("/").pop(),
    );
    expect(await plansData()).toMatchObject({
      plan: { name: "Growth" },
      overLimit: false,
      suggested: null,
    });
    expect(await homeData()).toMatchObject({ overLimit: false });
  });

  it("refuses the current plan and an unknown one, creating nothing", async () => {
    for (const [plan, error] of [
      ["Growth", /already on the Growth plan/],
      ["Platinum", /no plan named "Platinum"/],
    ] as const) {
      const res = await choose(plan);
      expect(res.status).toBe(200);
      expect((await res.json()).error).toMatch(error);
    }
    expect(shopify.subscriptions).toHaveLength(1);
  });

  it("upgrading replaces the subscription once confirmed", async () => {
    expect((await choose("Scale")).status).toBe(401);
    shopify.confirm(shopify.subscriptions[1].id);
    expect(shopify.subscriptions.map((s) => [s.name, s.status])).toEqual([
      ["Growth", "CANCELLED"],
      ["Scale", "ACTIVE"],
    ]);
    expect(await plansData()).toMatchObject({ plan: { name: "Scale" } });
  });

  it("switching to Free cancels the subscription: the limit applies again", async () => {
    const res = await choose("Free");
    expect(res.status).toBe(200);
    expect((await res.json()).error).toBeNull();
    expect(shopify.subscriptions[1].status).toBe("CANCELLED");
    expect(subscriptionOps()).toContain("appSubscriptionCancel");
    expect(await plansData()).toMatchObject({
      plan: { name: "Free" },
      overLimit: true,
    });
  });

  // Shopify's word on one subscription, signed like Shopify signs it; the answer's outcome and the receipt's.
  let deliveries = 0;
  const subscriptionUpdate = async (
    fields: Partial<(typeof SAMPLE_APP_SUBSCRIPTION)["app_subscription"]>,
    shop = SHOP,
  ) => {
    const webhookId = `sub-${kind}-${++deliveries}-${Date.now()}`;
    const res = await sendWebhook(app.url, {
      topic: "app_subscriptions/update",
      shop,
      webhookId,
      body: {
        app_subscription: {
          ...SAMPLE_APP_SUBSCRIPTION.app_subscription,
          admin_graphql_api_shop_id: `gid://shopify/Shop/${shopifyId}`,
          ...fields,
        },
      },
      secret: API_SECRET,
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { outcome: string; reason: string };
    const receipt = await app.db.webhookReceipt.findUniqueOrThrow({
      where: { webhookId },
    });
    expect(receipt).toMatchObject({
      topic: "app_subscriptions/update",
      outcome: body.outcome,
    });
    return body;
  };
  const showShop = async () => {
    const res = await runOps(app, ["show-shop", "--shop", SHOP]);
    expect(res.code, res.stderr).toBe(0);
    return JSON.parse(res.stdout).plan;
  };
  const growth = "gid://shopify/AppSubscription/4019281734";
  const scale = "gid://shopify/AppSubscription/4019281901";
  let shopifyId: string;

  it("app_subscriptions/update: the plan Shopify approves is known without asking Shopify", async () => {
    // Shopify's id of the shop, as install reads it from the Admin API (the fake's shop query does not answer it).
    shopifyId = "954889";
    await app.db.shop.update({ where: { domain: SHOP }, data: { shopifyId } });
    // Nothing recorded yet: the ops CLI says so, the home page asks Shopify (the Free plan, cancelled above).
    expect(await showShop()).toBeNull();

    expect(
      await subscriptionUpdate({
        admin_graphql_api_id: growth,
        name: "Growth",
        status: "ACTIVE",
        updated_at: "2026-11-02T09:14:41-05:00",
      }),
    ).toMatchObject({ outcome: "accepted" });
    expect(await showShop()).toEqual({
      name: "Growth",
      since: "2026-11-02T14:14:41.000Z",
    });
    const before = subscriptionOps().length;
    expect(await homeData()).toMatchObject({
      plan: { name: "Growth" },
      overLimit: false,
    });
    expect(subscriptionOps()).toHaveLength(before);
  });

  it("a plan change's deliveries in any order: the newer state of each subscription wins", async () => {
    // The upgrade: Scale approved, then Growth's cancellation, delivered after it; then a late, older Scale state.
    expect(
      await subscriptionUpdate({
        admin_graphql_api_id: scale,
        name: "Scale",
        status: "ACTIVE",
        updated_at: "2026-11-20T10:00:05Z",
      }),
    ).toMatchObject({ outcome: "accepted" });
    expect(
      await subscriptionUpdate({
        admin_graphql_api_id: growth,
        name: "Growth",
        status: "CANCELLED",
        updated_at: "2026-11-20T10:00:04Z",
      }),
    ).toMatchObject({ outcome: "accepted" });
    expect(
      await subscriptionUpdate({
        admin_graphql_api_id: scale,
        name: "Scale",
        status: "PENDING",
        updated_at: "2026-11-20T09:59:30Z",
      }),
    ).toMatchObject({
      outcome: "ignored",
      reason: "older than the subscription's recorded state",
    });
    expect(await showShop()).toMatchObject({ name: "Scale" });
    expect(await homeData()).toMatchObject({ plan: { name: "Scale" } });
  });

  it("a frozen, declined or expired subscription ends the plan at once: the month is measured against Free again", async () => {
    for (const status of ["FROZEN", "ACTIVE", "EXPIRED"]) {
      expect(
        await subscriptionUpdate({
          admin_graphql_api_id: scale,
          name: "Scale",
          status,
          updated_at: new Date().toISOString(),
        }),
      ).toMatchObject({ outcome: "accepted" });
      expect(await showShop()).toMatchObject({
        name: status === "ACTIVE" ? "Scale" : "Free",
      });
    }
    expect(
      await subscriptionUpdate({
        admin_graphql_api_id: "gid://shopify/AppSubscription/4019282000",
        name: "Growth",
        status: "DECLINED",
      }),
    ).toMatchObject({ outcome: "accepted" });
    const before = subscriptionOps().length;
    expect(await homeData()).toMatchObject({
      plan: { name: "Free" },
      overLimit: true,
      suggested: { name: "Growth" },
    });
    expect(subscriptionOps()).toHaveLength(before);
    const home = await adminPage(app.url, "/app", SHOP);
    expect(await home.text()).toContain("past your Free plan");
  });

  it("refuses, with a receipt, a body of another shop, one not in Shopify's shape and an unknown shop's", async () => {
    const at = new Date(Date.now() + 60_000).toISOString();
    const active = {
      admin_graphql_api_id: scale,
      name: "Scale",
      status: "ACTIVE",
      updated_at: at,
    };
    expect(
      await subscriptionUpdate({
        ...active,
        admin_graphql_api_shop_id: "gid://shopify/Shop/1",
      }),
    ).toMatchObject({
      outcome: "rejected",
      reason: "the body's admin_graphql_api_shop_id is another shop's",
    });
    expect(
      await subscriptionUpdate({ ...active, status: "PAUSED" }),
    ).toMatchObject({
      outcome: "rejected",
      reason: expect.stringMatching(
        /^invalid app_subscriptions\/update payload: app_subscription\.status/,
      ),
    });
    expect(
      await subscriptionUpdate({ ...active, updated_at: "yesterday" }),
    ).toMatchObject({ outcome: "rejected" });
    expect(
      await subscriptionUpdate(active, `nobody-${kind}.myshopify.com`),
    ).toMatchObject({
      outcome: "rejected",
      reason: "unknown shop: the app is not installed there",
    });
    // None of them changed the plan.
    expect(await showShop()).toMatchObject({ name: "Free" });
  });
});
