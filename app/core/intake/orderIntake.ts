import type { Shop } from "../db";
import {
  type OutboxStatus,
  type SuppressReason,
  type IntakeShop,
  type NewOutboxEvent,
  type Outbox,
  activeTestEventCode,
  isConnected,
  valueColumns,
  isInsideWindow,
  STALE_MESSAGE,
} from "../outbox";
import { subscribeEventId, type MappedOrder } from "./orderMapping";
import type { ShopSettings } from "../reference";
import { purchaseEventId } from "../wire";
import { release } from "./release";
import { linkShopper } from "./shopperLink";
import { largestOrders, newLargestOrder } from "./cartValue";

// Order webhooks -> outbox rows. No network I/O: a read or two and one local transaction (prepared SQL), so the
// webhook is answered in milliseconds and the dispatcher does the sending.

export type WebhookOutcome =
  "accepted" | "duplicate_webhook" | "duplicate_event" | "rejected" | "ignored";

export interface IntakeResult {
  outcome: WebhookOutcome;
  status?: OutboxStatus;
  reason?: string;
}

export type PurchaseTopic = "orders/create" | "orders/paid";

/** Records a delivery that was not turned into an event (bad payload, unknown shop...) so the merchant sees it. */
export async function recordReceipt(
  outbox: Outbox,
  receipt: {
    webhookId: string;
    shopDomain: string;
    topic: string;
    outcome: WebhookOutcome;
    reason?: string;
    orderId?: string | null;
  },
  now = new Date(),
): Promise<IntakeResult> {
  const res = await outbox.recordReceipt({
    ...receipt,
    reason: receipt.reason ?? null,
    orderId: receipt.orderId ?? null,
    receivedAt: now,
  });
  return res === "duplicate"
    ? { outcome: "duplicate_webhook" }
    : { outcome: receipt.outcome, reason: receipt.reason };
}

/** Why an order of this shop is not sent at all, decided at intake (consent comes later, at release). */
function intakeSuppression(
  shop: IntakeShop,
  settings: ShopSettings,
  mapped: MappedOrder,
  now: Date,
): SuppressReason | null {
  if (shop.uninstalledAt) return "shop_uninstalled";
  if (!isConnected(shop)) return "not_connected";
  if (mapped.test && !activeTestEventCode(shop, settings, now))
    return "test_order";
  if (!settings.sources[mapped.sourceKind]) return "source_disabled";
  if (mapped.cancelled) return "order_cancelled";
  if (mapped.refunded) return "refunded";
  return null;
}

/** The shops stage's record of the largest order (decisions 40): passed in, since shops imports intake. */
export interface LargestOrders {
  raiseLargestOrder(
    shopId: string,
    currency: string,
    value: number,
  ): Promise<void>;
}

export async function intakeOrder(
  outbox: Outbox,
  shops: LargestOrders,
  args: {
    shop: IntakeShop;
    settings: ShopSettings;
    topic: PurchaseTopic;
    webhookId: string;
    mapped: MappedOrder;
    holdSeconds: number;
    /** How the order came: its webhook, or reconciliation with Shopify when the webhook never did (decisions 76). */
    source?: "webhook" | "reconciliation";
    now?: Date;
  },
): Promise<IntakeResult> {
  const { shop, settings, topic, webhookId, mapped } = args;
  const now = args.now ?? new Date();
  const receipt = {
    webhookId,
    shopDomain: shop.domain,
    topic,
    orderId: mapped.orderId,
  };
  const trigger: PurchaseTopic =
    settings.purchaseTrigger === "paid" ? "orders/paid" : "orders/create";
  if (topic !== trigger) {
    return recordReceipt(
      outbox,
      {
        ...receipt,
        outcome: "ignored",
        reason: `purchase is sent on ${trigger}`,
      },
      now,
    );
  }

  // An orders/updated newer than this payload came first (webhooks arrive in any order): the Purchase carries the
  // order as that one shows it (decisions 67).
  const state = await outbox.orderState(shop.id, mapped.orderId);
  const payload =
    state && (!mapped.updatedAt || state.orderUpdatedAt > mapped.updatedAt)
      ? { ...mapped.event, custom_data: state.customData }
      : mapped.event;
  const row = {
    shopId: shop.id,
    eventName: mapped.event.event_name,
    eventId: mapped.event.event_id,
    source: args.source ?? "webhook",
    status: "held" as const,
    actionSource: mapped.event.action_source,
    eventTime: new Date(mapped.event.event_time * 1000),
    payload,
    clientIp: mapped.clientIp,
    clientUserAgent: mapped.clientUserAgent,
    consent: null,
    countryCode: mapped.countryCode,
    provinceCode: mapped.provinceCode,
    orderId: mapped.orderId,
    orderName: mapped.orderName,
    checkoutToken: mapped.checkoutToken,
    orderSource: mapped.sourceKind,
    ...valueColumns(payload.custom_data),
    customerKey: mapped.customerKey,
    emailHash: mapped.emailHashes[0] ?? null,
    phoneHash: mapped.phoneHashes[0] ?? null,
    missingKeys: mapped.missingKeys,
    receivedAt: now,
  };

  const suppression = intakeSuppression(shop, settings, mapped, now);
  const ctx =
    !suppression && isInsideWindow(row, now) && mapped.checkoutToken
      ? await outbox.findContext(shop.id, mapped.checkoutToken)
      : null;
  const decide = (r: NewOutboxEvent & typeof row): NewOutboxEvent => {
    // Kept (hashed) so the merchant can see it, and so orders from before Connect can be sent later.
    if (suppression)
      return { ...r, status: "suppressed", suppressReason: suppression };
    // Already older than Meta accepts: nothing to wait for.
    if (!isInsideWindow(r, now))
      return { ...r, status: "expired", lastErrorMessage: STALE_MESSAGE };
    // The browser context is here already, or cannot come (it joins by checkout token; POS and draft orders have
    // none), or the shop does not wait for it: decide now. Else the hold timer decides (waiting.ts).
    return ctx || !mapped.checkoutToken || args.holdSeconds <= 0
      ? { ...r, ...release(r, ctx, settings, now, shop.salesCountry).update }
      : { ...r, holdUntil: new Date(now.getTime() + args.holdSeconds * 1000) };
  };
  const event = decide(row);

  // decisions 74, 75: a subscription's first order may also make a Subscribe, decided by the same rule on the same
  // signals. Written before the Purchase and its receipt, so a delivery that failed in between makes it on the
  // next try; its event id (from the order) makes a second insert a no-op.
  if (mapped.subscribe && settings.subscribeEvent) {
    await outbox.insertOrder(
      decide({
        ...row,
        eventName: mapped.subscribe.event_name,
        eventId: mapped.subscribe.event_id,
        payload: mapped.subscribe,
        ...valueColumns(mapped.subscribe.custom_data),
      }),
      null,
      null,
    );
  }

  const inserted = await outbox.insertOrder(
    event,
    {
      ...receipt,
      outcome: "accepted",
      reason: event.suppressReason ?? null,
      receivedAt: now,
    },
    ctx?.id ?? null,
  );
  if (inserted === "inserted") {
    await linkShopper(outbox, shop.id, ctx, event, now);
    // Signed orders teach what a cart of the shop can hold (decisions 40): a write only when one is the largest yet.
    const largest = newLargestOrder(
      largestOrders(shop.largestOrderValues),
      mapped.event.custom_data,
      mapped.test,
    );
    if (largest)
      await shops.raiseLargestOrder(shop.id, largest.currency, largest.value);
    return {
      outcome: "accepted",
      status: event.status as OutboxStatus,
      reason: event.suppressReason ?? undefined,
    };
  }
  // Either this delivery was recorded concurrently, or the order already made its Purchase (another topic).
  if (await outbox.hasReceipt(webhookId))
    return { outcome: "duplicate_webhook" };
  return recordReceipt(
    outbox,
    {
      ...receipt,
      outcome: "duplicate_event",
      reason: "the order already has its Purchase event",
    },
    now,
  );
}

/** orders/cancelled: a Purchase not yet sent is dropped; one already sent stays (Meta has it). */
export async function cancelOrder(
  outbox: Outbox,
  args: {
    shop: Pick<Shop, "id" | "domain">;
    webhookId: string;
    orderId: string;
    now?: Date;
  },
): Promise<IntakeResult> {
  const now = args.now ?? new Date();
  const eventId = purchaseEventId(args.orderId);
  const dropped = eventId
    ? await outbox.suppressUnsent(
        { shopId: args.shop.id, eventName: "Purchase", eventId },
        "order_cancelled",
        now,
      )
    : 0;
  // A first order's Subscribe goes with its Purchase (decisions 74).
  if (eventId)
    await outbox.suppressUnsent(
      {
        shopId: args.shop.id,
        eventName: "Subscribe",
        eventId: subscribeEventId(args.orderId),
      },
      "order_cancelled",
      now,
    );
  return recordReceipt(outbox, {
    webhookId: args.webhookId,
    shopDomain: args.shop.domain,
    topic: "orders/cancelled",
    orderId: args.orderId,
    outcome: dropped > 0 ? "accepted" : "ignored",
    reason:
      dropped > 0
        ? "purchase dropped before sending"
        : "no unsent purchase for this order",
  });
}
