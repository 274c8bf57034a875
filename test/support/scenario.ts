import { randomUUID } from "node:crypto";
import { expect } from "vitest";
import { startFakeGraph, type FakeGraph } from "./fakeGraph";
import { sendWebhook } from "./shopifyWebhook";
import { API_SECRET, startApp, type DbKind, type TestApp } from "./app";
import { adminData, seedSession } from "./shopifyAdmin";

// A connected shop on a running production build, with the fake Graph API: the starting point of the pipeline,
// pixel and consent suites.

export const PIXEL = "987654321098765";
export const TOKEN = "EAAGpipelineTOKEN0123456789abcdefXYZ";

export interface Scenario {
  app: TestApp;
  graph: FakeGraph;
  shop: string;
  close(): Promise<void>;
}

export async function connectedShop(
  kind: DbKind,
  opts: {
    shop?: string;
    env?: Record<string, string>;
    testEventCode?: string;
    /** An existing database (startApp's dbUrl). */
    dbUrl?: string;
  } = {},
): Promise<Scenario> {
  const shop = opts.shop ?? `shop-${randomUUID().slice(0, 8)}.myshopify.com`;
  const graph = await startFakeGraph();
  graph.addPixel(PIXEL, { name: "Pipeline Pixel", token: TOKEN });
  const app = await startApp({
    db: kind,
    graphUrl: graph.url,
    env: opts.env,
    dbUrl: opts.dbUrl,
  });
  await seedSession(app.db, shop);
  await connect(app, shop, TOKEN, opts.testEventCode);
  graph.reset();
  return {
    app,
    graph,
    shop,
    async close() {
      await app.close();
      await graph.close();
    },
  };
}

export async function connect(
  app: TestApp,
  shop: string,
  token: string,
  testEventCode = "",
  pixelId = PIXEL,
): Promise<void> {
  const res = await adminData(
    app.url,
    "/app/connect",
    "routes/app.connect",
    shop,
    { pixelId, accessToken: token, testEventCode },
  );
  const body = await res.json();
  expect(body.result, JSON.stringify(body)).toMatchObject({ ok: true });
}

export async function orderWebhook(
  s: Pick<Scenario, "app" | "shop">,
  body: unknown,
  opts: { topic?: string; webhookId?: string; triggeredAt?: string } = {},
): Promise<{
  status: number;
  body: { outcome: string; status: string | null; reason: string | null };
}> {
  // As for an order paid at checkout: Shopify triggers its webhooks when the order is processed.
  const processedAt = (body as { processed_at?: unknown } | null)?.processed_at;
  const res = await sendWebhook(s.app.url, {
    topic: opts.topic ?? "orders/paid",
    shop: s.shop,
    body,
    secret: API_SECRET,
    webhookId: opts.webhookId,
    triggeredAt:
      opts.triggeredAt ??
      (typeof processedAt === "string" ? processedAt : undefined),
  });
  return { status: res.status, body: await res.json() };
}
