import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { databaseKinds, eventually } from "../support/app";
import {
  connectedShop,
  orderWebhook,
  type Scenario,
} from "../support/scenario";
import { adminData, SEEDED_TOKEN } from "../support/shopifyAdmin";
import { errorOf, jsonOf, runOps } from "../support/opsCli";
import { newCheckout, type Checkout } from "../support/checkout";
import {
  graphqlOrderOf,
  startFakeShopify,
  type FakeShopify,
} from "../support/fakeShopify";

// Webhooks that never arrive (decisions 76, 77): the shop's orders are read back from the fake Admin GraphQL API
// (real HTTPS, paginated, with a leaky bucket, THROTTLED answers and a 429), and every order whose webhook was
// dropped goes to the fake Graph API once, through the webhook's intake.

describe.each(databaseKinds())("reconciliation with Shopify on %s", (kind) => {
  let s: Scenario;
  let shopify: FakeShopify;
  let clock = 0;
  /** Each order a later updatedAt than the one before, as Shopify's index sorts them. */
  const nextUpdatedAt = () => new Date((clock += 1000)).toISOString();

  beforeAll(async () => {
    shopify = await startFakeShopify();
    const shop = `reconcile-${kind}-${Date.now().toString(36)}.myshopify.com`;
    shopify.tokens.set(shop, [SEEDED_TOKEN]);
    // The periodic run is off here: each test runs it through the ops CLI, except the last.
    s = await connectedShop(kind, {
      shop,
      env: { ...shopify.env, RECONCILE_INTERVAL_SECONDS: "0" },
    });
    clock = Date.now();
  });
  afterAll(async () => {
    await s?.close();
    await shopify?.close();
  });

  /** Orders placed in the shop; the webhook of those `delivered` arrives, the others' never does. */
  async function placeOrders(
    n: number,
    delivered: (i: number) => boolean,
    opts: { ageDays?: number; updatedAt?: () => string } = {},
  ) {
    const placed: Checkout[] = [];
    for (let i = 0; i < n; i++) {
      const c = newCheckout({ ageDays: opts.ageDays });
      const list = shopify.orders.get(s.shop) ?? [];
      list.push(
        graphqlOrderOf(c.order, {
          updatedAt: (opts.updatedAt ?? nextUpdatedAt)(),
        }),
      );
      shopify.orders.set(s.shop, list);
      if (delivered(i)) {
        const res = await orderWebhook(s, c.order);
        expect(res.body.outcome).toBe("accepted");
      }
      placed.push(c);
    }
    return placed;
  }

  const reconcile = (...args: string[]) =>
    runOps(s.app, ["reconcile", "--shop", s.shop, ...args], {
      env: shopify.env,
    });

  /** How many times each event id reached the fake Graph API. */
  const sentTimes = () => {
    const times = new Map<string, number>();
    for (const e of s.graph.eventsReceived())
      times.set(e.event_id!, (times.get(e.event_id!) ?? 0) + 1);
    return times;
  };
  const allSentOnce = (placed: Checkout[]) =>
    eventually(
      () => placed.every((c) => sentTimes().get(c.eventId) === 1),
      15_000,
      "every order's Purchase at Meta",
    );
  const shopRow = () =>
    s.app.db.shop.findUniqueOrThrow({ where: { domain: s.shop } });

  const placed: Checkout[] = [];

  it("recovers every dropped webhook, page by page, and sends nothing twice", async () => {
    placed.push(...(await placeOrders(25, (i) => i % 5 < 3)));
    await allSentOnce(placed.filter((_, i) => i % 5 < 3));

    const res = await reconcile();
    expect(res.code, res.stderr).toBe(0);
    const report = jsonOf(res);
    expect(report).toMatchObject({
      shop: s.shop,
      pages: 3,
      orders: 25,
      recovered: 10,
      alreadyReceived: 15,
      rejected: 0,
    });
    await allSentOnce(placed);
    const rows = await s.app.db.outboxEvent.findMany({
      where: { eventId: { in: placed.map((c) => c.eventId) } },
    });
    expect(rows.filter((r) => r.source === "reconciliation")).toHaveLength(10);
    expect(rows.filter((r) => r.source === "webhook")).toHaveLength(15);
    // The recovered Purchase is the webhook's: same value, currency and match keys.
    const recovered = s.graph
      .eventsReceived()
      .find((e) => e.event_id === placed[4].eventId)!;
    const delivered = s.graph
      .eventsReceived()
      .find((e) => e.event_id === placed[0].eventId)!;
    expect(recovered.custom_data).toMatchObject({
      value: delivered.custom_data!.value,
      currency: delivered.custom_data!.currency,
      order_id: placed[4].orderId,
    });
    const keys = (e: typeof recovered) =>
      Object.keys(e.user_data)
        .filter((k) => !["client_ip_address", "client_user_agent"].includes(k))
        .sort();
    expect(keys(recovered)).toEqual(keys(delivered));

    // Again: nothing new, nothing twice; and the webhook that finally arrives makes no second event.
    const again = jsonOf(await reconcile());
    expect(again).toMatchObject({ recovered: 0, alreadyReceived: 25 });
    const late = await orderWebhook(s, placed[4].order);
    expect(late.body.outcome).toBe("duplicate_event");
    await new Promise((r) => setTimeout(r, 500));
    expect([...sentTimes().values()].every((n) => n === 1)).toBe(true);
  });

  const home = async () => {
    const res = await adminData(s.app.url, "/app", "routes/app._index", s.shop);
    expect(res.status, await res.clone().text()).toBe(200);
    return (await res.json()) as {
      recon: {
        ordersReceived: number;
        recovered: number;
        shopify: { count: number | null; error?: string };
      };
    };
  };
  const countCalls = () =>
    shopify.adminCalls.filter(
      (c) => c.shop === s.shop && c.operation === "ordersCount",
    );

  it("the home page's Orders vs Meta counts against Shopify's ordersCount, with the recovered orders, asking Shopify once per few minutes", async () => {
    const before = countCalls().length;
    const d = await home();
    expect(d.recon).toMatchObject({
      ordersReceived: 25,
      recovered: 10,
      shopify: { count: 25 },
    });
    const call = countCalls().slice(before);
    expect(call).toHaveLength(1);
    expect(call[0].variables.query).toMatch(/^created_at:>='/);
    // The next load shows the count kept in the process: Shopify is not asked again.
    expect((await home()).recon.shopify.count).toBe(25);
    expect(countCalls()).toHaveLength(before + 1);
  });

  it("advances the watermark, and the next run starts from it less the overlap", async () => {
    const watermark = (await shopRow()).reconciledThrough!;
    const lastUpdated = shopify.orders.get(s.shop)!.at(-1)!.updatedAt;
    expect(watermark.getTime()).toBeGreaterThanOrEqual(Date.parse(lastUpdated));
    const before = shopify.adminCalls.length;
    // The overlap reads the last 10 minutes again: orders seen before, none recovered twice.
    expect(jsonOf(await reconcile())).toMatchObject({ recovered: 0 });
    const call = shopify.adminCalls
      .slice(before)
      .find((c) => c.operation === "orders")!;
    expect(call.variables.query).toBe(
      `updated_at:>='${new Date(watermark.getTime() - 10 * 60_000).toISOString()}'`,
    );
  });

  it("a throttled shop waits as Shopify says and resumes: a 429, then THROTTLED, then every order", async () => {
    clock = Date.now();
    const dropped = await placeOrders(12, () => false);
    // A page costs 852 points; the bucket holds 1,000 and refills 500 a second. The first query is answered 429,
    // the second finds the bucket empty (THROTTLED); each next page waits for the points the last one asked.
    Object.assign(shopify.bucket(s.shop), {
      maximumAvailable: 1000,
      restoreRate: 500,
    });
    shopify.failures.set(s.shop, ["429", "throttled"]);
    const before = shopify.adminCalls.length;
    const started = Date.now();
    const res = await reconcile();
    expect(res.code, res.stderr).toBe(0);
    const report = jsonOf(res);
    // The overlap reads the first test's orders again: they count as received.
    expect(report).toMatchObject({ orders: 37, recovered: 12, pages: 4 });
    // The 429 and the THROTTLED answer each waited as Shopify says (1 s, then 852 points at 500 a second); a page
    // may also wait for the bucket before it, depending on how long the one before took.
    expect(report.throttleWaits, JSON.stringify(report)).toBeGreaterThanOrEqual(
      2,
    );
    expect(report.waitedMs).toBeGreaterThanOrEqual(2_600);
    const calls = shopify.adminCalls
      .slice(before)
      .filter((c) => c.operation === "orders");
    // 429, THROTTLED (both recorded as 429), then the four pages, each after waiting for the bucket.
    expect(calls.map((c) => c.status)).toEqual([429, 429, 200, 200, 200, 200]);
    // Retry-After: 1 s, then 1.7 s for the bucket to hold a page, then 0.2 s before each next page.
    expect(Date.now() - started).toBeGreaterThan(3_000);
    await allSentOnce(dropped);
  });

  it("a bad page is a clear error that loses nothing: the next run takes up from the last whole page", async () => {
    clock = Date.now() + 60_000;
    const dropped = await placeOrders(12, () => false);
    const watermarkBefore = (await shopRow()).reconciledThrough!;
    // The run reads from the watermark less the overlap; its last page is bad.
    const since = new Date(
      watermarkBefore.getTime() - 10 * 60_000,
    ).toISOString();
    const matching = shopify.orders
      .get(s.shop)!
      .filter((o) => o.updatedAt >= since);
    const pages = Math.ceil(matching.length / 10);
    shopify.failures.set(s.shop, [
      ...Array<"ok">(pages - 1).fill("ok"),
      "bad-page",
    ]);
    const res = await reconcile();
    expect(res.code).toBe(1);
    expect(errorOf(res).error).toMatch(
      new RegExp(
        `orders page ${pages} is not an orders page.*next run reads it again`,
      ),
    );
    // Recorded on the shop as the scheduler's runs are, and the lease given back.
    expect(await shopRow()).toMatchObject({
      reconcileError: expect.stringMatching(/is not an orders page/),
      reconcileLeaseUntil: null,
    });
    // The pages before went in, and the watermark is their last order's.
    const taken = matching.slice(0, (pages - 1) * 10);
    const inTaken = dropped.filter((c) =>
      taken.some((o) => o.id.endsWith(`/${c.orderId}`)),
    );
    expect(inTaken.length).toBeGreaterThan(0);
    expect(inTaken.length).toBeLessThan(dropped.length);
    await allSentOnce(inTaken);
    const watermark = (await shopRow()).reconciledThrough!;
    expect(watermark.toISOString()).toBe(taken.at(-1)!.updatedAt);

    shopify.failures.set(s.shop, ["not-json"]);
    const notJson = await reconcile();
    expect(notJson.code).toBe(1);
    expect(errorOf(notJson).error).toMatch(/invalid JSON/);

    const startedAt = Date.now();
    expect(jsonOf(await reconcile())).toMatchObject({
      recovered: dropped.length - inTaken.length,
    });
    await allSentOnce(dropped);
    const row = await shopRow();
    expect(row.reconcileError).toBeNull();
    expect(row.reconciledAt!.getTime()).toBeGreaterThanOrEqual(startedAt);
  });

  it("the merchant's backfill, asked for over HTTP as the admin does, sends the last 7 days' dropped orders once, with its progress", async () => {
    // Orders from two days ago, behind the watermark: only the backfill reads them again. One was created 9 days
    // ago: Meta no longer accepts it, so it is taken but not sent.
    const twoDaysAgo = () =>
      new Date(Date.now() - 2 * 86_400_000).toISOString();
    const dropped = await placeOrders(4, () => false, {
      ageDays: 2,
      updatedAt: twoDaysAgo,
    });
    const [tooOld] = await placeOrders(1, () => false, {
      ageDays: 9,
      updatedAt: twoDaysAgo,
    });
    const backfill = (form?: Record<string, string>) =>
      adminData(
        s.app.url,
        "/app/backfill",
        "routes/app.backfill",
        s.shop,
        form,
      );

    const asked = await backfill({});
    expect(asked.status, await asked.clone().text()).toBe(200);
    const { backfill: requested } = await asked.json();
    expect(requested).toMatchObject({ finishedAt: null, done: 0 });
    // Asking again while it waits or runs changes nothing.
    expect((await (await backfill({})).json()).backfill.requestedAt).toBe(
      requested.requestedAt,
    );

    // The page's progress bar reads this loader until the reconciler (in the server's process) is done.
    let progress: Record<string, unknown> = {};
    await eventually(
      async () => {
        progress = (await (await backfill()).json()).backfill;
        return Boolean(progress.finishedAt);
      },
      30_000,
      "the backfill's end",
    );
    const inShopify = shopify.orders
      .get(s.shop)!
      .filter((o) => Date.parse(o.updatedAt) >= Date.now() - 7 * 86_400_000);
    expect(progress).toMatchObject({
      requestedAt: requested.requestedAt,
      total: inShopify.length,
      done: inShopify.length,
      recovered: 5,
      error: null,
    });
    await allSentOnce(dropped);
    await new Promise((r) => setTimeout(r, 500));
    expect(sentTimes().get(tooOld.eventId)).toBeUndefined();
    expect([...sentTimes().values()].every((n) => n === 1)).toBe(true);
    const expired = await s.app.db.outboxEvent.findFirstOrThrow({
      where: { eventId: tooOld.eventId },
    });
    expect(expired).toMatchObject({
      source: "reconciliation",
      status: "expired",
    });
  });

  it("an order refunded in full by the time it is read back is recorded, and not sent (decisions 68)", async () => {
    const c = newCheckout();
    const list = shopify.orders.get(s.shop) ?? [];
    list.push(
      graphqlOrderOf(c.order, {
        updatedAt: nextUpdatedAt(),
        financialStatus: "REFUNDED",
      }),
    );
    shopify.orders.set(s.shop, list);
    const res = await reconcile();
    expect(res.code, res.stderr).toBe(0);
    expect(jsonOf(res)).toMatchObject({ recovered: 1, rejected: 0 });
    expect(
      await s.app.db.outboxEvent.findFirstOrThrow({
        where: { eventId: c.eventId },
      }),
    ).toMatchObject({
      source: "reconciliation",
      status: "suppressed",
      suppressReason: "refunded",
    });
    await new Promise((r) => setTimeout(r, 500));
    expect(sentTimes().get(c.eventId)).toBeUndefined();
  });

  it("bad arguments are a usage error (exit 2)", async () => {
    const res = await reconcile("--since", "yesterday");
    expect(res.code).toBe(2);
    expect(errorOf(res)).toMatchObject({ code: 2 });
  });

  it("runs by itself in the server's dispatcher process every interval", async () => {
    await s.app.restart({ RECONCILE_INTERVAL_SECONDS: "1" });
    clock = Date.now() + 120_000;
    const dropped = await placeOrders(3, () => false);
    await allSentOnce(dropped);
    const row = await shopRow();
    expect(row.reconcileError).toBeNull();
    expect(row.reconciledAt).not.toBeNull();
  });
});
