import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeGraph, type FakeGraph } from "../support/fakeGraph";
import { sendWebhook } from "../support/shopifyWebhook";
import {
  API_SECRET,
  databaseKinds,
  startApp,
  type TestApp,
} from "../support/app";
import { adminData, adminPage, seedSession } from "../support/shopifyAdmin";

// Issue 2 end to end: the production build, a real database, the fake Graph API.

const SHOP = "connect-test.myshopify.com";
const PIXEL = "123456789012345";
const TOKEN = "EAAGtestTOKENvalue0123456789abcdefXYZ";
const ROUTE = "routes/app.connect";

describe.each(databaseKinds())("connect flow on %s", (kind) => {
  let graph: FakeGraph;
  let app: TestApp;

  beforeAll(async () => {
    graph = await startFakeGraph();
    graph.addPixel(PIXEL, { name: "Maple Goods Pixel", token: TOKEN });
    app = await startApp({ db: kind, graphUrl: graph.url });
    await seedSession(app.db, SHOP);
  });
  afterAll(async () => {
    await app?.close();
    await graph?.close();
  });

  const connect = (form: Record<string, string>) =>
    adminData(app.url, "/app/connect", ROUTE, SHOP, form);
  const shopRow = () => app.db.shop.findUnique({ where: { domain: SHOP } });

  it("rejects invalid fields with field errors and stores nothing", async () => {
    const res = await connect({
      pixelId: "abc",
      accessToken: "short",
      testEventCode: "no spaces!",
    });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(Object.keys(body.result.fieldErrors).sort()).toEqual([
      "accessToken",
      "pixelId",
      "testEventCode",
    ]);
    expect(graph.requests).toHaveLength(0);
    expect((await shopRow())?.tokenCiphertext ?? null).toBeNull();
  });

  it.each([
    [
      "an invalid token (190)",
      { token: "EAAGwrongTOKEN000000000000000000", pixel: PIXEL },
      /token/i,
    ],
    [
      "a wrong pixel id (100/33)",
      { token: TOKEN, pixel: "999999999999999" },
      /pixel|dataset/i,
    ],
  ])("explains %s and stores nothing", async (_name, input, title) => {
    const res = await connect({
      pixelId: input.pixel,
      accessToken: input.token,
    });
    const body = await res.json();
    expect(body.result.ok).toBe(false);
    expect(body.result.error.title).toMatch(title);
    expect(body.result.error.fix.length).toBeGreaterThan(20);
    const shop = await shopRow();
    expect(shop?.tokenCiphertext ?? null).toBeNull();
    expect(shop?.pixelId ?? null).toBeNull();
  });

  it("explains a missing permission (10)", async () => {
    const remove = graph.failOn((req) => req.method === "GET", {
      status: 403,
      code: 10,
      message: "Application does not have permission",
    });
    const body = await (
      await connect({ pixelId: PIXEL, accessToken: TOKEN })
    ).json();
    remove();
    expect(body.result.error.title).toMatch(/permission/i);
    expect((await shopRow())?.tokenCiphertext ?? null).toBeNull();
  });

  it("explains a timeout and stores nothing", async () => {
    const remove = graph.failOn((req) => req.method === "GET", "hang");
    const body = await (
      await connect({ pixelId: PIXEL, accessToken: TOKEN })
    ).json();
    remove();
    expect(body.result.ok).toBe(false);
    expect(body.result.error.title).toMatch(/reach|network|try again|time/i);
    expect((await shopRow())?.tokenCiphertext ?? null).toBeNull();
  });

  it("connects, stores the token encrypted, and never shows it again", async () => {
    const res = await connect({
      pixelId: PIXEL,
      accessToken: TOKEN,
      testEventCode: "TEST123",
    });
    const body = await res.json();
    expect(body.result).toMatchObject({
      ok: true,
      pixelName: "Maple Goods Pixel",
    });
    const lookup = graph.requests.filter((r) => r.method === "GET").at(-1)!;
    expect(lookup.path).toBe(`/v24.0/${PIXEL}`);
    expect(lookup.accessToken).toBe(TOKEN);

    const shop = (await shopRow())!;
    expect(shop.pixelId).toBe(PIXEL);
    expect(shop.tokenLast4).toBe(TOKEN.slice(-4));
    expect(shop.tokenCiphertext).toBeTruthy();
    expect(shop.tokenCiphertext).not.toContain(TOKEN);
    expect(shop.testEventCode).toBe("TEST123");

    const page = await adminPage(app.url, "/app/connect", SHOP);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain("Maple Goods Pixel");
    expect(html).toContain(TOKEN.slice(-4));
    expect(html).not.toContain(TOKEN);
    const data = await (
      await adminData(app.url, "/app/connect", ROUTE, SHOP)
    ).text();
    expect(data).not.toContain(TOKEN);
  });

  it("keeps the stored token when the field is left blank", async () => {
    const body = await (
      await connect({ pixelId: PIXEL, accessToken: "" })
    ).json();
    expect(body.result.ok).toBe(true);
    expect(
      graph.requests.filter((r) => r.method === "GET").at(-1)!.accessToken,
    ).toBe(TOKEN);
  });

  it("answers 401 to a bad HMAC and 200 to a good one", async () => {
    const bad = await sendWebhook(app.url, {
      topic: "app/scopes_update",
      shop: SHOP,
      body: { current: ["read_orders"] },
      secret: API_SECRET,
      badHmac: true,
    });
    expect(bad.status).toBe(401);
    for (const topic of [
      "customers/data_request",
      "customers/redact",
      "shop/redact",
      "orders/paid",
      "orders/create",
      "orders/cancelled",
      "app/uninstalled",
    ]) {
      const res = await sendWebhook(app.url, {
        topic,
        shop: "other-shop.myshopify.com",
        body: {},
        secret: "not-the-secret",
      });
      expect(res.status, topic).toBe(401);
    }
    const good = await sendWebhook(app.url, {
      topic: "app/scopes_update",
      shop: SHOP,
      body: { current: ["read_orders", "write_pixels"] },
      secret: API_SECRET,
    });
    expect(good.status).toBe(200);
    expect((await shopRow())!.scope).toBe("read_orders,write_pixels");
  });

  it("answers 400 when Shopify's headers are missing", async () => {
    const res = await sendWebhook(app.url, {
      topic: "orders/paid",
      shop: SHOP,
      body: {},
      secret: API_SECRET,
      omitHeaders: ["X-Shopify-Topic"],
    });
    expect(res.status).toBe(400);
  });

  it("reports health without secrets", async () => {
    const res = await fetch(`${app.url}/healthz`);
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.database).toBe("ok");
    expect(JSON.stringify(body)).not.toContain(TOKEN);
  });

  it("uninstall deletes the shop's sessions and stops sending", async () => {
    expect(await app.db.session.count({ where: { shop: SHOP } })).toBe(1);
    const res = await sendWebhook(app.url, {
      topic: "app/uninstalled",
      shop: SHOP,
      body: { domain: SHOP },
      secret: API_SECRET,
    });
    expect(res.status).toBe(200);
    expect(await app.db.session.count({ where: { shop: SHOP } })).toBe(0);
    expect((await shopRow())!.uninstalledAt).not.toBeNull();
  });

  it("never logged the token", () => {
    expect(app.logs.length).toBeGreaterThan(0);
    for (const line of app.logs) expect(line).not.toContain(TOKEN);
  });
});
