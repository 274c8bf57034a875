import prisma from "./db.server";
import { authenticate } from "./shopify.server";
import { config, wakeDispatcher } from "./runtime.server";
import { parseOrder, mapOrder } from "./capi/orderMapping";
import { cancelOrder, intakeOrder, recordReceipt, type IntakeResult, type PurchaseTopic } from "./capi/orderIntake";
import { customersRedactSchema, dataRequestSchema, recordDataRequest, redactCustomer, redactShop } from "./capi/privacy";
import { finalFields } from "./capi/outbox";
import { numericId } from "./capi/eventId";
import { parseSettings } from "./capi/settings";

// Webhook handlers. authenticate.webhook answers 401 for a bad HMAC (and 400 for missing headers) by throwing a
// Response. Anything authenticated is answered 200 on purpose, even when unusable: Shopify retries every non-2xx
// for hours and then drops the subscription (decisions 11). What was done is recorded as a receipt.

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
    const result = await recordReceipt(prisma, {
      webhookId: h("x-shopify-webhook-id"),
      shopDomain: h("x-shopify-shop-domain"),
      topic,
      outcome: "rejected",
      reason: "the body is not valid JSON",
    });
    throw answer(topic, h("x-shopify-shop-domain"), result);
  }
}

function answer(topic: string, shop: string, result: IntakeResult & { orderId?: string | null }): Response {
  console.log(
    `[webhook] ${topic} shop=${shop}${result.orderId ? ` order=${result.orderId}` : ""} outcome=${result.outcome}` +
      `${result.status ? ` status=${result.status}` : ""}${result.reason ? ` reason="${result.reason}"` : ""}`,
  );
  return Response.json({ outcome: result.outcome, status: result.status ?? null, reason: result.reason ?? null });
}

export async function handleOrderWebhook(request: Request, topic: PurchaseTopic | "orders/cancelled"): Promise<Response> {
  const { shop: domain, payload, webhookId } = await authenticated(request);
  // No up-front duplicate lookup (a query on every delivery): each path below writes a receipt keyed by the
  // webhook id, and its unique violation answers a redelivery as duplicate_webhook.

  const receipt = { webhookId, shopDomain: domain, topic };
  const shop = await prisma.shop.findUnique({ where: { domain } });
  if (!shop) {
    return answer(topic, domain, await recordReceipt(prisma, { ...receipt, outcome: "rejected", reason: "unknown shop: the app is not installed there" }));
  }
  const parsed = parseOrder(payload);
  if (!parsed.ok) {
    const orderId = numericId((payload as { id?: unknown } | null)?.id);
    return answer(topic, domain, { ...(await recordReceipt(prisma, { ...receipt, orderId, outcome: "rejected", reason: `invalid order payload: ${parsed.reason}` })), orderId });
  }
  if (topic === "orders/cancelled") {
    const orderId = numericId(parsed.order.id)!;
    return answer(topic, domain, { ...(await cancelOrder(prisma, { shop, webhookId, orderId })), orderId });
  }
  const mapped = mapOrder(parsed.order, { shopDomain: domain, settings: parseSettings(shop.settings) });
  const result = await intakeOrder(prisma, { shop, topic, webhookId, mapped, holdSeconds: config.purchaseHoldSeconds });
  if (result.status === "pending") wakeDispatcher();
  return answer(topic, domain, { ...result, orderId: mapped.orderId });
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
