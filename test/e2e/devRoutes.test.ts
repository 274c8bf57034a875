import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeOrder } from "../fixtures/order";
import { consent, eventBody, newCheckout } from "../support/checkout";
import { createTestDatabase, type TestDatabase } from "../support/database";
import { webhookRequest } from "../support/shopifyWebhook";

// The production server serves order webhooks and the pixel endpoint from the Node request (scripts/start.mjs);
// under `npm run dev` the Remix routes serve them, through adapters from a Fetch Request to the same handlers.
// The other tests talk to the production build, so the adapters are called here, as Remix calls them.

// The app's modules read their configuration when they load: the environment is set first.
const database: TestDatabase = await createTestDatabase("sqlite");
process.env.DATABASE_URL = database.url;
const { API_KEY, API_SECRET } = await import("../support/app");
Object.assign(process.env, {
  SHOPIFY_API_KEY: API_KEY,
  SHOPIFY_API_SECRET: API_SECRET,
  SHOPIFY_APP_URL: "http://127.0.0.1:9",
  PURCHASE_HOLD_SECONDS: "0",
});
const { default: prisma } = await import("../../app/db.server");
const ingestRoute = await import("../../app/routes/ingest");
const paidRoute = await import("../../app/routes/webhooks.orders.paid");

const SHOP = "dev-routes.myshopify.com";
const routeArgs = (request: Request) => ({ request, params: {}, context: { socketAddress: "203.0.113.50", forwardedFor: null } });

describe("the Remix routes of npm run dev", () => {
  let key: string;
  beforeAll(async () => {
    key = (
      await prisma.shop.create({
        data: { domain: SHOP, ingestKey: "dev-routes-key", settings: { consentPolicy: "always" }, pixelId: "987654321098765", tokenCiphertext: "v1:sealed" },
      })
    ).ingestKey;
  });
  afterAll(async () => {
    await prisma.$disconnect();
    await database.drop();
  });

  it("/ingest: stores a pixel event, and answers bad input as the production server does", async () => {
    const body = eventBody(SHOP, key, newCheckout(), "AddToCart", consent(true));
    const post = (text: string | ReadableStream) =>
      ingestRoute.action(routeArgs(new Request("http://app/ingest", { method: "POST", body: text, headers: { "Content-Type": "text/plain" }, duplex: "half" } as RequestInit)));
    const ok = await post(JSON.stringify(body));
    expect(ok.status).toBe(202);
    expect(ok.headers.get("Access-Control-Allow-Origin")).toBe("*");
    expect(await ok.json()).toEqual({ outcome: "accepted", status: "pending" });
    expect(await prisma.outboxEvent.findFirst({ where: { eventId: body.kind === "event" ? body.event.event_id : "" } })).toMatchObject({ eventName: "AddToCart", clientIp: "203.0.113.50" });

    expect((await post("{nope")).status).toBe(400);
    // Streamed, without a Content-Length: cut off as it arrives.
    const large = new ReadableStream({ start: (c) => (c.enqueue(new TextEncoder().encode("x".repeat(70 * 1024))), c.close()) });
    expect((await post(large)).status).toBe(413);
    expect((await ingestRoute.loader(routeArgs(new Request("http://app/ingest")))).status).toBe(405);
  });

  it("/webhooks/orders/paid: verifies, records and answers as the production server does", async () => {
    const signed = webhookRequest({ topic: "orders/paid", shop: SHOP, body: makeOrder({ id: 7_800_000_000_001, admin_graphql_api_id: "gid://shopify/Order/7800000000001" }), secret: API_SECRET });
    const send = (headers: Record<string, string>) =>
      paidRoute.action(routeArgs(new Request(`http://app${signed.path}`, { method: "POST", headers, body: signed.body })));
    const res = await send(signed.headers);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ outcome: "accepted" });
    expect(await prisma.outboxEvent.count({ where: { eventId: "purchase_7800000000001" } })).toBe(1);
    expect(await (await send(signed.headers)).json()).toMatchObject({ outcome: "duplicate_webhook" });
    expect((await send({ ...signed.headers, "X-Shopify-Hmac-Sha256": "AAAA" })).status).toBe(401);
  });
});
