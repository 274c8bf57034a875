import prisma, { outbox, shopSql, sqlStore } from "../db.server";
import { z } from "zod";
import { apiSecretKey } from "../shopify.server";
import { config, wakeDispatcher } from "../runtime.server";
import {
  parseOrder,
  mapOrder,
  otherShopReason,
  storefrontHost,
  cancelOrder,
  intakeOrder,
  intakeRefund,
  parseRefund,
  recordReceipt,
  updateOrder,
  type IntakeResult,
  type PurchaseTopic,
  type WebhookOutcome,
} from "../core/intake";
import {
  customersRedactSchema,
  dataRequestSchema,
  recordDataRequest,
  redactCustomer,
  redactShop,
} from "../core/privacy";
import type { IntakeShop } from "../core/outbox";
import { parseSubscriptionUpdate, recordSubscription } from "../core/plans";
import { numericId } from "../core/wire";
import { markUninstalled, recordIdentity, recordScope } from "../core/shops";
import {
  deleteShopSessions,
  recordOfflineScope,
} from "../sessionStorage.server";
import { verifyWebhook } from "./webhookSignature.server";
import { shopChanged } from "./shopCache.server";
import { parseSettings } from "../core/reference";
import type { Answer, EdgeRequest } from "./routes.server";

// Webhook handlers, one per topic family, each a fast route's (routes.server.ts) by its topic. Every delivery is
// verified by webhookSignature.server.ts first: a bad HMAC is answered 401, missing headers 400. Anything
// authenticated is answered 200 on purpose, even when unusable: Shopify retries every non-2xx for hours and then
// drops the subscription (decisions 11). What was done is recorded as a receipt (decisions 28).

/** An authentic delivery, parsed. Its topic is its route's: shopify.app.toml subscribes one topic per route. */
export interface Delivery<T extends string = string> {
  topic: T;
  /** X-Shopify-Shop-Domain (signed by nothing: decisions 35). */
  shop: string;
  webhookId: string;
  payload: unknown;
  header(name: string): string | null;
}

/**
 * A delivery of a topic, verified (not by the library: see webhookSignature.server.ts) and parsed, then handled;
 * an authentic body that is not JSON is recorded and answered 200.
 */
export async function serveWebhook<T extends string>(
  topic: T,
  request: EdgeRequest,
  handle: (delivery: Delivery<T>) => Promise<Answer>,
): Promise<Answer> {
  const verdict = verifyWebhook(request, apiSecretKey);
  if (!verdict.ok) {
    console.log(
      `[webhook] ${topic} refused (${verdict.status}): ${verdict.reason}`,
    );
    return {
      status: verdict.status,
      body: { outcome: "refused", reason: verdict.reason },
    };
  }
  const { shop, webhookId } = verdict.webhook;
  let payload: unknown;
  try {
    payload = JSON.parse(request.body.toString("utf8"));
  } catch {
    const reason = "the body is not valid JSON";
    return answer(
      topic,
      shop,
      await recordReceipt(outbox(), {
        webhookId,
        shopDomain: shop,
        topic,
        outcome: "rejected",
        reason,
      }),
    );
  }
  return handle({ topic, shop, webhookId, payload, header: request.header });
}

/** A webhook's answer: JSON with the outcome (never a 5xx for what Shopify sent: it would be retried for hours). */
function answer(
  topic: string,
  shop: string,
  result: IntakeResult & { orderId?: string | null },
): Answer {
  console.log(
    `[webhook] ${topic} shop=${shop}${result.orderId ? ` order=${result.orderId}` : ""} outcome=${result.outcome}` +
      `${result.status ? ` status=${result.status}` : ""}${result.reason ? ` reason="${result.reason}"` : ""}`,
  );
  return {
    status: 200,
    body: {
      outcome: result.outcome,
      status: result.status ?? null,
      reason: result.reason ?? null,
    },
  };
}

export async function handleOrderWebhook(
  delivery: Delivery<PurchaseTopic | "orders/cancelled" | "orders/updated">,
): Promise<Answer> {
  const { topic, shop: domain, webhookId, payload } = delivery;
  // No up-front duplicate lookup (a query on every delivery): each path below writes a receipt keyed by the
  // webhook id, and its unique violation answers a redelivery as duplicate_webhook.
  const receipt = { webhookId, shopDomain: domain, topic };
  const shop = await sqlStore().findShop(domain);
  if (!shop) {
    return answer(
      topic,
      domain,
      await recordReceipt(outbox(), {
        ...receipt,
        outcome: "rejected",
        reason: "unknown shop: the app is not installed there",
      }),
    );
  }
  const parsed = parseOrder(payload);
  if (!parsed.ok) {
    const orderId = numericId((payload as { id?: unknown } | null)?.id);
    return answer(topic, domain, {
      ...(await recordReceipt(outbox(), {
        ...receipt,
        orderId,
        outcome: "rejected",
        reason: `invalid order payload: ${parsed.reason}`,
      })),
      orderId,
    });
  }
  const otherShop = otherShopReason(topic, payload, domain, shop);
  if (otherShop) {
    const orderId = numericId(parsed.order.id);
    return answer(topic, domain, {
      ...(await recordReceipt(outbox(), {
        ...receipt,
        orderId,
        outcome: "rejected",
        reason: otherShop,
      })),
      orderId,
    });
  }
  if (topic === "orders/cancelled") {
    const orderId = numericId(parsed.order.id)!;
    return answer(topic, domain, {
      ...(await cancelOrder(outbox(), { shop, webhookId, orderId })),
      orderId,
    });
  }
  const settings = parseSettings(shop.settings);
  const storefrontOrigin = shop.primaryDomain
    ? `https://${shop.primaryDomain}`
    : undefined;
  const triggeredAt = delivery.header("x-shopify-triggered-at");
  const mapped = mapOrder(parsed.order, {
    shopDomain: domain,
    storefrontOrigin,
    settings,
    topic,
    triggeredAt,
  });
  if (topic === "orders/updated") {
    return answer(topic, domain, {
      ...(await updateOrder(outbox(), { shop, webhookId, mapped })),
      orderId: mapped.orderId,
    });
  }
  const result = await intakeOrder(outbox(), shopSql(), {
    shop,
    settings,
    topic,
    webhookId,
    mapped,
    holdSeconds: config().purchaseHoldSeconds,
  });
  if (result.status === "pending") wakeDispatcher();
  return answer(topic, domain, { ...result, orderId: mapped.orderId });
}

/** refunds/create: recorded per order; a Purchase not sent yet and refunded in full is dropped (decisions 68). */
export function handleRefundWebhook(
  delivery: Delivery<"refunds/create">,
): Promise<Answer> {
  return forInstalledShop(delivery, async (shop, from) => {
    const parsed = parseRefund(delivery.payload);
    if (!parsed.ok) return refuse(from, parsed.reason);
    const result = await intakeRefund(outbox(), {
      shop,
      webhookId: from.webhookId,
      refund: parsed.refund,
    });
    return answer(from.topic, from.domain, {
      ...result,
      orderId: parsed.refund.orderId,
    });
  });
}

/** Who sent a delivery, as a refusal records it. */
interface Sender {
  webhookId: string;
  domain: string;
  topic: string;
}

/** Runs `handle` with the delivery's shop as intake reads it; a delivery to a shop without the app is refused. */
async function forInstalledShop(
  delivery: Delivery,
  handle: (shop: IntakeShop, from: Sender) => Promise<Answer>,
): Promise<Answer> {
  const from = {
    webhookId: delivery.webhookId,
    domain: delivery.shop,
    topic: delivery.topic,
  };
  const shop = await sqlStore().findShop(from.domain);
  if (!shop)
    return refuse(from, "unknown shop: the app is not installed there");
  return handle(shop, from);
}

const scopesUpdateSchema = z.object({ current: z.array(z.string()) });

/** Records what became of a delivery as its receipt and answers it (200 whatever it was: decisions 11). */
async function settle(
  delivery: Sender,
  outcome: WebhookOutcome,
  reason?: string,
): Promise<Answer> {
  const { webhookId, domain, topic } = delivery;
  return answer(
    topic,
    domain,
    await recordReceipt(outbox(), {
      webhookId,
      shopDomain: domain,
      topic,
      outcome,
      reason,
    }),
  );
}

/** Records a delivery refused on purpose (decisions 11: answered 200, nothing else done). */
const refuse = (delivery: Sender, reason: string) =>
  settle(delivery, "rejected", reason);

export async function handleAppWebhook({
  shop: domain,
  webhookId,
  topic,
  payload,
}: Delivery): Promise<Answer> {
  const now = new Date();
  const shop = await prisma.shop.findUnique({ where: { domain } });
  // decisions 35: a body that speaks of another shop than X-Shopify-Shop-Domain changes nothing.
  const otherShop = otherShopReason(topic, payload, domain, shop);
  if (otherShop) return refuse({ webhookId, domain, topic }, otherShop);
  let rejected: string | undefined;
  if (topic === "app/uninstalled") {
    // Sending stops at once: nothing left for the shop is sent; the rows stay until shop/redact.
    await deleteShopSessions(prisma, domain);
    if (shop) {
      await markUninstalled(prisma, shop.id, now);
      await shopChanged(domain);
      await outbox().suppressUnsent(
        { shopId: shop.id },
        "shop_uninstalled",
        now,
      );
    }
  } else if (topic === "app/scopes_update") {
    const parsed = scopesUpdateSchema.safeParse(payload);
    if (parsed.success) {
      const scope = parsed.data.current.join(",");
      await recordScope(prisma, domain, scope);
      await recordOfflineScope(prisma, domain, scope);
    } else {
      rejected = "invalid app/scopes_update payload";
    }
  } else if (topic === "shop/update" && shop) {
    // The primary domain, where the pixel runs and the URLs sent to Meta point (decisions 34). The body passed the
    // check above, so its id is this shop's.
    const body = (payload && typeof payload === "object" ? payload : {}) as {
      id?: unknown;
      domain?: unknown;
    };
    const primaryDomain = storefrontHost(body.domain);
    if (primaryDomain) {
      await recordIdentity(prisma, shop.id, {
        primaryDomain,
        shopifyId: shop.shopifyId ?? numericId(body.id),
      });
    } else {
      rejected = "the body's domain is not a host name";
    }
  }
  // Written last: a delivery that failed half-way (a 500) is done again when Shopify retries it.
  const outcome = rejected ? "rejected" : "accepted";
  const result = await recordReceipt(outbox(), {
    webhookId,
    shopDomain: domain,
    topic,
    outcome,
    reason: rejected,
  });
  return answer(topic, domain, result);
}

/**
 * app_subscriptions/update: Shopify's word on one of the shop's subscriptions (approved, cancelled, declined, frozen,
 * expired), recorded for the plan the app shows without asking Shopify (decisions 141).
 */
export function handleSubscriptionWebhook(
  delivery: Delivery<"app_subscriptions/update">,
): Promise<Answer> {
  return forInstalledShop(delivery, async (shop, from) => {
    const { topic, domain } = from;
    const otherShop = otherShopReason(topic, delivery.payload, domain, shop);
    if (otherShop) return refuse(from, otherShop);
    const parsed = parseSubscriptionUpdate(delivery.payload);
    if (!parsed.ok)
      return refuse(from, `invalid ${topic} payload: ${parsed.reason}`);
    const recorded = await recordSubscription(prisma, shop.id, parsed.update);
    // The receipt is written last, as for the app topics: a delivery that failed half-way is done again when
    // Shopify retries it.
    return recorded === "stale"
      ? settle(from, "ignored", "older than the subscription's recorded state")
      : settle(from, "accepted");
  });
}

/** The privacy topics answer their outcome (README, Shopify's privacy webhooks). */
const answered = (body: Record<string, unknown>): Answer => ({
  status: 200,
  body,
});

export async function handlePrivacyWebhook({
  shop: domain,
  webhookId,
  topic,
  payload,
}: Delivery): Promise<Answer> {
  const shop = await prisma.shop.findUnique({ where: { domain } });
  const otherShop = otherShopReason(topic, payload, domain, shop);
  if (otherShop) return refuse({ webhookId, domain, topic }, otherShop);
  if (topic === "shop/redact") {
    const res = await redactShop(prisma, outbox(), domain, deleteShopSessions);
    console.log(`[webhook] shop/redact shop=${domain} deleted=${res.deleted}`);
    return answered({ outcome: "redacted" });
  }
  if (!shop) return answered({ outcome: "nothing_held" });
  if (topic === "customers/redact")
    return customerTopic(
      { topic, domain, payload, schema: customersRedactSchema },
      (body) => redactCustomer(prisma, outbox(), shop.id, body),
      (res) => ({
        outcome: "redacted",
        log: `events=${res.events} contexts=${res.contexts}`,
      }),
    );
  return customerTopic(
    { topic, domain, payload, schema: dataRequestSchema },
    (body) => recordDataRequest(prisma, outbox(), shop.id, body),
    (res) => ({
      outcome: "recorded",
      log: `request=${res.requestId} events=${res.events}`,
    }),
  );
}

/**
 * A customer's privacy topic: its body parsed (one not of the topic's shape is answered "rejected"), acted on,
 * logged and answered with its outcome and counts.
 */
async function customerTopic<T, R extends object>(
  delivery: {
    topic: string;
    domain: string;
    payload: unknown;
    schema: z.ZodType<T>;
  },
  run: (body: T) => Promise<R>,
  outcomeOf: (res: R) => { outcome: string; log: string },
): Promise<Answer> {
  const { topic, domain, payload, schema } = delivery;
  const parsed = schema.safeParse(payload);
  if (!parsed.success)
    return answered({
      outcome: "rejected",
      reason: `invalid ${topic} payload`,
    });
  const res = await run(parsed.data);
  const { outcome, log } = outcomeOf(res);
  console.log(`[webhook] ${topic} shop=${domain} ${log}`);
  return answered({ outcome, ...res });
}
