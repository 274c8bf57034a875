import type { Db, Prisma, Shop } from "./db";
import type { OutboxStatus, SuppressReason } from "./types";
import type { MappedOrder } from "./orderMapping";
import { parseSettings, type ShopSettings } from "./settings";
import type { IntakeContext, IntakeShop, SqlStore, NewOutboxEvent } from "./sqlStore";
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
  STALE_MESSAGE,
} from "./outbox";

// Order webhooks -> outbox rows. No network I/O: a read or two and one local transaction (sqlStore.ts), so the
// webhook is answered in milliseconds and the dispatcher does the sending.

export type WebhookOutcome = "accepted" | "duplicate_webhook" | "duplicate_event" | "rejected" | "ignored";

export interface IntakeResult {
  outcome: WebhookOutcome;
  status?: OutboxStatus;
  reason?: string;
}

export type PurchaseTopic = "orders/create" | "orders/paid";

/** Prisma's unique violation (the browser path writes through Prisma). */
export function isUniqueViolation(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { code?: string }).code === "P2002";
}

/** Records a delivery that was not turned into an event (bad payload, unknown shop...) so the merchant sees it. */
export async function recordReceipt(
  store: SqlStore,
  receipt: { webhookId: string; shopDomain: string; topic: string; outcome: WebhookOutcome; reason?: string; orderId?: string | null },
  now = new Date(),
): Promise<IntakeResult> {
  const res = await store.insertReceipt({ ...receipt, reason: receipt.reason ?? null, orderId: receipt.orderId ?? null, receivedAt: now });
  return res === "duplicate" ? { outcome: "duplicate_webhook" } : { outcome: receipt.outcome, reason: receipt.reason };
}

/** Why an order of this shop is not sent at all, decided at intake (consent comes later, at release). */
function intakeSuppression(shop: IntakeShop, settings: ShopSettings, mapped: MappedOrder, now: Date): SuppressReason | null {
  if (shop.uninstalledAt) return "shop_uninstalled";
  if (!isConnected(shop)) return "not_connected";
  if (mapped.test && !activeTestEventCode(shop, settings, now)) return "test_order";
  if (!settings.sources[mapped.sourceKind]) return "source_disabled";
  if (mapped.cancelled) return "order_cancelled";
  return null;
}

export async function intakeOrder(
  store: SqlStore,
  args: { shop: IntakeShop; settings: ShopSettings; topic: PurchaseTopic; webhookId: string; mapped: MappedOrder; holdSeconds: number; now?: Date },
): Promise<IntakeResult> {
  const { shop, settings, topic, webhookId, mapped } = args;
  const now = args.now ?? new Date();
  const receipt = { webhookId, shopDomain: shop.domain, topic, orderId: mapped.orderId };
  const trigger: PurchaseTopic = settings.purchaseTrigger === "paid" ? "orders/paid" : "orders/create";
  if (topic !== trigger) {
    return recordReceipt(store, { ...receipt, outcome: "ignored", reason: `purchase is sent on ${trigger}` }, now);
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
    suppressReason: null,
    lastErrorMessage: null,
    consent: null,
    lduApplied: false,
    holdUntil: null,
    nextAttemptAt: now,
    browserSeenAt: null,
    receivedAt: now,
    releasedAt: null,
    finalAt: null,
  };

  let event: NewOutboxEvent;
  let ctx: IntakeContext | null = null;
  const suppression = intakeSuppression(shop, settings, mapped, now);
  if (suppression) {
    // Kept (hashed) so the merchant can see it, and so orders from before Connect can be sent later.
    event = { ...base, status: "suppressed", suppressReason: suppression, payload: mapped.event, clientIp: null, clientUserAgent: null, finalAt: now };
  } else if (!isInsideWindow(base, now)) {
    // Already older than Meta accepts: nothing to wait for.
    event = { ...base, status: "expired", lastErrorMessage: STALE_MESSAGE, payload: mapped.event, clientIp: null, clientUserAgent: null, finalAt: now };
  } else {
    let row = { payload: mapped.event, clientIp: mapped.clientIp, clientUserAgent: mapped.clientUserAgent, consent: null as unknown };
    ctx = mapped.checkoutToken ? await store.findContext(shop.id, mapped.checkoutToken) : null;
    if (ctx) row = mergeBrowserContext(row, ctx);
    const common = { ...base, status: "held", payload: row.payload, clientIp: row.clientIp, clientUserAgent: row.clientUserAgent, consent: row.consent ?? null };
    if (ctx || !mapped.checkoutToken || args.holdSeconds <= 0) {
      // The browser context is here already, or cannot come (it joins by checkout token; POS and draft orders
      // have none), or the shop does not wait for it: decide now.
      // browserSeenAt counts the pixel's own Purchase (same event id), not context from earlier checkout steps.
      const decision = decideRelease({ ...common, consent: common.consent as Prisma.JsonValue, payload: asJson(common.payload) as Prisma.JsonValue }, settings);
      event = {
        ...common,
        ...(releaseUpdate(decision, now) as Partial<NewOutboxEvent>),
        browserSeenAt: ctx && purchaseEventId(ctx.orderId) === mapped.event.event_id ? now : null,
      };
    } else {
      event = { ...common, holdUntil: new Date(now.getTime() + args.holdSeconds * 1000) };
    }
  }

  const inserted = await store.insertEvent(event, { ...receipt, outcome: "accepted", reason: event.suppressReason, receivedAt: now }, ctx?.id ?? null);
  if (inserted === "inserted") return { outcome: "accepted", status: event.status as OutboxStatus, reason: event.suppressReason ?? undefined };
  // Either this delivery was recorded concurrently, or the order already made its Purchase (another topic).
  if (await store.hasReceipt(webhookId)) return { outcome: "duplicate_webhook" };
  return recordReceipt(store, { ...receipt, outcome: "duplicate_event", reason: "the order already has its Purchase event" }, now);
}

/** orders/cancelled: a Purchase not yet sent is dropped; one already sent stays (Meta has it). */
export async function cancelOrder(
  db: Db,
  store: SqlStore,
  args: { shop: Pick<Shop, "id" | "domain">; webhookId: string; orderId: string; now?: Date },
): Promise<IntakeResult> {
  const now = args.now ?? new Date();
  const eventId = purchaseEventId(args.orderId);
  const res = eventId
    ? await db.outboxEvent.updateMany({
        where: { shopId: args.shop.id, eventName: "Purchase", eventId, status: { in: ["held", "pending"] } },
        data: { status: "suppressed", suppressReason: "order_cancelled", ...finalFields(now) },
      })
    : { count: 0 };
  return recordReceipt(store, {
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
