import type { Db, Prisma, Shop } from "./db";
import type { OutboxStatus, SuppressReason } from "./types";
import type { MappedOrder } from "./orderMapping";
import { parseSettings } from "./settings";
import { purchaseEventId } from "./eventId";
import { mergeBrowserContext } from "./purchaseMerge";
import {
  activeTestEventCode,
  asJson,
  decideRelease,
  finalFields,
  isConnected,
  isInsideWindow,
  releaseUpdate,
} from "./outbox";

// Order webhooks -> outbox rows. No network I/O: everything here is one or two local writes, so the webhook is
// answered in milliseconds and the dispatcher does the sending.

export type WebhookOutcome = "accepted" | "duplicate_webhook" | "duplicate_event" | "rejected" | "ignored";

export interface IntakeResult {
  outcome: WebhookOutcome;
  status?: OutboxStatus;
  reason?: string;
}

export type PurchaseTopic = "orders/create" | "orders/paid";

export function isUniqueViolation(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { code?: string }).code === "P2002";
}

/** Records a delivery that was not turned into an event (bad payload, unknown shop...) so the merchant sees it. */
export async function recordReceipt(
  db: Db,
  receipt: { webhookId: string; shopDomain: string; topic: string; outcome: WebhookOutcome; reason?: string; orderId?: string | null },
): Promise<IntakeResult> {
  try {
    await db.webhookReceipt.create({ data: { ...receipt, orderId: receipt.orderId ?? null }, select: { id: true } });
    return { outcome: receipt.outcome, reason: receipt.reason };
  } catch (err) {
    if (isUniqueViolation(err)) return { outcome: "duplicate_webhook" };
    throw err;
  }
}

export async function isDuplicateWebhook(db: Db, webhookId: string): Promise<boolean> {
  return (await db.webhookReceipt.count({ where: { webhookId } })) > 0;
}

/** Why an order of this shop is not sent at all, decided at intake (consent comes later, at release). */
function intakeSuppression(shop: Shop, mapped: MappedOrder, now: Date): SuppressReason | null {
  const settings = parseSettings(shop.settings);
  if (shop.uninstalledAt) return "shop_uninstalled";
  if (!isConnected(shop)) return "not_connected";
  if (mapped.test && !activeTestEventCode(shop, settings, now)) return "test_order";
  if (!settings.sources[mapped.sourceKind]) return "source_disabled";
  if (mapped.cancelled) return "order_cancelled";
  return null;
}

export async function intakeOrder(
  db: Db,
  args: { shop: Shop; topic: PurchaseTopic; webhookId: string; mapped: MappedOrder; holdSeconds: number; now?: Date },
): Promise<IntakeResult> {
  const { shop, topic, webhookId, mapped } = args;
  const now = args.now ?? new Date();
  const receipt = { webhookId, shopDomain: shop.domain, topic, orderId: mapped.orderId };
  const settings = parseSettings(shop.settings);
  const trigger: PurchaseTopic = settings.purchaseTrigger === "paid" ? "orders/paid" : "orders/create";
  if (topic !== trigger) {
    return recordReceipt(db, { ...receipt, outcome: "ignored", reason: `purchase is sent on ${trigger}` });
  }

  const base = {
    shopId: shop.id,
    eventName: mapped.event.event_name,
    eventId: mapped.event.event_id,
    source: "webhook",
    actionSource: mapped.event.action_source,
    eventTime: new Date(mapped.event.event_time * 1000),
    countryCode: mapped.countryCode,
    provinceCode: mapped.provinceCode,
    orderId: mapped.orderId,
    orderName: mapped.orderName,
    checkoutToken: mapped.checkoutToken,
    customerKey: mapped.customerKey,
    emailHash: mapped.emailHashes[0] ?? null,
    phoneHash: mapped.phoneHashes[0] ?? null,
    receivedAt: now,
  };

  let data: Prisma.OutboxEventUncheckedCreateInput;
  const suppression = intakeSuppression(shop, mapped, now);
  if (suppression) {
    // Kept (hashed) so the merchant can see it, and so orders from before Connect can be sent later.
    data = { ...base, status: "suppressed", suppressReason: suppression, payload: asJson(mapped.event), ...finalFields(now) };
  } else {
    let row = { payload: mapped.event, clientIp: mapped.clientIp, clientUserAgent: mapped.clientUserAgent, consent: null as unknown };
    const ctx = mapped.checkoutToken
      ? await db.browserContext.findUnique({ where: { shopId_checkoutToken: { shopId: shop.id, checkoutToken: mapped.checkoutToken } } })
      : null;
    if (ctx) row = mergeBrowserContext(row, ctx);
    const common = { ...base, payload: asJson(row.payload), clientIp: row.clientIp, clientUserAgent: row.clientUserAgent, consent: row.consent ? asJson(row.consent) : undefined };
    if (ctx || !mapped.checkoutToken || args.holdSeconds <= 0) {
      // The browser context is here already, or cannot come (it joins by checkout token; POS and draft orders
      // have none), or the shop does not wait for it: decide now.
      // browserSeenAt counts the pixel's own Purchase (same event id), not context from earlier checkout steps.
      const decision = decideRelease({ ...common, consent: row.consent as Prisma.JsonValue, payload: asJson(row.payload) as Prisma.JsonValue }, settings);
      data = { ...common, status: "held", ...(releaseUpdate(decision, now) as object), browserSeenAt: ctx && purchaseEventId(ctx.orderId) === mapped.event.event_id ? now : null } as Prisma.OutboxEventUncheckedCreateInput;
    } else {
      data = { ...common, status: "held", holdUntil: new Date(now.getTime() + args.holdSeconds * 1000) };
    }
    if (ctx) await db.browserContext.update({ where: { id: ctx.id }, data: { usedAt: now, clientIp: null, clientUserAgent: null } });
  }

  try {
    // `select: id`: reading back every column of the new rows costs more than the inserts (benchmark, webhook intake).
    await db.$transaction([
      db.outboxEvent.create({ data, select: { id: true } }),
      db.webhookReceipt.create({ data: { ...receipt, outcome: "accepted", reason: data.suppressReason ?? null }, select: { id: true } }),
    ]);
    return { outcome: "accepted", status: data.status as OutboxStatus, reason: data.suppressReason ?? undefined };
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    // Either this delivery was recorded concurrently, or the order already made its Purchase (another topic).
    if (await isDuplicateWebhook(db, webhookId)) return { outcome: "duplicate_webhook" };
    return recordReceipt(db, { ...receipt, outcome: "duplicate_event", reason: "the order already has its Purchase event" });
  }
}

/** orders/cancelled: a Purchase not yet sent is dropped; one already sent stays (Meta has it). */
export async function cancelOrder(
  db: Db,
  args: { shop: Shop; webhookId: string; orderId: string; now?: Date },
): Promise<IntakeResult> {
  const now = args.now ?? new Date();
  const eventId = purchaseEventId(args.orderId);
  const res = eventId
    ? await db.outboxEvent.updateMany({
        where: { shopId: args.shop.id, eventName: "Purchase", eventId, status: { in: ["held", "pending"] } },
        data: { status: "suppressed", suppressReason: "order_cancelled", ...finalFields(now) },
      })
    : { count: 0 };
  return recordReceipt(db, {
    webhookId: args.webhookId,
    shopDomain: args.shop.domain,
    topic: "orders/cancelled",
    orderId: args.orderId,
    outcome: res.count > 0 ? "accepted" : "ignored",
    reason: res.count > 0 ? "purchase dropped before sending" : "no unsent purchase for this order",
  });
}

/** After Connect: orders kept as `not_connected` that are still inside Meta's window can be sent. */
export async function releaseNotConnected(db: Db, shopId: string, now = new Date()): Promise<number> {
  const shop = await db.shop.findUniqueOrThrow({ where: { id: shopId } });
  const settings = parseSettings(shop.settings);
  const rows = await db.outboxEvent.findMany({ where: { shopId, status: "suppressed", suppressReason: "not_connected" } });
  let released = 0;
  for (const row of rows) {
    if (!isInsideWindow(row, now)) continue;
    const decision = decideRelease(row, settings);
    const data = decision.status === "pending" ? { ...releaseUpdate(decision, now), suppressReason: null, finalAt: null } : releaseUpdate(decision, now);
    await db.outboxEvent.update({ where: { id: row.id }, data });
    if (decision.status === "pending") released++;
  }
  return released;
}
