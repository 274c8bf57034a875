import prisma, { sqlStore } from "./db.server";
import { apiSecretKey, authenticate } from "./shopify.server";
import { config, wakeDispatcher } from "./runtime.server";
import { parseOrder, mapOrder } from "./capi/orderMapping";
import { cancelOrder, intakeOrder, recordReceipt, type IntakeResult, type PurchaseTopic } from "./capi/orderIntake";
import { customersRedactSchema, dataRequestSchema, recordDataRequest, redactCustomer, redactShop } from "./capi/privacy";
import { finalFields } from "./capi/outbox";
import { numericId } from "./capi/eventId";
import { verifyWebhook, type WebhookRequest } from "./webhookSignature.server";
import { parseSettings } from "./capi/settings";
import { headerOf, readCapped } from "./httpBody.server";
import type { IncomingMessage, ServerResponse } from "node:http";

// Webhook handlers. A bad HMAC is answered 401, missing headers 400 (order topics: webhookSignature.server.ts; the
// others: authenticate.webhook, which throws those as Responses). Anything authenticated is answered 200 on
// purpose, even when unusable: Shopify retries every non-2xx for hours and then drops the subscription
// (decisions 11). What was done is recorded as a receipt.

/**
 * authenticate.webhook, except that an authentic body that is not JSON is recorded and answered 200 instead of 500:
 * the library verifies the HMAC before it parses the body, so its SyntaxError means "signed, but unusable".
 */
async function authenticated(request: Request) {
  try {
    return await authenticate.webhook(request);
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    const h = (name: string) => request.headers.get(name) ?? "";
    const topic = h("x-shopify-topic");
    const result = await recordReceipt(sqlStore(), {
      webhookId: h("x-shopify-webhook-id"),
      shopDomain: h("x-shopify-shop-domain"),
      topic,
      outcome: "rejected",
      reason: "the body is not valid JSON",
    });
    throw toResponse(answer(topic, h("x-shopify-shop-domain"), result));
  }
}

/** A webhook's answer: JSON with the outcome (never a 5xx for what Shopify sent: it would be retried for hours). */
export interface WebhookAnswer {
  status: number;
  body: { outcome: string; status?: string | null; reason: string | null };
}

function answer(topic: string, shop: string, result: IntakeResult & { orderId?: string | null }): WebhookAnswer {
  console.log(
    `[webhook] ${topic} shop=${shop}${result.orderId ? ` order=${result.orderId}` : ""} outcome=${result.outcome}` +
      `${result.status ? ` status=${result.status}` : ""}${result.reason ? ` reason="${result.reason}"` : ""}`,
  );
  return { status: 200, body: { outcome: result.outcome, status: result.status ?? null, reason: result.reason ?? null } };
}

/** The Remix route's request as a WebhookRequest (the production server hands order webhooks over directly). */
export async function webhookRequest(request: Request): Promise<WebhookRequest> {
  return { method: request.method, header: (name) => request.headers.get(name), body: Buffer.from(await request.arrayBuffer()) };
}

export function toResponse(a: WebhookAnswer): Response {
  return Response.json(a.body, { status: a.status });
}

export async function handleOrderWebhook(request: WebhookRequest, topic: PurchaseTopic | "orders/cancelled"): Promise<WebhookAnswer> {
  const verdict = verifyWebhook(request, apiSecretKey);
  if (!verdict.ok) {
    console.log(`[webhook] ${topic} refused (${verdict.status}): ${verdict.reason}`);
    return { status: verdict.status, body: { outcome: "refused", reason: verdict.reason } };
  }
  const { shop: domain, webhookId } = verdict.webhook;
  const store = sqlStore();
  // No up-front duplicate lookup (a query on every delivery): each path below writes a receipt keyed by the
  // webhook id, and its unique violation answers a redelivery as duplicate_webhook.
  const receipt = { webhookId, shopDomain: domain, topic };
  let payload: unknown;
  try {
    payload = JSON.parse(request.body.toString("utf8"));
  } catch {
    return answer(topic, domain, await recordReceipt(store, { ...receipt, outcome: "rejected", reason: "the body is not valid JSON" }));
  }
  const shop = await store.findShop(domain);
  if (!shop) {
    return answer(topic, domain, await recordReceipt(store, { ...receipt, outcome: "rejected", reason: "unknown shop: the app is not installed there" }));
  }
  const parsed = parseOrder(payload);
  if (!parsed.ok) {
    const orderId = numericId((payload as { id?: unknown } | null)?.id);
    return answer(topic, domain, { ...(await recordReceipt(store, { ...receipt, orderId, outcome: "rejected", reason: `invalid order payload: ${parsed.reason}` })), orderId });
  }
  if (topic === "orders/cancelled") {
    const orderId = numericId(parsed.order.id)!;
    return answer(topic, domain, { ...(await cancelOrder(prisma, store, { shop, webhookId, orderId })), orderId });
  }
  const settings = parseSettings(shop.settings);
  const mapped = mapOrder(parsed.order, { shopDomain: domain, settings });
  const result = await intakeOrder(store, { shop, settings, topic, webhookId, mapped, holdSeconds: config.purchaseHoldSeconds });
  if (result.status === "pending") wakeDispatcher();
  return answer(topic, domain, { ...result, orderId: mapped.orderId });
}

/**
 * Order webhooks as the production server (scripts/start.mjs) serves them, ahead of Express and Remix: the same
 * handler with the request as Node parsed it, without body parsers, a Fetch Request and the router per order.
 */
export const orderWebhookRoutes: Record<string, PurchaseTopic | "orders/cancelled"> = {
  "/webhooks/orders/paid": "orders/paid",
  "/webhooks/orders/create": "orders/create",
  "/webhooks/orders/cancelled": "orders/cancelled",
};

/** Shopify's order payloads are far smaller; a body past this is refused unread. */
const MAX_WEBHOOK_BYTES = 25 * 1024 * 1024;

/** Serves a POST to one of orderWebhookRoutes. Never rejects. */
export async function serveOrderWebhook(req: IncomingMessage, res: ServerResponse): Promise<void> {
  let answer: WebhookAnswer;
  try {
    const body = await readCapped(req[Symbol.asyncIterator](), Number(req.headers["content-length"] ?? "0"), MAX_WEBHOOK_BYTES);
    if (body === null) {
      answer = { status: 413, body: { outcome: "refused", reason: `body too large (max ${MAX_WEBHOOK_BYTES} bytes)` } };
    } else {
      answer = await handleOrderWebhook({ method: req.method ?? "POST", header: headerOf(req), body }, orderWebhookRoutes[req.url!.split("?")[0]]);
    }
  } catch (err) {
    // A failure on our side (the database, say): a 500 makes Shopify deliver the webhook again later.
    console.error(`[webhook] ${req.url} failed: ${(err as Error).message}`);
    answer = { status: 500, body: { outcome: "error", reason: "internal error" } };
  }
  if (!res.headersSent) res.writeHead(answer.status, { "Content-Type": "application/json; charset=utf-8" }).end(JSON.stringify(answer.body));
}

export async function handleAppWebhook(request: Request): Promise<Response> {
  const { shop: domain, topic, payload, session } = await authenticated(request);
  const now = new Date();
  if (topic === "APP_UNINSTALLED") {
    // Sending stops at once: nothing left for the shop is sent; the rows stay until shop/redact.
    const shop = await prisma.shop.findUnique({ where: { domain } });
    await prisma.session.deleteMany({ where: { shop: domain } });
    if (shop) {
      await prisma.shop.update({ where: { id: shop.id }, data: { uninstalledAt: now, webPixelId: null } });
      await prisma.outboxEvent.updateMany({
        where: { shopId: shop.id, status: { in: ["held", "pending"] } },
        data: { status: "suppressed", suppressReason: "shop_uninstalled", ...finalFields(now) },
      });
    }
  } else if (topic === "APP_SCOPES_UPDATE") {
    const current = Array.isArray((payload as { current?: unknown }).current) ? ((payload as { current: string[] }).current).join(",") : null;
    if (current !== null) {
      await prisma.shop.updateMany({ where: { domain }, data: { scope: current } });
      if (session) await prisma.session.update({ where: { id: session.id }, data: { scope: current } });
    }
  }
  console.log(`[webhook] ${topic} shop=${domain}`);
  return new Response();
}

export async function handlePrivacyWebhook(request: Request): Promise<Response> {
  const { shop: domain, topic, payload } = await authenticated(request);
  if (topic === "SHOP_REDACT") {
    const res = await redactShop(prisma, domain);
    console.log(`[webhook] shop/redact shop=${domain} deleted=${res.deleted}`);
    return Response.json({ outcome: "redacted" });
  }
  const shop = await prisma.shop.findUnique({ where: { domain } });
  if (!shop) return Response.json({ outcome: "nothing_held" });
  if (topic === "CUSTOMERS_REDACT") {
    const parsed = customersRedactSchema.safeParse(payload);
    if (!parsed.success) return Response.json({ outcome: "rejected", reason: "invalid customers/redact payload" });
    const res = await redactCustomer(prisma, shop.id, parsed.data);
    console.log(`[webhook] customers/redact shop=${domain} events=${res.events} contexts=${res.contexts}`);
    return Response.json({ outcome: "redacted", ...res });
  }
  const parsed = dataRequestSchema.safeParse(payload);
  if (!parsed.success) return Response.json({ outcome: "rejected", reason: "invalid customers/data_request payload" });
  const res = await recordDataRequest(prisma, shop.id, parsed.data);
  console.log(`[webhook] customers/data_request shop=${domain} request=${res.requestId} events=${res.events}`);
  return Response.json({ outcome: "recorded", ...res });
}
